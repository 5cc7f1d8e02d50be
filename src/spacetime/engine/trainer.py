"""The shared training loop: :class:`Trainer`, :class:`TrainConfig`, :class:`ClassificationStep`.

Any model family plugs in through a *step function* ``step_fn(model, batch) -> (loss, metrics)``:
``loss`` is a scalar tensor to minimise, ``metrics`` a dict of floats / scalar tensors averaged
over the batch (put ``"n"`` in it to override the batch-size weight used for epoch means).
The default :class:`ClassificationStep` is cross-entropy on ``(inputs, target)`` batches or on
dict batches (``batch[input_key]``, ``batch[target_key]``) and reports ``acc``.

The trainer handles the rest: optimiser / schedule (:mod:`spacetime.engine.optim`), mixed
precision on CUDA (autocast + ``GradScaler``; a no-op on CPU), gradient clipping, DDP under
``torchrun`` (:mod:`spacetime.engine.distributed`), epoch-mean metrics all-reduced over ranks,
exact resume from ``checkpoints/last.pt`` and the run directory (:mod:`spacetime.engine.rundir`).

Resuming is exact: the checkpoint stores model, optimiser, scheduler and scaler states, the
Python/NumPy/torch/CUDA RNG states, the loaders' generator states, and the epoch / step counters;
loaders built by :func:`spacetime.engine.build_loader` derive each epoch's order from
``(seed, epoch)``. Training 2 epochs straight or 1 + resume + 1 gives bit-identical parameters on
CPU. With ``TrainConfig(checkpoint_every=k)`` checkpoints are also written inside epochs and a
resumed run skips the batches already done (the partial epoch sums are stored too).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_positive
from spacetime.engine.checkpoint import load_checkpoint, save_checkpoint
from spacetime.engine.data import batch_size_of, move_to_device, set_loader_epoch
from spacetime.engine.device import resolve_device
from spacetime.engine.distributed import DistInfo, all_reduce_sums, barrier, get_dist_info
from spacetime.engine.optim import OPTIMIZERS, SCHEDULERS, build_optimizer, build_scheduler
from spacetime.engine.rundir import RunDir
from spacetime.engine.seed import get_rng_state, set_rng_state
from spacetime.errors import InputError, SpacetimeError

__all__ = ["TrainConfig", "ClassificationStep", "StepFn", "Trainer", "unwrap_model"]

StepFn = Callable[[nn.Module, Any], tuple[torch.Tensor, Mapping[str, Any]]]


@dataclass
class TrainConfig:
    """Everything the trainer needs besides the model, data and step function.

    Attributes:
        epochs: number of epochs to train (a resumed run continues up to this number).
        optimizer: ``sgd`` | ``adam`` | ``adamw``.
        lr: peak learning rate.
        momentum: SGD momentum.
        weight_decay: weight decay (decoupled for adamw).
        scheduler: ``none`` | ``step`` | ``cosine`` | ``onecycle`` (stepped every batch).
        warmup_epochs: linear warm-up length in epochs (fractions allowed).
        step_size_epochs: epochs between ``step`` decays (default: a third of the run).
        gamma: ``step`` decay factor.
        amp: mixed precision (autocast + GradScaler) when the device is CUDA; ignored on CPU.
        amp_dtype: ``float16`` (with loss scaling) or ``bfloat16`` (no scaling needed).
        grad_clip: max global gradient L2 norm (None = no clipping).
        seed: the run's seed (recorded; the caller seeds with ``seed_everything``).
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``
            (under torchrun: ``cuda:LOCAL_RANK``).
        out_dir: run directory (None = write nothing).
        progress: tqdm progress bars (shown only on rank 0 when stderr is a TTY).
        tensorboard: write TensorBoard scalars to ``out_dir/tb``.
        monitor: metric that selects ``best.pt`` (default ``val/acc`` if available, else
            ``val/loss``, else ``train/loss``).
        monitor_mode: ``max`` or ``min`` (default from the metric name: ``*loss`` -> min).
        log_every: log the per-step training loss to TensorBoard every this many steps.
        plot: write ``curves.png`` at the end of :meth:`Trainer.fit`.
        checkpoint_every: also write ``last.pt`` every this many optimiser steps inside an
            epoch (None = only at epoch ends); resuming from such a checkpoint skips the
            batches already done, exactly (with :func:`build_loader` loaders).
        max_steps: stop after this many optimiser steps in all (a trial run); the schedule
            spans ``min(epochs * steps_per_epoch, max_steps)`` steps and the epoch in which
            the cap is reached is closed (validated, logged, checkpointed) as usual. A run
            resumed from a capped checkpoint continues with the next epoch.
        find_unused_parameters: passed to ``DistributedDataParallel`` (needed by models
            whose forward pass leaves some parameters out of the loss, e.g. detectors on a
            batch without positive proposals).
    """

    epochs: int = 10
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    warmup_epochs: float = 0.0
    step_size_epochs: int | None = None
    gamma: float = 0.1
    amp: bool = True
    amp_dtype: str = "float16"
    grad_clip: float | None = None
    seed: int = 0
    device: str = "cpu"
    out_dir: str | None = None
    progress: bool = True
    tensorboard: bool = True
    monitor: str | None = None
    monitor_mode: str | None = None
    log_every: int = 50
    plot: bool = True
    checkpoint_every: int | None = None
    max_steps: int | None = None
    find_unused_parameters: bool = False

    def validate(self) -> None:
        """Raise :class:`~spacetime.errors.InputError` on an invalid field."""
        check_int(self.epochs, "epochs", min_value=1)
        check_in(self.optimizer, "optimizer", OPTIMIZERS)
        check_in(self.scheduler, "scheduler", SCHEDULERS)
        check_positive(self.lr, "lr")
        check_positive(self.warmup_epochs, "warmup_epochs", strict=False)
        check_in(self.amp_dtype, "amp_dtype", ("float16", "bfloat16"))
        if self.grad_clip is not None:
            check_positive(self.grad_clip, "grad_clip")
        if self.monitor_mode is not None:
            check_in(self.monitor_mode, "monitor_mode", ("min", "max"))
        check_int(self.log_every, "log_every", min_value=1)
        if self.checkpoint_every is not None:
            check_int(self.checkpoint_every, "checkpoint_every", min_value=1)
        if self.max_steps is not None:
            check_int(self.max_steps, "max_steps", min_value=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring unknown keys (configs from older versions load)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class ClassificationStep:
    """Default step: cross-entropy on logits ``model(inputs)`` of shape ``(N, C)``.

    Batches are ``(inputs, target, ...)`` tuples/lists or dicts with ``input_key`` and
    ``target_key``. Returns ``(loss, {"acc": top-1 accuracy of the batch})``.
    """

    def __init__(
        self, input_key: str = "video", target_key: str = "label", label_smoothing: float = 0.0
    ):
        self.input_key = input_key
        self.target_key = target_key
        self.label_smoothing = float(label_smoothing)

    def split(self, batch: Any) -> tuple[Any, torch.Tensor]:
        """Return ``(inputs, target)`` from a batch."""
        if isinstance(batch, Mapping):
            for key in (self.input_key, self.target_key):
                if key not in batch:
                    raise InputError(
                        f"batch: expected key {key!r}, got keys {sorted(map(str, batch))}"
                    )
            return batch[self.input_key], batch[self.target_key]
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return batch[0], batch[1]
        raise InputError(
            "batch: expected an (inputs, target) pair or a dict with keys "
            f"{self.input_key!r}/{self.target_key!r}, got {type(batch).__name__}"
        )

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        inputs, target = self.split(batch)
        logits = model(inputs)
        loss = F.cross_entropy(logits.float(), target, label_smoothing=self.label_smoothing)
        acc = (logits.detach().argmax(dim=1) == target).float().mean()
        return loss, {"acc": acc}


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def _drop_first(loader: Any, n: int) -> Any:
    """Iterate ``loader`` without its first ``n`` batches."""
    import itertools

    return itertools.islice(iter(loader), n, None)


def _accumulate(sums: dict[str, Any], key: str, value: Any, n: float) -> None:
    """``sums[key] += mean(value) * n``, keeping tensors on their device (float64)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().double().mean()
    else:
        value = float(value)
    sums[key] = sums.get(key, 0.0) + value * n


