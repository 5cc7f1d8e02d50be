"""Pixel2Mesh: shapes, initial sphere placement, subdivision between stages, losses, camera-frame
targets, bad input and a tiny end-to-end training run through the engine whose mesh metrics
(compare_meshes) improve over the untrained prediction."""

from __future__ import annotations

import math

import pytest
import torch

from spacetime.engine import TrainConfig, Trainer, build_loader
from spacetime.errors import InputError
from spacetime.shapes import CameraIntrinsics
from spacetime.shapes.datasets import SyntheticShapes, collate_3d
from spacetime.shapes.models.pixel2mesh import (
    Pixel2Mesh,
    Pixel2MeshStep,
    PyramidEncoder,
    camera_frame_targets,
    evaluate_pixel2mesh,
    pixel2mesh,
    pixel2mesh_loss,
    synthetic_object_depth,
)

TINY = dict(image_size=32, widths=(8, 16, 32, 32), hidden_dim=32, num_convs=2, init_level=1)
DATA = dict(categories=["chair", "mug"], num_objects_per_category=4, views_per_object=2,
            image_size=32, num_points=512, mesh_resolution=24, progress=False,
            returns=("image", "K", "R", "t", "points", "mesh"))


def _K(n=2, s=32):
    return torch.tensor([[s, 0.0, (s - 1) / 2], [0.0, s, (s - 1) / 2], [0, 0, 1]]).expand(n, 3, 3)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return SyntheticShapes(tmp_path_factory.mktemp("p2m"), "train", **DATA)


def test_encoder_pyramid():
    enc = PyramidEncoder((4, 8, 16, 16), 3)
    maps = enc(torch.rand(2, 3, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 16, 2, 2)]
    assert enc.out_channels == [8, 16, 16]
    with pytest.raises(InputError, match="multiples of 16"):
        enc(torch.rand(1, 3, 24, 24))
    with pytest.raises(InputError, match="num_outputs"):
        PyramidEncoder((4, 8), 3)
    with pytest.raises(InputError, match="widths"):
        PyramidEncoder(())


def test_forward_shapes_and_stages():
    torch.manual_seed(0)
    model = pixel2mesh(**TINY)
    out = model(torch.rand(2, 3, 32, 32), _K())
    assert len(out.meshes) == 3
    assert [m.num_verts_per_mesh().tolist() for m in out.meshes] == [[42, 42], [162, 162],
                                                                      [642, 642]]
    assert out.meshes[-1].num_faces_per_mesh().tolist() == [1280, 1280]
    assert out.initial.num_verts_per_mesh().tolist() == [42, 42]
    # untrained: VertexRefine starts at zero, so the first stage returns the sphere
    assert torch.allclose(out.meshes[0].verts_packed(), out.initial.verts_packed())
    out.meshes[-1].verts_packed().sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)


def test_initial_sphere_in_front_of_camera():
    model = pixel2mesh(**TINY, init_radius=0.3, init_depth=2.0)
    m = model.initial_meshes(2, torch.tensor([2.0, 3.0]))
    c = m.verts_padded().mean(1)
    assert torch.allclose(c, torch.tensor([[0, 0, 2.0], [0, 0, 3.0]]), atol=1e-6)
    r = (m.verts_padded() - c[:, None]).norm(dim=-1)
    assert torch.allclose(r, torch.full_like(r, 0.3), atol=1e-6)
    d = model.initial_meshes(1).verts_packed()[:, 2].mean()
    assert float(d) == pytest.approx(2.0, abs=1e-6)
    assert pixel2mesh(**TINY).init_depth == pytest.approx(synthetic_object_depth(1.0))
    assert synthetic_object_depth(1.0) == pytest.approx(1.225 * math.sqrt(3) / 2 / math.sin(
        math.atan(0.5)))
    with pytest.raises(InputError, match="depths"):
        model.initial_meshes(2, torch.tensor([2.0, 0.1]))
    with pytest.raises(InputError, match="depths"):
        model.initial_meshes(2, torch.tensor([2.0]))


def test_intrinsics_object_and_depths_argument():
    torch.manual_seed(0)
    model = pixel2mesh(**TINY, num_stages=1)
    img = torch.rand(2, 3, 32, 32)
    cam = CameraIntrinsics(32.0, 32.0, 15.5, 15.5)
    a = model(img, cam, torch.tensor([2.0, 2.5]))
    b = model(img, _K(), torch.tensor([2.0, 2.5]))
    assert torch.allclose(a.meshes[0].verts_packed(), b.meshes[0].verts_packed())
    assert len(a.meshes) == 1


def test_bad_input():
    model = pixel2mesh(**TINY)
    with pytest.raises(InputError, match="images"):
        model(torch.rand(2, 1, 32, 32), _K())
    with pytest.raises(InputError, match="K"):
        model(torch.rand(2, 3, 32, 32), torch.eye(3).expand(3, 3, 3))
    with pytest.raises(InputError, match="image_size"):
        pixel2mesh(image_size=40, widths=(8, 16, 32, 32))
    with pytest.raises(InputError, match="32x32"):
        model(torch.rand(2, 3, 64, 64), _K())
    with pytest.raises(InputError, match="stages"):
        Pixel2Mesh(PyramidEncoder(), [])
    with pytest.raises(InputError, match="init_radius"):
        pixel2mesh(**{**TINY, "init_radius": 0.0})
    with pytest.raises(InputError, match="loss_weights"):
        Pixel2MeshStep(chamfr_weight=1.0)


