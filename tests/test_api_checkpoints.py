"""One checkpoint schema for every family: spacetime 0.1 checkpoints keep loading (fixtures
written by 0.1's training commands), every builder's arguments are plain values, and the spec
round-trips through a checkpoint."""

from __future__ import annotations

import gzip
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spacetime.api import (
    FAMILIES,
    ModelSpec,
    load_model,
    meshrcnn,
    model_builders,
    read_spec,
    shapes,
    video,
)
from spacetime.api.checkpoints import complete_model_kwargs
from spacetime.errors import FileFormatError, InputError

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_v0_1"

#: fixture → (family, model, a builder argument the 0.1 run set)
EXPECTED = {
    "video": ("video", "toy-slow-fusion", ("width", 4)),
    "two_stream": ("two-stream", "two-stream", ("num_flows", 2)),
    "flow_raft_small_corr3": ("flow", "raft-small", ("corr_levels", 3)),
    "shapes_voxel_gen": ("shapes", "voxel-gen", ("latent_dim", 8)),
    "shapes_pixel2mesh": ("shapes", "pixel2mesh", ("init_level", 1)),
    "meshrcnn_single": ("meshrcnn", "mesh-rcnn-single", ("grid_size", 8)),
    "meshrcnn_scene": ("meshrcnn", "mesh-rcnn", ("tiny_channels", 4)),
}


def _fixture(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / f"{name}.pt"
    dst.write_bytes(gzip.decompress((FIXTURES / f"{name}.pt.gz").read_bytes()))
    return dst


@pytest.fixture()
def image_png(tmp_path):
    rgb = (np.random.default_rng(0).uniform(0, 1, (40, 48, 3)) * 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_v0_1_checkpoints_load(name, tmp_path):
    family, model, (arg, value) = EXPECTED[name]
    path = _fixture(name, tmp_path)
    spec = read_spec(path)
    assert (spec.family, spec.model) == (family, model)
    assert spec.model_kwargs[arg] == value and spec.spacetime_version == "0.1.0"
    loaded = load_model(path, device="cpu")
    assert not loaded.model.training and loaded.epoch == 1
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    for k, v in loaded.model.state_dict().items():
        torch.testing.assert_close(v, state[k])  # the weights, not a fresh init


def test_v0_1_checkpoints_predict(tmp_path, image_png):
    from spacetime.video.io import write_video

    clip = (torch.arange(12 * 3 * 16 * 16) % 251).to(torch.uint8).view(12, 3, 16, 16)
    mp4 = write_video(tmp_path / "clip.mp4", clip, 8)
    pred = video.predict(_fixture("video", tmp_path), mp4, num_clips=2, device="cpu")
    assert len(pred.top) == 5 and pred.num_clips == 2
    pred = video.predict(_fixture("two_stream", tmp_path), mp4, num_clips=2, device="cpu")
    assert len(pred.top) == 5
    out = shapes.predict(_fixture("shapes_voxel_gen", tmp_path), image_png, out=tmp_path / "vg",
                         device="cpu")
    assert (tmp_path / "vg" / "voxels.npz").is_file()
    p2m = shapes.predict(_fixture("shapes_pixel2mesh", tmp_path), image_png, device="cpu")
    assert p2m.summary["task"] == "mesh" and p2m.summary["num_verts"] > 0
    del out
    single = meshrcnn.predict(_fixture("meshrcnn_single", tmp_path), image_png, device="cpu")
    assert len(single.objects) == 1
    scene = meshrcnn.predict(_fixture("meshrcnn_scene", tmp_path), image_png, device="cpu",
                             out=tmp_path / "scene")
    assert (tmp_path / "scene" / "overlay.png").is_file()
    del scene


def test_family_restrictions_name_what_was_found(tmp_path):
    with pytest.raises(InputError, match="holds a video model"):
        shapes.load_model(_fixture("video", tmp_path), device="cpu")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_builder_argument_is_a_plain_value(family):
    """What ``complete_model_kwargs`` stores must survive ``weights_only`` loading and JSON."""
    plain = (type(None), bool, int, float, str)

    def ok(v):
        if isinstance(v, (list, tuple)):
            return all(ok(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and ok(x) for k, x in v.items())
        return isinstance(v, plain)

    for name, builder in model_builders(family).items():
        params = inspect.signature(builder).parameters
        required = {n: 2 for n, p in params.items()
                    if p.default is p.empty and p.kind == p.KEYWORD_ONLY}
        kwargs = complete_model_kwargs(family, name, required)
        bad = {k: v for k, v in kwargs.items() if not ok(v)}
        assert not bad, f"{family}/{name}: non-plain defaults {bad}"


def test_spec_round_trip_and_errors(tmp_path):
    from spacetime.engine import load_checkpoint, save_checkpoint

    spec = ModelSpec("video", "c3d", {"num_classes": 3, "dropout": 0.5}, ["a", "b", "c"],
                     "synthetic-motion", {"frames": 8}, {"kind": "synthetic"}, {})
    save_checkpoint(tmp_path / "c.pt", {"model": {}, "meta": spec.to_meta()})
    assert ModelSpec.from_meta(load_checkpoint(tmp_path / "c.pt")["meta"]) == spec
    meta = spec.to_meta()
    meta["schema"] = 99
    with pytest.raises(FileFormatError, match="newer"):
        ModelSpec.from_meta(meta)
    with pytest.raises(FileFormatError, match="family"):
        ModelSpec.from_meta({**spec.to_meta(), "family": "audio"})
    # weight-file arguments are not stored: the weights are in the checkpoint
    meta = ModelSpec("video", "r3d-18", {"num_classes": 3, "checkpoint": "/x.pth"}).to_meta()
    assert meta["model_kwargs"]["checkpoint"] is None
    # a checkpoint whose weights do not fit its description
    save_checkpoint(tmp_path / "bad.pt", {"model": {"w": torch.zeros(2)},
                                          "meta": spec.to_meta()})
    with pytest.raises(FileFormatError, match="weights do not fit c3d"):
        load_model(tmp_path / "bad.pt", device="cpu")
