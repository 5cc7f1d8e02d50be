"""chamfer_distance against a full-distance-matrix reference; properties; ragged; grads."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.metrics import chamfer_distance
from spacetime.shapes.structures import Pointclouds
from tests._matrix import assert_on, close


def _chamfer_naive(x, y, reduction):
    """Python loop over pairs; x, y are lists of (P, 3) tensors."""
    out = []
    for a, b in zip(x, y):
        if a.shape[0] == 0 and b.shape[0] == 0:
            out.append(0.0)
            continue
        if a.shape[0] == 0 or b.shape[0] == 0:
            out.append(math.inf)
            continue
        d = torch.zeros(a.shape[0], b.shape[0], dtype=torch.float64)
        for i in range(a.shape[0]):
            for j in range(b.shape[0]):
                d[i, j] = float(((a[i] - b[j]) ** 2).sum())
        dx, dy = d.min(1).values, d.min(0).values
        if reduction == "mean":
            out.append(float(dx.mean() + dy.mean()))
        else:
            out.append(float(dx.sum() + dy.sum()))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("backend", ["tree", "brute"])
def test_matches_naive_ragged_with_empty(reduction, backend, device, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 9, 3, generator=g, dtype=torch.float64)
    y = torch.rand(4, 7, 3, generator=g, dtype=torch.float64)
    lx, ly = torch.tensor([9, 0, 1, 0]), torch.tensor([7, 3, 4, 0])
    got = chamfer_distance(x.to(device, dtype), y.to(device, dtype), x_lengths=lx.to(device),
                           y_lengths=ly.to(device), reduction=reduction, backend=backend)
    ref = _chamfer_naive(
        [x[i, : lx[i]] for i in range(4)], [y[i, : ly[i]] for i in range(4)], reduction
    )
    assert got.shape == (4,)
    assert_on(got, device, dtype)
    assert torch.isinf(got[1]) and got[3] == 0
    close(got, ref, dtype)


def test_pointclouds_and_float32():
    a, b = [torch.rand(5, 3), torch.rand(8, 3)], [torch.rand(3, 3), torch.rand(4, 3)]
    got = chamfer_distance(Pointclouds(a), Pointclouds(b))
    ref = _chamfer_naive([t.double() for t in a], [t.double() for t in b], "mean")
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), ref, atol=1e-6)


def test_single_point():
    x = torch.tensor([[[0.0, 0, 0]]])
    y = torch.tensor([[[1.0, 2, 2]]])
    assert chamfer_distance(x, y).item() == 18.0
    assert chamfer_distance(x, y, reduction="sum").item() == 18.0


@pytest.mark.parametrize("backend", ["tree", "brute"])
def test_gradcheck(backend):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    lx = torch.tensor([5, 3])

    def f(a, b):
        return chamfer_distance(a, b, x_lengths=lx, backend=backend)

    assert torch.autograd.gradcheck(f, (x, y))


def test_bad_inputs():
    x = torch.rand(2, 5, 3)
    with pytest.raises(InputError, match="reduction"):
        chamfer_distance(x, x, reduction="max")
    with pytest.raises(InputError, match=r"y: expected shape \(N, P2, D\) with N=2"):
        chamfer_distance(x, torch.rand(1, 5, 3))
    bad = x.clone()
    bad[1, 2, 1] = float("nan")
    with pytest.raises(InputError, match="y: expected finite"):
        chamfer_distance(x, bad)
    # NaN in a padded row is fine
    assert torch.isfinite(chamfer_distance(x, bad, y_lengths=torch.tensor([5, 2]))).all()


points = st.integers(1, 20).flatmap(
    lambda n: st.lists(
        st.tuples(*[st.floats(-10, 10, allow_nan=False)] * 3), min_size=n, max_size=n
    )
)


@given(points, points, st.tuples(*[st.floats(-5, 5)] * 3))
def test_properties(a, b, shift):
    x = torch.tensor([a], dtype=torch.float64)
    y = torch.tensor([b], dtype=torch.float64)
    assert chamfer_distance(x, x).item() == 0.0
    cxy, cyx = chamfer_distance(x, y), chamfer_distance(y, x)
    assert torch.allclose(cxy, cyx)  # the mean form is symmetric
    t = torch.tensor(shift, dtype=torch.float64)
    assert torch.allclose(chamfer_distance(x + t, y + t), cxy, rtol=1e-6, atol=1e-6)
    assert cxy.item() >= 0
