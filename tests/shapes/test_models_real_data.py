"""`spacetime shapes train/eval` on small on-disk copies of the real dataset layouts."""

from __future__ import annotations

import json

import pytest

from . import _dataset_fixtures as fx
from .test_models_cli import run

SMALL = ["--image-size", "32", "--voxel-resolution", "16", "--num-points", "64",
         "--occ-samples", "64", "--epochs", "1", "--batch-size", "2", "--no-progress",
         "--no-tensorboard"]


def _train_eval(tmp_path, model, data, kwargs, capsys):
    out = tmp_path / model
    assert run(["shapes", "train", "--model", model, "--data", data, "--model-kwargs",
                json.dumps(kwargs), "--out", str(out), *SMALL]) == 0
    ckpt = out / "checkpoints" / "last.pt"
    capsys.readouterr()
    assert run(["shapes", "eval", "--checkpoint", str(ckpt), "--json", "--mesh-samples",
                "100"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_modelnet_pointnet(tmp_path, capsys):
    root = fx.make_modelnet(tmp_path / "ModelNet10")
    res = _train_eval(tmp_path, "pointnet", f"modelnet:{root}",
                      {"widths": [8, 16], "fc": [8]}, capsys)
    assert res["num_samples"] == 2 and set(res["per_category"]) == {"bed", "chair"}
    assert "majority_baseline" in res


@pytest.mark.slow
def test_shapenet_voxnet(tmp_path, capsys):
    root = fx.make_shapenet(tmp_path / "ShapeNetCore.v1")
    res = _train_eval(tmp_path, "voxnet", f"shapenet:{root}", {"widths": [4, 8, 8]}, capsys)
    assert res["num_samples"] >= 1 and 0 <= res["mean"]["accuracy"] <= 1


@pytest.mark.slow
def test_r2n2_voxel_gen(tmp_path, capsys):
    p = fx.make_r2n2(tmp_path / "r2n2", size=64)
    spec = f"r2n2:{p['shapenet']}:{p['renderings']}:{p['voxels']}:{p['split']}"
    res = _train_eval(tmp_path, "voxel-gen", spec,
                      {"encoder_widths": [8], "latent_dim": 8, "widths": [8, 8]}, capsys)
    assert res["num_samples"] == 1 and "voxel_iou" in res["mean"]


def test_image_model_on_meshes_only_data(tmp_path):
    from spacetime.errors import InputError

    root = fx.make_modelnet(tmp_path / "ModelNet10")
    with pytest.raises(InputError, match="modelnet has none"):
        run(["shapes", "train", "--model", "point-gen", "--data", f"modelnet:{root}",
             "--out", str(tmp_path / "r"), *SMALL])


@pytest.mark.slow
def test_pix3d_point_gen(tmp_path, capsys):
    root = fx.make_pix3d(tmp_path / "pix3d")
    tr, te = fx.write_pix3d_splits(root, ["img/chair/0001.png"], ["img/sofa/0007.jpg"])
    res = _train_eval(tmp_path, "point-gen", f"pix3d:{root}:{tr}:{te}",
                      {"encoder_widths": [8], "latent_dim": 8, "hidden": [16]}, capsys)
    assert res["num_samples"] >= 1 and "F1@0.3" in res["mean"]
