"""Every command that computes takes ``--device`` (default ``auto``: CUDA when present, else the
CPU) and hands it to the Python API; ``auto`` resolves to the CPU on a machine without a GPU."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import torch

import spacetime.engine.device as device_module
from spacetime.cli.flow import build_flow_parser
from spacetime.cli.main import build_parser, main

#: commands without --device, and why (each one computes nothing a device would change)
NO_DEVICE = {
    "video table": "runs the model on the meta device: shapes and counts, no compute",
    "flow export": "writes synthetic data generated on the CPU, identical on every machine",
    "weights convert": "renames and reshapes tensors of a file (models on the meta device); "
    "checkpoints hold CPU tensors",
    "weights formats": "prints a list",
    "recipe list": "prints a table",
    "recipe show": "prints a recipe",
}
EXPECTED = "cuda" if torch.cuda.is_available() else "cpu"


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, Any]:
    """``{"video train": parser, ...}``: every command that has no subcommands."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {prefix.strip(): parser}
    out: dict[str, argparse.ArgumentParser] = {}
    for name, sub in subs[0].choices.items():
        if name == "flow" and not prefix:  # parses its own subcommands
            out.update(_leaves(build_flow_parser(), "flow "))
        else:
            out.update(_leaves(sub, f"{prefix}{name} "))
    return out


COMMANDS = _leaves(build_parser())


def _device_action(parser: argparse.ArgumentParser) -> argparse.Action | None:
    return next((a for a in parser._actions if "--device" in a.option_strings), None)


def test_every_computing_command_has_device():
    assert {"convert", "compare", "show", "demo", "lecture", "flow cache", "video train",
            "video table"} <= set(COMMANDS)
    missing = sorted(n for n, p in COMMANDS.items()
                     if _device_action(p) is None and n not in NO_DEVICE)
    assert missing == [], f"commands without --device: {missing}"
    assert all(_device_action(COMMANDS[n]) is None for n in NO_DEVICE)  # the list stays honest


@pytest.mark.parametrize("name", sorted(n for n in COMMANDS if n not in NO_DEVICE))
def test_device_defaults_to_auto_and_accepts_cpu(name):
    action = _device_action(COMMANDS[name])
    assert action.default == "auto"
    assert action.type is None and action.choices is None  # cpu, cuda, cuda:N all parse


@pytest.fixture
def resolved(monkeypatch):
    """The devices that ``resolve_device`` returned while the test ran."""
    seen: list[str] = []
    real = device_module.resolve_device

    def spy(device="auto"):
        seen.append(real(device))
        return seen[-1]

    monkeypatch.setattr(device_module, "resolve_device", spy)
    return seen


@pytest.fixture
def files(tmp_path):
    from spacetime.shapes import ico_sphere, save_mesh
    from spacetime.video.io import write_video

    save_mesh(ico_sphere(1), tmp_path / "a.obj")
    save_mesh(ico_sphere(2), tmp_path / "b.obj")
    frames = (torch.rand(3, 3, 16, 16) * 255).to(torch.uint8)
    write_video(tmp_path / "v.mp4", frames, fps=5)
    return tmp_path


@pytest.mark.parametrize("device", [None, "cpu"])
def test_commands_run_and_resolve(files, resolved, device, capsys):
    d = files
    flag = [] if device is None else ["--device", device]
    assert main(["convert", str(d / "a.obj"), str(d / "a.ply"), "--to", "points",
                 "--num-samples", "100", "-q", *flag]) == 0
    assert main(["compare", str(d / "a.obj"), str(d / "b.obj"), "--num-samples", "200",
                 "--json", *flag]) == 0
    assert main(["show", str(d / "a.obj"), "-o", str(d / "a.png"), "--size", "64", "-q",
                 *flag]) == 0
    assert main(["flow", "cache", str(d / "v.mp4"), "-o", str(d / "cache"), "--method",
                 "horn-schunck", "--workers", "0", *flag]) == 0
    assert (d / "a.ply").is_file() and (d / "a.png").is_file()
    assert (d / "cache" / "v").is_dir()
    want = EXPECTED if device is None else device
    assert resolved == [want] * 4


def test_demo_and_lecture_pass_device_on(monkeypatch):
    import spacetime.demo
    import spacetime.lecture

    calls = {}
    monkeypatch.setattr(spacetime.demo, "run_demo", lambda out, **kw: calls.update(demo=kw))
    monkeypatch.setattr(spacetime.lecture, "run_lecture",
                        lambda out, **kw: calls.update(lecture=kw))
    assert main(["demo", "--quick", "--device", "cpu"]) == 0
    assert main(["lecture", "--quick", "--only", "videos_are_big"]) == 0
    assert calls["demo"]["device"] == "cpu" and calls["lecture"]["device"] == "auto"


def test_bad_device_is_one_clear_error(files, capsys):
    assert main(["convert", str(files / "a.obj"), str(files / "a.ply"), "--device", "gpu0"]) == 1
    assert "device: expected auto, cpu, cuda or cuda:N, got 'gpu0'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["compare", str(files / "a.obj"), str(files / "b.obj"),
                     "--device", "cuda"]) == 1
        assert "(no GPU)" in capsys.readouterr().err


def test_flow_cache_under_torchrun_takes_its_local_gpu(files, monkeypatch, capsys):
    import spacetime.video.flow.cache as cache

    seen = {}

    def fake(videos, out, **kw):
        seen.update(kw)
        return {"computed": [], "skipped": [], "failed": {}, "pairs": 0, "pairs_per_s": 0.0,
                "rank": 1, "world_size": 2, "shard": 0}

    monkeypatch.setattr(device_module, "resolve_device", lambda device="auto": "cuda")
    monkeypatch.setattr(cache, "compute_dataset_flow", fake)
    monkeypatch.setenv("LOCAL_RANK", "1")
    args = ["flow", "cache", str(files / "v.mp4"), "-o", str(files / "c"), "--method"]
    assert main([*args, "raft-small"]) == 0 and seen["device"] == "cuda:1"
    seen.clear()
    assert main([*args, "dis"]) == 0 and "device" not in seen  # OpenCV: on the CPU
