"""The RAFT training step of the shared engine.

:class:`RAFTStep` is the ``step_fn`` plugged into :class:`spacetime.engine.Trainer`: it runs the
model on a :class:`~spacetime.video.flow.SyntheticFlow` batch (dict with ``frame1``, ``frame2``,
``flow``, ``valid``), returns RAFT's :func:`~spacetime.video.flow.sequence_loss` (γ = 0.8) and
reports the last iteration's end-point error as ``epe``. :func:`spacetime.api.flow.train` wires
data, model, optimiser (AdamW + one-cycle for runs of 20+ steps, gradient clipping at 1, as in
the RAFT paper) and the run directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from spacetime.checks import check_int, check_positive
from spacetime.video.flow.ops import end_point_error
from spacetime.video.flow.raft import sequence_loss

__all__ = ["RAFTStep"]


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
