"""`spacetime flow` command line: pair (and its shortcut), eval, export, video, cache, train."""

from __future__ import annotations

import pytest
import torch

from spacetime.cli.main import main
from spacetime.video.flow import SyntheticFlow, read_flo
from spacetime.video.flow.evaluate import export_flow_folder


@pytest.fixture(scope="module")
def mb(tmp_path_factory):
    root = tmp_path_factory.mktemp("mb")
    export_flow_folder(root, SyntheticFlow(2, (40, 48), split="val"))
    return root


def test_pair_and_shortcut(mb, tmp_path, capsys):
    d = mb / "seq000"
    args = [str(d / "frame10.png"), str(d / "frame11.png"), "-o", str(tmp_path / "f.flo"),
            "--image", str(tmp_path / "c.png"), "--gt", str(d / "flow10.flo"),
            "--components", str(tmp_path / "comp"), "--quiver", str(tmp_path / "q.png")]
    assert main(["flow", "pair", *args]) == 0
    out = capsys.readouterr().out
    assert "EPE" in out
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
                 "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "seq001" in out and "farneback" in out and (tmp_path / "r.json").is_file()
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
    assert main(["flow", "cache", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "c"),
                 "--workers", "0"]) == 0
    assert (tmp_path / "c" / "v" / ".done").is_file()
    assert "computed 1 videos" in capsys.readouterr().out


def test_train(tmp_path, capsys):
    assert main(["flow", "train", "--out", str(tmp_path / "run"), "--size", "32", "32",
                 "--corr-levels", "2", "--train-samples", "2", "--val-samples", "2",
                 "--epochs", "1", "--batch-size", "2", "--iters", "1"]) == 0
    assert "held-out EPE" in capsys.readouterr().out
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
