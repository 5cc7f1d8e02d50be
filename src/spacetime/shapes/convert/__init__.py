"""spacetime.shapes.convert."""

__all__: list[str] = []
