"""spacetime.shapes.models."""

__all__: list[str] = []
