"""estimate_flow: every classical method recovers a known smooth translation; input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spacetime.errors import InputError
from spacetime.video.flow import end_point_error, estimate_flow, estimate_flow_batch, warp
from spacetime.video.flow.horn_schunck import horn_schunck
from tests._matrix import assert_on, default_device_elsewhere


def _textured_pair(h=64, w=64, dx=2.5, dy=-1.5, seed=0):
    """frame2 = frame1 translated by (dx, dy): I2(x + d) = I1(x)."""
    g = torch.Generator().manual_seed(seed)
    tex = torch.rand(1, 3, h // 6, w // 6, generator=g)
    f1 = F.interpolate(tex, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)[0]
    gt = torch.zeros(2, h, w)
    gt[0], gt[1] = dx, dy
    f2, _ = warp(f1, -gt, padding_mode="border")
    return f1, f2, gt


_INTERIOR = torch.zeros(64, 64, dtype=torch.bool)
_INTERIOR[8:-8, 8:-8] = True


@pytest.mark.parametrize("method", ["farneback", "dis", "dis-medium", "tvl1", "horn-schunck"])
def test_recovers_translation(method):
    f1, f2, gt = _textured_pair()
    fl = estimate_flow(f1, f2, method)
    assert fl.shape == (2, 64, 64) and fl.dtype == torch.float32
    epe = float(end_point_error(fl, gt, _INTERIOR))
    assert epe < 0.5, f"{method}: EPE {epe:.3f}"


def test_numpy_uint8_input_and_fast_presets():
    f1, f2, gt = _textured_pair()
    a = (f1.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    b = (f2.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    for method in ("dis-fast", "dis-ultrafast"):
        fl = estimate_flow(a, b, method)
        assert float(end_point_error(fl, gt, _INTERIOR)) < 1.0
    # grayscale pair works too
    fl = estimate_flow(a[..., 0], b[..., 0], "dis")
    assert fl.shape == (2, 64, 64)
    # uint8 tensors
    fl = estimate_flow(torch.from_numpy(a).permute(2, 0, 1), torch.from_numpy(b).permute(2, 0, 1))
    assert float(end_point_error(fl, gt, _INTERIOR)) < 0.5


def test_bad_frames():
    f1, f2, _ = _textured_pair(32, 32)
    with pytest.raises(InputError, match="same size"):
        estimate_flow(f1, f2[:, :, :30])
    with pytest.raises(InputError, match="grayscale and colour"):
        estimate_flow(f1, f2[:1])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        estimate_flow(f1 * 255, f2 * 255)
    bad = f1.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="finite"):
        estimate_flow(bad, f2)
    with pytest.raises(InputError, match="uint8"):
        estimate_flow(f1.to(torch.int32), f2.to(torch.int32))
    with pytest.raises(InputError, match="method"):
        estimate_flow(f1, f2, "lucas-kanade")
    with pytest.raises(InputError, match="shape"):
        estimate_flow(np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError, match="estimate_flow_batch"):
        estimate_flow(f1[None], f2[None])


def test_batch_and_horn_schunck_batched_differentiable():
    f1, f2, gt = _textured_pair(32, 32, 1.0, 0.5)
    g1, g2, gt2 = _textured_pair(32, 32, -1.0, 1.0, seed=1)
    a, b = torch.stack([f1, g1]), torch.stack([f2, g2])
    out = estimate_flow_batch(a, b, "dis")
    assert out.shape == (2, 2, 32, 32)
    hs = horn_schunck(a, b, iterations=20)
    assert hs.shape == (2, 2, 32, 32)
    interior = torch.zeros(2, 32, 32, dtype=torch.bool)
    interior[:, 6:-6, 6:-6] = True
    assert float(end_point_error(hs, torch.stack([gt, gt2]), interior)) < 0.5
    # one pair alone gives the same flow as inside the batch
    single = horn_schunck(g1, g2, iterations=20)
    torch.testing.assert_close(single, hs[1], atol=1e-5, rtol=0)
    # differentiable w.r.t. the frames
    x = f2[None, :, :16, :16].clone().double().requires_grad_(True)
    y = f1[None, :, :16, :16].double()
    fl = horn_schunck(y, x, iterations=3, warps=1, levels=1)
    fl.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_horn_schunck_gradcheck_tiny():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 5, 5, generator=g, dtype=torch.float64)
    b = torch.rand(1, 1, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: horn_schunck(a, x, iterations=2, warps=1, levels=1, sigma=0.0), (b,)
    )


def test_horn_schunck_bad_args():
    a = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="frame2"):
        horn_schunck(a, torch.rand(1, 3, 8, 9))
    with pytest.raises(InputError, match="alpha"):
        horn_schunck(a, a, alpha=0.0)
    with pytest.raises(InputError, match="channels"):
        horn_schunck(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8))
    assert horn_schunck(a, a, device="cpu").abs().max() == 0


def test_device_matches_cpu(device):
    """horn_schunck / warp / DIS / RAFT put their result on ``device`` (given as an argument or
    by the frames' device) and agree with the CPU run."""
    f1, f2, gt = _textured_pair(32, 32, 1.0, 0.5)
    kw = dict(iterations=5, warps=1, levels=2)
    cpu = horn_schunck(f1[None], f2[None], **kw)
    with default_device_elsewhere():
        dev = horn_schunck(f1[None], f2[None], device=device, **kw)
        w, m = warp(f2.to(device), gt.to(device))
        fl = estimate_flow(f1, f2, "dis", device=device)
    assert_on(dev, device, torch.float32)
    torch.testing.assert_close(dev.cpu(), cpu, atol=1e-3, rtol=0)
    assert_on(w, device, torch.float32)
    assert_on(m, device, torch.bool, "mask")
    assert_on(fl, device, torch.float32)
    if device != "cpu":  # RAFT follows the frames' device (the CPU run is tested elsewhere)
        fl = estimate_flow(f1.to(device), f2.to(device), "raft-small", num_flow_updates=2)
        assert_on(fl, device, torch.float32)
        assert fl.shape == (2, 32, 32)
