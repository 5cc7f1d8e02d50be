"""Mesh R-CNN scene mode around torchvision's Mask R-CNN: targets from synthetic scenes and
Pix3D-style items, a training step (detector + shape losses, backward), evaluation outputs in the
camera frame inside the detected boxes, checkpoint loading and a smoke training run whose loss
decreases."""

from __future__ import annotations

import pytest
import torch

from spacetime.engine import TrainConfig, Trainer, build_loader
from spacetime.errors import InputError, MissingFileError
from spacetime.shapes import Meshes, box_mesh
from spacetime.shapes.datasets import SyntheticScenes
from spacetime.shapes.models.mesh_rcnn import (
    MeshRCNNSceneStep,
    TinyBackbone,
    collate_scenes,
    evaluate_scenes,
    load_detector_weights,
    mesh_rcnn,
    scene_targets,
)

TINY = dict(num_classes=2, image_size=64, grid_size=12, roi_size=6, voxel_hidden=16,
            hidden_dim=16, num_stages=1, num_convs=1, tiny_channels=16, num_samples=300)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return SyntheticScenes(tmp_path_factory.mktemp("scenes"), "train", categories=["chair", "mug"],
                           num_scenes=8, image_size=64, voxel_resolution=16, mesh_resolution=24,
                           progress=False)


def test_scene_targets_synthetic_and_pix3d(scenes):
    item = scenes[0]
    t = scene_targets(item)
    m = len(item["labels"])
    assert t["boxes"].shape == (m, 4) and t["masks"].shape == (m, 64, 64) and len(t["meshes"]) == m
    # the camera-frame meshes project into (roughly) their boxes: centres inside
    K = item["K"]
    for k, v in enumerate(t["meshes"].verts_list()):
        c = v.mean(0)
        u, w = float(K[0, 0] * c[0] / c[2] + K[0, 2]), float(K[1, 1] * c[1] / c[2] + K[1, 2])
        x0, y0, x1, y1 = t["boxes"][k].tolist()
        assert x0 - 4 <= u <= x1 + 4 and y0 - 4 <= w <= y1 + 4
        assert t["depths"][k] > 0
    cube = box_mesh()
    pix = {"bbox": torch.tensor([1.0, 2.0, 5.0, 6.0]), "label_index": 1,
           "mask": torch.zeros(8, 8), "verts": cube.verts_list()[0], "faces": cube.faces_list()[0],
           "R": torch.eye(3), "t": torch.tensor([0.0, 0.0, 3.0])}
    t = scene_targets(pix)
    assert t["labels"].tolist() == [1] and t["depths"].tolist() == [3.0]
    with pytest.raises(InputError, match="SyntheticScenes"):
        scene_targets({"R": torch.eye(3), "t": torch.zeros(3)})


def test_tiny_backbone_levels():
    out = TinyBackbone(8, 8)(torch.rand(1, 3, 64, 64))
    assert [tuple(v.shape) for v in out.values()] == [(1, 8, 16, 16), (1, 8, 8, 8)]


def test_step_eval_and_bad_input(scenes):
    torch.manual_seed(0)
    model = mesh_rcnn(**TINY)
    b = collate_scenes([scenes[0], scenes[1]])
    model.train()
    loss, metrics = MeshRCNNSceneStep(preset="pretty")(model, b)
    assert torch.isfinite(loss) and {"classifier", "mask", "voxel", "chamfer", "edge",
                                     "depth"} <= set(metrics)
    loss.backward()
    assert model.voxel_head.predictor.weight.grad is not None
    assert model.mesh_head.stages[0].refine.linear.weight.grad is not None
    assert model.detector.backbone.c1[0].weight.grad is not None
    model.eval()
    out = model(b["images"], b["K"])
    assert len(out) == 2
    for o in out:
        n = len(o["boxes"])
        assert o["scores"].shape == (n,) and o["labels"].shape == (n,)
        if n:
            assert o["masks"].shape == (n, 64, 64) and o["masks"].dtype == torch.bool
            assert o["voxels"].shape == (n, 12, 12, 12) and len(o["meshes"]) == n
            assert bool((o["labels"] >= 0).all()) and bool((o["depths"] > 0).all())
            # cubified + refined meshes lie in the detected box's frustum and depth range
            v = o["meshes"].verts_list()[0]
            assert bool((v[:, 2] >= o["depth_ranges"][0, 0] - 1).all())
    with pytest.raises(InputError, match="targets"):
        model.train()
        model(b["images"], b["K"])
    with pytest.raises(InputError, match="K"):
        model.eval()
        model(b["images"], torch.eye(3).expand(3, 3, 3))
    with pytest.raises(InputError, match="backbone"):
        mesh_rcnn(num_classes=2, backbone="vgg")
    with pytest.raises(InputError, match="batch"):
        MeshRCNNSceneStep()(model, {"images": []})


