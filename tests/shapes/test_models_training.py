"""Short training runs on a tiny synthetic split: every model's loss falls and its metric beats a
trivial baseline (mean shape / majority class / constant prediction); evaluation and the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spacetime.engine import TrainConfig, Trainer, build_loader
from spacetime.errors import InputError
from spacetime.shapes.datasets import SyntheticShapes, collate_3d
from spacetime.shapes.losses import chamfer_loss
from spacetime.shapes.models import (
    MODEL_TASKS,
    SHAPE_MODEL_BUILDERS,
    evaluate_shape_model,
    resize_voxels,
    shape_task,
)
from spacetime.shapes.models.tasks import _iou

from .test_models_units import TINY, _Sphere

ALL = ("image", "depth", "normal_map", "mask", "points", "voxels", "occupancy", "mesh", "K", "R",
       "t")
DATA = dict(categories=["chair", "mug"], num_objects_per_category=4, views_per_object=2,
            image_size=32, voxel_resolution=16, num_points=256, num_occupancy_samples=512,
            mesh_resolution=24, progress=False)
#: (epochs, lr) per model: enough to beat the baselines on 16 training items
SCHEDULE = {
    "voxnet": (6, 3e-3), "pointnet": (30, 3e-3), "depth-fcn": (40, 3e-3),
    "normal-fcn": (20, 3e-3), "voxel-gen": (25, 3e-3), "voxel-tubes": (20, 3e-3),
    "octree-gen": (60, 3e-3), "point-gen": (20, 3e-3), "occnet": (150, 3e-3),
    "pixel2mesh": (15, 3e-3),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_models")
    return SyntheticShapes(root, "train", returns=ALL, **DATA)


@pytest.fixture(scope="module")
def batch(data):
    return collate_3d([data[i] for i in range(len(data))])


def _train(name, data):
    torch.manual_seed(0)
    kw = dict(TINY[name])
    if "num_classes" in kw:
        kw["num_classes"] = len(data.class_names)
    model = SHAPE_MODEL_BUILDERS[name](**kw)
    epochs, lr = SCHEDULE[name]
    loader = build_loader(data, 8, shuffle=True, seed=0, collate_fn=collate_3d)
    cfg = TrainConfig(epochs=epochs, optimizer="adam", lr=lr, progress=False, plot=False)
    trainer = Trainer(model, loader, None, cfg, step_fn=shape_task(name))
    hist = trainer.fit()
    return model.eval(), [r["train/loss"] for r in hist]


def _baseline_and_score(name, model, b):
    """(trivial baseline, model score, higher_is_better) on the training items."""
    task = MODEL_TASKS[name]
    with torch.no_grad():
        if task.endswith("classification"):
            lab = b["label"]
            base = max(int((lab == c).sum()) for c in lab.unique()) / len(lab)
            from spacetime.shapes.models import voxels_to_shapenets_input

            x = voxels_to_shapenets_input(b["voxels"]) if name == "voxnet" else b["points"]
            return base, float((model(x).argmax(1) == lab).float().mean()), True
        if task == "depth":
            m = b["mask"]
            const = b["depth"][m].mean()
            pred = model(b["image"])[:, 0]
            rel = lambda p: float(((p - b["depth"]).abs() / b["depth"].clamp(min=1e-6))[m].mean())  # noqa: E731
            return rel(torch.full_like(pred, float(const))), rel(pred), False
        if task == "normals":
            m = b["mask"]
            gt = b["normal_map"]
            mean_n = torch.nn.functional.normalize(gt.permute(0, 2, 3, 1)[m].mean(0), dim=0)

            def ang(p):
                cos = (torch.nn.functional.normalize(p, dim=1) * gt).sum(1)[m]
                return float(torch.rad2deg(torch.arccos(cos.clamp(-1, 1))).mean())
            return ang(mean_n[None, :, None, None].expand_as(gt)), ang(model(b["image"])), False
        if task in ("voxels", "octree", "shape-layers"):
            gt = resize_voxels(b["voxels"], 16) > 0.5
            mean = (gt.float().mean(0, keepdim=True) > 0.5).expand_as(gt)
            if task == "voxels":
                pred = model(b["image"]) > 0
            elif task == "shape-layers":
                pred = model.compose(model(b["image"]))
            else:
                pred = model(b["image"]).to_dense() > 0.5
            return float(_iou(mean, gt)), float(_iou(pred, gt)), True
        if task == "mesh":
            # the initial spheres (at the known object distance) vs the last stage, camera frame
            from spacetime.shapes.convert import sample_points_from_meshes
            from spacetime.shapes.models import camera_frame_targets

            tg = camera_frame_targets(b)
            out = model(b["image"], b["K"], tg["depths"])
            gen = torch.Generator().manual_seed(0)
            cham = [float(chamfer_loss(sample_points_from_meshes(m, 1000, generator=gen),
                                       tg["points"])) for m in (out.initial, out.meshes[-1])]
            return cham[0], cham[1], False
        if task == "points":
            gt = b["points"]
            # best single training shape (the medoid) predicted for every image
            costs = [float(chamfer_loss(gt[k:k + 1].expand_as(gt), gt)) for k in range(len(gt))]
            return min(costs), float(chamfer_loss(model(b["image"]), gt)), False
        # occupancy: the mean shape (mean voxel grid) queried at the sample points
        pts, lab = b["occ_points"], b["occ_labels"].bool()
        g = b["voxels"].shape[-1]
        mean = b["voxels"].float().mean(0) > 0.5
        idx = ((pts + 0.5) * g).floor().long().clamp(0, g - 1)
        base = mean[idx[..., 2], idx[..., 1], idx[..., 0]]
        pred = model(b["image"], pts) > 0
        return float(_iou(base, lab)), float(_iou(pred, lab)), True


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCHEDULE))
def test_model_learns(name, data, batch):
    model, losses = _train(name, data)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.7 * losses[0] if losses[0] > 0 else losses[-1] < losses[0]
    base, score, higher = _baseline_and_score(name, model, batch)
    print(f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}, score {score:.4f}, "
          f"baseline {base:.4f}")
    assert (score > base) if higher else (score < base)


# ----------------------------------------------------------------------------- evaluation
class _Constant(torch.nn.Module):
    """A voxel generator predicting the same logit everywhere (-10: empty grids)."""

    def __init__(self, value=-10.0, resolution=16):
        super().__init__()
        self.value, self.resolution = value, resolution
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, images):
        return torch.full((images.shape[0],) + (self.resolution,) * 3, self.value) + self.dummy


def _loader(data, returns, n=4):
    items = []
    for i in range(n):
        it = data[i * 4]  # both categories
        items.append(it)
    return [collate_3d(items)]


def test_evaluate_empty_voxel_predictions(data):
    res = evaluate_shape_model(_Constant(), "voxels", _loader(data, ALL),
                               class_names=data.class_names, mesh_samples=200)
    m = res["mean"]
    assert res["num_samples"] == 4 and m["empty_meshes"] == 4
    assert m["voxel_iou"] == 0.0 and m["F1@0.3"] == 0.0
    assert math.isnan(m["Chamfer-L2"])  # no non-empty prediction to average
    assert set(res["per_category"]) == {"chair", "mug"}
    json.dumps(res, default=str)  # serialisable (nan is written as NaN / null by write_json)


def test_evaluate_full_voxel_predictions(data):
    res = evaluate_shape_model(_Constant(10.0), "voxels", _loader(data, ALL),
                               class_names=data.class_names, mesh_samples=200)
    m = res["mean"]
    assert m["empty_meshes"] == 0 and 0 < m["voxel_iou"] < 1
    assert math.isfinite(m["Chamfer-L2"]) and 0 <= m["F1@0.5"] <= 1
    assert "mean_over_categories" in res


def test_evaluate_occupancy_empty_and_sphere(data):
    loader = _loader(data, ALL)
    empty = evaluate_shape_model(_Sphere(r=-1.0).eval(), "occupancy", loader,
                                 class_names=data.class_names, occ_resolution=16,
                                 mesh_samples=200)
    assert empty["mean"]["empty_meshes"] == 4 and empty["mean"]["F1@0.1"] == 0.0
    ball = evaluate_shape_model(_Sphere(r=0.3).eval(), "occupancy", loader,
                                class_names=data.class_names, occ_resolution=32,
                                mesh_samples=200)
    assert ball["mean"]["empty_meshes"] == 0
    ne = ball["network_evaluations"]
    assert ne["mise"] < ne["dense"] == 4 * 33 ** 3


def test_evaluate_classifier_and_depth(data):
    torch.manual_seed(0)
    kw = dict(TINY["pointnet"], num_classes=2)
    res = evaluate_shape_model(SHAPE_MODEL_BUILDERS["pointnet"](**kw), "point-classification",
                               _loader(data, ALL), class_names=data.class_names)
    assert 0 <= res["mean"]["accuracy"] <= 1
    assert res["majority_baseline"]["accuracy"] == 0.5
    res = evaluate_shape_model(SHAPE_MODEL_BUILDERS["depth-fcn"](**TINY["depth-fcn"]), "depth",
                               _loader(data, ALL), class_names=data.class_names)
    assert {"depth/AbsRel", "depth/delta<1.25", "depth/RMSE"} <= set(res["mean"])
    with pytest.raises(InputError, match="task"):
        evaluate_shape_model(_Constant(), "meshes", [], class_names=[])


def test_step_errors():
    with pytest.raises(InputError, match="task"):
        shape_task("segmentation")
    step = shape_task("voxels")
    with pytest.raises(InputError, match="voxels"):
        step(_Constant(), {"image": torch.rand(1, 3, 32, 32)})


# ----------------------------------------------------------------------------- pixel2mesh (mesh)
def _p2m(seed=0):
    torch.manual_seed(seed)
    return SHAPE_MODEL_BUILDERS["pixel2mesh"](**TINY["pixel2mesh"]).eval()


def test_mesh_step_is_pixel2mesh_step(batch):
    from spacetime.shapes.models import Pixel2MeshStep

    model = _p2m()
    b = {k: batch[k][:2] for k in ("image", "K", "R", "t", "points", "normals")}
    for gt_depth in (True, False):
        torch.manual_seed(1)
        loss, metrics = shape_task("mesh", use_gt_depth=gt_depth)(model, b)
        torch.manual_seed(1)
        ref, ref_metrics = Pixel2MeshStep(use_gt_depth=gt_depth)(model, b)
        torch.testing.assert_close(loss, ref)
        assert set(metrics) == set(ref_metrics) >= {"chamfer", "normal", "edge", "laplacian"}
    with pytest.raises(InputError, match="'R'"):
        shape_task("mesh")(model, {"image": b["image"], "points": b["points"]})
    with pytest.raises(InputError, match="normals"):
        shape_task("mesh")(model, {k: v for k, v in b.items() if k != "normals"})


@pytest.mark.parametrize("gt_depth", [True, False])
def test_evaluate_mesh_matches_evaluate_pixel2mesh(data, gt_depth):
    from spacetime.shapes.models import evaluate_pixel2mesh

    model, loader = _p2m(), _loader(data, ALL)
    res = evaluate_shape_model(model, "mesh", loader, class_names=data.class_names,
                               mesh_samples=300, use_gt_depth=gt_depth)
    ref = evaluate_pixel2mesh(model, loader, num_samples=300, use_gt_depth=gt_depth)
    assert res["task"] == "mesh" and res["num_samples"] == ref["num_images"] == 4
    assert set(res["per_category"]) == {"chair", "mug"}
    for k in ("Chamfer-L2", "AbsNormalConsistency", "F1@0.1", "F1@0.3", "F1@0.5"):
        assert res["mean"][k] == pytest.approx(ref[k], rel=1e-6, abs=1e-9), k
    json.dumps(res)
    # GT meshes are needed
    no_mesh = [{k: v for k, v in loader[0].items() if k not in ("meshes", "verts", "faces")}]
    with pytest.raises(InputError, match="meshes"):
        evaluate_shape_model(model, "mesh", no_mesh, class_names=data.class_names)


def test_predict_mesh_default_intrinsics(data, batch):
    from spacetime.shapes.models import predict_shapes, synthetic_intrinsics

    K = synthetic_intrinsics(32, n=2)
    assert K.shape == (2, 3, 3)
    torch.testing.assert_close(K[0], data[0]["K"].float())  # the synthetic cameras (focal 1)
    torch.testing.assert_close(synthetic_intrinsics(10, 2.0)[0],
                               torch.tensor([[20.0, 0, 4.5], [0, 20.0, 4.5], [0, 0, 1]]))
    model, images = _p2m(), batch["image"][:2]
    pred = predict_shapes(model, "mesh", images)
    torch.testing.assert_close(pred["K"], K)
    with torch.no_grad():
        ref = model(images, K).meshes[-1]
    assert len(pred["stages"]) == 3 and len(pred["meshes"]) == 2
    for v, r in zip(pred["meshes"].verts_list(), ref.verts_list()):
        torch.testing.assert_close(v, r)
    # depths place the initial sphere; an explicit K is used as given
    near = predict_shapes(model, "mesh", images, K=K * torch.tensor([2.0, 2.0, 1.0])[:, None],
                          depths=torch.tensor([1.5, 1.5]))
    zs = [float(v[:, 2].mean()) for v in near["meshes"].verts_list()]
    assert all(abs(z - 1.5) < 0.5 for z in zs), zs
    with pytest.raises(InputError, match="focal"):
        synthetic_intrinsics(32, 0.0)
    with pytest.raises(InputError, match="image_size"):
        synthetic_intrinsics(0)


def _project(K, R, t, X):
    """Naive pinhole projection, one point at a time: pixel (u, v) of X_cam = R X + t."""
    out = []
    for x in X:
        c = R @ x + t
        out.append(torch.stack([K[0, 0] * c[0] / c[2] + K[0, 1] * c[1] / c[2] + K[0, 2],
                                K[1, 1] * c[1] / c[2] + K[1, 2]]))
    return torch.stack(out)


@pytest.mark.parametrize("per_view", [False, True])
def test_mesh_normalized_dataset_cameras(per_view):
    """Cameras follow the normalisation (X' = (X - c) / s) and the resize W0 x H0 -> S x S:
    every normalised vertex lands where the original did, in the resized image's pixels."""
    from spacetime.shapes import ico_sphere
    from spacetime.shapes.datasets import MeshNormalizedDataset
    from spacetime.shapes.structures import look_at

    g = torch.Generator().manual_seed(0)
    sph = ico_sphere(1)
    verts = (sph.verts_list()[0] * torch.tensor([3.0, 1.0, 2.0]) + torch.tensor([5.0, -2.0, 1.0]))
    ext = look_at(torch.tensor([9.0, 3.0, 12.0]), (5.0, -2.0, 1.0), (0.0, 1.0, 0.0),
                  dtype=torch.float64)
    R, t = ext.R[0].float(), ext.t[0].float()
    K = torch.tensor([[70.0, 0.0, 38.5], [0.0, 65.0, 24.0], [0.0, 0.0, 1.0]])
    H0, W0, S = 50, 80, 32
    item = {"verts": verts, "faces": sph.faces_list()[0], "label": 0}
    if per_view:  # R2N2: (V, ...) cameras, images[0] is used
        item.update(images=torch.rand(2, 3, H0, W0, generator=g), K=torch.stack([K, 2 * K]),
                    R=torch.stack([R, R.t()]), t=torch.stack([t, -t]))
    else:  # Pix3D: one camera, (H, W, 3) image
        item.update(image=torch.rand(H0, W0, 3, generator=g), K=K, R=R, t=t)
    ds = MeshNormalizedDataset([item], ["thing"], ("image", "K", "R", "t", "mesh", "points"),
                               image_size=S, num_points=64)
    out = ds[0]
    assert out["image"].shape == (3, S, S) and out["K"].shape == (3, 3)
    uv = _project(K.double(), R.double(), t.double(), verts.double())
    want = (uv + 0.5) * torch.tensor([S / W0, S / H0], dtype=torch.float64) - 0.5
    got = _project(out["K"].double(), out["R"].double(), out["t"].double(),
                   out["verts"].double())
    torch.testing.assert_close(got, want, atol=1e-3, rtol=0)
    # the normalised mesh spans the unit cube: camera distances shrink by the longest edge (6)
    d0 = (verts.double() @ R.double().t() + t.double())[:, 2]
    d1 = (out["verts"].double() @ out["R"].double().t() + out["t"].double())[:, 2]
    torch.testing.assert_close(d1, d0 / 6.0, atol=1e-4, rtol=1e-4)
    # no cameras in the item
    plain = {k: v for k, v in item.items() if k not in ("K", "R", "t")}
    with pytest.raises(InputError, match="cameras"):
        MeshNormalizedDataset([plain], ["thing"], ("image", "K", "R", "t"))[0]
