"""RAFT training on SyntheticFlow through spacetime.api.flow (tiny CPU runs), its checkpoints
(schema 2 and spacetime 0.1's), evaluation on the test split and prediction."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch

from spacetime.api import flow
from spacetime.api import load_model as load_any
from spacetime.errors import InputError
from spacetime.video.flow import RAFTStep, SyntheticFlow, build_raft, estimate_flow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints_v0_1"
TINY = {"size": (32, 32), "train_samples": 2, "val_samples": 2, "epochs": 1, "batch_size": 2,
        "num_flow_updates": 1, "device": "cpu", "progress": False, "tensorboard": False,
        "log": None}


@pytest.fixture(scope="module")
def run3(tmp_path_factory):
    """A RAFT trained with 3 correlation levels (32 px frames are padded to its 64 px)."""
    out = tmp_path_factory.mktemp("raft3") / "run"
    return flow.train("raft-small", corr_levels=3, out=out, **TINY)


def test_overfit_one_batch_loss_drops():
    torch.manual_seed(0)
    model = build_raft("raft-small", corr_levels=2)  # 32 px inputs without padding
    batch = torch.utils.data.default_collate([SyntheticFlow(2, 32, seed=1)[i] for i in range(2)])
    step = RAFTStep(num_flow_updates=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss, metrics = step(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert "epe" in metrics and torch.isfinite(metrics["epe"])
    assert min(losses[-3:]) < losses[0], losses


def test_train_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    res = flow.train(out=run_dir, corr_levels=2, **{**TINY, "train_samples": 4,
                                                   "num_flow_updates": 2})
    assert isinstance(res, flow.FlowTrainResult)
    assert res.init_epe > 0 and res.final_epe > 0
    assert (res.num_train, res.num_val) == (4, 2) and res.run_dir == run_dir
    assert res.best_checkpoint == run_dir / "checkpoints/best.pt"
    assert res.best["metric"] == "val/epe" and res.best["mode"] == "min"
    for name in ("config.json", "metrics.csv", "flow_eval.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run_dir / name).is_file(), name
    ev = json.loads((run_dir / "flow_eval.json").read_text())
    assert ev["final_epe"] == pytest.approx(res.final_epe)
    assert ev["init_epe"] == pytest.approx(res.init_epe)
    assert (ev["split"], ev["num_items"]) == ("val", 2)
    spec = res.spec
    assert (spec.family, spec.model, spec.data) == ("flow", "raft-small", "synthetic-flow")
    assert spec.model_kwargs["corr_levels"] == 2 and spec.options["num_flow_updates"] == 2
    assert spec.data_options == {"size": [32, 32], "train_samples": 4, "val_samples": 2,
                                 "seed": 0}
    # the checkpoint alone rebuilds the model and gives the same flow
    f1, f2 = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    ref = estimate_flow(f1, f2, "raft-small", model=res.model, num_flow_updates=2)
    out = flow.predict(run_dir / "checkpoints/last.pt", f1, f2, device="cpu")
    torch.testing.assert_close(out, ref)


def test_corr_levels_3_reloads(run3):
    loaded = load_any(run3.best_checkpoint, device="cpu")
    assert loaded.family == "flow" and loaded.spec.model_kwargs["corr_levels"] == 3
    assert loaded.model.raft.corr_block.num_levels == 3 and loaded.model.min_size == 64
    assert flow.load_model(loaded) is loaded
    f1, f2 = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    uv = flow.predict(loaded, f1, f2)
    assert uv.shape == (2, 32, 32) and uv.dtype == torch.float32
    torch.testing.assert_close(uv, estimate_flow(f1, f2, "raft-small", model=run3.model,
                                                 num_flow_updates=1))
    batch = flow.predict(loaded, f1[None].repeat(2, 1, 1, 1), f2[None].repeat(2, 1, 1, 1))
    assert batch.shape == (2, 2, 32, 32)


def test_evaluate_reports_test_split(run3, tmp_path):
    res = flow.evaluate(run3.best_checkpoint, limit=3, device="cpu", out=tmp_path / "ev")
    assert (res.split, res.num_items, res.data) == ("test", 3, "synthetic-flow")
    assert "test split, 3 item(s)" in str(res) and res.epoch == 1
    m = res.metrics
    assert len(m["rows"]) == 3 and m["num_flow_updates"] == 1 and m["size"] == [32, 32]
    assert m["epe"] > 0 and 0 <= m["fl_all"] <= 100 and m["ae"] >= 0 and m["epe_noc"] > 0
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert (saved["split"], saved["num_items"]) == ("test", 3)
    assert saved["epe"] == pytest.approx(m["epe"])
    # default: val_samples items; the test split differs from the val split of training
    default = flow.evaluate(run3.best_checkpoint, device="cpu")
    assert default.num_items == 2
    val = flow.evaluate(run3.best_checkpoint, split="val", device="cpu")
    assert val.split == "val" and val.metrics["epe"] == pytest.approx(run3.final_epe, rel=1e-4)
    assert default.metrics["epe"] != pytest.approx(val.metrics["epe"])
    # a classical method on the same kind of pairs
    dis = flow.evaluate("dis", limit=2)
    assert (dis.model, dis.split, dis.num_items) == ("dis", "test", 2)
    with pytest.raises(InputError, match="split"):
        flow.evaluate(run3.best_checkpoint, split="train")
    with pytest.raises(InputError, match="data"):
        flow.evaluate(run3.best_checkpoint, data="kitti")
    with pytest.raises(InputError, match="neither a checkpoint"):
        flow.evaluate("tvl2")


def test_evaluate_folder(run3, tmp_path):
    from spacetime.video.flow import export_flow_folder

    root = export_flow_folder(tmp_path / "mb", SyntheticFlow(2, (32, 40), split="test"))
    res = flow.evaluate(run3.best_checkpoint, root=root, device="cpu")
    assert (res.split, res.num_items) == ("all", 2)
    assert res.data == f"middlebury:{root}" and "seq001" in str(res)
    res = flow.evaluate("farneback", root=root, limit=1)
    assert res.num_items == 1 and res.model == "farneback"


def test_max_steps_caps_a_run():
    res = flow.train(corr_levels=2, out=None, max_steps=3,
                     **{**TINY, "train_samples": 4, "batch_size": 1, "epochs": 2})
    assert len(res.history) == 1 and res.history[-1]["step"] == 3
    assert res.run_dir is None and res.best_checkpoint is None


def test_train_input_errors():
    with pytest.raises(InputError, match="data"):
        flow.train(data="kinetics:x", **TINY)
    with pytest.raises(InputError, match="size"):
        flow.train(**{**TINY, "size": (4, 4)})
    with pytest.raises(InputError, match="not a training option"):
        flow.train(**TINY, iters=3)


def test_v0_1_checkpoint_loads(tmp_path):
    ckpt = tmp_path / "flow_raft_small_corr3.pt"
    with gzip.open(FIXTURES / "flow_raft_small_corr3.pt.gz", "rb") as src, open(ckpt, "wb") as dst:
        shutil.copyfileobj(src, dst)
    loaded = load_any(ckpt, device="cpu")
    spec = loaded.spec
    assert (spec.family, spec.model, spec.data) == ("flow", "raft-small", "synthetic-flow")
    assert spec.model_kwargs["corr_levels"] == 3 and spec.options["num_flow_updates"] == 1
    assert loaded.model.raft.corr_block.num_levels == 3 and loaded.model.min_size == 64
    g = torch.Generator().manual_seed(0)
    f1, f2 = torch.rand(3, 64, 64, generator=g), torch.rand(3, 64, 64, generator=g)
    uv = flow.predict(ckpt, f1, f2, device="cpu")
    assert uv.shape == (2, 64, 64) and torch.isfinite(uv).all()
    res = flow.evaluate(loaded, limit=1)  # 0.1 stored no seed: seed 0
    assert (res.split, res.num_items, res.metrics["seed"]) == ("test", 1, 0)
