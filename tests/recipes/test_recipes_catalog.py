"""The recipe catalogue and its loader: every recipe is complete (data preparation, full-size
settings the API accepts, paper numbers with a tolerance, a GPU-hour estimate with its basis,
the reason for any reduction in its executable check), and the loader / comparison / launch
helpers fail clearly."""

from __future__ import annotations

import inspect
import shlex
import sys

import pytest

from spacetime.api import TrainOptions
from spacetime.errors import InputError
from spacetime.recipes import (
    FAMILIES,
    Recipe,
    Target,
    compare,
    describe,
    load_recipe,
    metric_value,
    recipe_names,
    recipe_table,
    torchrun_command,
)

PAPERS = {"meshrcnn-r2n2", "meshrcnn-pix3d-s1", "meshrcnn-pix3d-s2", "pixel2mesh-r2n2",
          "voxel-r2n2", "pointgen-r2n2", "occnet-r2n2", "c3d-ucf101", "single-frame-ucf101",
          "early-fusion-ucf101", "late-fusion-ucf101", "slow-fusion-ucf101",
          "two-stream-ucf101", "raft-finetune", "pointnet-modelnet40"}


def test_one_recipe_per_paper_result():
    assert set(recipe_names()) == PAPERS


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_recipe_is_complete_and_its_settings_are_api_arguments(name):
    import importlib

    r = load_recipe(name)
    assert r.name == name and r.title and r.paper and r.prepare.strip() and r.differences
    assert "DATA/" in r.prepare  # the folder layout under --data
    assert r.gpu_hours > 0 and "Assumptions" in r.gpu_hours_basis
    assert "rough" in r.gpu_hours_basis.lower()  # an estimate, with its error
    assert "not measured" in r.throughput
    assert r.targets and all(t.tolerance > 0 and t.source for t in r.targets)
    if set(r.smoke) - {"batch_size"} or r.smoke_evaluate:
        assert r.smoke_reason, "a reduced executable check must say why"
    module = importlib.import_module(f"spacetime.api.{FAMILIES[r.family]}")
    train_args = set(inspect.signature(module.train).parameters) | {
        f for f in TrainOptions.__dataclass_fields__}
    assert set(r.train) <= train_args, set(r.train) - train_args
    assert set(r.smoke) <= train_args
    eval_args = set(inspect.signature(module.evaluate).parameters)
    assert set(r.evaluate) <= eval_args and set(r.smoke_evaluate) <= eval_args
    text = describe(r)
    for part in ("## Data preparation", "## Expected", "--nnodes M --nproc_per_node N",
                 "--rdzv_backend c10d", f"spacetime recipe run {name} --data DATA"):
        assert part in text


def test_table_lists_name_paper_expected_and_gpu_hours():
    table = recipe_table()
    assert "c3d-ucf101" in table and "Tran et al., ICCV 2015" in table
    assert "video/top1 0.831 ± 0.02" in table and "GPU-h" in table
    assert len(table.splitlines()) == len(PAPERS) + 3


def test_loader_and_record_errors():
    with pytest.raises(InputError, match="no recipe named 'c3d'.*c3d-ucf101"):
        load_recipe("c3d")
    with pytest.raises(InputError, match="family"):
        Recipe("x", "t", "p", "audio", None, "{data}", {}, {}, (), 1.0, "b", "p", "d")
    with pytest.raises(InputError, match="needs a model"):
        Recipe("x", "t", "p", "video", None, "{data}", {}, {}, (), 1.0, "b", "p", "d")
    with pytest.raises(InputError, match="takes no model"):
        Recipe("x", "t", "p", "meshrcnn", "m", "{data}", {}, {}, (), 1.0, "b", "p", "d")
    with pytest.raises(InputError, match=r"\{data\}"):
        Recipe("x", "t", "p", "flow", "raft-small", "synthetic-flow", {}, {}, (), 1.0, "b",
               "p", "d")


