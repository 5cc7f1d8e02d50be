"""Training RAFT on the built-in synthetic flow data with the shared engine.

:class:`RAFTStep` is the ``step_fn`` plugged into :class:`spacetime.engine.Trainer`: it runs the
model on a :class:`~spacetime.video.flow.SyntheticFlow` batch (dict with ``frame1``, ``frame2``,
``flow``, ``valid``), returns RAFT's :func:`~spacetime.video.flow.sequence_loss` (γ = 0.8) and
reports the last iteration's end-point error as ``epe``. :func:`train_raft` wires data, model,
optimiser (AdamW + one-cycle for runs of 20+ steps, gradient clipping at 1, as in the RAFT
paper) and the run directory (``config.json``, ``metrics.csv``,
``checkpoints/{last,best}.pt`` selected by the lowest ``val/epe``, plus ``flow_eval.json``
with the held-out EPE before and after training).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spacetime.checks import check_int, check_positive
from spacetime.video.flow.ops import end_point_error
from spacetime.video.flow.raft import build_raft, sequence_loss
from spacetime.video.flow.synthetic import SyntheticFlow

__all__ = ["RAFTStep", "train_raft"]


class RAFTStep:
    """``step_fn(model, batch) -> (loss, {"epe": ...})`` for RAFT on flow batches.

    Args:
        num_flow_updates: RAFT iterations per forward pass (12 in the paper for training).
        gamma: sequence-loss decay.
        max_flow: ignore ground truth above this magnitude (px).
    """

    def __init__(self, num_flow_updates: int = 12, gamma: float = 0.8, max_flow: float = 400.0):
        self.num_flow_updates = check_int(num_flow_updates, "num_flow_updates", min_value=1)
        check_positive(gamma, "gamma")
        self.gamma = float(gamma)
        self.max_flow = float(max_flow)

    def __call__(self, model: nn.Module, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict]:
        preds = model(batch["frame1"], batch["frame2"], num_flow_updates=self.num_flow_updates)
        valid = batch.get("valid")
        loss = sequence_loss(preds, batch["flow"], valid, gamma=self.gamma,
                             max_flow=self.max_flow)
        with torch.no_grad():
            epe = end_point_error(preds[-1].float(), batch["flow"], valid)
        return loss, {"epe": epe}


def train_raft(
    out_dir: str | os.PathLike | None = None,
    *,
    model: str = "raft-small",
    size: tuple[int, int] = (64, 64),
    train_samples: int = 512,
    val_samples: int = 64,
    epochs: int = 2,
    batch_size: int = 4,
    lr: float = 4e-4,
    num_flow_updates: int = 6,
    seed: int = 0,
    device: str = "cpu",
    checkpoint: str | os.PathLike | None = None,
    corr_levels: int | None = None,
    resume: str | os.PathLike | None = None,
    workers: int = 0,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train RAFT on :class:`SyntheticFlow` and report held-out EPE before and after.

    Args:
        out_dir: run directory (None = keep nothing on disk).
        model: ``raft-small`` or ``raft-large``.
        size: training / validation frame size ``(H, W)``.
        train_samples, val_samples: data set sizes (train / val splits of one seed).
        epochs, batch_size, lr: optimisation (AdamW, one-cycle schedule, grad clip 1.0).
        num_flow_updates: RAFT iterations in training and evaluation.
        seed: seeds data, init and shuffling.
        device: ``cpu`` / ``cuda``.
        checkpoint: start from these weights (see :func:`~spacetime.video.flow.build_raft`).
        corr_levels: correlation levels (``build_raft``); 3 trains 64 px frames unpadded.
        resume: continue a run from its ``checkpoints/last.pt``.
        workers: data-loader workers.

    Returns:
        ``{"init_epe", "final_epe", "history", "run_dir", "model"}`` (the trained
        :class:`~spacetime.video.flow.RAFTFlow`).
    """
    from spacetime.engine import TrainConfig, Trainer, build_loader, seed_everything
    from spacetime.engine.rundir import write_json

    check_int(train_samples, "train_samples", min_value=1)
    check_int(val_samples, "val_samples", min_value=1)
    check_int(batch_size, "batch_size", min_value=1)
    seed_everything(seed)
    net = build_raft(model, checkpoint=checkpoint, corr_levels=corr_levels)
    size = (int(size[0]), int(size[1]))
    train_ds = SyntheticFlow(train_samples, size, split="train", seed=seed)
    val_ds = SyntheticFlow(val_samples, size, split="val", seed=seed)
    train_loader = build_loader(train_ds, batch_size, shuffle=True, seed=seed,
                                num_workers=workers)
    val_loader = build_loader(val_ds, batch_size, num_workers=workers)
    total_steps = epochs * len(train_loader)
    # one-cycle needs a few steps per phase (torch's OneCycleLR divides by zero below ~4)
    schedule = "onecycle" if total_steps >= 20 else "none"
    cfg = TrainConfig(
        epochs=epochs, optimizer="adamw", lr=lr, weight_decay=1e-5, scheduler=schedule,
        grad_clip=1.0, seed=seed, device=device,
        out_dir=None if out_dir is None else str(out_dir), progress=progress,
        tensorboard=out_dir is not None, plot=out_dir is not None,
        monitor="val/epe", monitor_mode="min", amp=False,
    )
    meta = {"model": model, "corr_levels": corr_levels, "size": list(size),
            "num_flow_updates": num_flow_updates,
            "train_samples": train_samples, "val_samples": val_samples,
            "data": "SyntheticFlow"}
    step = RAFTStep(num_flow_updates)
    trainer = Trainer(net, train_loader, val_loader, cfg, step_fn=step, meta=meta, log=log)
    init = trainer.evaluate()
    if log is not None:
        log(f"held-out EPE at init: {init['epe']:.3f} px")
    history = trainer.fit(resume=resume)
    final = trainer.evaluate()
    if log is not None:
        log(f"held-out EPE after training: {final['epe']:.3f} px (init {init['epe']:.3f})")
    result = {"init_epe": float(init["epe"]), "final_epe": float(final["epe"]),
              "history": history, "run_dir": None if out_dir is None else Path(out_dir)}
    if out_dir is not None:
        write_json(Path(out_dir) / "flow_eval.json",
                   {k: v for k, v in result.items() if k != "history"})
    result["model"] = net.eval()
    return result
