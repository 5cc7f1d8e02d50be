"""Reading peer files safely, the error messages, loading through ``spacetime.api``, the input
normalisation that predict applies, and the command line."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from spacetime.api import SCHEMA_VERSION, ModelSpec, load_model, read_spec, video
from spacetime.cli.main import main
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.weights import FORMATS, convert_state_dict, convert_weights, read_peer_file
from spacetime.weights import convert as convert_module
from tests.weights.test_c3d import SMALL, MMRecognizer, PortC3D, _randomise


@pytest.fixture(scope="module")
def port_sd():
    """A port-layout state dict at small widths (487 classes)."""
    return _randomise(PortC3D(SMALL, fc=16, classes=487), seed=5)


def test_schema_version_is_the_api_one():
    assert convert_module.SCHEMA_VERSION == SCHEMA_VERSION


def test_meta_is_a_model_spec(port_sd):
    _, meta, _ = convert_state_dict(port_sd, "c3d-sports1m")
    spec = ModelSpec.from_meta(meta)
    assert spec.family == "video" and spec.model == "c3d" and len(spec.classes) == 487
    assert spec.preprocess["std"] == [1 / 255] * 3 and spec.preprocess["resize_to"] == 112


def test_wrappers_and_prefixes_are_removed(port_sd, tmp_path):
    src = tmp_path / "wrapped.pth"
    torch.save({"model": {f"module.{k}": v for k, v in port_sd.items()}, "epoch": 3}, src)
    peer = read_peer_file(src)
    assert peer.wrapper == "model" and peer.extras == {"epoch": 3}
    assert set(peer.state_dict) == set(port_sd)
    src = tmp_path / "numpy.pkl"  # a plain pickle of numpy arrays is read (no torch format)
    with open(src, "wb") as fh:
        pickle.dump({k: v.numpy() for k, v in port_sd.items()}, fh)
    peer = read_peer_file(src)
    assert torch.equal(peer.state_dict["fc8.weight"], port_sd["fc8.weight"])


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_pickles_with_code_are_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    plain = tmp_path / "evil.pickle"
    with open(plain, "wb") as fh:
        pickle.dump({"conv1.weight": _Payload(str(marker))}, fh)
    with pytest.raises(FileFormatError, match=r"refused: the pickle names '.*makedirs'"):
        read_peer_file(plain)
    zipped = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Payload(str(marker))}, zipped)
    with pytest.raises(FileFormatError, match="refused: the file holds pickled Python objects"):
        read_peer_file(zipped)
    assert not marker.exists()


def test_unreadable_missing_and_not_a_state_dict(tmp_path):
    with pytest.raises(MissingFileError, match="no such file"):
        read_peer_file(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a weight file at all")
    with pytest.raises(FileFormatError, match="not a readable weight file"):
        read_peer_file(junk)
    other = tmp_path / "other.pth"
    torch.save({"epoch": 1, "lr": 0.1}, other)
    with pytest.raises(FileFormatError, match="no state dict of tensors"):
        read_peer_file(other)


def test_missing_unexpected_and_mis_shaped_keys_are_listed(port_sd, tmp_path):
    bad = dict(port_sd)
    del bad["fc7.bias"]
    bad["fc9.weight"] = torch.zeros(2, 2)
    bad["conv3b.weight"] = torch.zeros(8, 8, 3, 3, 1)
    src = tmp_path / "bad.pth"
    torch.save(bad, src)
    with pytest.raises(FileFormatError) as err:
        convert_weights(src, "c3d-sports1m", tmp_path / "out.pt")
    msg = str(err.value)
    assert "bad.pth" in msg
    assert "1 missing: fc7.bias (16)" in msg
    assert "1 unexpected: fc9.weight (2, 2)" in msg
    assert "1 mis-shaped: conv3b.weight: expected (8, 8, 3, 3, 3), the file has (8, 8, 3, 3, 1)" \
        in msg
    assert not (tmp_path / "out.pt").exists()


def test_wrong_format_name_and_options(port_sd):
    with pytest.raises(InputError, match="unknown weight format 'c3d'; known: c3d-sports1m"):
        convert_state_dict(port_sd, "c3d")
    with pytest.raises(InputError, match="does not take frames; it takes classes"):
        convert_state_dict(port_sd, "c3d-sports1m", frames=8)
    with pytest.raises(FileFormatError, match="no key 'conv1a.conv.weight'.*right --from"):
        convert_state_dict(port_sd, "mmaction2-c3d")


def test_every_format_documents_what_it_expects():
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.source and fmt.expects and fmt.description
        assert {"kind", "frames", "size", "mean", "std"} <= set(fmt.preprocess) or \
            fmt.family != "video"


def test_load_model_converts_on_the_fly(port_sd, tmp_path):
    src = tmp_path / "c3d.pickle"
    torch.save(port_sd, src)
    a = load_model(weights=src, from_format="c3d-sports1m", device="cpu")
    b = video.load_model(src, from_format="c3d-sports1m", device="cpu")
    convert_weights(src, "c3d-sports1m", tmp_path / "c3d.pt")
    c = video.load_model(weights=tmp_path / "c3d.pt", device="cpu")
    x = torch.rand(1, 3, 16, 112, 112)
    with torch.no_grad():
        assert torch.equal(a.model(x), b.model(x)) and torch.equal(a.model(x), c.model(x))
    assert a.spec.to_meta()["preprocess"] == c.spec.to_meta()["preprocess"]
    assert read_spec(tmp_path / "c3d.pt").model_kwargs["channels"] == list(SMALL)
    with pytest.raises(InputError, match="pass exactly one"):
        load_model(tmp_path / "c3d.pt", weights=src)
    with pytest.raises(InputError, match="need from_format"):
        load_model(tmp_path / "c3d.pt", classes=["x"])
    with pytest.raises(InputError, match="holds a video model"):
        from spacetime.api import shapes

        shapes.load_model(weights=src, from_format="c3d-sports1m", device="cpu")


def _video(tmp_path, frames=16):
    from spacetime.video.io import write_video

    g = torch.Generator().manual_seed(0)
    clip = (torch.rand(frames, 3, 1, 1, generator=g) * 200 + torch.rand(frames, 3, 60, 80,
                                                                         generator=g) * 55)
    path = tmp_path / "clip.mp4"
    write_video(path, clip.to(torch.uint8), fps=8)
    return path


@pytest.mark.parametrize("fmt", ["c3d-sports1m", "mmaction2-c3d"])
def test_predict_applies_the_formats_normalisation(fmt, tmp_path):
    from spacetime.video.io import read_video
    from spacetime.video.transforms import center_crop, short_side_resize

    if fmt == "c3d-sports1m":
        sd = _randomise(PortC3D(SMALL, fc=16, classes=487), seed=6)
        mean = torch.zeros(3)
    else:
        sd = _randomise(MMRecognizer(SMALL, fc=16, classes=4), seed=6)
        mean = torch.tensor([104.0, 117.0, 128.0])
    convert_weights_path = tmp_path / "conv.pt"
    convert_weights(_save(sd, tmp_path), fmt, convert_weights_path)
    loaded = load_model(convert_weights_path, device="cpu")
    pre = loaded.spec.preprocess
    path = _video(tmp_path)
    got = video.predict(loaded, path, num_clips=1, topk=3)
    frames = read_video(path, size=pre["resize_to"])  # (16, 3, H, W) uint8, short side
    frames = center_crop(short_side_resize(frames.float() / 255, pre["resize_to"]), 112)
    x = (frames * 255 - mean.view(1, 3, 1, 1)).transpose(0, 1)[None]  # raw 0..255 scale
    with torch.no_grad():
        want = loaded.model(x).softmax(1)[0]
    torch.testing.assert_close(got.probabilities, want, atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # the Kinetics normalisation of trained runs would differ
        wrong = loaded.model((frames.transpose(0, 1)[None] - 0.4) / 0.22).softmax(1)[0]
    assert (wrong - want).abs().max() > 1e-3


def _save(sd, tmp_path):
    src = tmp_path / "peer.pth"
    torch.save(sd, src)
    return src


def test_cli_formats_and_convert(port_sd, tmp_path, capsys):
    assert main(["weights", "formats"]) == 0
    out = capsys.readouterr().out
    for name in FORMATS:
        assert name in out
    src = _save(port_sd, tmp_path)
    dst = tmp_path / "c3d.pt"
    assert main(["weights", "convert", str(src), "--from", "c3d-sports1m", "-o", str(dst),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "c3d" and report["num_classes"] == 487
    assert load_model(dst, device="cpu").spec.classes[0] == "boomerang"
    clip = _video(tmp_path)
    assert main(["video", "predict", str(clip), "--checkpoint", str(dst), "--num-clips", "1",
                 "--device", "cpu", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["top"]
    assert len(top) == 5 and top[0]["class"] in load_model(dst, device="cpu").classes
    assert main(["weights", "convert", str(src), "--from", "nope", "-o", str(dst)]) == 1
    assert "unknown weight format 'nope'" in capsys.readouterr().err


def test_numpy_only_unpickler_reads_arrays_of_any_dtype(tmp_path):
    src = tmp_path / "arrays.pkl"
    with open(src, "wb") as fh:
        pickle.dump({"a": np.arange(6, dtype=np.float16).reshape(2, 3),
                     "b": np.ones(2, dtype=np.int64)}, fh, protocol=2)
    peer = read_peer_file(src)
    assert peer.state_dict["a"].dtype == torch.float16 and peer.state_dict["b"].tolist() == [1, 1]
