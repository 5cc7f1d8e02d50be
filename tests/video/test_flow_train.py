"""RAFT training on SyntheticFlow through the shared engine (tiny CPU runs)."""

from __future__ import annotations

import json

import pytest
import torch

from spacetime.video.flow import (
    RAFTStep,
    SyntheticFlow,
    build_raft,
    estimate_flow,
    train_raft,
)


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


def test_train_raft_run_dir(tmp_path):
    run = tmp_path / "run"
    res = train_raft(run, size=(32, 32), corr_levels=2, train_samples=4, val_samples=2,
                     epochs=1, batch_size=2, num_flow_updates=2, log=None)
    assert res["init_epe"] > 0 and res["final_epe"] > 0
    for name in ("config.json", "metrics.csv", "flow_eval.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    ev = json.loads((run / "flow_eval.json").read_text())
    assert ev["final_epe"] == pytest.approx(res["final_epe"])
    # the checkpoint rebuilds the model and gives the same flow
    f1 = torch.rand(3, 32, 32)
    f2 = torch.rand(3, 32, 32)
    ref = estimate_flow(f1, f2, "raft-small", model=res["model"], num_flow_updates=2)
    again = build_raft("raft-small", corr_levels=2, checkpoint=run / "checkpoints/last.pt")
    out = estimate_flow(f1, f2, "raft-small", model=again.eval(), num_flow_updates=2)
    torch.testing.assert_close(out, ref)
