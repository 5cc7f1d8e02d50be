"""spacetime.shapes.datasets."""

__all__: list[str] = []
