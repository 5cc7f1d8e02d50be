"""Run a selection of the lab's experiments and write the report."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacetime.checks import check_in
from spacetime.errors import InputError
from spacetime.lecture.experiments import EXPERIMENTS
from spacetime.lecture.report import SCALES, ClaimResult, write_report

__all__ = ["run_lecture"]


def run_lecture(
    out_dir: str | os.PathLike,
    *,
    scale: str = "quick",
    only: Sequence[str] | None = None,
    seed: int = 0,
    progress: bool = True,
    log: Any = print,
    device: str = "auto",
) -> list[ClaimResult]:
    """Run the lab's experiments (all, or ``only`` these names) at ``scale`` into ``out_dir``;
    write the report; return the results in order. If an experiment raises, the report of
    those before it is written and the error propagates.

    ``device``: where the experiments that train a model train and evaluate it (``"auto"``:
    CUDA when available, else the CPU; ``"cpu"``, ``"cuda[:N]"``); the measuring experiments
    (memory, timings, metrics on fixed shapes) run on the CPU."""
    from spacetime.engine.device import resolve_device

    check_in(scale, "scale", SCALES)
    device = resolve_device(device)
    names = list(EXPERIMENTS) if only is None else list(only)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise InputError(f"only: expected names among {', '.join(EXPERIMENTS)}, got {unknown}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    results: list[ClaimResult] = []
    bar = tqdm(names, desc="lecture", unit="claim",
               disable=not (progress and sys.stderr.isatty()))
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        try:
            res = EXPERIMENTS[name](out / name, scale=scale, seed=seed, device=device)
        except BaseException:
            if results:  # keep what finished: the report of the experiments before this one
                write_report(out, results, scale)
            raise
        res.seconds = time.perf_counter() - t0
        res.figures = [f"{name}/{Path(f).name}" for f in res.figures]
        results.append(res)
        if log is not None:
            log(f"[{name}] {res.verdict}: {res.why} ({res.seconds:.1f} s)")
    readme, page = write_report(out, results, scale)
    if log is not None:
        log(f"wrote {readme} and {page}")
    return results
