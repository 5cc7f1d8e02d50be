"""`spacetime shapes train|eval|predict` end to end on a tiny synthetic split."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from spacetime.cli import shapes_models
from spacetime.errors import FileFormatError, InputError, MissingFileError, SpacetimeError

DATA_ARGS = ["--categories", "chair,mug", "--objects-per-category", "2", "--views", "2",
             "--image-size", "32", "--voxel-resolution", "16", "--num-points", "128",
             "--occ-samples", "256", "--mesh-resolution", "24"]
TINY_KW = {
    "voxel-gen": {"encoder_widths": [8, 16], "latent_dim": 16, "widths": [16, 8]},
    "occnet": {"encoder_widths": [8, 16], "latent_dim": 16, "hidden": 16, "num_blocks": 1},
    "depth-fcn": {"widths": [8, 16], "stem": 4},
    "normal-fcn": {"widths": [8, 16], "stem": 4},
    "point-gen": {"encoder_widths": [8, 16], "latent_dim": 16, "hidden": [32]},
    "pointnet": {"widths": [8, 16], "fc": [8]},
    "octree-gen": {"encoder_widths": [8, 16], "latent_dim": 16, "base_resolution": 4,
                   "channels": [8, 8, 8]},
    "pixel2mesh": {"widths": [8, 16, 32, 32], "hidden_dim": 32, "num_convs": 2,
                   "init_level": 1},
}


def run(argv: list[str]) -> int:
    """Parse with the family's own ``register`` and run (as ``spacetime`` would)."""
    parser = argparse.ArgumentParser(prog="spacetime")
    shapes_models.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def _train(tmp_path, cache, model, epochs=1, extra=(), name=None):
    out = tmp_path / (name or model)
    rc = run(["shapes", "train", "--model", model, "--model-kwargs", json.dumps(TINY_KW[model]),
              *DATA_ARGS, "--cache", str(cache), "--epochs", str(epochs), "--batch-size", "4",
              "--out", str(out), "--no-progress", "--no-tensorboard", *extra])
    assert rc == 0
    ckpt = out / "checkpoints" / "last.pt"
    assert ckpt.is_file() and (out / "checkpoints" / "best.pt").is_file()
    return ckpt


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli_cache")