def test_metric_paths_and_verdicts():
    metrics = {"video": {"top1": 0.84}, "metrics": {"F1@0.3": 0.5}}
    assert metric_value(metrics, "video/top1") == 0.84
    assert metric_value(metrics, "metrics/F1@0.3") == 0.5  # dots inside names are kept
    with pytest.raises(InputError, match=r"no 'top5'.*found \['top1'\]"):
        metric_value(metrics, "video/top5")
    r = load_recipe("c3d-ucf101")
    r = Recipe(**{**r.__dict__, "targets": (
        Target("video/top1", 0.831, 0.02, "s"), Target("video/top1", 0.80, 0.02, "s"),
        Target("video/top1", None, 0.02, "s"),
        Target("video/top1", 0.5, 0.02, "s", comparable=False))})
    verdicts = [row["verdict"] for row in compare(r, metrics)]
    assert verdicts == ["reproduced", "outside", "no paper value", "not comparable"]


def test_torchrun_commands():
    one = torchrun_command("c3d-ucf101", "/d", gpus=4, extra=["--device", "cuda"])
    assert one[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in one and one[one.index("--nproc_per_node") + 1] == "4"
    assert one[-6:] == ["c3d-ucf101", "--data", "/d", "--device", "cuda"][-6:] or \
        one[-5:] == ["c3d-ucf101", "--data", "/d", "--device", "cuda"]
    many = torchrun_command("c3d-ucf101", "/d", gpus=8, nodes=2, endpoint="head:29500",
                            node_rank=1)
    line = shlex.join(many)
    for part in ("--nnodes 2", "--nproc_per_node 8", "--rdzv_backend c10d",
                 "--rdzv_endpoint head:29500", "--node_rank 1", "-m spacetime recipe run"):
        assert part in line
    with pytest.raises(InputError, match="endpoint"):
        torchrun_command("c3d-ucf101", "/d", gpus=1, nodes=2)
    with pytest.raises(InputError, match="gpus"):
        torchrun_command("c3d-ucf101", "/d", gpus=0)


def test_recipe_arguments_split_the_global_batch_and_apply_the_check_settings(tmp_path):
    from spacetime.recipes import recipe_arguments

    r = load_recipe("meshrcnn-r2n2")  # global batch 64
    one, ev = recipe_arguments(r, "/d", out=tmp_path, device="cuda")
    assert one["batch_size"] == 64 and one["out"] == str(tmp_path) and one["device"] == "cuda"
    assert ev == {"protocol": "meshrcnn", "mesh_samples": 10000, "batch_size": 8}
    eight, _ = recipe_arguments(r, "/d", out=tmp_path, world_size=8, max_steps=5)
    assert eight["batch_size"] == 8 and eight["max_steps"] == 5
    assert recipe_arguments(r, "/d", out=tmp_path, world_size=128)[0]["batch_size"] == 1
    mine, _ = recipe_arguments(r, "/d", out=tmp_path, world_size=8,
                               overrides={"batch_size": 240, "lr": 1e-3}, resume=True)
    assert mine["batch_size"] == 30 and mine["lr"] == 1e-3 and mine["resume"] is True
    smoke, sev = recipe_arguments(r, "/d", out=tmp_path, smoke=True, world_size=2)
    assert smoke["batch_size"] == 1 and smoke["max_steps"] == 2 and smoke["epochs"] == 2
    assert smoke["grid_size"] == 16 and smoke["hidden_dim"] == 128  # the stated reduction only
    assert sev["mesh_samples"] == 500 and sev["batch_size"] == 1
    c3d, _ = recipe_arguments(load_recipe("c3d-ucf101"), "/data/ucf", out=tmp_path)
    assert c3d["weights"] == "/data/ucf/c3d_sports1m.pickle"  # {data} substituted
    with pytest.raises(InputError, match="world_size"):
        recipe_arguments(r, "/d", out=tmp_path, world_size=0)


def test_docs_table_lists_every_recipe_with_its_gpu_hours():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "recipes.md").read_text()
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[1:-1]]
            for line in text.splitlines() if line.startswith("| `")}
    assert set(rows) == PAPERS
    for name, cells in rows.items():
        assert cells[4].split()[0] == f"{load_recipe(name).gpu_hours:g}", name
