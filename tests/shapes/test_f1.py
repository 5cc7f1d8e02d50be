"""f1_score and chamfer_and_f1 against a loop reference; thresholds; empties."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.metrics import chamfer_and_f1, chamfer_distance, f1_score
from tests._matrix import assert_on


def _f1_naive(pred, gt, t):
    """Unsquared distances, strict '<', Python loops; pred, gt are (P, 3) tensors."""
    if pred.shape[0] == 0 and gt.shape[0] == 0:
        return 1.0, 1.0, 1.0

    def share(a, b):
        if a.shape[0] == 0:
            return 0.0
        hits = 0
        for p in a:
            best = min((math.dist(p.tolist(), q.tolist()) for q in b), default=math.inf)
            hits += best < t
        return hits / a.shape[0]

    p, r = share(pred, gt), share(gt, pred)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def test_matches_naive_ragged(device, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 12, 3, generator=g, dtype=torch.float64)
    y = torch.rand(4, 10, 3, generator=g, dtype=torch.float64)
    lx, ly = torch.tensor([12, 0, 5, 0]), torch.tensor([10, 4, 0, 0])
    ts = [0.1, 0.25, 0.5]
    out = f1_score(x.to(device, dtype), y.to(device, dtype), ts, pred_lengths=lx.to(device),
                   gt_lengths=ly.to(device))
    for t in out:
        assert_on(t, device, dtype)
    fused = chamfer_and_f1(x.to(device, dtype), y.to(device, dtype), ts,
                           x_lengths=lx.to(device), y_lengths=ly.to(device))
    for t in fused:
        assert_on(t, device, dtype)
    assert torch.equal(fused.f1, out.f1)
    out = type(out)(*(t.cpu() for t in out))
    x, y = x.to(dtype).double(), y.to(dtype).double()  # the reference sees the rounded points
    assert out.f1.shape == (4, 3)
    for b in range(4):
        for j, t in enumerate(ts):
            ref = _f1_naive(x[b, : lx[b]], y[b, : ly[b]], t)
            got = (out.precision[b, j].item(), out.recall[b, j].item(), out.f1[b, j].item())
            assert got == pytest.approx(ref), (b, t)
    scalar = f1_score(x.to(dtype), y.to(dtype), 0.25, pred_lengths=lx, gt_lengths=ly)
    assert scalar.f1.shape == (4,)
    assert torch.equal(scalar.f1, out.f1[:, 1])
    # empty prediction → 0, both empty → 1
    assert out.f1[1].tolist() == [0, 0, 0] and out.f1[3].tolist() == [1, 1, 1]


def test_unsquared_and_strict():
    x = torch.tensor([[[0.0, 0, 0]]])
    y = torch.tensor([[[0.0, 0, 0.3]]])
    assert f1_score(x, y, 0.31).f1.item() == 1.0  # 0.09 (squared) would pass 0.1 too
    assert f1_score(x, y, 0.2).f1.item() == 0.0  # 0.09 < 0.2 would wrongly pass if squared
    assert f1_score(x, x, 0.0).f1.item() == 0.0  # strict: dist 0 is not < 0


def test_fused_equals_separate():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(3, 300, 3, generator=g), torch.rand(3, 200, 3, generator=g)
    ts = (0.01, 0.05)
    fused = chamfer_and_f1(x, y, ts)
    sep = f1_score(x, y, ts)
    assert torch.equal(fused.chamfer, chamfer_distance(x, y))
    assert torch.equal(fused.f1, sep.f1) and torch.equal(fused.precision, sep.precision)
    s = chamfer_and_f1(x, y, 0.05, reduction="sum")
    assert torch.equal(s.chamfer, chamfer_distance(x, y, reduction="sum"))
    assert s.f1.shape == (3,)


def test_bad_thresholds():
    x = torch.rand(1, 5, 3)
    for bad in (-0.1, float("nan"), [], [0.1, -1], "a"):
        with pytest.raises(InputError, match="threshold"):
            f1_score(x, x, bad)
    with pytest.raises(InputError, match=r"gt: expected shape"):
        f1_score(x, torch.rand(5, 3), 0.1)


coords = st.floats(-10, 10, allow_nan=False)
clouds = st.lists(st.tuples(coords, coords, coords), min_size=1, max_size=20)


@given(clouds, clouds, st.floats(0.01, 5))
def test_properties(a, b, t):
    x = torch.tensor([a], dtype=torch.float64)
    y = torch.tensor([b], dtype=torch.float64)
    assert f1_score(x, x, t).f1.item() == 1.0
    out = f1_score(x, y, t)
    for v in out:
        assert 0.0 <= v.item() <= 1.0
    rev = f1_score(y, x, t)
    assert rev.precision.item() == out.recall.item()
    assert rev.f1.item() == pytest.approx(out.f1.item())