@pytest.fixture()
def image_png(tmp_path):
    from PIL import Image

    arr = (np.random.default_rng(0).uniform(0, 1, (40, 48, 3)) * 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("model", ["voxel-gen", "occnet", "octree-gen"])
def test_train_eval_predict_generators(model, tmp_path, cache, image_png, capsys):
    ckpt = _train(tmp_path, cache, model)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["meta"]["model"] == model and state["meta"]["classes"] == ["chair", "mug"]
    capsys.readouterr()
    assert run(["shapes", "eval", "--checkpoint", str(ckpt), "--mesh-samples", "200",
                "--occ-resolution", "16", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["num_samples"] == 4 and set(res["per_category"]) == {"chair", "mug"}
    assert "F1@0.3" in res["mean"] and "empty_meshes" in res["mean"]
    assert (ckpt.parent.parent / "eval" / "metrics.json").is_file()
    assert run(["shapes", "eval", "--checkpoint", str(ckpt), "--mesh-samples", "100",
                "--occ-resolution", "16"]) == 0
    table = capsys.readouterr().out
    assert "chair" in table and "mean" in table
    out = tmp_path / "pred"
    assert run(["shapes", "predict", str(image_png), "--checkpoint", str(ckpt), "-o", str(out),
                "--occ-resolution", "16"]) == 0
    summary = json.loads((out / "prediction.json").read_text())
    assert summary["model"] == model
    for f in summary["files"]:
        assert (tmp_path / f).is_file() or __import__("os").path.isfile(f)
    if model != "occnet":
        assert (out / "voxels.npz").is_file()
    assert summary["empty_mesh"] or (out / "mesh.obj").is_file()
    if model != "occnet" or not summary["empty_mesh"]:  # the interactive 3D view
        assert str(out / "view.html") in summary["files"]
        assert 'class="st-figure"' in (out / "view.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_train_predict_depth_and_classifier(tmp_path, cache, image_png):
    ckpt = _train(tmp_path, cache, "depth-fcn")
    out = tmp_path / "depth_pred"
    assert run(["shapes", "predict", str(image_png), "--checkpoint", str(ckpt),
                "-o", str(out)]) == 0
    assert (out / "depth.npy").is_file() and (out / "depth.png").is_file()
    d = np.load(out / "depth.npy")
    assert d.shape == (32, 32) and (d > 0).all()
    assert "depth: no intrinsics" not in (out / "view.html").read_text(encoding="utf-8")

    ckpt = _train(tmp_path, cache, "normal-fcn")
    assert run(["shapes", "predict", str(image_png), "--checkpoint", str(ckpt),
                "-o", str(tmp_path / "nrm")]) == 0
    from spacetime.shapes.io import load_normals, load_pointcloud

    n = load_normals(tmp_path / "nrm" / "normals.png")
    assert n.shape == (3, 32, 32)
    assert (tmp_path / "nrm" / "normals_picture.png").is_file()
    assert (tmp_path / "nrm" / "view.html").is_file()

    ckpt = _train(tmp_path, cache, "point-gen")
    assert run(["shapes", "predict", str(image_png), "--checkpoint", str(ckpt),
                "-o", str(tmp_path / "pts")]) == 0
    pts = load_pointcloud(tmp_path / "pts" / "points.ply")
    assert pts.points_list()[0].shape == (128, 3)
    assert (tmp_path / "pts" / "points.png").is_file()
    assert (tmp_path / "pts" / "view.html").is_file()

    ckpt = _train(tmp_path, cache, "pointnet")
    from spacetime.shapes import ico_sphere, save_mesh

    mesh_path = tmp_path / "ball.obj"
    save_mesh(ico_sphere(1), mesh_path)
    assert run(["shapes", "predict", str(mesh_path), "--checkpoint", str(ckpt),
                "-o", str(tmp_path / "cls")]) == 0
    summary = json.loads((tmp_path / "cls" / "prediction.json").read_text())
    assert {t["class"] for t in summary["top"]} == {"chair", "mug"}
    assert not (tmp_path / "cls" / "view.html").exists()  # a class has no 3D view
    # a classifier cannot take an image, an image model cannot take a missing file
    with pytest.raises(SpacetimeError):
        run(["shapes", "predict", str(image_png), "--checkpoint", str(ckpt),
             "-o", str(tmp_path / "x")])


def test_errors(tmp_path, image_png, capsys):
    with pytest.raises(InputError, match="data: expected one of synthetic"):
        run(["shapes", "train", "--model", "voxel-gen", "--data", "shapenet", "--out",
             str(tmp_path / "r")])
    with pytest.raises(SystemExit):
        run(["shapes", "train", "--model", "mesh-rcnn", "--out", str(tmp_path / "r")])
    assert "invalid choice: 'mesh-rcnn'" in capsys.readouterr().err
    with pytest.raises(InputError, match="does not take"):
        run(["shapes", "train", "--model", "voxnet", "--model-kwargs", '{"latent": 3}',
             "--out", str(tmp_path / "r")])
    with pytest.raises(MissingFileError):
        run(["shapes", "train", "--model", "voxnet", "--resume", str(tmp_path / "none.pt"),
             *DATA_ARGS, "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "r")])
    bad = tmp_path / "bad.pt"
    from spacetime.engine import save_checkpoint

    save_checkpoint(bad, {"model": {}, "meta": {"model": "voxnet"}})
    with pytest.raises(FileFormatError, match="meta"):
        run(["shapes", "eval", "--checkpoint", str(bad)])
    from spacetime.shapes.io import read_rgb_image

    not_image = tmp_path / "noise.png"
    not_image.write_bytes(b"not a png")
    with pytest.raises(FileFormatError):
        read_rgb_image(not_image, 32)
    with pytest.raises(MissingFileError):
        read_rgb_image(tmp_path / "missing.png", 32)
    assert read_rgb_image(image_png, 32).shape == (3, 32, 32)
    assert read_rgb_image(image_png).shape == (3, 40, 48)


def test_train_eval_predict_pixel2mesh(tmp_path, cache, image_png, capsys):
    ckpt = _train(tmp_path, cache, "pixel2mesh")
    meta = torch.load(ckpt, map_location="cpu", weights_only=True)["meta"]
    assert meta["options"]["task"] == "mesh" and meta["options"]["use_gt_depth"] is True
    capsys.readouterr()
    assert run(["shapes", "eval", "--checkpoint", str(ckpt), "--mesh-samples", "200",
                "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["task"] == "mesh" and res["num_samples"] == 4 and res["use_gt_depth"] is True
    assert set(res["per_category"]) == {"chair", "mug"}
    m = res["mean"]
    assert {"Chamfer-L2", "AbsNormalConsistency", "F1@0.1", "F1@0.3", "F1@0.5"} <= set(m)
    assert 0 < m["Chamfer-L2"] < float("inf") and 0 <= m["F1@0.3"] <= 1
    saved = json.loads((ckpt.parent.parent / "eval" / "metrics.json").read_text())
    assert saved["mean"]["F1@0.3"] == pytest.approx(m["F1@0.3"])
    out = tmp_path / "p2m_pred"
    assert run(["shapes", "predict", str(image_png), "--checkpoint", str(ckpt), "-o", str(out),
                "--depth", "2.0"]) == 0
    summary = json.loads((out / "prediction.json").read_text())
    assert summary["task"] == "mesh" and not summary["empty_mesh"]
    assert summary["K"] == [[32.0, 0.0, 15.5], [0.0, 32.0, 15.5], [0.0, 0.0, 1.0]]
    assert (out / "mesh.png").is_file()
    page = (out / "view.html").read_text(encoding="utf-8")
    assert '"frame":"opencv"' in page and '"type":"image"' in page  # image behind the mesh
    from spacetime.shapes.io import load_mesh

    mesh = load_mesh(out / "mesh.obj")
    v = mesh.verts_list()[0]
    # 42 -> 162 -> 642 vertices (level-1 ico-sphere, three stages), in front of the camera
    assert v.shape == (summary["num_verts"], 3) == (642, 3)
    assert float(v[:, 2].min()) > 0 and abs(float(v[:, 2].mean()) - 2.0) < 0.5
    # unknown object distance: trained and evaluated with the sphere at init_depth
    ckpt = _train(tmp_path, cache, "pixel2mesh", extra=["--no-gt-depth"], name="p2m_nogt")
    meta = torch.load(ckpt, map_location="cpu", weights_only=True)["meta"]
    assert meta["options"]["use_gt_depth"] is False
    capsys.readouterr()
    assert run(["shapes", "eval", "--checkpoint", str(ckpt), "--mesh-samples", "200",
                "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["use_gt_depth"] is False and 0 < res["mean"]["Chamfer-L2"] < float("inf")


def test_pixel2mesh_errors(tmp_path, image_png):
    # data without images + cameras: refused before anything is loaded
    with pytest.raises(InputError, match="cameras"):
        run(["shapes", "train", "--model", "pixel2mesh", "--data", "modelnet:/nonexistent",
             "--out", str(tmp_path / "r")])
    with pytest.raises(InputError, match="r2n2"):
        run(["shapes", "train", "--model", "pixel2mesh", "--data", "shapenet:/nonexistent",
             "--out", str(tmp_path / "r")])
    from spacetime.shapes.datasets import MeshNormalizedDataset

    with pytest.raises(InputError, match="image"):
        MeshNormalizedDataset([], [], ("K", "R", "t", "points"))


@pytest.mark.parametrize("kind", ["r2n2", "pix3d"])
def test_pixel2mesh_on_real_layouts(kind, tmp_path, capsys):
    """R2N2 / Pix3D cameras follow the mesh normalisation and the image resizing (train →
    eval on small on-disk copies of the dataset layouts)."""
    from . import _dataset_fixtures as fx

    if kind == "r2n2":
        p = fx.make_r2n2(tmp_path / "r2n2", size=64)
        spec = f"r2n2:{p['shapenet']}:{p['renderings']}:{p['voxels']}:{p['split']}"
    else:
        root = fx.make_pix3d(tmp_path / "pix3d")
        train_json, test_json = fx.write_pix3d_splits(root, ["img/chair/0001.png"],
                                                      ["img/sofa/0007.jpg"])
        spec = f"pix3d:{root}:{train_json}:{test_json}"
    out = tmp_path / f"p2m_{kind}"
    assert run(["shapes", "train", "--model", "pixel2mesh", "--data", spec, "--model-kwargs",
                json.dumps(TINY_KW["pixel2mesh"]), "--image-size", "32", "--num-points", "128",
                "--epochs", "1", "--batch-size", "2", "--out", str(out), "--no-progress",
                "--no-tensorboard"]) == 0
    capsys.readouterr()
    assert run(["shapes", "eval", "--checkpoint", str(out / "checkpoints" / "last.pt"),
                "--mesh-samples", "100", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["task"] == "mesh" and res["num_samples"] >= 1
    assert 0 < res["mean"]["Chamfer-L2"] < float("inf")
