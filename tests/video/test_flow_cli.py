"""`spacetime flow` command line: pair (and its shortcut), eval, export, video, cache, train and
the use of its checkpoints (no architecture flags)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from spacetime.cli.main import main
from spacetime.video.flow import SyntheticFlow, read_flo
from spacetime.video.flow.evaluate import export_flow_folder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints_v0_1"


@pytest.fixture(scope="module")
def mb(tmp_path_factory):
    root = tmp_path_factory.mktemp("mb")
    export_flow_folder(root, SyntheticFlow(2, (40, 48), split="val"))
    return root


def test_pair_and_shortcut(mb, tmp_path, capsys):
    d = mb / "seq000"
    args = [str(d / "frame10.png"), str(d / "frame11.png"), "-o", str(tmp_path / "f.flo"),
            "--image", str(tmp_path / "c.png"), "--gt", str(d / "flow10.flo"),
            "--components", str(tmp_path / "comp"), "--quiver", str(tmp_path / "q.png"),
            "--html", str(tmp_path / "pair.html")]
    assert main(["flow", "pair", *args]) == 0
    out = capsys.readouterr().out
    assert "EPE" in out and "pair.html" in out
    page = (tmp_path / "pair.html").read_text()
    for title in ("frame t+1", "estimated flow", "true flow", "end-point error"):
        assert title in page, title
    assert read_flo(tmp_path / "f.flo").shape == (2, 40, 48)
    for name in ("c.png", "comp_dx.png", "comp_dy.png", "q.png"):
        assert (tmp_path / name).is_file(), name
    assert main(["flow", *args[:4], "--method", "farneback"]) == 0  # shortcut without "pair"
    assert "farneback" in capsys.readouterr().out


def test_user_errors_are_clean(mb, tmp_path, capsys):
    d = mb / "seq000"
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main(["flow", str(d / "frame10.png"), str(tmp_path / "bad.png")]) == 1
    assert "cannot decode" in capsys.readouterr().err
    assert main(["flow"]) == 2
    with pytest.raises(SystemExit):
        main(["flow", "pair", "a.png", "b.png", "--method", "nope"])


def test_eval_export(mb, tmp_path, capsys):
    assert main(["flow", "eval", str(mb), "--method", "dis", "farneback",
                 "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "seq001" in out and "farneback" in out and "all split, 2 item(s)" in out
    for name in ("dis", "farneback"):
        saved = json.loads((tmp_path / "ev" / name / "metrics.json").read_text())
        assert (saved["model"], saved["num_items"]) == (name, 2)
    assert main(["flow", "eval", str(mb), "--limit", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["model"], printed["split"], printed["num_items"]) == ("dis", "all", 1)
    assert main(["flow", "export", str(tmp_path / "k"), "--layout", "kitti", "--count", "1",
                 "--size", "32", "40"]) == 0
    assert (tmp_path / "k" / "flow_occ" / "000000_10.png").is_file()


def test_video_and_cache(tmp_path, capsys):
    io = pytest.importorskip("spacetime.video.io")
    s = SyntheticFlow(1, (24, 36), seed=0)[0]["frame1"]
    frames = torch.stack([s[:, :, 4 - i : 4 - i + 32] for i in range(3)])
    p = io.write_video(tmp_path / "v.mp4", (frames * 255).to(torch.uint8), fps=10, crf=0)
    assert main(["flow", str(p), "-o", str(tmp_path / "out"), "--format", "npy"]) == 0
    assert (tmp_path / "out" / "flow_00001.npy").is_file()
    assert (tmp_path / "out" / "side_by_side.mp4").is_file()
    info = io.video_info(tmp_path / "out" / "side_by_side.mp4")
    assert info.num_frames == 2 and info.width == 64
    # a spacetime 0.1 RAFT checkpoint (3 correlation levels) on every pair of the video
    ckpt = tmp_path / "raft.pt"
    src = FIXTURES / "flow_raft_small_corr3.pt.gz"
    ckpt.write_bytes(gzip.decompress(src.read_bytes()))
    assert main(["flow", str(p), "-o", str(tmp_path / "raft"), "--checkpoint", str(ckpt),
                 "--no-mp4", "--device", "cpu"]) == 0
    assert read_flo(tmp_path / "raft" / "flow_00001.flo").shape == (2, 24, 32)
    assert main(["flow", "cache", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "c"),
                 "--workers", "0"]) == 0
    assert (tmp_path / "c" / "v" / ".done").is_file()
    assert "computed 1 videos" in capsys.readouterr().out


def test_train_then_use_the_checkpoint(mb, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["flow", "train", "--out", str(run), "--size", "32", "32", "--corr-levels", "3",
                 "--train-samples", "2", "--val-samples", "2", "--epochs", "2",
                 "--max-steps", "1", "--batch-size", "1", "--iters", "1", "--device", "cpu",
                 "--no-progress", "--no-tensorboard"]) == 0
    out = capsys.readouterr().out
    assert "held-out EPE" in out and "3 correlation levels" in out
    ckpt = run / "checkpoints" / "last.pt"
    assert ckpt.is_file() and (run / "flow_eval.json").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["steps"]) == (1, 1)  # --max-steps capped the run
    # the checkpoint carries its 3 correlation levels: no flag needed to load it
    d = mb / "seq000"
    assert main(["flow", "pair", str(d / "frame10.png"), str(d / "frame11.png"),
                 "--checkpoint", str(ckpt), "-o", str(tmp_path / "f.flo"),
                 "--gt", str(d / "flow10.flo")]) == 0
    out = capsys.readouterr().out
    assert "raft-small" in out and "EPE" in out
    assert read_flo(tmp_path / "f.flo").shape == (2, 40, 48)
    assert main(["flow", str(d / "frame10.png"), str(d / "frame11.png"),
                 "--checkpoint", str(ckpt), "--iters", "2"]) == 0  # the shortcut too
    assert "raft-small" in capsys.readouterr().out
    # eval: the SyntheticFlow test split, and a folder next to a classical method
    assert main(["flow", "eval", "--checkpoint", str(ckpt), "--limit", "2",
                 "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "on synthetic-flow: test split, 2 item(s)" in out
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["num_items"] == 2
    assert main(["flow", "eval", str(mb), "--method", "dis", "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert out.count("all split, 2 item(s)") == 2 and "raft-small" in out
    # --method and --checkpoint name two models; --corr-levels is gone from pair
    assert main(["flow", "pair", str(d / "frame10.png"), str(d / "frame11.png"),
                 "--checkpoint", str(ckpt), "--method", "dis"]) == 1
    assert "drop one" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["flow", "pair", str(d / "frame10.png"), str(d / "frame11.png"),
              "--checkpoint", str(ckpt), "--corr-levels", "3"])
