"""The recipe record (:class:`Recipe`) and the paper numbers it carries (:class:`Target`);
the catalogue modules build them, :mod:`spacetime.recipes` reads and runs them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spacetime.errors import InputError

__all__ = ["Target", "Recipe", "FAMILIES", "TAKES_MODEL", "THROUGHPUT_NOT_MEASURED",
           "fill", "fmt"]

#: ``Recipe.family`` → the :mod:`spacetime.api` module that trains and evaluates it
FAMILIES = {"video": "video", "two-stream": "two_stream", "flow": "flow", "shapes": "shapes",
            "meshrcnn": "meshrcnn"}
#: the families whose ``train`` takes the model name as its first argument
TAKES_MODEL = ("video", "flow", "shapes")
THROUGHPUT_NOT_MEASURED = "not measured: no GPU was available when this recipe was written"


@dataclass(frozen=True)
class Target:
    """One number of the paper and the band we expect a full run to land in.

    Attributes:
        metric: ``/``-separated path into :attr:`spacetime.api.EvalResult.metrics`
            (``video/top1``, ``metrics/F1@0.3``), in that metric's units (a fraction where
            ours is a fraction: ``paper`` is then converted from the paper's percent).
        paper: the paper's value (None: the paper gives none for this setting).
        tolerance: ``|ours - paper| <= tolerance`` counts as reproduced.
        source: where the number comes from (paper table, released model, reproduction).
        comparable: False where our protocol differs from the paper's (the number is shown for
            orientation and never judged).
        higher_is_better: for the report only.
    """

    metric: str
    paper: float | None
    tolerance: float
    source: str
    comparable: bool = True
    higher_is_better: bool = True


@dataclass(frozen=True)
class Recipe:
    """One paper result: how to get the data, how to train and evaluate at full size, what to
    expect and what it costs. Every catalogue module defines one as ``RECIPE``.

    Attributes:
        name: ``spacetime recipe run NAME``.
        title, paper: what the recipe reproduces and the citation.
        family: ``video``, ``two-stream``, ``flow``, ``shapes`` or ``meshrcnn``
            (the :mod:`spacetime.api` module called).
        model: the model name given to ``train`` (None for two-stream and Mesh R-CNN, whose
            ``train`` has no model argument).
        data: the ``data`` argument of ``train`` with ``{data}`` standing for the folder given
            to ``run --data`` (e.g. ``ucf101:{data}/UCF-101:{data}/ucfTrainTestlist``).
        train: keyword arguments of ``train`` at full size (model and data options and
            :class:`~spacetime.api.TrainOptions`); ``{data}`` in strings is substituted too.
        evaluate: keyword arguments of ``evaluate`` (the paper's protocol).
        targets: the paper's numbers with the tolerance we expect.
        gpu_hours: estimated GPU-hours of ``train`` + ``evaluate`` on one A100/H100-class GPU.
        gpu_hours_basis: how that estimate was made.
        prepare: the data preparation steps (download, unpack, folder layout), Markdown.
        differences: where the recipe departs from the paper and why.
        smoke: overrides of ``train`` for the executable check (``--smoke`` and
            ``tests/recipes``), applied over batch 1, two steps, one epoch: reduced sizes
            only where CPU memory / time forbid the full size, batch 2 where BatchNorm needs
            it (``smoke_reason`` says which).
        smoke_evaluate: overrides of ``evaluate`` for the executable check.
        smoke_reason: what the executable check reduces and why ("" when nothing).
        flow_cache: two-stream: compute the optical-flow cache before training (its folder,
            ``{out}`` / ``{data}`` substituted) — ``train`` then reads flow from it.
        throughput: measured throughput (images or clips/s, GPU memory) or why it was not.
    """

    name: str
    title: str
    paper: str
    family: str
    model: str | None
    data: str
    train: Mapping[str, Any]
    evaluate: Mapping[str, Any]
    targets: tuple[Target, ...]
    gpu_hours: float
    gpu_hours_basis: str
    prepare: str
    differences: str
    smoke: Mapping[str, Any] = field(default_factory=dict)
    smoke_evaluate: Mapping[str, Any] = field(default_factory=dict)
    smoke_reason: str = ""
    flow_cache: str | None = None
    throughput: str = THROUGHPUT_NOT_MEASURED

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(f"recipe {self.name}: family {self.family!r} is not one of "
                             f"{', '.join(FAMILIES)}")
        if (self.model is None) == (self.family in TAKES_MODEL):
            raise InputError(f"recipe {self.name}: the {self.family} family "
                             + ("needs a model" if self.family in TAKES_MODEL
                                else "takes no model"))
        if "{data}" not in self.data and not any(
                "{data}" in str(v) for v in (*self.train.values(), *self.evaluate.values())):
            raise InputError(f"recipe {self.name}: neither data nor any option names {{data}}")

    def data_string(self, data: str | os.PathLike) -> str:
        """The ``data`` argument of ``train`` for the dataset folder ``data``."""
        return fill(self.data, data=data)

    def expected(self) -> str:
        """One line of the paper's numbers (``top1 85.2 ± 3``)."""
        parts = []
        for t in self.targets:
            if t.paper is None:
                continue
            mark = "" if t.comparable else " (not comparable)"
            parts.append(f"{t.metric} {fmt(t.paper)} ± {fmt(t.tolerance)}{mark}")
        return "; ".join(parts) or "no paper number for this setting"


def fmt(v: float) -> str:
    return f"{v:.4g}"


def fill(value: Any, **names: Any) -> Any:
    """``value`` with ``{data}`` / ``{out}`` substituted in strings (recursively)."""
    if isinstance(value, str):
        for k, v in names.items():
            value = value.replace("{" + k + "}", str(v))
        return value
    if isinstance(value, Mapping):
        return {k: fill(v, **names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(fill(v, **names) for v in value)
    return value
