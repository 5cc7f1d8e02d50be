"""warp and flow metrics against slow references; gradchecks."""

from __future__ import annotations

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.video.flow import (
    angular_error,
    end_point_error,
    flow_metrics,
    outlier_rate,
    photometric_error,
    warp,
)
from tests._matrix import check_op, default_device_elsewhere


def _close(a, b, atol=1e-5):
    diff = (a - b).abs()
    assert float(diff.max()) <= atol, f"max abs diff {float(diff.max()):.3g}"


def _warp_naive(img, flow):
    """Python-loop bilinear backward warp, zero outside, pixel centres at integers."""
    c, h, w = img.shape
    out = torch.zeros_like(img)
    mask = torch.zeros(h, w, dtype=torch.bool)
    for y in range(h):
        for x in range(w):
            sx = x + float(flow[0, y, x])
            sy = y + float(flow[1, y, x])
            mask[y, x] = 0 <= sx <= w - 1 and 0 <= sy <= h - 1
            x0, y0 = math.floor(sx), math.floor(sy)
            fx, fy = sx - x0, sy - y0
            acc = torch.zeros(c, dtype=img.dtype)
            for yy, xx, wt in (
                (y0, x0, (1 - fx) * (1 - fy)),
                (y0, x0 + 1, fx * (1 - fy)),
                (y0 + 1, x0, (1 - fx) * fy),
                (y0 + 1, x0 + 1, fx * fy),
            ):
                if 0 <= yy < h and 0 <= xx < w:
                    acc += wt * img[:, yy, xx]
            out[:, y, x] = acc
    return out, mask


def test_warp_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 6, 7, generator=g, dtype=torch.float64)
    flow = (torch.rand(2, 6, 7, generator=g, dtype=torch.float64) - 0.5) * 4
    out, mask = warp(img, flow)
    ref, ref_mask = _warp_naive(img, flow)
    _close(out, ref, 1e-10)
    assert torch.equal(mask, ref_mask)


def test_warp_convention_integer_shift():
    g = torch.Generator().manual_seed(1)
    f1 = torch.rand(1, 2, 8, 9, generator=g)
    # frame2 = frame1 moved 2 px right, 1 px down: I2(x + 2, y + 1) = I1(x, y)
    f2 = torch.zeros_like(f1)
    f2[..., 1:, 2:] = f1[..., :-1, :-2]
    flow = torch.zeros(1, 2, 8, 9)
    flow[:, 0], flow[:, 1] = 2.0, 1.0
    out, mask = warp(f2, flow)
    assert out.shape == f1.shape and mask.shape == (1, 8, 9)
    _close(out[..., :-1, :-2], f1[..., :-1, :-2], 1e-6)
    assert not mask[0, -1].any() and not mask[0, :, -2:].any() and mask[0, :-1, :-2].all()


def test_warp_bad_inputs_and_broadcast():
    img = torch.rand(2, 3, 4, 5)
    with pytest.raises(InputError, match="flow: expected spatial size"):
        warp(img, torch.zeros(2, 2, 4, 6))
    with pytest.raises(InputError, match="flow"):
        warp(img, torch.zeros(2, 3, 4, 5))
    with pytest.raises(InputError, match="batch size"):
        warp(img, torch.zeros(3, 2, 4, 5))
    with pytest.raises(InputError, match="image"):
        warp(torch.zeros(4, 5), torch.zeros(2, 4, 5))
    out, m = warp(img, torch.zeros(1, 2, 4, 5))
    _close(out, img)
    assert m.all()
    out1, _ = warp(torch.rand(1, 1, 1, 1), torch.zeros(1, 2, 1, 1))  # 1x1 image
    assert out1.shape == (1, 1, 1, 1)
    nan_flow = torch.zeros(2, 4, 5)
    nan_flow[0, 1, 1] = float("nan")
    _, m = warp(img[0], nan_flow)  # NaN flow is reported as out of frame
    assert not m[1, 1] and m.sum() == 19


def test_warp_gradcheck():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    flow = ((torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64) - 0.5) * 1.3 + 0.17)
    flow.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda i, f: warp(i, f)[0], (img, flow))


def _epe_naive(flow, gt, valid):
    tot, n = 0.0, 0
    for y in range(flow.shape[1]):
        for x in range(flow.shape[2]):
            if valid[y, x]:
                du = float(flow[0, y, x] - gt[0, y, x])
                dv = float(flow[1, y, x] - gt[1, y, x])
                tot += math.hypot(du, dv)
                n += 1
    return tot / n


