"""Fine-tuning from published weights: ``video.train(..., weights=, from_format=)`` starts from
the converted tensors, re-initialises only the classifier, and normalises clips as the weights
expect."""

from __future__ import annotations

import pytest
import torch

from spacetime.api import load_model, video
from spacetime.errors import InputError
from spacetime.weights import convert_state_dict
from tests.weights.test_c3d import SMALL, PortC3D, _randomise

_TRAIN = {"classes": "motion", "videos_per_class": 1, "epochs": 1, "batch_size": 4,
          "optimizer": "sgd", "lr": 1e-12, "max_steps": 1, "progress": False,
          "tensorboard": False}


@pytest.fixture(scope="module")
def port_file(tmp_path_factory):
    src = tmp_path_factory.mktemp("peer") / "c3d.pickle"
    torch.save(_randomise(PortC3D(SMALL, fc=16, classes=487), seed=7), src)
    return src


def test_c3d_fine_tunes_from_the_port(port_file, tmp_path):
    lines: list[str] = []
    run = video.train("c3d", "synthetic-motion", frames=16, size=112, weights=port_file,
                      from_format="c3d-sports1m", out=tmp_path / "run", log=lines.append,
                      **_TRAIN)
    peer, _, _ = convert_state_dict(torch.load(port_file, weights_only=True), "c3d-sports1m")
    start = peer.state_dict()
    got = run.model.state_dict()
    for k in ("conv1.weight", "conv5b.bias", "fc6.weight", "fc7.weight"):
        torch.testing.assert_close(got[k], start[k], atol=1e-6, rtol=0)
    n = len(run.spec.classes)
    assert got["fc8.weight"].shape == (n, 16) and n < 487
    assert run.spec.model_kwargs["channels"] == list(SMALL)
    assert run.spec.model_kwargs["fc_dim"] == 16
    assert run.spec.preprocess["mean"] == [0.0, 0.0, 0.0]
    assert run.spec.preprocess["std"] == pytest.approx([1 / 255] * 3)
    assert any("re-initialised fc8.weight, fc8.bias" in ln for ln in lines)
    loaded = load_model(run.best_checkpoint, device="cpu")
    assert loaded.spec.preprocess["std"] == pytest.approx([1 / 255] * 3)


def test_mismatches_are_refused(port_file, tmp_path):
    with pytest.raises(InputError, match=r"does not fit the model of this run: fc6.weight: "
                                         r"model \(16, 32\), weights \(16, 128\)"):
        video.train("c3d", "synthetic-motion", frames=16, size=32, weights=port_file,
                    from_format="c3d-sports1m", out=tmp_path / "a", log=None, **_TRAIN)
    with pytest.raises(InputError, match="holds a c3d model; this run trains slow-fusion"):
        video.train("slow-fusion", "synthetic-motion", weights=port_file,
                    from_format="c3d-sports1m", out=tmp_path / "b", log=None, **_TRAIN)
    with pytest.raises(InputError, match="from_format: needs weights"):
        video.train("c3d", "synthetic-motion", from_format="c3d-sports1m",
                    out=tmp_path / "c", log=None, **_TRAIN)
