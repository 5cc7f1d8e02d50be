"""Two CPU processes under torchrun (gloo): identical parameters on both ranks, equal to a
single process with twice the batch, only rank 0 writes the run directory, exact metrics."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spacetime.engine import TrainConfig, Trainer, build_loader, seed_everything
from tests.engine._toy import toy_data, toy_model

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(WORKER), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world_size"] == 2
    for a, b in zip(r0["params"], r1["params"]):
        assert torch.equal(a, b)
    # metrics are all-reduced: identical on both ranks, exact over the 21 val samples
    def strip(h):
        return [{k: v for k, v in row.items() if k != "time_s"} for row in h]

    assert strip(r0["history"]) == strip(r1["history"]) and r0["eval"] == r1["eval"]
    assert r0["val_len"] + r1["val_len"] == 21
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "metrics.csv").is_file()

    # single process, batch 8 = 2 ranks x 4: same batches, same averaged gradients
    seed_everything(0)
    model = toy_model()
    cfg = TrainConfig(epochs=2, optimizer="sgd", lr=0.1, momentum=0.9, progress=False)
    ref = Trainer(model, build_loader(toy_data(48), 8, shuffle=True, seed=0),
                  build_loader(toy_data(21, seed=9), 8), cfg)
    hist = ref.fit()
    for a, b in zip(r0["params"], model.parameters()):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)
    assert r0["history"][-1]["train/loss"] == pytest.approx(hist[-1]["train/loss"], rel=1e-5)
    assert r0["eval"]["acc"] == pytest.approx(ref.evaluate()["acc"], rel=1e-6)
