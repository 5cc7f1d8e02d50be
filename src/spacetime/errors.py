"""Exception types raised by spacetime.

Every error that spacetime raises on purpose derives from :class:`SpacetimeError`, so a
caller can catch all of them with one ``except`` clause:

- :class:`InputError` (also a ``ValueError``): an argument has the wrong shape, dtype,
  device or value. Its message names the argument, what was expected and what was received.
- :class:`FileFormatError` (also a ``ValueError``): a file is truncated, corrupt or not in the
  format its name or the caller says.
- :class:`MissingFileError` (also a ``FileNotFoundError``): a file or dataset entry is absent.
- :class:`DependencyError` (also an ``ImportError``): an optional library is needed and missing.
"""

from __future__ import annotations

__all__ = [
    "SpacetimeError",
    "InputError",
    "FileFormatError",
    "MissingFileError",
    "DependencyError",
]


class SpacetimeError(Exception):
    """Base class of every error that spacetime raises on purpose."""


class InputError(SpacetimeError, ValueError):
    """An argument has the wrong shape, dtype, device, range or value."""


class FileFormatError(SpacetimeError, ValueError):
    """A file is truncated, corrupt or not in the expected format."""


class MissingFileError(SpacetimeError, FileNotFoundError):
    """A required file or dataset entry does not exist."""


class DependencyError(SpacetimeError, ImportError):
    """An optional dependency is required for this feature but is not installed."""
