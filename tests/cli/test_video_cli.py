import pytest

from spacetime.cli.main import main


def test_table_c3d_matches_lecture(capsys):
    assert main(["video", "table", "c3d"]) == 0
    out = capsys.readouterr().out
    conv1 = next(line for line in out.splitlines() if line.startswith("conv1 "))
    assert "64 x 16 x 112 x 112" in conv1 and " 1.04 " in conv1
    conv2 = next(line for line in out.splitlines() if line.startswith("conv2 "))
    assert "11.10" in conv2


def test_table_of_any_registered_model(capsys):
    """The lecture's 2D references and the 3D models, by name (torchvision's published
    GFLOPS of VGG-16: 15.47)."""
    assert main(["video", "table", "vgg16"]) == 0
    out = capsys.readouterr().out
    assert "input 3 x 224 x 224" in out and out.splitlines()[-1].split()[1] == "15.47"
    assert main(["video", "table", "voxel-gen"]) == 0
    assert "ConvTranspose3d" in capsys.readouterr().out
    assert main(["video", "table", "voxnet", "--num-classes", "40"]) == 0
    assert "input 1 x 30 x 30 x 30" in capsys.readouterr().out


def test_table_toy_slow_fusion_default_input(capsys):
    assert main(["video", "table", "toy-slow-fusion", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "input 3 x 20 x 64 x 64" in out
    pool = next(line for line in out.splitlines() if "pool1" in line)
    assert "12 x 5 x 16 x 16" in pool and "6 x 6 x 6" in pool


def test_table_points_and_several_inputs(capsys):
    assert main(["video", "table", "pointnet", "--input", "256,3"]) == 0
    assert "input 256 x 3" in capsys.readouterr().out
    assert main(["video", "table", "two-stream", "--input", "rgb=3,64,64",
                 "--input", "flow=10,64,64"]) == 0
    out = capsys.readouterr().out
    assert "input rgb 3 x 64 x 64 + flow 10 x 64 x 64" in out
    assert "temporal.encoder.conv1" in out and "(flow)" in out


def test_table_errors(capsys):
    with pytest.raises(SystemExit):
        main(["video", "table", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(["video", "table", "c3d", "--input", "3,16,112"]) == 1
    assert "input_shape: c3d takes a clip or voxel grid (C, T, H, W)" in capsys.readouterr().err
    assert main(["video", "table", "pointnet", "--input", "3,64,64"]) == 1
    assert "pointnet takes a point set (P, D)" in capsys.readouterr().err
    assert main(["video", "table", "two-stream", "--input", "3,64,64",
                 "--input", "10,64,64"]) == 1
    assert "several inputs need names" in capsys.readouterr().err
    assert main(["video", "table", "c3d", "--model-kwargs", '{"bogus": 1}']) == 1
    assert "does not take 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["video", "table", "c3d", "--model-kwargs", "[1]"])


def _train_args(run, *extra):
    return ["video", "train", "--model", "toy-slow-fusion", "--data", "synthetic-motion",
            "--classes", "motion", "--videos-per-class", "2", "--frames", "8", "--size", "32",
            "--batch-size", "4", "--lr", "0.01", "--out", str(run), "--no-progress", *extra]


def test_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    import csv
    import json

    import torch

    from spacetime.engine import load_checkpoint
    from spacetime.video.io import write_video

    monkeypatch.setenv("SPACETIME_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(_train_args(run, "--epochs", "2")) == 0
    for name in ("config.json", "metrics.csv", "metrics.json", "curves.png",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["meta"]["model"] == "toy-slow-fusion" and len(ckpt["meta"]["classes"]) == 8
    assert ckpt["meta"]["model_kwargs"] == {"num_classes": 8, "width": 12}  # every argument
    assert ckpt["meta"]["family"] == "video" and ckpt["meta"]["schema"] == 2
    out = capsys.readouterr().out
    assert "epoch 1" in out and "run directory" in out
    assert "lr 0 " not in out  # the rate printed is the one the epoch's last step used

    # resume: a third epoch continues from the checkpoint
    assert main(_train_args(run, "--epochs", "3", "--resume")) == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    capsys.readouterr()

    # eval with 2 clips per video
    assert main(["video", "eval", "--checkpoint", str(run / "checkpoints" / "best.pt"),
                 "--num-clips", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "video" in out and "top-1 %" in out
    assert "on synthetic-motion: test split, 16 item(s)" in out
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["num_items"] == 16
    assert metrics["num_clips"] == 2
    assert metrics["clip"]["num_samples"] == 2 * metrics["video"]["num_samples"]
    assert len(metrics["video"]["confusion"]) == 8
    assert (run / "eval" / "confusion.png").is_file()

    # predict on a real video file
    clip = (torch.arange(16 * 3 * 32 * 32) % 251).to(torch.uint8).view(16, 3, 32, 32)
    video = write_video(tmp_path / "clip.mp4", clip, 8)
    assert main(["video", "predict", str(video), "--checkpoint",
                 str(run / "checkpoints" / "last.pt"), "--num-clips", "3", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    probs = [r["probability"] for r in pred["top"]]
    assert len(pred["top"]) == 5 and pred["num_clips"] == 3
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
    assert main(["video", "predict", str(video), "--checkpoint",
                 str(run / "checkpoints" / "last.pt")]) == 0
    assert " 1. " in capsys.readouterr().out
    ckpt_path = str(run / "checkpoints" / "last.pt")
    assert main(["video", "predict", str(tmp_path / "none.mp4"), "--checkpoint", ckpt_path]) == 1
    assert "none.mp4" in capsys.readouterr().err
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert main(["video", "predict", str(tmp_path / "bad.mp4"), "--checkpoint", ckpt_path]) == 1
    assert "bad.mp4" in capsys.readouterr().err
    assert main(["video", "eval", "--checkpoint", ckpt_path, "--num-clips", "0"]) == 1
    assert "num_clips: expected an int >= 1" in capsys.readouterr().err


def test_cli_user_errors(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setenv("SPACETIME_CACHE", str(tmp_path / "cache"))
    assert main(_train_args(tmp_path / "r", "--data", "imagenet")) == 1
    assert "data: expected one of synthetic-motion" in capsys.readouterr().err
    assert main(_train_args(tmp_path / "r", "--resume")) == 1
    assert "resume: no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_train_args(tmp_path / "r", "--model", "nope"))
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(_train_args(tmp_path / "r", "--model-kwargs", '{"bogus": 1}')) == 1
    assert "does not take 'bogus'" in capsys.readouterr().err
    assert main(["video", "eval", "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "no such file" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "spacetime-checkpoint", "version": 1, "model": {}, "meta": {}}, foreign)
    assert main(["video", "predict", "x.mp4", "--checkpoint", str(foreign)]) == 1
    assert "meta['model'] missing" in capsys.readouterr().err
    assert main(["video"]) == 2


def test_train_and_eval_on_a_video_folder(tmp_path, capsys):
    import json

    from spacetime.video.datasets.synthetic import SyntheticMotion

    root = SyntheticMotion("train", classes="appearance", videos_per_class=3, num_frames=12,
                           size=32, cache=False).export(tmp_path / "videos")
    run = tmp_path / "run"
    args = ["video", "train", "--model", "toy-late-fusion", "--data", f"folder:{root}",
            "--frames", "8", "--size", "32", "--epochs", "1", "--batch-size", "4",
            "--out", str(run), "--no-progress", "--no-tensorboard"]
    assert main(args) == 0
    out = capsys.readouterr().out
    # 3 videos per class: 1 in the fixed test hold-out, 1 for validation, 1 for training
    assert "4 classes, 4 train / 4 val videos" in out
    assert main(["video", "eval", "--checkpoint", str(run / "checkpoints" / "last.pt"),
                 "--num-clips", "2", "--no-progress", "--out", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["video"]["num_samples"] == 4 and metrics["clip"]["num_samples"] == 8
    assert metrics["classes"] == ["blue_cross", "green_triangle", "red_disc", "yellow_ring"]
    assert "test split, 4 item(s)" in capsys.readouterr().out


def test_help_lists_models_and_data_and_python_m(capsys):
    import subprocess
    import sys

    from spacetime.cli import shapes_models, video
    from spacetime.shapes.datasets import SHAPE_DATA_FORMS
    from spacetime.video.datasets import VIDEO_DATA_FORMS
    from spacetime.video.models import MODEL_BUILDERS

    with pytest.raises(SystemExit):
        main(["video", "train", "--help"])
    import re

    out = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # undo line wraps
    for name in MODEL_BUILDERS:
        assert name in out
    assert "ucf101:ROOT:SPLITDIR" in out and "--max-steps" in out and "(default: auto)" in out
    for kind, fields in VIDEO_DATA_FORMS.items():
        assert ":".join([kind, *fields]) in video.DATA_HELP
    for kind, forms in SHAPE_DATA_FORMS.items():
        assert kind in shapes_models.DATA_HELP
        for f in forms:
            assert all(x in shapes_models.DATA_HELP for x in f)
    proc = subprocess.run([sys.executable, "-m", "spacetime", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("spacetime ")


def test_max_steps_caps_a_trial_run(tmp_path, monkeypatch):
    from spacetime.engine.rundir import read_json

    monkeypatch.setenv("SPACETIME_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(_train_args(run, "--epochs", "5", "--max-steps", "3", "--no-tensorboard")) == 0
    metrics = read_json(run / "metrics.json")
    assert metrics["steps"] == 3 and metrics["epochs"] == 1  # 4 steps per epoch, capped at 3
    assert 0 < metrics["history"][-1]["lr"] <= 0.01