def test_loss_terms():
    torch.manual_seed(0)
    model = pixel2mesh(**TINY)
    out = model(torch.rand(2, 3, 32, 32), _K())
    gt = torch.randn(2, 100, 3) * 0.3 + torch.tensor([0, 0, 2.37])
    nrm = torch.nn.functional.normalize(torch.randn(2, 100, 3), dim=-1)
    g = torch.Generator().manual_seed(0)
    loss = pixel2mesh_loss(out.meshes, gt, nrm, num_samples=200, generator=g)
    assert loss.total.dim() == 0 and torch.isfinite(loss.total)
    c, e, n = (float(x.detach()) for x in (loss.chamfer, loss.edge, loss.normal))
    assert c > 0 and e > 0 and -6 <= n <= 0
    g = torch.Generator().manual_seed(0)
    only = pixel2mesh_loss(out.meshes, gt, nrm, num_samples=200, generator=g, normal_weight=0,
                           edge_weight=0, laplacian_weight=0)
    assert torch.allclose(only.total, loss.chamfer)
    loss.total.backward()
    with pytest.raises(InputError, match="gt_normals"):
        pixel2mesh_loss(out.meshes, gt, nrm[:, :50])
    with pytest.raises(InputError, match="meshes"):
        pixel2mesh_loss([], gt, nrm)
    with pytest.raises(InputError, match="meshes"):
        pixel2mesh_loss([out.meshes[0][0]], gt, nrm)


def test_camera_frame_targets(data):
    b = collate_3d([data[0], data[1]])
    tg = camera_frame_targets(b)
    R, t = b["R"], b["t"]
    i = 1
    expect = (R[i] @ b["points"][i].T).T + t[i]
    assert torch.allclose(tg["points"][i], expect, atol=1e-5)
    assert torch.allclose(tg["normals"][i].norm(dim=-1), torch.ones(512), atol=1e-4)
    assert torch.allclose(tg["depths"], t.norm(dim=1))
    # the object is in front of the camera and (roughly) centred on the optical axis
    assert (tg["meshes"].verts_packed()[:, 2] > 0).all()
    v = tg["meshes"].verts_list()[i]
    assert torch.allclose(v, (R[i] @ b["meshes"].verts_list()[i].T).T + t[i], atol=1e-5)
    with pytest.raises(InputError, match="'R'"):
        camera_frame_targets({"t": t})


def test_step_requires_points_and_normals(data):
    b = collate_3d([data[0], data[1]])
    model = pixel2mesh(**TINY)
    loss, metrics = Pixel2MeshStep(num_samples=100)(model, b)
    assert loss.dim() == 0 and set(metrics) >= {"chamfer", "edge", "normal", "laplacian"}
    with pytest.raises(InputError, match="points"):
        Pixel2MeshStep()(model, {k: v for k, v in b.items() if k not in ("points", "normals")})


def test_training_improves_mesh_metrics(data):
    """~30 Adam steps on 16 synthetic views (32×32, level-1 sphere): Chamfer-L2 and F1@0.5 of
    the final meshes on the training views beat the untrained prediction."""
    torch.manual_seed(0)
    model = pixel2mesh(**TINY)
    loader = build_loader(data, 8, shuffle=True, seed=0, collate_fn=collate_3d)
    evl = build_loader(data, 8, shuffle=False, collate_fn=collate_3d)
    before = evaluate_pixel2mesh(model, evl, num_samples=1000)
    sphere = evaluate_pixel2mesh(model, evl, num_samples=1000, stage=None)
    assert before["num_images"] == 16
    cfg = TrainConfig(epochs=15, optimizer="adam", lr=3e-3, progress=False, plot=False)
    hist = Trainer(model, loader, None, cfg, step_fn=Pixel2MeshStep(num_samples=500)).fit()
    assert hist[-1]["train/chamfer"] < hist[0]["train/chamfer"]
    after = evaluate_pixel2mesh(model, evl, num_samples=1000)
    assert after["Chamfer-L2"] < 0.8 * before["Chamfer-L2"], (before, after)
    assert after["F1@0.5"] > before["F1@0.5"] + 0.05, (before, after)
    assert after["Chamfer-L2"] < sphere["Chamfer-L2"]
    # a batch without GT meshes cannot be scored
    with pytest.raises(InputError, match="meshes"):
        evaluate_pixel2mesh(model, [{k: v for k, v in collate_3d([data[0]]).items()
                                     if k not in ("meshes", "verts", "faces")}])


def test_eval_without_gt_depth(data):
    model = pixel2mesh(**TINY)
    evl = build_loader(data, 8, shuffle=False, collate_fn=collate_3d)
    res = evaluate_pixel2mesh(model, evl, num_samples=200, use_gt_depth=False)
    assert math.isfinite(res["Chamfer-L2"]) and 0 <= res["F1@0.3"] <= 1
