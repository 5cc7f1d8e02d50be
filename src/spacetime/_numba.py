"""The one way spacetime compiles its numba kernels: ``@kernel()`` = ``njit(nogil=True,
cache=True)``, falling back to an uncached kernel when numba finds no writable cache directory
(a read-only install and home directory: numba then raises at decoration time, which would
break the import). Uncached kernels are recompiled once per process (a few seconds)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from numba import njit

__all__ = ["kernel"]

_WARNED = False


def kernel(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: a GIL-releasing, disk-cached numba kernel (extra ``njit`` options allowed)."""

    def wrap(fn: Callable[..., Any]) -> Any:
        global _WARNED
        try:
            return njit(nogil=True, cache=True, **options)(fn)
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            if not _WARNED:
                warnings.warn(
                    f"numba cannot cache spacetime's compiled kernels ({exc}); they are "
                    "compiled again in every process. Set NUMBA_CACHE_DIR to a writable "
                    "directory to avoid that.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                _WARNED = True
            return njit(nogil=True, **options)(fn)

    return wrap
