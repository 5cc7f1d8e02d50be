"""spacetime.video.flow."""

__all__: list[str] = []
