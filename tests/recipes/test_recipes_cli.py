"""`spacetime recipe list / show / run`, and a recipe trained on 2 nodes x 1 process simulated
on localhost: two torchrun agents meeting at a c10d rendezvous on 127.0.0.1 (gloo), both
finishing, one run directory written once, the whole test split evaluated by rank 0."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from spacetime.cli.main import main

from ._fixtures import make_dataset


def test_list_and_show(capsys):
    assert main(["recipe", "list"]) == 0
    out = capsys.readouterr().out
    assert "pointnet-modelnet40" in out and "Qi et al., CVPR 2017" in out
    assert main(["recipe", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name", "paper", "expected", "gpu_hours"} <= set(rows[0])
    assert main(["recipe", "show", "two-stream-ucf101"]) == 0
    out = capsys.readouterr().out
    assert "DATA/ucfTrainTestlist/" in out and "--prepare-only" in out


def test_run_gpus_prints_the_torchrun_command(capsys, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert main(["recipe", "run", "c3d-ucf101", "--data", "/data/ucf", "--gpus", "4",
                 "--device", "cuda", "--dry-run"]) == 0
    line = capsys.readouterr().out.strip()
    assert "-m torch.distributed.run --standalone --nproc_per_node 4 -m spacetime recipe run " \
           "c3d-ucf101 --data /data/ucf --device cuda" in line
    assert main(["recipe", "run", "c3d-ucf101", "--data", "/d", "--gpus", "2", "--dry-run",
                 "--set", "lr=0.001", "--set", "fusion=linear", "--smoke"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("--device auto --set lr=0.001 --set 'fusion=\"linear\"' --smoke")
    with pytest.raises(SystemExit):
        main(["recipe", "run", "c3d-ucf101", "--data", "/d", "--set", "lr"])
    assert main(["recipe", "run", "c3d-ucf101", "--data", "/d", "--gpus", "0"]) == 1
    with pytest.raises(SystemExit):
        main(["recipe", "run", "no-such-recipe", "--data", "/d"])


def test_run_smoke_from_the_command_line(tmp_path, capsys):
    data = make_dataset("pointnet-modelnet40", tmp_path / "data")
    assert main(["recipe", "run", "pointnet-modelnet40", "--data", str(data), "--smoke",
                 "--device", "cpu", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "mean/accuracy" in out and "0.892" in out and "smoke settings" in out
    saved = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert saved["recipe"] == "pointnet-modelnet40" and saved["smoke"] is True
    assert [t["metric"] for t in saved["targets"]] == ["mean/accuracy",
                                                       "mean_over_categories/accuracy"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_one_process_each_on_localhost(tmp_path):
    data = make_dataset("pointnet-modelnet40", tmp_path / "data")
    for cls in ("chair", "bed"):  # 8 training models per class: each rank gets full batches
        src = data / cls / "train" / f"{cls}_0001.off"
        for k in range(4, 10):
            shutil.copy(src, data / cls / "train" / f"{cls}_{k:04d}.off")
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    port = _free_port()
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
               "--nproc_per_node", "1", "--node_rank", str(node), "--rdzv_backend", "c10d",
               "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "recipes-test",
               "-m", "spacetime", "recipe", "run", "pointnet-modelnet40", "--data", str(data),
               "--smoke", "--device", "cpu", "--max-steps", "2", "--out", str(out)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    both = "\n".join(logs)
    assert both.count("recipe pointnet-modelnet40: PointNet") == 1  # rank 0 alone reports
    assert "2 process(es)" in both
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "recipe.json").is_file()
    # rank 0 evaluated the whole test split (not its shard) after leaving the group
    evaluation = json.loads((out / "recipe.json").read_text())["evaluation"]
    assert evaluation["num_samples"] == 2 and set(evaluation["per_category"]) == {"bed", "chair"}
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == [
        "config.json", "metrics.json", "recipe.json"]