def test_resnet50_fpn_builds_torchvision_maskrcnn():
    from torchvision.models.detection import MaskRCNN

    model = mesh_rcnn(num_classes=3, backbone="resnet50-fpn", image_size=64, grid_size=8,
                      roi_size=4, num_stages=1, num_convs=1, hidden_dim=8, voxel_hidden=8)
    assert isinstance(model.detector, MaskRCNN)
    assert model.detector.roi_heads.box_predictor.cls_score.out_features == 4


def test_detector_checkpoint(tmp_path):
    a, b = mesh_rcnn(**TINY), mesh_rcnn(**dict(TINY, num_classes=5))
    path = tmp_path / "det.pt"
    torch.save({"model": a.detector.state_dict()}, path)
    skipped = load_detector_weights(b.detector, str(path))
    assert any("box_predictor" in k for k in skipped)
    torch.testing.assert_close(b.detector.backbone.c1[0].weight, a.detector.backbone.c1[0].weight)
    with pytest.raises(MissingFileError):
        load_detector_weights(b.detector, str(tmp_path / "none.pt"))


def test_scene_training_smoke_and_ap(scenes):
    """A few epochs on 8 scenes: the training loss decreases; AP evaluation runs end to end."""
    torch.manual_seed(0)
    model = mesh_rcnn(**TINY)
    loader = build_loader(scenes, 4, shuffle=True, seed=0, collate_fn=collate_scenes)
    cfg = TrainConfig(epochs=6, optimizer="adam", lr=2e-3, progress=False, plot=False)
    hist = Trainer(model, loader, None, cfg, step_fn=MeshRCNNSceneStep()).fit()
    assert hist[-1]["train/loss"] < hist[0]["train/loss"]
    assert hist[-1]["train/voxel"] < hist[0]["train/voxel"]
    evl = build_loader(scenes, 4, shuffle=False, collate_fn=collate_scenes)
    res = evaluate_scenes(model, evl, num_samples=500, class_names=scenes.class_names)
    assert res["num_images"] == 8
    for k in ("box_AP", "mask_AP", "mesh_AP", "box_AP/chair"):
        assert 0.0 <= res[k] <= 1.0


def test_one_object_target_losses_finite():
    # GT meshes are camera-frame Meshes; one object, hand-made image and box
    cube = box_mesh()
    m = Meshes([cube.verts_list()[0] * 0.3 + torch.tensor([0.0, 0, 3])], [cube.faces_list()[0]])
    mask = torch.zeros(1, 64, 64, dtype=torch.bool)
    mask[0, 24:40, 24:40] = True
    tg = [{"boxes": torch.tensor([[23.5, 23.5, 39.5, 39.5]]), "labels": torch.tensor([0]),
           "masks": mask, "meshes": m, "depths": torch.tensor([3.0])}]
    K = torch.tensor([[[64.0, 0, 31.5], [0, 64, 31.5], [0, 0, 1]]])
    model = mesh_rcnn(**TINY).train()
    losses = model([torch.rand(3, 64, 64)], K, tg)
    assert all(torch.isfinite(v) for v in losses.values())


def test_images_without_objects():
    """A batch without any object (background-only images): detector losses only, zero shape
    losses that still backpropagate (no ``Meshes`` can hold zero meshes, so ``meshes`` is
    unused)."""
    model = mesh_rcnn(**TINY).train()
    K = torch.tensor([[[64.0, 0, 31.5], [0, 64, 31.5], [0, 0, 1]]])
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long),
             "masks": torch.zeros(0, 64, 64, dtype=torch.bool), "meshes": None,
             "depths": torch.zeros(0)}
    losses = model([torch.rand(3, 64, 64)], K, [empty])
    assert float(losses["loss_voxel"].detach()) == 0.0
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