def test_epe_reference_valid_and_nan_gt():
    g = torch.Generator().manual_seed(3)
    fl = torch.randn(2, 5, 6, generator=g)
    gt = torch.randn(2, 5, 6, generator=g)
    valid = torch.rand(5, 6, generator=g) > 0.3
    assert abs(float(end_point_error(fl, gt, valid)) - _epe_naive(fl, gt, valid)) < 1e-5
    gt2 = gt.clone()
    gt2[:, ~valid] = float("nan")  # NaN ground truth = invalid
    assert abs(float(end_point_error(fl, gt2)) - _epe_naive(fl, gt, valid)) < 1e-5
    emap = end_point_error(fl[None], gt[None], reduction="none")
    assert emap.shape == (1, 5, 6)
    assert torch.isnan(end_point_error(fl, gt, torch.zeros(5, 6, dtype=torch.bool)))


def test_epe_errors():
    fl = torch.zeros(2, 4, 4)
    with pytest.raises(InputError, match="gt: expected shape"):
        end_point_error(fl, torch.zeros(2, 4, 5))
    bad = fl.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="flow: expected finite"):
        end_point_error(bad, fl)
    with pytest.raises(InputError, match="valid"):
        end_point_error(fl, fl, torch.ones(3, 3))


def test_epe_gradcheck():
    g = torch.Generator().manual_seed(4)
    fl = torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    gt = torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64)
    valid = torch.ones(1, 3, 4)
    valid[0, 0, 0] = 0
    assert torch.autograd.gradcheck(lambda f: end_point_error(f, gt, valid), (fl,))
    z = gt.clone().requires_grad_(True)
    end_point_error(z, gt).backward()
    assert torch.isfinite(z.grad).all()


def test_outlier_rate_and_angular_error():
    gt = torch.zeros(2, 1, 4)
    gt[0] = torch.tensor([100.0, 100.0, 1.0, 0.0])
    fl = gt.clone()
    fl[0, 0, 0] += 4.0  # > 3 px but < 5 % of 100 -> inlier
    fl[0, 0, 1] += 6.0  # > 3 px and > 5 -> outlier
    fl[0, 0, 2] += 3.5  # outlier
    fl[0, 0, 3] += 2.0  # < 3 px -> inlier
    assert float(outlier_rate(fl, gt)) == pytest.approx(0.5)
    # angular error: (1, 0, 1) vs (0, 0, 1) is 45 degrees
    a = torch.zeros(2, 1, 1)
    b = a.clone()
    a[0] = 1.0
    assert float(angular_error(a, b)) == pytest.approx(45.0, abs=1e-3)
    assert float(angular_error(b, b)) == pytest.approx(0.0, abs=0.1)
    m = flow_metrics(fl, gt)
    assert set(m) == {"epe", "fl_all", "ae", "1px", "3px", "5px"}
    assert m["fl_all"] == pytest.approx(50.0)


def test_photometric_error():
    g = torch.Generator().manual_seed(5)
    f1 = torch.rand(3, 6, 6, generator=g)
    flow = torch.zeros(2, 6, 6)
    assert float(photometric_error(f1, f1, flow)) == pytest.approx(0.0, abs=1e-6)
    assert float(photometric_error(f1, 1 - f1, flow)) > 0.1
    with pytest.raises(InputError, match="frame2"):
        photometric_error(f1, torch.rand(3, 5, 6), flow)


def test_device_dtype(device, dtype):
    """warp and the flow metrics on ``device`` in ``dtype``: outputs (and grads) stay there and
    match float64 on the CPU."""
    g = torch.Generator().manual_seed(7)
    img = torch.rand(2, 3, 6, 7, generator=g, dtype=torch.float64)
    img2 = torch.rand(2, 3, 6, 7, generator=g, dtype=torch.float64)
    flow = (torch.rand(2, 2, 6, 7, generator=g, dtype=torch.float64) - 0.5) * 4
    gt = (torch.rand(2, 2, 6, 7, generator=g, dtype=torch.float64) - 0.5) * 4
    valid = torch.rand(2, 6, 7, generator=g) > 0.2
    tol = {} if dtype == torch.float64 else dict(atol=1e-4, rtol=1e-4)
    check_op(warp, (img, flow), device, dtype, **tol)
    check_op(lambda f, t, v: end_point_error(f, t, v), (flow, gt, valid), device, dtype)
    check_op(lambda f, t: outlier_rate(f, t), (flow, gt), device, dtype, grad=False)
    check_op(lambda f, t: angular_error(f, t), (flow, gt), device, dtype,
             **({} if dtype == torch.float64 else dict(atol=1e-3, rtol=1e-4)))
    check_op(photometric_error, (img, img2, flow), device, dtype, **tol)
    with default_device_elsewhere():
        m = flow_metrics(flow.to(device, dtype), gt.to(device, dtype))
    ref = flow_metrics(flow, gt)
    assert set(m) == set(ref)
    for k in m:
        assert float(m[k]) == pytest.approx(float(ref[k]), rel=1e-4, abs=1e-3), k
