"""spacetime.shapes.render."""

__all__: list[str] = []
