"""spacetime.video.models."""

__all__: list[str] = []
