"""spacetime.shapes.metrics."""

__all__: list[str] = []
