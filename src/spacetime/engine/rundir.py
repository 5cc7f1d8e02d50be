"""The run directory: configuration, CSV / TensorBoard logs, checkpoints, metrics, plots.

Layout written by :class:`spacetime.engine.Trainer` (rank 0 only)::

    RUN_DIR/
      config.json            training configuration + meta (model name, kwargs, classes)
      metrics.csv            one row per epoch: epoch, step, lr, time_s, train/*, val/*
      metrics.json           best and last epoch metrics and the whole history
      curves.png             loss and accuracy curves (matplotlib, Agg backend)
      checkpoints/last.pt    checkpoint after the latest epoch (resume from here)
      checkpoints/best.pt    checkpoint of the best epoch by the monitored metric
      tb/                    TensorBoard event files (when tensorboard is installed)

Every file is written through :func:`spacetime.fileio.atomic_write`, so an interrupted run
never leaves a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spacetime.fileio import atomic_write

__all__ = ["RunDir", "write_json", "read_json", "write_csv", "to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """Convert tensors, tuples, paths and non-finite floats to JSON-friendly values."""
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"
    with atomic_write(path, "w") as f:
        f.write(text)


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` as CSV atomically; the header is the union of keys in first-seen order."""
    header: list[str] = []
    for row in rows:
        for k in row:
            if k not in header:
                header.append(k)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: to_jsonable(row.get(k, "")) for k in header})
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())


class RunDir:
    """Writer for one run directory; every method is a no-op when ``enabled`` is False.

    Args:
        root: the run directory (created).
        enabled: False on ranks other than 0 in distributed runs.
        tensorboard: also write TensorBoard scalars under ``root/tb`` (skipped with a warning
            when the ``tensorboard`` package, the extra ``spacetime[tensorboard]``, is missing).
    """

    def __init__(self, root: str | os.PathLike, *, enabled: bool = True, tensorboard: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the optional extra spacetime[tensorboard]
                warnings.warn(
                    "tensorboard is not installed; skipping TensorBoard logs (metrics.csv, "
                    "metrics.json and curves.png are still written): pip install "
                    "'spacetime[tensorboard]', or pass tensorboard=False / --no-tensorboard",
                    stacklevel=2,
                )
            else:
                self._tb = SummaryWriter(log_dir=str(self.root / "tb"))

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoint_dir / "best.pt"

    def write_config(self, config: Mapping[str, Any]) -> None:
        if self.enabled:
            write_json(self.root / "config.json", config)

    def log_epoch(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Rewrite ``metrics.csv`` from the full history; add the last row to TensorBoard."""
        if not self.enabled or not history:
            return
        write_csv(self.root / "metrics.csv", history)
        if self._tb is not None:
            row = history[-1]
            epoch = int(row.get("epoch", len(history)))
            for k, v in row.items():
                if k in ("epoch", "step") or not isinstance(v, (int, float)):
                    continue
                self._tb.add_scalar(k, v, epoch)
            self._tb.flush()

    def log_step(self, name: str, value: float, step: int) -> None:
        if self.enabled and self._tb is not None:
            self._tb.add_scalar(name, value, step)

    def write_metrics(self, summary: Mapping[str, Any]) -> None:
        if self.enabled:
            write_json(self.root / "metrics.json", summary)

    def plot_curves(self, history: Sequence[Mapping[str, Any]]) -> Path | None:
        if not self.enabled or not history:
            return None
        from spacetime.engine.plots import plot_training_curves

        return plot_training_curves(history, self.root / "curves.png")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
