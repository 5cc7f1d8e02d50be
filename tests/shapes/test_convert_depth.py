"""Tests for spacetime.shapes.convert.depth (depth ↔ points, depth → normals)."""

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.convert import (
    depth_to_normals,
    depth_to_points,
    depth_to_points_dense,
    points_to_depth,
)
from spacetime.shapes.structures import CameraIntrinsics, Pointclouds
from tests._matrix import check_op

H, W = 12, 16


def _cam(n=1):
    return CameraIntrinsics(
        torch.full((n,), 20.0), torch.full((n,), 22.0), torch.full((n,), 7.5),
        torch.full((n,), 5.0), width=W, height=H,
    )


def _plane_depth(normal, offset, K, dtype=torch.float32):
    """Analytic depth of the plane n · X = offset seen through K: Z = offset / (n · ray)."""
    rays = K.pixel_rays(H, W).to(dtype)  # (N, H, W, 3)
    return offset / (rays @ normal.to(dtype))


def _ref_points_to_depth(points, K, h, w):
    out = torch.zeros(h, w, dtype=points.dtype)
    fx, fy, cx, cy = (float(t[0]) for t in (K.fx, K.fy, K.cx, K.cy))
    for x, y, z in points.tolist():
        if z <= 0:
            continue
        u, v = round(fx * x / z + cx), round(fy * y / z + cy)
        if 0 <= u < w and 0 <= v < h and (out[v, u] == 0 or z < out[v, u]):
            out[v, u] = z
    return out


def test_depth_to_points_values_and_invalid():
    K = _cam(2)
    d = torch.rand(2, H, W, generator=torch.Generator().manual_seed(0)) + 0.5
    d[0, 0, 0] = 0
    d[0, 1, 1] = -1
    d[1, 2, 2] = float("nan")
    d[1, 3, 3] = float("inf")
    pc = depth_to_points(d, K)
    assert pc.num_points_per_cloud().tolist() == [H * W - 2, H * W - 2]
    pts, valid = depth_to_points_dense(d, K)
    assert pts.shape == (2, H, W, 3) and valid.shape == (2, H, W)
    v, u = 4, 9
    z = d[1, v, u]
    expect = torch.stack([(u - 7.5) / 20 * z, (v - 5.0) / 22 * z, z])
    torch.testing.assert_close(pts[1, v, u], expect)
    assert torch.equal(pts[0, 0, 0], torch.zeros(3)) and not valid[1, 2, 2]
    # (N, 1, H, W) input, tensor K, extra mask
    mask = torch.ones(2, H, W, dtype=torch.bool)
    mask[:, :, 0] = False
    pc2 = depth_to_points(d[:, None], K.K, mask=mask)
    assert pc2.num_points_per_cloud().tolist() == [H * W - 2 - H + 1, H * W - 2 - H]


def test_depth_rgb_features():
    d = torch.ones(1, H, W)
    d[0, 0, :] = 0
    rgb = torch.rand(1, 3, H, W)
    pc = depth_to_points(d, _cam(), rgb=rgb)
    feats = pc.features_list()[0]
    assert feats.shape == ((H - 1) * W, 3)
    torch.testing.assert_close(feats[0], rgb[0, :, 1, 0])


def test_roundtrip_depth_points_depth():
    K = _cam(2)
    d = torch.rand(2, H, W, generator=torch.Generator().manual_seed(1)) * 3 + 0.5
    d[0, 5:8, 2:6] = 0  # invalid region
    pc = depth_to_points(d, K)
    back = points_to_depth(pc, K, H, W)
    assert torch.equal(back, d)  # identical on valid pixels, 0 elsewhere


def test_points_to_depth_zbuffer_against_reference():
    K = _cam()
    g = torch.Generator().manual_seed(2)
    pts = torch.randn(1, 400, 3, generator=g) * torch.tensor([1.0, 1.0, 1.5]) + torch.tensor(
        [0.0, 0.0, 2.0]
    )
    out = points_to_depth(pts, K, H, W)
    torch.testing.assert_close(out[0], _ref_points_to_depth(pts[0], K, H, W))
    # nearest point wins on a shared pixel
    two = torch.tensor([[[0.0, 0.0, 3.0], [0.0, 0.0, 2.0], [0.0, 0.0, -1.0]]])
    o = points_to_depth(two, K, H, W)
    assert o[0, 5, 8] == 2.0 and (o > 0).sum() == 1  # (u, v) = (7.5 -> 8, 5)
    # ragged list / Pointclouds input
    o2 = points_to_depth(Pointclouds([two[0], torch.zeros(0, 3)]), _cam(2), H, W)
    assert o2.shape == (2, H, W) and o2[1].sum() == 0


