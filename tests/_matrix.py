"""Helpers for the device / dtype matrix (fixtures in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
DEFAULT_DTYPES = ("float32", "float64")
#: for ``@pytest.mark.dtypes(*ALL_FLOATS)`` on ops that claim half precision
ALL_FLOATS = tuple(DTYPES)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """``rtol``/``atol`` for comparing a result computed in ``dtype`` with a float64 reference."""
    return {
        torch.float16: dict(rtol=1e-2, atol=1e-2),
        torch.bfloat16: dict(rtol=5e-2, atol=5e-2),
        torch.float32: dict(rtol=1e-4, atol=1e-5),
        torch.float64: dict(rtol=1e-7, atol=1e-9),
    }[dtype]


def assert_on(t: torch.Tensor, device: str | torch.device, dtype: torch.dtype | None = None,
              name: str = "output") -> None:
    """``t`` lives on ``device`` (type compared: ``cuda`` matches ``cuda:0``), has ``dtype``."""
    assert t.device.type == torch.device(device).type, f"{name}: on {t.device}, expected {device}"
    if dtype is not None:
        assert t.dtype == dtype, f"{name}: dtype {t.dtype}, expected {dtype}"


def close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype | None = None,
          **kw: float) -> None:
    """``actual`` (any device / dtype) ≈ ``expected`` on CPU in float64, tolerance of ``dtype``."""
    tol = tolerance(dtype or actual.dtype) if actual.is_floating_point() else dict(rtol=0, atol=0)
    tol.update(kw)
    a = actual.detach().cpu()
    e = expected.detach().cpu()
    if a.is_floating_point() or e.is_floating_point():
        a, e = a.double(), e.double()
    torch.testing.assert_close(a, e, **tol)


@contextmanager
def default_device_elsewhere() -> Iterator[None]:
    """Make ``meta`` the default device: a tensor an op creates without ``device=`` (instead of
    on its inputs' device) lands there, and mixing it with the inputs fails or leaves a meta
    output. The CPU stand-in for the GPU bug "Expected all tensors to be on the same device"."""
    with torch.device("meta"):
        yield


def to_matrix(obj: Any, device: str | torch.device, dtype: torch.dtype) -> Any:
    """Floating tensors to ``(device, dtype)``, other tensors to ``device``; structures with a
    ``.to(device, dtype)`` (Meshes, Pointclouds, cameras) likewise; containers recursively."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, dtype) if obj.is_floating_point() else obj.to(device)
    if isinstance(obj, (list, tuple)):
        out = [to_matrix(o, device, dtype) for o in obj]
        return type(obj)(*out) if hasattr(obj, "_fields") else type(obj)(out)
    if isinstance(obj, dict):
        return {k: to_matrix(v, device, dtype) for k, v in obj.items()}
    if hasattr(obj, "to") and not isinstance(obj, torch.nn.Module):  # Meshes, cameras, grids
        return obj.to(device=device, dtype=dtype)
    return obj


def leaves(obj: Any) -> list[torch.Tensor]:
    """The tensors of an op's output: tensors, (named) tuples, lists, dicts, Meshes/Pointclouds."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in leaves(o)]
    if isinstance(obj, dict):
        return [t for k in sorted(obj) for t in leaves(obj[k])]
    if hasattr(obj, "verts_packed"):
        return [obj.verts_packed(), obj.faces_packed()]
    if hasattr(obj, "points_packed"):
        return [obj.points_packed()]
    if hasattr(obj, "grid") and isinstance(obj.grid, torch.Tensor):  # VoxelGrid
        return [obj.grid]
    return []


def check_op(fn: Callable[..., Any], args: Sequence[Any], device: str | torch.device,
             dtype: torch.dtype, *, grad: bool = True, hygiene: bool = True,
             **tol: float) -> Any:
    """Run ``fn(*args)`` on float64 CPU inputs (the reference) and on the inputs moved to
    ``(device, dtype)``; every output tensor stays on ``device``, float64 reference outputs are
    ``dtype`` (other dtypes are the op's own and must not change), floating outputs match the
    reference within the dtype's tolerance (``tol`` overrides). With ``grad`` the floating inputs
    require grad and a backward pass gives finite grads on ``device`` in ``dtype``. With
    ``hygiene`` the call runs under :func:`default_device_elsewhere`. Returns the output on
    ``device``."""
    ref = fn(*args)
    moved = to_matrix(list(args), device, dtype)
    grads_of = []
    if grad:
        for i, a in enumerate(moved):
            if isinstance(a, torch.Tensor) and a.is_floating_point():
                moved[i] = a.detach().requires_grad_(True)
                grads_of.append(moved[i])
    if hygiene:
        with default_device_elsewhere():
            got = fn(*moved)
    else:
        got = fn(*moved)
    got_l, ref_l = leaves(got), leaves(ref)
    assert len(got_l) == len(ref_l), (len(got_l), len(ref_l))
    for k, (g, r) in enumerate(zip(got_l, ref_l)):
        # a float64 output of the float64 reference follows the inputs' dtype; any other dtype
        # is fixed by the op (e.g. voxel_iou's float32 ratios, int64 indices, bool masks)
        want = dtype if r.dtype == torch.float64 else r.dtype
        assert_on(g, device, want, name=f"output {k}")
        if r.is_floating_point():
            close(g, r, dtype, **tol)
        else:
            assert torch.equal(g.cpu(), r), f"output {k}: integer outputs differ"
    if grad and grads_of:
        total = sum(g.float().nan_to_num(posinf=0, neginf=0).sum()
                    for g in got_l if g.is_floating_point() and g.requires_grad)
        assert isinstance(total, torch.Tensor), "no differentiable output"
        total.backward()
        for a in grads_of:
            if a.grad is not None:
                assert_on(a.grad, device, dtype, name="grad")
                assert torch.isfinite(a.grad).all(), "grad not finite"
    return got
