"""PointNet part segmentation: model shapes / gradients, the task end to end (API and CLI)."""

from __future__ import annotations

import json

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.datasets.procedural import CATEGORY_PARTS, PART_NAMES
from spacetime.shapes.models import (
    MODEL_TASKS,
    SHAPE_MODEL_BUILDERS,
    PointNetSegmentation,
    PointSegmentationTask,
    pointnet_seg,
    shape_task,
)

from .test_models_cli import run

TINY = dict(widths=(8, 16, 32), head=(16,))


def test_registry():
    assert MODEL_TASKS["pointnet-seg"] == "point-segmentation"
    assert SHAPE_MODEL_BUILDERS["pointnet-seg"] is pointnet_seg
    assert isinstance(shape_task("pointnet-seg"), PointSegmentationTask)
    m = pointnet_seg(num_classes=2)
    assert m.num_parts == len(PART_NAMES) == 21


def test_shapes_gradients_and_order_equivariance():
    torch.manual_seed(0)
    m = PointNetSegmentation(5, 3, **TINY).eval()
    x = torch.rand(2, 40, 3, requires_grad=True)
    cat = torch.tensor([0, 2])
    y = m(x, cat)
    assert y.shape == (2, 40, 5)
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in m.parameters())
    perm = torch.randperm(40)
    with torch.no_grad():
        torch.testing.assert_close(m(x[:, perm], cat), y[:, perm], atol=1e-5, rtol=1e-5)
        # the category changes the output (one-hot input)
        assert not torch.allclose(m(x, torch.tensor([1, 1])), y)


def test_gradcheck_double():
    torch.manual_seed(0)
    m = PointNetSegmentation(3, 2, widths=(4, 6), head=(5,), input_transform=False).double()
    m.eval()
    x = torch.rand(1, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t, torch.tensor([1])), (x,), eps=1e-6,
                                    atol=1e-5)


def test_without_category_and_errors():
    m = PointNetSegmentation(4, 3, use_category=False, **TINY)
    assert m(torch.rand(1, 10, 3)).shape == (1, 10, 4)
    m = PointNetSegmentation(4, 3, **TINY)
    with pytest.raises(InputError, match="category"):
        m(torch.rand(1, 10, 3))
    with pytest.raises(InputError, match="category"):
        m(torch.rand(1, 10, 3), torch.tensor([3]))
    with pytest.raises(InputError, match="points"):
        m(torch.rand(1, 10, 2), torch.tensor([0]))


def test_masked_argmax_keeps_each_category_parts():
    logits = torch.randn(2, 50, 21)
    pred = PointSegmentationTask.masked_argmax(logits, ["mug", "airplane"])
    assert set(pred[0].tolist()) <= set(CATEGORY_PARTS["mug"])
    assert set(pred[1].tolist()) <= set(CATEGORY_PARTS["airplane"])


DATA = dict(categories=["chair", "mug"], objects_per_category=2, views=1, image_size=16,
            voxel_resolution=8, num_points=128, occ_samples=16, mesh_resolution=24)


def test_api_train_evaluate_predict_resume(tmp_path):
    from spacetime.api import shapes
    from spacetime.shapes.io import save_pointcloud

    run_ = shapes.train("pointnet-seg", "synthetic", model_kwargs=dict(TINY), **DATA,
                        cache=tmp_path / "cache", out=tmp_path / "run", epochs=2, batch_size=2,
                        log=None, progress=False, tensorboard=False, scheduler="none")
    assert run_.last_checkpoint.is_file()
    res = shapes.evaluate(run_.last_checkpoint, device="cpu")
    m = res.metrics
    assert m["task"] == "point-segmentation"
    for k in ("instance_mIoU", "class_mIoU"):
        assert 0.0 <= m[k] <= 1.0
    assert 0.0 <= m["majority_part_baseline"]["accuracy"] <= 1.0
    assert "instance mIoU" in res.table
    # the model rebuilds from the checkpoint alone
    loaded = shapes.load_model(run_.last_checkpoint, device="cpu")
    assert isinstance(loaded.model, PointNetSegmentation)
    pts = tmp_path / "p.ply"
    save_pointcloud(torch.rand(64, 3) - 0.5, pts)
    with pytest.raises(InputError, match="category"):
        shapes.predict(run_.last_checkpoint, pts, device="cpu")
    pred = shapes.predict(run_.last_checkpoint, pts, category="mug", out=tmp_path / "pred",
                          device="cpu")
    names = {p.name for p in pred.files}
    assert {"parts.ply", "part_labels.npy", "parts.png", "view.html"} <= names
    assert set(pred.outputs["parts"][0].tolist()) <= set(CATEGORY_PARTS["mug"])
    assert set(pred.summary["parts"]) <= {"mug/body", "mug/handle"}
    # exact resume: 2 epochs + 1 more = 3 epochs in one go
    a = shapes.train("pointnet-seg", "synthetic", model_kwargs=dict(TINY), **DATA,
                     cache=tmp_path / "cache", out=tmp_path / "run", epochs=3, batch_size=2,
                     log=None, progress=False, tensorboard=False, resume=True,
                     scheduler="none")
    b = shapes.train("pointnet-seg", "synthetic", model_kwargs=dict(TINY), **DATA,
                     cache=tmp_path / "cache", out=tmp_path / "run3", epochs=3, batch_size=2,
                     log=None, progress=False, tensorboard=False, scheduler="none")
    for (ka, va), (_kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        torch.testing.assert_close(va, vb, msg=ka)


def test_real_data_rejected(tmp_path):
    from spacetime.api import shapes

    with pytest.raises(InputError, match="part labels"):
        shapes.train("pointnet-seg", f"modelnet:{tmp_path}", epochs=1, out=None, log=None)


def test_cli_train_eval_predict(tmp_path):
    from spacetime.shapes.io import save_pointcloud

    out = tmp_path / "run"
    rc = run(["shapes", "train", "--model", "pointnet-seg", "--model-kwargs",
              json.dumps({"widths": [8, 16], "head": [8]}), "--categories", "chair,mug",
              "--objects-per-category", "2", "--views", "1", "--image-size", "16",
              "--voxel-resolution", "8", "--num-points", "64", "--occ-samples", "16",
              "--mesh-resolution", "24", "--cache", str(tmp_path / "c"), "--epochs", "1",
              "--batch-size", "2", "--out", str(out), "--no-progress", "--no-tensorboard"])
    assert rc == 0
    ckpt = out / "checkpoints" / "last.pt"
    assert run(["shapes", "eval", "--checkpoint", str(ckpt), "--out", str(tmp_path / "e")]) == 0
    assert "instance_mIoU" in (tmp_path / "e" / "metrics.json").read_text()
    pts = tmp_path / "p.ply"
    save_pointcloud(torch.rand(32, 3) - 0.5, pts)
    assert run(["shapes", "predict", str(pts), "--checkpoint", str(ckpt), "--category",
                "chair", "-o", str(tmp_path / "pred")]) == 0
    assert (tmp_path / "pred" / "view.html").is_file()
    assert (tmp_path / "pred" / "parts.png").is_file()
