"""Optimiser and learning-rate schedule builders (plain functions, no registry).

Every schedule is stepped once per optimiser step (not per epoch), so a run that resumes from
a checkpoint continues the schedule exactly. ``warmup_steps`` adds a linear ramp from
``lr / warmup_steps`` to ``lr`` in front of the ``step`` and ``cosine`` schedules; for
``onecycle`` it sets the rising phase of Smith & Topin's one-cycle policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from spacetime.checks import check_in, check_int, check_positive

__all__ = ["OPTIMIZERS", "SCHEDULERS", "build_optimizer", "build_scheduler"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine", "onecycle")


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | torch.nn.Module,
    name: str = "sgd",
    *,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """Build ``sgd`` (with ``momentum``), ``adam`` or ``adamw`` (with ``betas``) over ``params``.

    ``weight_decay`` is L2 added to the gradient for sgd/adam and decoupled for adamw
    (Loshchilov & Hutter).
    """
    check_in(name, "optimizer", OPTIMIZERS)
    check_positive(lr, "lr")
    check_positive(weight_decay, "weight_decay", strict=False)
    check_positive(momentum, "momentum", strict=False)
    if isinstance(params, torch.nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str = "none",
    *,
    total_steps: int,
    warmup_steps: int = 0,
    step_size: int | None = None,
    gamma: float = 0.1,
    min_lr_ratio: float = 0.0,
) -> LRScheduler:
    """Build a per-step learning-rate schedule.

    Args:
        optimizer: the optimiser whose ``lr`` (the peak value) is scheduled.
        name: ``none`` (constant), ``step`` (multiply by ``gamma`` every ``step_size`` steps),
            ``cosine`` (half-cosine from ``lr`` to ``min_lr_ratio * lr`` at ``total_steps``),
            ``onecycle`` (``torch.optim.lr_scheduler.OneCycleLR``, peak ``lr``; runs of fewer
            than 4 steps, too short for its two phases, keep a constant ``lr`` instead of
            failing inside torch).
        total_steps: number of optimiser steps in the whole run (>= 1).
        warmup_steps: linear warm-up steps (0 = none).
        step_size: steps between decays for ``step`` (default: a third of the run).
        gamma: decay factor for ``step``.
        min_lr_ratio: final lr as a fraction of the peak for ``cosine``.
    """
    check_in(name, "scheduler", SCHEDULERS)
    check_int(total_steps, "total_steps", min_value=1)
    check_int(warmup_steps, "warmup_steps", min_value=0)
    if name == "onecycle" and total_steps < 4:
        return LambdaLR(optimizer, lambda step: 1.0)
    if name == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        pct = warmup_steps / total_steps if warmup_steps else 0.3
        pct = min(max(pct, 1.0 / total_steps), 0.99)
        return OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total_steps, pct_start=pct)
    if name == "step":
        step_size = max(1, total_steps // 3) if step_size is None else step_size
        check_int(step_size, "step_size", min_value=1)
    decay_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        s = step - warmup_steps
        if name == "step":
            return gamma ** (s // step_size)
        if name == "cosine":
            t = min(s, decay_steps) / decay_steps
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0

    return LambdaLR(optimizer, factor)
