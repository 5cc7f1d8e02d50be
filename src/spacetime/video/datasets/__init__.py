"""spacetime.video.datasets."""

__all__: list[str] = []
