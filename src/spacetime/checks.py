"""One input-check helper for the whole package (in the spirit of kornia's ``KORNIA_CHECK_SHAPE``).

``check_tensor(x, "points", ("N", "P", 3))`` raises :class:`spacetime.errors.InputError` with a
message such as::

    points: expected shape (N, P, 3), got (2, 5, 4)

Shape specs are tuples whose entries are ints (exact sizes), strings (named sizes; the same name
must bind the same size across one call's ``sizes`` dict) or ``"*"`` (any number of leading dims,
only as the first entry). Never use ``assert`` on user input: it disappears under ``python -O``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from spacetime.errors import InputError

__all__ = [
    "check_tensor",
    "check_shape",
    "check_finite",
    "check_same_device",
    "check_positive",
    "check_in",
    "check_int",
    "fmt_shape",
]


def fmt_shape(shape: Iterable[Any]) -> str:
    """Format a shape or shape spec like ``(N, P, 3)``."""
    items = [str(s) for s in shape]
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


def check_shape(
    x: torch.Tensor,
    name: str,
    spec: Sequence[int | str],
    sizes: dict[str, int] | None = None,
) -> dict[str, int]:
    """Check ``x.shape`` against ``spec``; return the bound named sizes.

    ``sizes`` carries named sizes across several calls (e.g. ``N`` shared by two tensors).
    """
    sizes = {} if sizes is None else sizes
    shape = tuple(x.shape)
    spec = tuple(spec)
    leading_any = len(spec) > 0 and spec[0] == "*"
    core = spec[1:] if leading_any else spec
    if (leading_any and len(shape) < len(core)) or (not leading_any and len(shape) != len(core)):
        raise InputError(f"{name}: expected shape {fmt_shape(spec)}, got {fmt_shape(shape)}")
    tail = shape[len(shape) - len(core):]
    for want, got in zip(core, tail):
        if isinstance(want, int):
            if want != got:
                raise InputError(
                    f"{name}: expected shape {fmt_shape(spec)}, got {fmt_shape(shape)}"
                )
        else:
            bound = sizes.get(want)
            if bound is None:
                sizes[want] = got
            elif bound != got:
                raise InputError(
                    f"{name}: expected shape {fmt_shape(spec)} with {want}={bound}, "
                    f"got {fmt_shape(shape)}"
                )
    return sizes


def check_tensor(
    x: Any,
    name: str,
    shape: Sequence[int | str] | None = None,
    *,
    dtype: torch.dtype | Sequence[torch.dtype] | str | None = None,
    sizes: dict[str, int] | None = None,
    finite: bool = False,
    device: torch.device | str | None = None,
) -> dict[str, int]:
    """Check that ``x`` is a tensor with the given shape spec, dtype and device.

    Args:
        x: the value to check.
        name: the argument name used in the error message.
        shape: shape spec, see module docstring.
        dtype: a dtype, a sequence of allowed dtypes, or ``"float"`` / ``"int"`` for any
            floating / integer dtype.
        sizes: dict of named sizes bound by earlier checks (updated in place).
        finite: if True, reject NaN and inf values.
        device: if given, the tensor must live on this device.

    Returns:
        The dict of named sizes.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if shape is not None:
        sizes = check_shape(x, name, shape, sizes)
    elif sizes is None:
        sizes = {}
    if dtype is not None:
        ok: bool
        if dtype == "float":
            ok = x.is_floating_point()
            want = "a floating-point dtype"
        elif dtype == "int":
            ok = not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool
            want = "an integer dtype"
        elif isinstance(dtype, torch.dtype):
            ok = x.dtype == dtype
            want = str(dtype)
        else:
            ok = x.dtype in tuple(dtype)
            want = "one of " + ", ".join(str(d) for d in dtype)
        if not ok:
            raise InputError(f"{name}: expected {want}, got {x.dtype}")
    if device is not None and torch.device(device) != x.device:
        want_dev = torch.device(device)
        if not (want_dev.type == x.device.type and want_dev.index is None):
            raise InputError(f"{name}: expected device {want_dev}, got {x.device}")
    if finite:
        check_finite(x, name)
    return sizes


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise if ``x`` contains NaN or inf."""
    if x.device.type == "meta":  # no values (shape tracing, e.g. layer tables)
        return
    if x.is_floating_point() and x.numel() > 0 and not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).sum())
        raise InputError(f"{name}: expected finite values, got {n_bad} NaN/inf entries")


def check_same_device(*named: tuple[str, torch.Tensor]) -> None:
    """Raise if the given ``(name, tensor)`` pairs are not all on one device."""
    if not named:
        return
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.device != first.device:
            raise InputError(
                f"{name}: expected device {first.device} (same as {first_name}), got {t.device}"
            )


def check_positive(value: float, name: str, *, strict: bool = True) -> None:
    """Raise unless ``value`` > 0 (or >= 0 when ``strict`` is False)."""
    ok = value > 0 if strict else value >= 0
    if not ok:
        rel = "> 0" if strict else ">= 0"
        raise InputError(f"{name}: expected a value {rel}, got {value!r}")


def check_int(value: Any, name: str, *, min_value: int | None = None) -> int:
    """Raise unless ``value`` is an int (not bool) at least ``min_value``; return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if min_value is not None and value < min_value:
        raise InputError(f"{name}: expected an int >= {min_value}, got {value}")
    return value


def check_in(value: Any, name: str, allowed: Iterable[Any]) -> None:
    """Raise unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(
            f"{name}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
        )
