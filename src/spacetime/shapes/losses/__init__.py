"""spacetime.shapes.losses."""

__all__: list[str] = []
