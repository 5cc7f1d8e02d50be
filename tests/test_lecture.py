"""`spacetime lecture --quick`: every claim runs, gets a verdict, and the report is written; the
deterministic claims get the verdict the lecture's numbers call for."""

from __future__ import annotations

import json

import pytest
import torch

from spacetime.cli.main import main
from spacetime.errors import InputError
from spacetime.lecture import EXPERIMENTS, run_lecture
from spacetime.lecture.report import VERDICTS


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    out = tmp_path_factory.mktemp("lecture")
    return out, {r.name: r for r in run_lecture(out, scale="quick", progress=False, log=None)}


@pytest.mark.slow
def test_quick_lab_runs_every_claim(lab):
    out, res = lab
    assert list(res) == list(EXPERIMENTS) and len(res) >= 12
    for r in res.values():
        assert r.verdict in VERDICTS and r.claim and r.ran and r.why
        for f in r.figures:
            assert (out / f).stat().st_size > 1000, f
    readme = (out / "README.md").read_text()
    page = (out / "index.html").read_text()
    for r in res.values():
        assert r.title in readme and r.verdict in readme
        assert f'id="{r.name}"' in page
    figures = json.loads((out / "figures.json").read_text())
    assert set(figures) == set(res)


@pytest.mark.slow
def test_deterministic_verdicts(lab):
    _, res = lab
    assert res["videos_are_big"].verdict == "reproduced"
    costs = res["video_costs"]
    assert costs.verdict == "the slide's number is wrong"
    assert round(costs.numbers["computed_gmacs"]["vgg16"], 2) == 15.47
    assert round(costs.numbers["c3d_over_vgg"], 2) == 2.49
    assert costs.numbers["c3d_conv_layers_match"] is True
    rf = res["fusion_receptive_fields"]
    assert rf.verdict == "reproduced" and rf.numbers["mismatches"] == 0
    assert rf.numbers["receptive_fields"]["toy-slow-fusion"][2] == [14, 14, 14]
    assert res["f1_outliers"].verdict == "reproduced"
    assert res["cubify_meshes"].numbers["one_voxel"] == {"verts": 8, "edges": 18, "faces": 12}
    assert res["voxel_memory"].verdict == "reproduced"
    assert res["optical_flow"].verdict == "reproduced"
    topo = res["mesh_topology"].numbers
    assert topo["sphere-init (Pixel2Mesh)"]["euler_characteristic"] == 2.0
    assert topo["sphere-init (Pixel2Mesh)"]["genus"] == 0.0
    assert topo["gt"]["with_handle"] > 0  # the val mugs have handles
    amb = res["scale_ambiguity"].numbers
    assert amb["max_image_diff"] == 0.0
    # the network that sees one scale learns it; the same one trained on random scales cannot
    assert amb["l2, one scale (control)/AbsRel"] < 0.7 * amb["l2/AbsRel"]


def test_cli_and_errors(tmp_path, capsys, monkeypatch):
    out = tmp_path / "lab"
    assert main(["lecture", "--quick", "--only", "videos_are_big,video_costs", "--out", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "[video_costs] the slide's number is wrong" in text
    assert (out / "index.html").is_file() and (out / "video_costs" / "costs.png").is_file()
    # an experiment that fails: the report keeps the ones before it, the error propagates
    def broken(out, *, scale, seed, device):
        assert device == ("cuda" if torch.cuda.is_available() else "cpu")  # "auto" resolved
        raise RuntimeError("boom")

    monkeypatch.setitem(EXPERIMENTS, "broken", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_lecture(tmp_path / "b", only=["videos_are_big", "broken"], progress=False, log=None)
    assert "Videos are big" in (tmp_path / "b" / "README.md").read_text()
    with pytest.raises(InputError, match="only: expected names among"):
        run_lecture(tmp_path / "x", only=["nope"])
    with pytest.raises(InputError, match="scale"):
        run_lecture(tmp_path / "x", scale="huge")
