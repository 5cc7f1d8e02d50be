"""spacetime.video."""

__all__: list[str] = []
