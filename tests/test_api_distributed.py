"""Every family's ``train`` runs data-parallel under torchrun: two CPU processes (gloo) see
disjoint shards of the training items that together cover them, end with identical parameters
(the gradients were averaged: each rank trained on different items), and write one run
directory. One torchrun launch trains all families in turn (the process group is reused)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("_api_ddp_worker.py")
FAMILIES = ("video", "two-stream", "flow", "shapes", "meshrcnn-scene", "meshrcnn-single")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("api_ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo",
               SPACETIME_CACHE=str(out / "cache"))
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(WORKER), str(out), *FAMILIES]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (out, torch.load(out / "rank0.pt", weights_only=True),
            torch.load(out / "rank1.pt", weights_only=True))


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_train_is_data_parallel(ranks, family):
    out, r0, r1 = ranks
    a, b = r0[family], r1[family]
    seen0, seen1 = set(a["seen"]), set(b["seen"])
    assert seen0 and seen1 and not seen0 & seen1, (sorted(seen0), sorted(seen1))
    assert seen0 | seen1 == set(range(a["num_train"]))
    assert len(a["params"]) == len(b["params"]) > 0
    for p, q in zip(a["params"], b["params"]):
        assert torch.equal(p, q)
    run = out / family
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "config.json").is_file() \
        or (run / "spatial" / "checkpoints" / "last.pt").is_file()
    if family != "two-stream":
        from spacetime.engine.rundir import read_json

        assert read_json(run / "config.json")["world_size"] == 2
