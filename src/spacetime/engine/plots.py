"""Training curves and confusion-matrix figures as PNG files (matplotlib, Agg canvas).

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas directly, so nothing
touches pyplot's global state or the user's backend, and this works on headless machines.
Files are written atomically (:func:`spacetime.fileio.atomic_path`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.fileio import atomic_path

__all__ = ["plot_training_curves", "plot_confusion_matrix"]


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    dest = Path(path)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return dest


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(history):
        v = row.get(key)
        if isinstance(v, (int, float)) and math.isfinite(float(v)):
            xs.append(float(row.get("epoch", i + 1)))
            ys.append(float(v))
    return xs, ys


def plot_training_curves(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Plot per-epoch loss and accuracy curves to a PNG.

    Args:
        history: one dict per epoch, with ``epoch`` and any of ``train/loss``, ``val/loss``,
            ``train/acc``, ``val/acc`` (other keys ending in ``loss`` / ``acc`` are plotted too).
        path: output PNG path.
        title: optional figure title.

    Returns:
        The written path. A left panel shows every ``*loss`` series, a right panel every
        ``*acc*`` / ``*top*`` series (omitted when there is none).
    """
    if not history:
        raise InputError("history: expected at least one epoch, got an empty list")
    keys: list[str] = []
    for row in history:
        for k in row:
            if k not in keys:
                keys.append(k)
    loss_keys = [k for k in keys if k.endswith("loss")]
    acc_keys = [k for k in keys if ("acc" in k or "/top" in k) and k not in loss_keys]
    panels = [("loss", loss_keys)] + ([("accuracy", acc_keys)] if acc_keys else [])
    fig = _new_figure(5.0 * len(panels), 3.6)
    for i, (label, ks) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for k in ks:
            xs, ys = _series(history, k)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=k)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(
    cm: torch.Tensor,
    path: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Draw a ``(C, C)`` confusion matrix (rows = true class, columns = predicted) as a PNG.

    With ``normalize`` each row is divided by its count (per-class recall; empty rows stay 0)
    and the raw counts are printed in the cells when ``C <= 30``.
    """
    check_tensor(cm, "cm", ("C", "C"))
    c = cm.shape[0]
    if class_names is not None and len(class_names) != c:
        raise InputError(f"class_names: expected {c} names, got {len(class_names)}")
    counts = cm.detach().cpu().double()
    rows = counts.sum(dim=1, keepdim=True)
    shown = counts / rows.clamp_min(1) if normalize else counts
    side = min(max(4.0, 0.35 * c + 2.0), 20.0)
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown.numpy(), cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    if c <= 50:
        ax.set_xticks(range(c))
        ax.set_yticks(range(c))
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_yticklabels(names, fontsize=7)
    if c <= 30:
        top = float(shown.max()) if shown.numel() else 0.0
        for i in range(c):
            for j in range(c):
                n = int(counts[i, j])
                if n:
                    color = "white" if float(shown[i, j]) > 0.5 * max(top, 1e-12) else "black"
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    default = "confusion matrix (row-normalised)" if normalize else "confusion matrix"
    ax.set_title(title or default)
    return _save(fig, path)
