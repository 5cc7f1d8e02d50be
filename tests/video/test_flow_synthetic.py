"""SyntheticFlow: determinism, splits and ground-truth correctness."""

from __future__ import annotations

import pytest
import torch

from spacetime.errors import InputError
from spacetime.video.flow import SyntheticFlow, warp


def test_determinism_and_splits():
    a = SyntheticFlow(4, (32, 40), seed=3)
    b = SyntheticFlow(4, (32, 40), seed=3)
    s, t = a[2], b[2]
    for k in s:
        assert torch.equal(s[k], t[k]), k
    assert s["frame1"].shape == (3, 32, 40) and s["flow"].shape == (2, 32, 40)
    assert s["valid"].dtype == torch.bool and s["occlusion"].shape == (32, 40)
    v = SyntheticFlow(4, (32, 40), seed=3, split="val")[2]
    assert not torch.equal(s["frame1"], v["frame1"])
    assert not torch.equal(a[0]["frame1"], a[1]["frame1"])
    assert torch.equal(a[-1]["flow"], a[3]["flow"])
    with pytest.raises(IndexError):
        a[4]
    assert len(a) == 4


def test_gt_flow_warps_frame2_to_frame1():
    ds = SyntheticFlow(3, (48, 48), seed=0)
    for i in range(3):
        s = ds[i]
        w, inside = warp(s["frame2"], s["flow"])
        ok = inside & ~s["occlusion"]
        assert ok.float().mean() > 0.5
        err = (w - s["frame1"]).abs().mean(dim=0)[ok]
        assert float(err.mean()) < 0.01, float(err.mean())
        assert float(err.quantile(0.95)) < 0.02
        # occluded pixels are where the warp check fails more often
        assert s["flow"].abs().max() > 0.5


def test_bad_args_and_batching():
    with pytest.raises(InputError, match="split"):
        SyntheticFlow(2, split="dev")
    with pytest.raises(InputError, match="size"):
        SyntheticFlow(2, (4, 4))
    from torch.utils.data import DataLoader

    batch = next(iter(DataLoader(SyntheticFlow(2, 16), batch_size=2)))
    assert batch["frame1"].shape == (2, 3, 16, 16) and batch["flow"].shape == (2, 2, 16, 16)


def test_golden_sample():
    """Fixed-seed values, so that a refactor that changes the generated data is noticed."""
    s = SyntheticFlow(1, (16, 16), seed=0)[0]
    assert float(s["frame1"].mean()) == pytest.approx(0.469317, abs=1e-4)
    assert float(s["frame2"].mean()) == pytest.approx(0.460918, abs=1e-4)
    assert s["flow"][:, 0, 0].tolist() == pytest.approx([-3.800998, 3.186145], abs=1e-4)
    assert s["flow"][:, 15, 15].tolist() == pytest.approx([-3.926212, 1.911177], abs=1e-4)
    assert int(s["occlusion"].sum()) == 126