class Trainer:
    """Train and evaluate any ``nn.Module`` with a step function.

    Args:
        model: the model (moved to ``config.device``; wrapped in DDP under torchrun).
        train_loader: training batches (use :func:`spacetime.engine.build_loader` for exact
            resume and DDP sharding).
        val_loader: optional validation batches, evaluated after each epoch.
        config: :class:`TrainConfig`.
        step_fn: ``step_fn(model, batch) -> (loss, metrics)``; default :class:`ClassificationStep`.
        optimizer: use this optimiser instead of building one from ``config``.
        meta: plain data stored in checkpoints and ``config.json`` (e.g. ``{"model": name,
            "model_kwargs": {...}, "classes": [...]}``) so tools can rebuild the model.
        log: called with one summary line per epoch (e.g. ``print``); None = silent.

    Example:
        >>> trainer = Trainer(model, train_loader, val_loader, TrainConfig(epochs=5, lr=0.1))
        >>> history = trainer.fit()               # or trainer.fit(resume="run/checkpoints/last.pt")
        >>> trainer.evaluate(val_loader)["acc"]
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: Any,
        val_loader: Any | None = None,
        config: TrainConfig | None = None,
        *,
        step_fn: StepFn | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        meta: Mapping[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
    ):
        self.config = config or TrainConfig()
        self.config.validate()
        cfg = self.config
        self.dist: DistInfo = get_dist_info()
        device = torch.device(resolve_device(cfg.device))
        if device.type == "cuda" and self.dist.is_distributed:
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.model = model.to(device)
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.step_fn: StepFn = step_fn or ClassificationStep()
        self.meta = dict(meta or {})
        self.log = log
        if self.dist.is_distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.ddp_model: nn.Module = DistributedDataParallel(
                self.model, device_ids=ids,
                find_unused_parameters=cfg.find_unused_parameters)
        else:
            self.ddp_model = self.model
        try:
            self.steps_per_epoch = max(1, len(train_loader))
        except TypeError as exc:
            raise InputError("train_loader: expected a loader with len()") from exc
        total = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        self.optimizer = optimizer or build_optimizer(
            self.model, cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
        step_size = None
        if cfg.step_size_epochs is not None:
            step_size = max(1, int(cfg.step_size_epochs) * self.steps_per_epoch)
        self.scheduler = build_scheduler(
            self.optimizer, cfg.scheduler, total_steps=total,
            warmup_steps=int(round(cfg.warmup_epochs * self.steps_per_epoch)),
            step_size=step_size, gamma=cfg.gamma,
        )
        self.amp_enabled = bool(cfg.amp and device.type == "cuda")
        self.amp_dtype = torch.float16 if cfg.amp_dtype == "float16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(
            "cuda" if device.type == "cuda" else "cpu",
            enabled=self.amp_enabled and self.amp_dtype == torch.float16,
        )
        self.epoch = 0  # completed epochs
        self.step = 0  # completed optimiser steps
        self._step_lr: float | None = None  # learning rate of the latest optimiser step
        self.history: list[dict[str, Any]] = []
        # mid-epoch state: batches done in the unfinished epoch, its partial sums, and the
        # train loader's generator states at the epoch's start (to recreate its iterator)
        self._batches_done = 0
        self._partial: dict[str, Any] | None = None
        self._epoch_generators: dict[str, torch.Tensor] = {}
        self.best: dict[str, Any] = {"metric": cfg.monitor, "mode": cfg.monitor_mode,
                                     "value": None, "epoch": None}
        self.run: RunDir | None = None
        if cfg.out_dir is not None:
            self.run = RunDir(cfg.out_dir, enabled=self.dist.is_main, tensorboard=cfg.tensorboard)

    # ------------------------------------------------------------------ state
    def _generators(self) -> dict[str, torch.Generator]:
        gens: dict[str, torch.Generator] = {}
        for name, loader in (("train", self.train_loader), ("val", self.val_loader)):
            for part, obj in (("loader", loader), ("sampler", getattr(loader, "sampler", None))):
                g = getattr(obj, "generator", None)
                if isinstance(g, torch.Generator) and all(g is not h for h in gens.values()):
                    gens[f"{name}.{part}"] = g
        return gens

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (plain data + tensors only)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": get_rng_state(self._generators()),
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "history": [dict(r) for r in self.history],
            "config": self.config.to_dict(),
            "meta": self.meta,
            "world_size": self.dist.world_size,
            "batches_done": self._batches_done,
            "partial": self._partial,
            "epoch_generators": dict(self._epoch_generators) if self._batches_done else {},
        }

    def load_state_dict(self, state: Mapping[str, Any], *, restore_rng: bool = True) -> None:
        """Restore from :meth:`state_dict` / a checkpoint dict.

        Raises:
            InputError: the checkpoint's model or optimiser does not match this trainer's.
        """
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise InputError(
                f"checkpoint: does not match this model / optimiser ({str(exc)[:300]})"
            ) from exc
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.best = dict(state.get("best") or self.best)
        self.history = [dict(r) for r in state.get("history", [])]
        for k, v in (state.get("meta") or {}).items():
            self.meta.setdefault(k, v)
        self._batches_done = int(state.get("batches_done", 0) or 0)
        self._partial = state.get("partial") if self._batches_done else None
        self._epoch_generators = dict(state.get("epoch_generators") or {})
        if restore_rng and "rng" in state:
            set_rng_state(state["rng"], self._generators())

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the full training state to ``path`` atomically (call on every rank; only
        rank 0 writes)."""
        if self.dist.is_main:
            save_checkpoint(path, self.state_dict())
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> dict[str, Any]:
        """Load a checkpoint written by :meth:`save_checkpoint` and restore the state."""
        state = load_checkpoint(path, map_location=self.device)
        self.load_state_dict(state)
        return state

    # ------------------------------------------------------------------ loop
    def _autocast(self):
        if self.amp_enabled:
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def _progress(self, loader: Any, desc: str):
        show = self.config.progress and self.dist.is_main and sys.stderr.isatty()
        if not show:
            return loader
        from tqdm.auto import tqdm

        return tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)

    def _run_epoch(self, loader: Any, *, train: bool, desc: str) -> dict[str, float]:
        """One pass over ``loader``; returns sample-weighted means over all ranks.

        Sums stay on the device (no host sync per step on GPU); on CPU a non-finite loss stops
        training at the step where it appears, on GPU at the end of the epoch.
        """
        model = self.ddp_model
        model.train(train)
        sums: dict[str, Any] = {}
        count = 0.0
        skip = self._batches_done if train else 0
        if skip and self._partial:
            sums = dict(self._partial["sums"])
            count = float(self._partial["count"])
        batches = skip
        try:
            total_batches: int | None = len(loader)
        except TypeError:
            total_batches = None
        if skip:
            sampler = getattr(loader, "sampler", None)
            if callable(getattr(sampler, "skip_next", None)) and loader.batch_size:
                sampler.skip_next(skip * loader.batch_size)
            else:  # generic loader: draw and drop the batches already trained on
                loader = _drop_first(loader, skip)
        every = self.config.checkpoint_every if train and self.run is not None else None
        bar = self._progress(loader, desc)
        show = bar is not loader
        check_each_step = self.device.type == "cpu" and not self.scaler.is_enabled()
        grad_ctx = contextlib.nullcontext() if train else torch.no_grad()
        with grad_ctx:
            for batch in bar:
                batches += 1
                if isinstance(batch, Mapping) and batch.get("batch_size", None) == 0:
                    continue  # every item of the batch was skipped (e.g. unreadable videos)
                batch = move_to_device(batch, self.device, non_blocking=True)
                with self._autocast():
                    loss, metrics = self.step_fn(model, batch)
                metrics = dict(metrics)
                n = float(metrics.pop("n", batch_size_of(batch)))
                loss_d = loss.detach()
                if train:
                    if check_each_step and not bool(torch.isfinite(loss_d)):
                        self._diverged(float(loss_d))
                    self.optimizer.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    if self.config.grad_clip is not None:
                        self.scaler.unscale_(self.optimizer)
                        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
                    self._step_lr = float(self.optimizer.param_groups[0]["lr"])
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    self.scheduler.step()
                    self.step += 1
                    if self.run is not None and self.step % self.config.log_every == 0:
                        self.run.log_step("train/loss_step", float(loss_d), self.step)
                _accumulate(sums, "loss", loss_d, n)
                for k, v in metrics.items():
                    _accumulate(sums, k, v, n)
                count += n
                if show:
                    bar.set_postfix(loss=f"{float(loss_d):.4f}")
                if train and self._capped():
                    break
                if (every and train and self.step % every == 0
                        and (total_batches is None or batches < total_batches)):
                    self._save_partial(batches, sums, count)
        local = {k: float(v) for k, v in sums.items()}
        if train and not self.scaler.is_enabled() and not math.isfinite(local.get("loss", 0.0)):
            self._diverged(local["loss"])
        totals = all_reduce_sums({**local, "__n": count}, self.device)
        n_all = totals.pop("__n")
        return {k: (v / n_all if n_all else float("nan")) for k, v in totals.items()}

    def _capped(self) -> bool:
        """True once ``config.max_steps`` optimiser steps are done."""
        cap = self.config.max_steps
        return cap is not None and self.step >= cap

    def _save_partial(self, batches: int, sums: dict[str, Any], count: float) -> None:
        """Write ``last.pt`` inside an epoch (call on every rank: sums are all-reduced)."""
        local = {k: float(v) for k, v in sums.items()}
        totals = all_reduce_sums({**local, "__n": count}, self.device)
        w = float(self.dist.world_size)
        n = totals.pop("__n")
        # every rank restarts from an equal share of the global sums (exact in one process)
        self._partial = {"sums": {k: v / w for k, v in totals.items()}, "count": n / w}
        if w == 1:
            self._partial = {"sums": local, "count": count}
        self._batches_done = batches
        if self.dist.is_main and self.run is not None:
            save_checkpoint(self.run.last_checkpoint, self.state_dict())
        self._batches_done, self._partial = 0, None
        barrier()

    def _diverged(self, value: float) -> None:
        raise SpacetimeError(
            f"training diverged: loss is {value} at step {self.step} (epoch {self.epoch + 1}); "
            "lower the learning rate or enable gradient clipping"
        )

    @torch.no_grad()
    def evaluate(self, loader: Any | None = None) -> dict[str, float]:
        """Mean loss and step metrics over ``loader`` (default: the validation loader),
        averaged over all samples of all ranks."""
        loader = self.val_loader if loader is None else loader
        if loader is None:
            raise InputError("loader: expected a loader, got None (no validation loader either)")
        return self._run_epoch(loader, train=False, desc="eval")

    def _monitor(self, row: Mapping[str, Any]) -> tuple[str, str]:
        metric = self.best.get("metric") or self.config.monitor
        if metric is None:
            metric = next(
                (k for k in ("val/acc", "val/loss", "train/loss") if k in row), "train/loss"
            )
        mode = self.best.get("mode") or self.config.monitor_mode
        if mode is None:
            mode = "min" if metric.endswith("loss") else "max"
        return metric, mode

    def fit(
        self, resume: str | Path | None = None, *, until_epoch: int | None = None
    ) -> list[dict[str, Any]]:
        """Train up to ``config.epochs`` epochs; return the per-epoch history.

        Args:
            resume: a checkpoint (e.g. ``RUN_DIR/checkpoints/last.pt``) to continue from.
            until_epoch: stop once this many epochs are complete (default ``config.epochs``);
                for time-limited jobs that resume later. The schedule still spans
                ``config.epochs``.
        """
        cfg = self.config
        if resume is not None:
            self.load_checkpoint(resume)
        stop = cfg.epochs if until_epoch is None else min(int(until_epoch), cfg.epochs)
        if self.run is not None:
            self.run.write_config({**cfg.to_dict(), "meta": self.meta,
                                   "world_size": self.dist.world_size})
        try:
            while self.epoch < stop and not self._capped():
                e = self.epoch
                set_loader_epoch(self.train_loader, e)
                gens = self._generators()
                if self._batches_done:  # resuming inside epoch e: same iterator seeds as before
                    for name, g in gens.items():
                        if name in self._epoch_generators:
                            g.set_state(self._epoch_generators[name].cpu())
                self._epoch_generators = {k: g.get_state() for k, g in gens.items()
                                          if k.startswith("train.")}
                t0 = time.perf_counter()
                tr = self._run_epoch(self.train_loader, train=True,
                                     desc=f"epoch {e + 1}/{cfg.epochs}")
                self._batches_done, self._partial = 0, None
                # the learning rate of the epoch's last step (the scheduler has already moved
                # on to the next step's value, 0 at the end of a cosine schedule)
                lr = self._step_lr if self._step_lr is not None else \
                    float(self.optimizer.param_groups[0]["lr"])
                row: dict[str, Any] = {"epoch": e + 1, "step": self.step, "lr": lr}
                row.update({f"train/{k}": v for k, v in tr.items()})
                if self.val_loader is not None:
                    set_loader_epoch(self.val_loader, e)
                    row.update({f"val/{k}": v for k, v in self.evaluate().items()})
                row["time_s"] = round(time.perf_counter() - t0, 3)
                self.epoch = e + 1
                self.history.append(row)
                metric, mode = self._monitor(row)
                value = row.get(metric)
                improved = False
                if isinstance(value, float) and math.isfinite(value):
                    prev = self.best.get("value")
                    improved = prev is None or (value > prev if mode == "max" else value < prev)
                    if improved:
                        self.best = {"metric": metric, "mode": mode, "value": value,
                                     "epoch": self.epoch}
                self._write_epoch(improved)
                if self.log is not None and self.dist.is_main:
                    self.log(self._format_row(row))
        finally:
            if self.run is not None:
                self.run.close()
        if self.run is not None and cfg.plot:
            self.run.plot_curves(self.history)
        barrier()
        return self.history

    def _write_epoch(self, improved: bool) -> None:
        if self.run is None:
            return
        if self.dist.is_main:
            state = self.state_dict()
            save_checkpoint(self.run.last_checkpoint, state)
            if improved:
                save_checkpoint(self.run.best_checkpoint, state)
            self.run.log_epoch(self.history)
            self.run.write_metrics({
                "epochs": self.epoch,
                "steps": self.step,
                "best": self.best,
                "last": self.history[-1] if self.history else {},
                "history": self.history,
            })
        barrier()

    @staticmethod
    def _format_row(row: Mapping[str, Any]) -> str:
        parts = [f"epoch {row['epoch']}"]
        for k, v in row.items():
            if k in ("epoch", "step"):
                continue
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        return "  ".join(parts)
