"""Checkpoints are validated before use: integrity checksum, then family, model name,
builder arguments, version, classes and state-dict shapes (issue 15)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from spacetime.api import load_model, video
from spacetime.engine import load_checkpoint, save_checkpoint
from spacetime.errors import FileFormatError, InputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "checkpoints_v0_1"


def _fixture(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / f"{name}.pt"
    dst.write_bytes(gzip.decompress((FIXTURES / f"{name}.pt.gz").read_bytes()))
    return dst


def _resave(tmp_path: Path, name: str, change) -> Path:
    """The v0.1 fixture ``name``, migrated, changed by ``change(state)`` and saved again."""
    from spacetime.api import read_spec

    src = _fixture(name, tmp_path)
    state = load_checkpoint(src)
    state["meta"] = read_spec(src).to_meta()
    change(state)
    state = {k: v for k, v in state.items() if k not in ("format", "version", "checksum")}
    return save_checkpoint(tmp_path / "changed.pt", state)


def test_old_checkpoints_without_checksum_still_load(tmp_path):
    state = load_checkpoint(_fixture("video", tmp_path))
    assert "checksum" not in state
    assert load_model(_fixture("video", tmp_path), device="cpu").family == "video"


def test_checksum_written_and_flipped_bytes_refused(tmp_path):
    p = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.arange(1000.0)}})
    assert load_checkpoint(p)["checksum"]["algorithm"] == "sha256"
    data = bytearray(p.read_bytes())
    # flip bytes inside the tensor payload (torch.load itself does not notice)
    raw = torch.arange(1000.0).numpy().tobytes()
    i = bytes(data).find(raw[2000:2020])
    assert i > 0
    data[i:i + 20] = bytes(b ^ 0xFF for b in data[i:i + 20])
    p.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="integrity check failed"):
        load_checkpoint(p)


@pytest.mark.parametrize("change, match", [
    (lambda s: s["meta"].update(model="no-such-model"), "holds video model 'no-such-model'"),
    (lambda s: s["meta"].update(model=["x"]), "expected a model name"),
    (lambda s: s["meta"]["model_kwargs"].update(bogus=3), "gives toy-slow-fusion bogus"),
    (lambda s: s["meta"]["model_kwargs"].update(width="wide"), "cannot be built"),
    (lambda s: s["meta"].update(schema="two"), "expected an integer"),
    (lambda s: s["meta"].update(classes=[]), "no class names"),
    (lambda s: s["meta"].update(model_kwargs=[1, 2]), "expected a dict"),
    (lambda s: s["meta"]["model_kwargs"].update(width=8), "shape mismatches"),
])
def test_meta_validated(tmp_path, change, match):
    p = _resave(tmp_path, "video", change)
    with pytest.raises(FileFormatError, match=match):
        load_model(p, device="cpu")


def test_version_field_validated(tmp_path):
    p = _resave(tmp_path, "video", lambda s: None)
    state = load_checkpoint(p)
    state["version"] = "one"
    torch.save(state, p)
    with pytest.raises(FileFormatError, match="not an integer"):
        load_checkpoint(p)


def test_wrong_family_for_the_command(tmp_path):
    with pytest.raises(InputError, match="holds a shapes model"):
        video.load_model(_fixture("shapes_voxel_gen", tmp_path), device="cpu")
