"""compare_meshes: Mesh R-CNN protocol (gt-10), Pixel2Mesh scale, empty predictions."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.metrics import chamfer_distance, compare_meshes, f1_score
from spacetime.shapes.structures import Meshes


def _cube(scale=1.0, offset=(0.0, 0.0, 0.0)):
    v = torch.tensor(
        [[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)]
    ) * scale + torch.tensor(offset)
    f = torch.tensor(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    return v, f


def _meshes(*cubes):
    return Meshes([c[0] for c in cubes], [c[1] for c in cubes])


def test_keys_and_values_against_separate_metrics():
    from spacetime.shapes.convert.sampling import sample_points_from_meshes

    pred = _meshes(_cube(1.0, (0.05, 0, 0)), _cube(0.5))
    gt = _meshes(_cube(1.0), _cube(2.0))
    out = compare_meshes(pred, gt, num_samples=500, seed=3)
    ts = (0.1, 0.3, 0.5)
    keys = {"Chamfer-L2", "NormalConsistency", "AbsNormalConsistency"}
    keys |= {f"{m}@{t:g}" for m in ("Precision", "Recall", "F1") for t in ts}
    assert set(out) == keys
    assert all(v.shape == (2,) for v in out.values())
    # reference: scale both by 10 / longest GT bbox edge (1 and 2), same sampling order
    s = torch.tensor([10.0, 5.0])
    gen = torch.Generator().manual_seed(3)
    pp, _ = sample_points_from_meshes(pred.scale_verts(s), 500, True, generator=gen)
    gp, _ = sample_points_from_meshes(gt.scale_verts(s), 500, True, generator=gen)
    assert torch.allclose(out["Chamfer-L2"], chamfer_distance(pp, gp))
    ref = f1_score(pp, gp, list(ts))
    for j, t in enumerate(ts):
        assert torch.equal(out[f"F1@{t:g}"], ref.f1[:, j])
        assert torch.equal(out[f"Precision@{t:g}"], ref.precision[:, j])
    assert (out["AbsNormalConsistency"] <= 1).all() and (out["AbsNormalConsistency"] >= 0).all()


def test_gt10_is_scale_invariant_and_identical_meshes_score_high():
    a = compare_meshes(_meshes(_cube()), _meshes(_cube()), num_samples=1000)
    b = compare_meshes(_meshes(_cube(7.0)), _meshes(_cube(7.0)), num_samples=1000)
    for k in a:
        assert a[k].item() == pytest.approx(b[k].item(), rel=1e-4, abs=1e-5), k
    # 1000 samples on a 10x10x10 cube: ~0.8 spacing, so F1 grows with t and is high at 0.5
    assert a["F1@0.1"].item() < a["F1@0.3"].item() < a["F1@0.5"].item()
    assert a["F1@0.5"].item() > 0.6
    assert a["AbsNormalConsistency"].item() > 0.9


def test_pixel2mesh_and_none_scales():
    pred, gt = _meshes(_cube(1.0, (0.01, 0, 0))), _meshes(_cube())
    out = compare_meshes(pred, gt, num_samples=300, scale="pixel2mesh")
    assert {"F1@0.01", f"F1@{math.sqrt(2) * 1e-2:g}"} <= set(out)
    raw = compare_meshes(pred, gt, num_samples=300, scale="none", thresholds=[0.05])
    scaled = compare_meshes(pred, gt, num_samples=300, scale=0.57, thresholds=[0.05 * 0.57])
    assert raw["Chamfer-L2"].item() * 0.57**2 == pytest.approx(scaled["Chamfer-L2"].item())
    with pytest.raises(InputError, match="scale"):
        compare_meshes(pred, gt, scale="gt-11x")
    with pytest.raises(InputError, match="scale"):
        compare_meshes(pred, gt, scale=-1.0)


def test_empty_prediction_does_not_crash():
    v, f = _cube()
    pred = Meshes([v, v], [f, torch.zeros(0, 3, dtype=torch.int64)])
    gt = _meshes(_cube(), _cube())
    out = compare_meshes(pred, gt, num_samples=200)
    assert math.isinf(out["Chamfer-L2"][1].item())
    assert out["F1@0.3"][1].item() == 0.0 and out["Precision@0.3"][1].item() == 0.0
    assert math.isnan(out["NormalConsistency"][1].item())
    assert math.isfinite(out["Chamfer-L2"][0].item())


def test_bad_inputs():
    with pytest.raises(InputError, match="gt: expected 1 meshes"):
        compare_meshes(_meshes(_cube()), _meshes(_cube(), _cube()))
    with pytest.raises(InputError, match="num_samples"):
        compare_meshes(_meshes(_cube()), _meshes(_cube()), num_samples=0)
