"""normal_consistency, voxel_iou, depth_metrics, normal_metrics against loop references."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.metrics import (
    DEPTH_METRIC_KEYS,
    depth_metrics,
    normal_consistency,
    normal_metrics,
    voxel_iou,
)
from spacetime.shapes.structures import Pointclouds, VoxelGrid
from tests._matrix import check_op

# ----------------------------------------------------------------------------- normals


def _nc_naive(x, y, nx, ny):
    def one_way(a, b, na, nb):
        s = sa = 0.0
        for i in range(a.shape[0]):
            j = int(((b - a[i]) ** 2).sum(1).argmin())
            c = float(torch.dot(na[i] / na[i].norm(), nb[j] / nb[j].norm()))
            s, sa = s + c, sa + abs(c)
        return s / a.shape[0], sa / a.shape[0]

    s1, a1 = one_way(x, y, nx, ny)
    s2, a2 = one_way(y, x, ny, nx)
    return 0.5 * (s1 + s2), 0.5 * (a1 + a2)


def test_normal_consistency_matches_naive():
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.rand(2, 10, 3, generator=g, dtype=torch.float64),
        torch.rand(2, 8, 3, generator=g, dtype=torch.float64),
    )
    nx, ny = (
        torch.randn(2, 10, 3, generator=g, dtype=torch.float64),
        torch.randn(2, 8, 3, generator=g, dtype=torch.float64),
    )
    lx = torch.tensor([10, 6])
    out = normal_consistency(x, y, nx, ny, x_lengths=lx)
    for b in range(2):
        s, a = _nc_naive(x[b, : lx[b]], y[b], nx[b, : lx[b]], ny[b])
        assert out.signed[b].item() == pytest.approx(s)
        assert out.absolute[b].item() == pytest.approx(a)


def test_normal_consistency_flipped_and_empty_and_pointclouds():
    x = torch.rand(1, 20, 3)
    n = torch.nn.functional.normalize(torch.randn(1, 20, 3), dim=-1)
    out = normal_consistency(x, x, n, -n)
    assert out.signed.item() == pytest.approx(-1.0) and out.absolute.item() == pytest.approx(1.0)
    out = normal_consistency(x, x, n, n, y_lengths=torch.tensor([0]))
    assert math.isnan(out.signed.item())
    pc = Pointclouds([x[0]], normals=[n[0]])
    assert normal_consistency(pc, pc).absolute.item() == pytest.approx(1.0)
    with pytest.raises(InputError, match="x_normals"):
        normal_consistency(x, x)
    with pytest.raises(InputError, match=r"y_normals: expected shape \(1, 20, 3\)"):
        normal_consistency(x, x, n, n[:, :5])


def test_normal_consistency_grad():
    x, y = torch.rand(1, 5, 3, dtype=torch.float64), torch.rand(1, 4, 3, dtype=torch.float64)
    nx = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    ny = torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: normal_consistency(x, y, a, b).signed, (nx, ny))


# ----------------------------------------------------------------------------- voxels


def test_voxel_iou():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 4, 5, 6, generator=g)
    t = torch.rand(3, 4, 5, 6, generator=g) > 0.5
    t[2] = False
    p[2] = 0.0
    iou = voxel_iou(p, t, thresh=0.5)
    for b in range(2):
        a, c = (p[b] >= 0.5).flatten().tolist(), t[b].flatten().tolist()
        inter = sum(u and v for u, v in zip(a, c))
        union = sum(u or v for u, v in zip(a, c))
        assert iou[b].item() == pytest.approx(inter / union)
    assert iou[2].item() == 1.0  # empty union: defined as 1
    assert voxel_iou(VoxelGrid(t.float()), VoxelGrid(t.float()))[:2].tolist() == [1.0, 1.0]
    assert voxel_iou(t, ~t)[:2].tolist() == [0.0, 0.0]
    with pytest.raises(InputError, match="gt: expected shape"):
        voxel_iou(p, t[:, :3])
    with pytest.raises(InputError, match="pred: expected shape"):
        voxel_iou(p[0], t[0])
    p[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        voxel_iou(p, t)


# ----------------------------------------------------------------------------- depth


def _depth_naive(p, g):
    p, g = p.tolist(), g.tolist()
    n = len(p)
    d = [math.log(a) - math.log(b) for a, b in zip(p, g)]
    ratio = [max(a / b, b / a) for a, b in zip(p, g)]
    return {
        "AbsRel": sum(abs(a - b) / b for a, b in zip(p, g)) / n,
        "SqRel": sum((a - b) ** 2 / b for a, b in zip(p, g)) / n,
        "RMSE": math.sqrt(sum((a - b) ** 2 for a, b in zip(p, g)) / n),
        "RMSE_log": math.sqrt(sum(v * v for v in d) / n),
        "delta<1.25": sum(r < 1.25 for r in ratio) / n,
        "delta<1.25^2": sum(r < 1.25**2 for r in ratio) / n,
        "delta<1.25^3": sum(r < 1.25**3 for r in ratio) / n,
        "SILog": math.sqrt(sum(v * v for v in d) / n - (sum(d) / n) ** 2),
    }


def test_depth_metrics_match_naive():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 1, 6, 7, generator=g, dtype=torch.float64) * 5 + 0.5
    pred = gt * (1 + 0.4 * torch.randn(2, 1, 6, 7, generator=g, dtype=torch.float64)).clamp(0.2)
    gt[0, 0, 0, :3] = 0  # invalid GT pixels
    pred[0, 0, 0, :3] = -1  # ... where the prediction may be anything
    valid = torch.ones(2, 6, 7, dtype=torch.bool)
    valid[1, 2:] = False
    out = depth_metrics(pred, gt, valid)
    assert set(out) == set(DEPTH_METRIC_KEYS)
    for b in range(2):
        m = (gt[b, 0] > 0) & valid[b]
        ref = _depth_naive(pred[b, 0][m], gt[b, 0][m])
        for k, v in ref.items():
            assert out[k][b].item() == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_depth_metrics_edge_cases():
    gt = torch.rand(2, 4, 4) + 1
    out = depth_metrics(gt * 3, gt)
    assert out["SILog"] == pytest.approx(torch.zeros(2), abs=1e-3)  # scale invariant
    assert out["AbsRel"] == pytest.approx(torch.full((2,), 2.0))
    out = depth_metrics(gt, gt, torch.zeros(2, 4, 4, dtype=torch.bool))
    assert math.isnan(out["RMSE"][0].item())
    with pytest.raises(InputError, match="pred: expected finite depths > 0"):
        depth_metrics(gt * 0, gt)
    with pytest.raises(InputError, match="gt: expected shape"):
        depth_metrics(gt, gt[:, :2])
    assert depth_metrics(gt[0], gt[0])["RMSE"].shape == (1,)


def test_normal_metrics():
    g = torch.Generator().manual_seed(0)
    gt = torch.nn.functional.normalize(
        torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64), dim=1
    )
    pred = gt + 0.5 * torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    gt[1, :, 0, 0] = 0  # invalid
    out = normal_metrics(pred * 3, gt)
    for b in range(2):
        angs = []
        for i in range(5):
            for j in range(4):
                gv = gt[b, :, i, j]
                if gv.abs().sum() == 0:
                    continue
                pv = pred[b, :, i, j]
                c = float(torch.dot(pv, gv) / (pv.norm() * gv.norm()))
                angs.append(math.degrees(math.acos(max(-1.0, min(1.0, c)))))
        angs.sort()
        n = len(angs)
        med = angs[n // 2] if n % 2 else 0.5 * (angs[n // 2 - 1] + angs[n // 2])
        assert out["mean"][b].item() == pytest.approx(sum(angs) / n)
        assert out["median"][b].item() == pytest.approx(med)
        for t in (11.25, 22.5, 30):
            assert out[f"within_{t:g}"][b].item() == pytest.approx(sum(a < t for a in angs) / n)
    with pytest.raises(InputError, match=r"pred: expected shape \(N, 3, H, W\)"):
        normal_metrics(pred[:, :2], gt)


# ----------------------------------------------------------------------------- device / dtype


def test_device_dtype(device, dtype):
    """Each metric on ``device`` in ``dtype``: results stay there and match float64 on the CPU."""
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(2, 20, 3, generator=g, dtype=torch.float64), torch.rand(2, 15, 3, generator=g,
                                                                             dtype=torch.float64)
    nx, ny = torch.randn(2, 20, 3, generator=g, dtype=torch.float64), torch.randn(
        2, 15, 3, generator=g, dtype=torch.float64)
    check_op(normal_consistency, (x, y, nx, ny), device, dtype, grad=False)
    p = torch.rand(3, 4, 5, 6, generator=g, dtype=torch.float64)
    t = torch.rand(3, 4, 5, 6, generator=g) > 0.5
    check_op(lambda a, b: voxel_iou(a, b, thresh=0.5), (p, t), device, dtype, grad=False)
    gt = torch.rand(2, 1, 6, 7, generator=g, dtype=torch.float64) * 5 + 0.5
    pred = gt * (1 + 0.3 * torch.rand(2, 1, 6, 7, generator=g, dtype=torch.float64))
    valid = torch.rand(2, 6, 7, generator=g) > 0.2
    check_op(depth_metrics, (pred, gt, valid), device, dtype, grad=False,
             **({} if dtype == torch.float64 else dict(atol=1e-4, rtol=1e-4)))
    n1 = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    n2 = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    check_op(normal_metrics, (n1, n2), device, dtype, grad=False,
             **({} if dtype == torch.float64 else dict(atol=1e-3, rtol=1e-4)))