def test_plane_normals_analytic():
    K = _cam()
    n = torch.tensor([0.3, -0.2, -1.0])
    n = n / n.norm()
    d = _plane_depth(n, -2.0, K)
    normals, valid = depth_to_normals(d, K)
    assert normals.shape == (1, 3, H, W) and valid.all()
    torch.testing.assert_close(
        normals[0].permute(1, 2, 0), n.expand(H, W, 3), atol=1e-5, rtol=0
    )
    # the same plane described with the opposite normal: still points towards the camera
    d2 = _plane_depth(-n, 2.0, K)
    torch.testing.assert_close(d, d2)


def test_normals_invalid_and_one_sided():
    K = _cam()
    n = torch.tensor([0.0, 0.0, -1.0])
    d = _plane_depth(n, -3.0, K, torch.float64)
    d[0, 4, 6] = 0  # a hole: its neighbours fall back to one-sided differences
    d[0, 8, :] = 0
    d[0, 9, :] = 0
    d[0, 10, :] = 0
    d[0, 10, 3] = 2.0  # an isolated pixel: no vertical neighbour -> invalid
    normals, valid = depth_to_normals(d, K)
    assert not valid[0, 4, 6] and valid[0, 4, 5] and valid[0, 3, 6]
    assert not valid[0, 10, 3] and not valid[0, 9].any()
    torch.testing.assert_close(normals[0, :, 4, 5], n.double())
    torch.testing.assert_close(normals[0, :, 0, 0], n.double())  # image corner
    assert torch.equal(normals[0, :, 10, 3], torch.zeros(3, dtype=torch.float64))


def test_gradcheck_depth_to_points():
    K = _cam()
    d = (torch.rand(1, 3, 4, dtype=torch.float64) + 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: depth_to_points_dense(x, K)[0], (d,))
    assert torch.autograd.gradcheck(lambda x: depth_to_normals(x, K)[0], (d,))


def test_bad_inputs():
    K = _cam()
    with pytest.raises(InputError, match="depth"):
        depth_to_points(torch.ones(H, W), K)
    with pytest.raises(InputError, match=r"depth: expected shape \(N, H, W\) or \(N, 1, H, W\)"):
        depth_to_points(torch.ones(1, 2, H, W), K)
    with pytest.raises(InputError, match="expected 3 cameras"):
        depth_to_points(torch.ones(3, H, W), _cam(2))
    with pytest.raises(InputError, match="mask"):
        depth_to_points(torch.ones(1, H, W), K, mask=torch.ones(1, H, W + 1, dtype=torch.bool))
    with pytest.raises(InputError, match="rgb"):
        depth_to_points(torch.ones(1, H, W), K, rgb=torch.ones(1, 3, H, 2))
    with pytest.raises(InputError, match="K"):
        depth_to_normals(torch.ones(1, H, W), "K")
    with pytest.raises(InputError, match="height"):
        points_to_depth(torch.ones(1, 2, 3), K, 0, W)
    with pytest.raises(InputError, match="finite"):
        points_to_depth([torch.full((2, 3), float("nan"))], K, H, W)


def test_device_dtype(device, dtype):
    g = torch.Generator().manual_seed(2)
    d = (torch.rand(2, H, W, generator=g, dtype=torch.float64) + 0.5)
    d[0, :3, :4] = 0  # invalid pixels
    K = _cam(2).to(dtype=torch.float64)
    check_op(lambda x, k: depth_to_points_dense(x, k), (d, K), device, dtype)
    check_op(lambda x, k: depth_to_points(x, k), (d, K), device, dtype)
    check_op(lambda x, k: depth_to_normals(x, k), (d, K), device, dtype,
             **({} if dtype == torch.float64 else dict(atol=1e-3, rtol=1e-3)))
    pc = depth_to_points(d, K)
    check_op(lambda p, k: points_to_depth(p, k, H, W), (pc, K), device, dtype, grad=False)
