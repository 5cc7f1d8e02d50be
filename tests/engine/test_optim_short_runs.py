"""Schedules must work for every run length, including smoke tests of a few steps."""

import pytest
import torch

from spacetime.engine.optim import SCHEDULERS, build_scheduler


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("total", [1, 2, 3, 4, 7])
def test_every_scheduler_runs_any_length(name, total):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = build_scheduler(opt, name, total_steps=total)
    for _ in range(total):
        opt.step()
        sched.step()
    assert all(g["lr"] >= 0 for g in opt.param_groups)
