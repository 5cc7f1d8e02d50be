"""spacetime.shapes.structures."""

__all__: list[str] = []
