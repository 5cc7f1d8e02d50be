"""`spacetime meshrcnn train|eval|predict` in both modes on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from spacetime.cli.main import main

SINGLE = ["--data", "synthetic", "--categories", "mug", "--objects-per-category", "2",
          "--views", "2", "--image-size", "32", "--mesh-resolution", "24", "--grid-size", "8",
          "--num-stages", "1", "--hidden-dim", "8",
          "--model-kwargs", '{"widths": [8, 8, 8, 8], "voxel_hidden": 8, "num_convs": 1}']
SCENE = ["--data", "synthetic-scenes", "--categories", "chair,mug", "--scenes", "4",
         "--image-size", "64", "--mesh-resolution", "24", "--grid-size", "8", "--num-stages",
         "1", "--hidden-dim", "8",
         "--model-kwargs", '{"roi_size": 4, "voxel_hidden": 8, "num_convs": 1, '
                           '"tiny_channels": 8, "num_samples": 200}']


def _image(path, size):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(path)


@pytest.mark.parametrize("mode", ["single", "scene"])
def test_train_eval_predict(tmp_path, mode, capsys):
    opts = SINGLE if mode == "single" else SCENE
    run = tmp_path / "run"
    rc = main(["meshrcnn", "train", *opts, "--epochs", "1", "--batch-size", "4",
               "--cache", str(tmp_path / "cache"), "--out", str(run), "--no-progress",
               "--no-tensorboard", "--preset", "pretty"])
    assert rc == 0
    ckpt = run / "checkpoints" / "last.pt"
    assert ckpt.is_file()
    rc = main(["meshrcnn", "eval", "--checkpoint", str(ckpt), "--mesh-samples", "300"])
    assert rc == 0
    res = json.loads((run / "eval" / "metrics.json").read_text())
    if mode == "single":
        assert {"Chamfer-L2", "F1@0.3", "mug/F1@0.3"} <= set(res["metrics"])
        assert "mug" in capsys.readouterr().out
    else:
        assert {"box_AP", "mask_AP", "mesh_AP", "num_images"} <= set(res["metrics"])
    img = tmp_path / "in.png"
    _image(img, 48)
    out = tmp_path / "pred"
    rc = main(["meshrcnn", "predict", str(img), "--checkpoint", str(ckpt), "-o", str(out),
               "--score-thresh", "0.0", "--view-size", "32"])
    assert rc == 0
    pred = json.loads((out / "predictions.json").read_text())
    assert (out / "overlay.png").is_file()
    for rec in pred["objects"]:
        assert (out / rec["mesh"]).is_file()
    page = (out / "view.html").read_text(encoding="utf-8")  # meshes in the camera frame
    assert '"frame":"opencv"' in page and '"type":"image"' in page
    assert page.count('"type":"mesh"') == len(pred["objects"])
    if mode == "single":
        assert len(pred["objects"]) == 1 and (out / "object_00_view2.png").is_file()


def test_bad_data_and_checkpoint(tmp_path, capsys):
    assert main(["meshrcnn", "train", "--data", "shapenet:/x", "--out", str(tmp_path)]) == 1
    assert "data: expected synthetic-scenes" in capsys.readouterr().err
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["meshrcnn", "eval", "--checkpoint", str(bad)]) == 1
    assert main(["meshrcnn", "predict", str(tmp_path / "none.png"), "--checkpoint",
                 str(tmp_path / "none.pt"), "-o", str(tmp_path / "o")]) == 1
    assert main(["meshrcnn"]) == 2


SMALL_SINGLE = ["--grid-size", "8", "--num-stages", "1", "--hidden-dim", "8",
                "--model-kwargs", '{"widths": [8, 8, 8, 8], "voxel_hidden": 8, "num_convs": 1}']


def test_r2n2_single_mode(tmp_path):
    from . import _dataset_fixtures as fx

    p = fx.make_r2n2(tmp_path / "r2n2", size=64)
    spec = f"r2n2:{p['shapenet']}:{p['renderings']}:{p['voxels']}:{p['split']}"
    run = tmp_path / "run"
    assert main(["meshrcnn", "train", "--data", spec, "--image-size", "32", *SMALL_SINGLE,
                 "--epochs", "1", "--batch-size", "4", "--out", str(run), "--no-progress",
                 "--no-tensorboard"]) == 0
    assert main(["meshrcnn", "eval", "--checkpoint", str(run / "checkpoints" / "last.pt"),
                 "--split", "test", "--mesh-samples", "200"]) == 0
    res = json.loads((run / "eval" / "metrics.json").read_text())["metrics"]
    assert res["num_samples"] >= 1 and "F1@0.3" in res


def test_pix3d_scene_mode(tmp_path):
    from . import _dataset_fixtures as fx

    root = fx.make_pix3d(tmp_path / "pix3d")
    tr, te = fx.write_pix3d_splits(root, ["img/chair/0001.png"], ["img/sofa/0007.jpg"])
    run = tmp_path / "run"
    opts = [o.replace("synthetic-scenes", f"pix3d:{root}:{tr}:{te}") for o in SCENE]
    cat_i = opts.index("--categories")
    del opts[cat_i:cat_i + 2]
    assert main(["meshrcnn", "train", *opts, "--epochs", "1", "--batch-size", "2",
                 "--out", str(run), "--no-progress", "--no-tensorboard"]) == 0
    assert main(["meshrcnn", "eval", "--checkpoint", str(run / "checkpoints" / "last.pt"),
                 "--mesh-samples", "200"]) == 0
    res = json.loads((run / "eval" / "metrics.json").read_text())["metrics"]
    assert res["num_images"] >= 1 and "mesh_AP" in res
