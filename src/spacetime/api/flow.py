"""Optical flow (RAFT trained on the built-in synthetic data, and the classical estimators):
:func:`train`, :func:`evaluate`, :func:`predict`, :func:`load_model`.

::

    from spacetime.api import flow

    run = flow.train("raft-small", out="runs/raft", corr_levels=3, train_samples=1024,
                     epochs=4, num_flow_updates=6)
    run.init_epe, run.final_epe                       # held-out (val) EPE before / after
    print(flow.evaluate(run.best_checkpoint))         # SyntheticFlow test split: EPE, Fl-all, AE
    print(flow.evaluate("dis"))                       # a classical method on the same pairs
    print(flow.evaluate(run.best_checkpoint, root="bench/"))    # a Middlebury / KITTI folder
    uv = flow.predict(run.best_checkpoint, "a.png", "b.png")    # (2, H, W) px

Data: ``synthetic-flow`` is :class:`~spacetime.video.flow.SyntheticFlow` with three disjoint
seed streams: training uses its ``train`` split, validation (``best.pt``, the held-out EPE of
``flow_eval.json``) its ``val`` split, and :func:`evaluate` scores the ``test`` split, which
training never sees. A checkpoint carries the RAFT architecture (``corr_levels``), the number of
flow updates it was trained with and the data's size and seed (a
:class:`~spacetime.api.ModelSpec`), so nothing else is needed to load, evaluate or use it.

Units: flow in pixels ``(dx, dy)`` with ``I2(x + F(x)) = I1(x)`` (see
:mod:`spacetime.video.flow`); EPE in px, Fl-all and the n-px rates in percent, angular error
in degrees.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacetime.api._common import (
    EvalResult,
    Log,
    TrainOptions,
    TrainResult,
    checkpoints_of,
    distributed_run,
    engine_config,
    resume_checkpoint,
    train_options,
)
from spacetime.api.checkpoints import (
    LoadedModel,
    ModelSpec,
    build_model,
    complete_model_kwargs,
)
from spacetime.api.checkpoints import load_model as _load_any
from spacetime.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULTS",
    "DATA",
    "FlowTrainResult",
    "train",
    "evaluate",
    "predict",
    "load_model",
]

#: training defaults of the flow family: the RAFT paper's recipe (AdamW, one-cycle, gradient
#: clipping at 1; one-cycle falls back to a constant rate for runs shorter than 20 steps)
DEFAULTS = TrainOptions(out="runs/raft", epochs=4, batch_size=8, optimizer="adamw", lr=4e-4,
                        weight_decay=1e-5, scheduler="onecycle", grad_clip=1.0, amp=False)
#: the one built-in flow training data source
DATA = "synthetic-flow"
#: the data of a checkpoint that names none, and of classical methods
_DEFAULT_DATA_OPTIONS = {"size": [64, 64], "val_samples": 64, "seed": 0}
#: one-cycle needs a few steps per phase (torch's OneCycleLR divides by zero below ~4)
_MIN_ONECYCLE_STEPS = 20


@dataclass
class FlowTrainResult(TrainResult):
    """A :class:`~spacetime.api.TrainResult` plus the held-out EPE (px, the ``val`` split,
    last flow update) of the starting weights (``init_epe``: random init or
    ``init_checkpoint``) and of the trained ones (``final_epe``); ``run_dir/flow_eval.json``
    holds the same two numbers."""

    init_epe: float | None = None
    final_epe: float | None = None


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    hw = [size, size] if isinstance(size, int) else list(size)
    if len(hw) == 1:
        hw = hw * 2
    if len(hw) != 2 or not all(isinstance(v, int) and v >= 8 for v in hw):
        raise InputError(f"size: expected H or (H, W) with H, W >= 8, got {size!r}")
    return int(hw[0]), int(hw[1])


def _check_data(data: str | None) -> str:
    if data not in (None, DATA):
        raise InputError(f"data: expected {DATA!r} (the built-in data), got {data!r}; score a "
                         "Middlebury / KITTI folder with root=...")
    return DATA


def train(
    model: str = "raft-small",
    data: str = DATA,
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    size: int | tuple[int, int] = (64, 64),
    train_samples: int = 512,
    val_samples: int = 64,
    num_flow_updates: int = 6,
    corr_levels: int | None = None,
    init_checkpoint: str | os.PathLike | None = None,
    log: Log = print,
    **options: Any,
) -> FlowTrainResult:
    """Train RAFT on :class:`~spacetime.video.flow.SyntheticFlow`; data-parallel under
    ``torchrun``.

    The loss is RAFT's sequence loss (:class:`~spacetime.video.flow.RAFTStep`: L1 of every
    flow update, γ = 0.8); ``best.pt`` is the epoch with the lowest ``val/epe``.

    Args:
        model: ``raft-small`` (0.99 M parameters) or ``raft-large`` (5.26 M).
        data: ``synthetic-flow`` (the only built-in flow training data).
        model_kwargs: further :func:`~spacetime.video.flow.build_raft` arguments.
        size: frame size ``H`` or ``(H, W)`` in pixels.
        train_samples, val_samples: pairs in the ``train`` and ``val`` splits.
        num_flow_updates: RAFT iterations per forward pass (training and validation; stored
            in the checkpoint as the default for :func:`evaluate` / :func:`predict`).
        corr_levels: correlation-pyramid levels (default 4); 3 trains 64 px frames without
            padding them to 128 px (about 4 x cheaper on a CPU). Stored in the checkpoint.
        init_checkpoint: start from these weights (a local file: torchvision RAFT weights or
            a spacetime checkpoint); never downloads.
        log: where progress lines go (rank 0 only; None: silent).
        **options: :class:`~spacetime.api.TrainOptions` fields (``out``, ``epochs``, ``lr``,
            ``batch_size``, ``device``, ``resume``, ``max_steps``, ``seed``, ...; defaults
            :data:`DEFAULTS`).

    Returns:
        :class:`FlowTrainResult`: a :class:`~spacetime.api.TrainResult` with ``init_epe`` /
        ``final_epe`` (held-out EPE in px before / after training, also written to
        ``out/flow_eval.json`` with the split and number of pairs). ``init_epe`` is that of
        the run's starting weights, also for a resumed run.
    """
    from spacetime.checks import check_int
    from spacetime.engine import Trainer, build_loader, seed_everything
    from spacetime.engine.rundir import write_json
    from spacetime.video.flow import RAFTStep, SyntheticFlow

    opts = train_options(DEFAULTS, options)
    _check_data(data)
    hw = _size(size)
    check_int(train_samples, "train_samples", min_value=1)
    check_int(val_samples, "val_samples", min_value=1)
    check_int(num_flow_updates, "num_flow_updates", min_value=1)
    check_int(opts.batch_size, "batch_size", min_value=1)
    given = dict(model_kwargs or {})
    if corr_levels is not None:
        given["corr_levels"] = check_int(corr_levels, "corr_levels", min_value=1)
    if init_checkpoint is not None:
        given["checkpoint"] = init_checkpoint
    kwargs = complete_model_kwargs("flow", model, given)
    dopts = {"size": list(hw), "train_samples": train_samples, "val_samples": val_samples,
             "seed": opts.seed}
    spec = ModelSpec("flow", model, kwargs, [], DATA, dopts, {},
                     {"num_flow_updates": num_flow_updates})
    resume = resume_checkpoint(opts.resume, opts.out)
    with distributed_run(opts.device) as info:
        say = log if info.is_main else None
        seed_everything(opts.seed)
        net = build_model(spec)
        train_ds = SyntheticFlow(train_samples, hw, split="train", seed=opts.seed)
        val_ds = SyntheticFlow(val_samples, hw, split="val", seed=opts.seed)
        cuda = str(opts.device).startswith("cuda")
        train_loader = build_loader(train_ds, opts.batch_size, shuffle=True, seed=opts.seed,
                                    num_workers=opts.num_workers, pin_memory=cuda)
        val_loader = build_loader(val_ds, opts.batch_size, num_workers=opts.num_workers)
        total = opts.epochs * len(train_loader)
        if opts.max_steps is not None:
            total = min(total, opts.max_steps)
        run_opts = opts
        if opts.scheduler == "onecycle" and total < _MIN_ONECYCLE_STEPS:
            run_opts = dataclasses.replace(opts, scheduler="none")
            if say is not None:
                say(f"one-cycle needs >= {_MIN_ONECYCLE_STEPS} steps, this run has {total}: "
                    "constant learning rate")
        trainer = Trainer(net, train_loader, val_loader,
                          engine_config(run_opts, monitor="val/epe", monitor_mode="min"),
                          step_fn=RAFTStep(num_flow_updates), meta=spec.to_meta(), log=say)
        if say is not None:
            levels = kwargs.get("corr_levels") or 4
            say(f"training {model} on {DATA}: {len(train_ds)} train / {len(val_ds)} val pairs "
                f"({hw[0]} x {hw[1]}, seed {opts.seed}), {levels} correlation levels, "
                f"{num_flow_updates} flow updates, "
                f"{sum(p.numel() for p in net.parameters()):,} parameters, device "
                f"{trainer.device}, {info.world_size} process(es)")
        init = float(trainer.evaluate()["epe"])
        if say is not None:
            say(f"held-out EPE at init: {init:.3f} px ({len(val_ds)} val pairs)")
        history = trainer.fit(resume=resume)
        final = float(trainer.evaluate()["epe"])
        best, last = checkpoints_of(opts.out)
        if info.is_main:
            if opts.out is not None:
                write_json(Path(opts.out) / "flow_eval.json",
                           {"init_epe": init, "final_epe": final, "split": "val",
                            "num_items": len(val_ds), "num_flow_updates": num_flow_updates,
                            "run_dir": str(opts.out)})
            if say is not None:
                say(f"held-out EPE after training: {final:.3f} px (init {init:.3f})")
                if trainer.best.get("value") is not None:
                    say(f"best {trainer.best['metric']} = {trainer.best['value']:.4f} at epoch "
                        f"{trainer.best['epoch']}")
                if opts.out is not None:
                    say(f"run directory: {opts.out}")
    stored = ModelSpec.from_meta(spec.to_meta())
    return FlowTrainResult(stored, net.eval(), None if opts.out is None else Path(opts.out),
                           best, last, dict(trainer.best), history, len(train_ds), len(val_ds),
                           init_epe=init, final_epe=final)


def load_model(checkpoint: str | os.PathLike | LoadedModel | None = None, *,
               device: str = "auto", weights: str | os.PathLike | None = None,
               from_format: str | None = None, **convert_options: Any) -> LoadedModel:
    """Rebuild a RAFT from a ``flow`` checkpoint (architecture, correlation levels and
    weights; no other input), in eval mode on ``device``.

    ``weights=PATH, from_format=NAME`` converts a peer's weight file in memory instead
    (:data:`spacetime.weights.FORMATS`; options such as ``classes=`` go to the format).
    """
    return _load_any(checkpoint, device=device, families=("flow",), weights=weights,
                     from_format=from_format, **convert_options)


def _method_name(target: Any) -> str | None:
    """``target`` if it names a flow method (and no file of that name exists), else None."""
    from spacetime.video.flow import FLOW_METHODS

    if isinstance(target, str) and target in FLOW_METHODS and not Path(target).is_file():
        return target
    if isinstance(target, (str, os.PathLike)) and not Path(target).is_file():
        p = Path(target)
        if not p.suffix and len(p.parts) == 1:
            raise InputError(f"{str(target)!r}: neither a checkpoint file nor a flow method "
                             f"({', '.join(FLOW_METHODS)})")
    return None


@dataclass
class _Estimator:
    """What :func:`evaluate` / :func:`predict` run: a method with its keyword arguments."""

    label: str
    method: str
    kwargs: dict[str, Any]
    device: str | None
    loaded: LoadedModel | None = None
    num_flow_updates: int | None = None


def _estimator(target: Any, device: str, num_flow_updates: int | None) -> _Estimator:
    from spacetime.checks import check_int
    from spacetime.engine import resolve_device

    if num_flow_updates is not None:
        check_int(num_flow_updates, "num_flow_updates", min_value=1)
    method = _method_name(target)
    if method is not None:
        torch_method = method.startswith("raft") or method == "horn-schunck"
        kw: dict[str, Any] = {}
        if num_flow_updates is not None:
            if not method.startswith("raft"):
                raise InputError(f"num_flow_updates: only RAFT takes it, not {method!r}")
            kw["num_flow_updates"] = num_flow_updates
        return _Estimator(method, method, kw, resolve_device(device) if torch_method else None,
                          num_flow_updates=num_flow_updates if method.startswith("raft") else None)
    loaded = load_model(target, device=device)
    k = int(num_flow_updates or loaded.spec.options.get("num_flow_updates", 12))
    return _Estimator(loaded.spec.model, loaded.spec.model,
                      {"model": loaded.model, "num_flow_updates": k}, loaded.device, loaded, k)


def _as_frame(frame: Any) -> Any:
    if isinstance(frame, (str, os.PathLike)):
        from spacetime.video.flow import read_image

        return read_image(frame)
    return frame


def predict(
    checkpoint_or_method: str | os.PathLike | LoadedModel,
    frame1: Any,
    frame2: Any,
    *,
    device: str = "auto",
    num_flow_updates: int | None = None,
) -> torch.Tensor:
    """The optical flow from ``frame1`` to ``frame2``.

    Args:
        checkpoint_or_method: a ``flow`` checkpoint file or :class:`~spacetime.api.LoadedModel`
            (a trained RAFT), or a method name of :data:`~spacetime.video.flow.FLOW_METHODS`
            (``dis``, ``tvl1``, ``farneback``, ``horn-schunck``, random-init ``raft-small``...).
        frame1, frame2: image files (read as RGB), ``(H, W, 3)`` / ``(H, W)`` arrays or
            ``(3, H, W)`` tensors (uint8, or float in [0, 1]); or two ``(N, 3, H, W)`` tensor
            batches.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``: where RAFT and
            Horn–Schunck run (OpenCV methods run on the CPU).
        num_flow_updates: RAFT iterations (default: the checkpoint's training value; 12 for a
            method name).

    Returns:
        float32 flow ``(2, H, W)`` (``(N, 2, H, W)`` for batches) in pixels, ``(dx, dy)``, on
        the CPU.
    """
    from spacetime.video.flow import estimate_flow, estimate_flow_batch

    est = _estimator(checkpoint_or_method, device, num_flow_updates)
    a, b = _as_frame(frame1), _as_frame(frame2)
    batched = getattr(a, "ndim", 0) == 4
    run = estimate_flow_batch if batched else estimate_flow
    return run(a, b, est.method, device=est.device, **est.kwargs).float().cpu()


def _mean(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    import math

    out = {}
    for k in keys:
        vals = [float(r[k]) for r in rows if k in r and math.isfinite(float(r[k]))]
        out[k] = sum(vals) / len(vals) if vals else float("nan")
    return out


def _table(rows: list[dict[str, Any]], mean: Mapping[str, float], per_row: bool) -> str:
    noc = "epe_noc" in mean
    head = (f"{'pair':<20}{'EPE px':>9}" + (f"{'EPE noc':>9}" if noc else "")
            + f"{'Fl-all %':>10}{'AE deg':>9}{'ms/pair':>10}")
    lines = [head, "-" * len(head)]
    for r in [*(rows if per_row else []), {"name": "mean", **mean}]:
        lines.append(f"{r['name']:<20}{r['epe']:>9.3f}"
                     + (f"{r['epe_noc']:>9.3f}" if noc else "")
                     + f"{r['fl_all']:>10.2f}{r['ae']:>9.2f}{1000 * r['time_s']:>10.1f}")
    lines.append("EPE: mean of per-pair means" + (" (noc: non-occluded pixels)" if noc else "")
                 + "; Fl-all: pixels with EPE > 3 px and > 5 % of |gt|")
    return "\n".join(lines)


def _score_synthetic(est: _Estimator, split: str, options: Mapping[str, Any],
                     limit: int | None, batch_size: int) -> tuple[list[dict], dict[str, Any]]:
    """Per-pair metrics of ``est`` on a SyntheticFlow split."""
    import torch

    from spacetime.checks import check_int
    from spacetime.engine import build_loader
    from spacetime.video.flow import SyntheticFlow, end_point_error, estimate_flow_batch
    from spacetime.video.flow import flow_metrics as metrics_of

    hw = _size([int(v) for v in options.get("size") or _DEFAULT_DATA_OPTIONS["size"]])
    seed = int(options.get("seed") or 0)
    n = limit if limit is not None else int(options.get("val_samples") or
                                            _DEFAULT_DATA_OPTIONS["val_samples"])
    check_int(n, "limit", min_value=1)
    check_int(batch_size, "batch_size", min_value=1)
    ds = SyntheticFlow(n, hw, split=split, seed=seed)
    rows: list[dict[str, Any]] = []
    for batch in build_loader(ds, batch_size):
        t0 = time.perf_counter()
        fl = estimate_flow_batch(batch["frame1"], batch["frame2"], est.method,
                                 device=est.device, **est.kwargs)
        if fl.device.type == "cuda":
            torch.cuda.synchronize(fl.device)
        dt = (time.perf_counter() - t0) / fl.shape[0]
        fl = fl.float().cpu()
        for i in range(fl.shape[0]):
            gt, valid = batch["flow"][i], batch["valid"][i]
            m = metrics_of(fl[i], gt, valid)
            noc = end_point_error(fl[i], gt, valid & ~batch["occlusion"][i])
            rows.append({"name": f"{split}/{len(rows)}", "epe": m["epe"],
                         "epe_noc": float(noc), "fl_all": m["fl_all"], "ae": m["ae"],
                         "1px": m["1px"], "3px": m["3px"], "5px": m["5px"], "time_s": dt})
    return rows, {"size": list(hw), "seed": seed}


def evaluate(
    checkpoint_or_method: str | os.PathLike | LoadedModel,
    *,
    data: str | None = None,
    split: str = "test",
    root: str | os.PathLike | None = None,
    layout: str | None = None,
    limit: int | None = None,
    num_flow_updates: int | None = None,
    batch_size: int = 8,
    device: str = "auto",
    out: str | os.PathLike | None = None,
) -> EvalResult:
    """End-point error (px), Fl-all (%) and angular error (degrees) of a trained RAFT or a
    classical method.

    Without ``root`` the pairs are the SyntheticFlow ``split`` (``test`` by default: never
    seen in training) at the checkpoint's training size and seed, ``val_samples`` of them
    (64 x 64, seed 0, 64 pairs for a method name), and the mean of the non-occluded pixels'
    EPE (``epe_noc``) and the 1 / 3 / 5 px rates are reported too. With ``root``, every pair
    of a Middlebury- or KITTI-layout folder is scored
    (:func:`~spacetime.video.flow.evaluate_flow_folder`).

    Args:
        checkpoint_or_method: a ``flow`` checkpoint file or :class:`~spacetime.api.LoadedModel`,
            or a method name (``dis``, ``tvl1``, ``farneback``, ``horn-schunck``, ...).
        data: ``synthetic-flow`` (the default and only built-in data).
        split: ``test`` or ``val`` (SyntheticFlow only).
        root, layout: a benchmark folder and its layout (``middlebury`` | ``kitti`` | None:
            detect).
        limit: score only this many pairs (the first ones).
        num_flow_updates: RAFT iterations (default: the checkpoint's training value).
        batch_size: SyntheticFlow pairs per forward pass.
        device: where RAFT / Horn–Schunck run.
        out: also write ``out/metrics.json``.

    Returns:
        :class:`~spacetime.api.EvalResult`; ``metrics`` holds the means (``epe``, ``fl_all``,
        ``ae``, ``time_s`` per pair; SyntheticFlow also ``epe_noc``, ``1px``, ``3px``, ``5px``)
        and ``rows``, one dict per pair. For a folder the split is ``all`` and ``data`` is
        ``LAYOUT:ROOT``.
    """
    from spacetime.checks import check_in
    from spacetime.engine.rundir import write_json
    from spacetime.video.flow import evaluate_flow_folder

    est = _estimator(checkpoint_or_method, device, num_flow_updates)
    loaded = est.loaded
    metrics: dict[str, Any] = {"method": est.method}
    if est.num_flow_updates is not None:
        metrics["num_flow_updates"] = est.num_flow_updates
    if root is None:
        check_in(split, "split", ("test", "val"))
        source = _check_data(data if data is not None else
                             (loaded.spec.data if loaded is not None else None))
        options = loaded.spec.data_options if loaded is not None else _DEFAULT_DATA_OPTIONS
        rows, where = _score_synthetic(est, split, options, limit, batch_size)
        mean = _mean(rows, ("epe", "epe_noc", "fl_all", "ae", "1px", "3px", "5px", "time_s"))
        metrics.update(where)
    else:
        if data is not None:
            raise InputError("data: give either data (synthetic-flow) or root (a folder)")
        res = evaluate_flow_folder(root, est.method, layout=layout, limit=limit,
                                   device=est.device, **est.kwargs)
        rows, mean = res["rows"], dict(res["mean"])
        split, source = "all", f"{res['layout']}:{root}"
        metrics["layout"] = res["layout"]
    metrics.update(mean)
    metrics["rows"] = rows
    result = EvalResult("flow", est.label, source, split, len(rows), metrics,
                        None if loaded is None or loaded.path is None else str(loaded.path),
                        None if loaded is None else loaded.epoch,
                        _table(rows, mean, per_row=root is not None))
    if out is not None:
        path = Path(out) / "metrics.json"
        write_json(path, result.to_dict())
        result.files = [path]
    return result
