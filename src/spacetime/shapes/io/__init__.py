"""spacetime.shapes.io."""

__all__: list[str] = []
