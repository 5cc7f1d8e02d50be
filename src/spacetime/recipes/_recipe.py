"""The recipe record, its one loader and the run logic (train → evaluate → compare with the
paper) that ``spacetime recipe run`` and a notebook share."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetime.errors import InputError
from spacetime.recipes.record import FAMILIES, TAKES_MODEL, Recipe, fill, fmt

__all__ = [
    "RecipeRun",
    "recipe_names",
    "load_recipe",
    "list_recipes",
    "recipe_table",
    "run_recipe",
    "recipe_arguments",
    "torchrun_command",
    "format_command",
    "metric_value",
    "compare",
    "prepare_flow_cache",
    "missing_flow",
    "launch_commands",
    "describe",
]


def recipe_names() -> list[str]:
    """The names of every recipe of the catalogue (``spacetime.recipes.catalog``), sorted."""
    from spacetime.recipes import catalog

    names = []
    for info in pkgutil.iter_modules(catalog.__path__):
        if not info.name.startswith("_"):
            names.append(info.name.replace("_", "-"))
    return sorted(names)


def load_recipe(name: str) -> Recipe:
    """The recipe ``name`` (a catalogue module ``spacetime/recipes/catalog/<name>.py``, dashes
    written as underscores, defining ``RECIPE``).

    Raises:
        InputError: no such recipe (the message lists the names).
    """
    names = recipe_names()
    if name not in names:
        raise InputError(f"recipe: no recipe named {name!r}; expected one of {', '.join(names)}")
    module = importlib.import_module(f"spacetime.recipes.catalog.{name.replace('-', '_')}")
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe) or recipe.name != name:
        raise InputError(f"recipe {name}: {module.__file__} must define RECIPE = Recipe("
                         f"name={name!r}, ...)")
    return recipe


def list_recipes() -> list[Recipe]:
    """Every recipe of the catalogue, sorted by name."""
    return [load_recipe(n) for n in recipe_names()]


def recipe_table(recipes: Sequence[Recipe] | None = None) -> str:
    """The table ``spacetime recipe list`` prints: name, paper, expected numbers, GPU-hours."""
    recipes = list_recipes() if recipes is None else list(recipes)
    rows = [(r.name, _short(r.paper), r.expected(), f"{r.gpu_hours:g}") for r in recipes]
    head = ("recipe", "paper", "expected (paper ± tolerance)", "GPU-h")
    w = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    line = f"{head[0]:<{w[0]}}  {head[1]:<{w[1]}}  {head[2]:<{w[2]}}  {head[3]:>6}"
    out = [line, "-" * len(line)]
    out += [f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d:>6}" for a, b, c, d in rows]
    out.append("GPU-h: estimated GPU-hours on one A100/H100-class GPU (see each recipe's "
               "gpu_hours_basis); throughput not measured.")
    return "\n".join(out)


def _short(paper: str) -> str:
    """``"Tran et al.: C3D, ICCV 2015 (Table 3)"`` → ``"Tran et al., ICCV 2015"``."""
    import re

    venue = re.search(r"\b(ICCV|CVPR|ECCV|NIPS|NeurIPS) \d{4}", paper)
    return paper.split(":")[0] + (f", {venue.group(0)}" if venue else "")


def metric_value(metrics: Mapping[str, Any], path: str) -> float:
    """The number at the ``/``-separated ``path`` of ``metrics`` (``"video/top1"``).

    Raises:
        InputError: a part of the path is missing (the message lists the keys there).
    """
    node: Any = metrics
    for part in path.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            keys = sorted(node) if isinstance(node, Mapping) else type(node).__name__
            raise InputError(f"metric {path!r}: no {part!r} in the evaluation result; "
                             f"found {keys}")
        node = node[part]
    return float(node)


@dataclass
class RecipeRun:
    """What :func:`run_recipe` returns (on rank 0; other ranks get ``evaluation=None``).

    Attributes:
        recipe: the recipe run.
        train: the :class:`~spacetime.api.TrainResult` (None with ``prepare_only``).
        evaluation: the :class:`~spacetime.api.EvalResult` of the recipe's protocol.
        rows: one dict per target: ``metric``, ``ours``, ``paper``, ``tolerance``,
            ``verdict`` (``reproduced``, ``outside``, ``not comparable``, ``no paper value``).
        smoke: whether the executable-check settings were used (numbers then mean nothing).
    """

    recipe: Recipe
    train: Any = None
    evaluation: Any = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    smoke: bool = False
    prepared: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"recipe {self.recipe.name}: {self.recipe.title}"]
        if self.smoke:
            lines.append("executable check (smoke settings): the numbers below say nothing "
                         "about the paper")
        if self.evaluation is not None:
            lines.append(str(self.evaluation))
        if self.rows:
            lines.append(f"{'metric':<30}{'ours':>10}{'paper':>10}{'± tol':>8}  verdict")
            for r in self.rows:
                p = "-" if r["paper"] is None else fmt(r["paper"])
                lines.append(f"{r['metric']:<30}{fmt(r['ours']):>10}{p:>10}"
                             f"{fmt(r['tolerance']):>8}  {r['verdict']}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe.name, "paper": self.recipe.paper, "smoke": self.smoke,
                "targets": self.rows, "prepared": self.prepared,
                "evaluation": None if self.evaluation is None else self.evaluation.to_dict()}


def compare(recipe: Recipe, metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per target of ``recipe``: our value at its metric path and the verdict."""
    rows = []
    for t in recipe.targets:
        ours = metric_value(metrics, t.metric)
        if t.paper is None:
            verdict = "no paper value"
        elif not t.comparable:
            verdict = "not comparable"
        else:
            verdict = "reproduced" if abs(ours - t.paper) <= t.tolerance else "outside"
        rows.append({"metric": t.metric, "ours": ours, "paper": t.paper,
                     "tolerance": t.tolerance, "verdict": verdict, "source": t.source})
    return rows


def _rank() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` as torchrun sets them (``(0, 1)`` without torchrun)."""
    out = []
    for var, default in (("RANK", "0"), ("WORLD_SIZE", "1")):
        text = os.environ.get(var, default)
        try:
            out.append(int(text))
        except ValueError:
            raise InputError(f"{var}: expected an integer, got {text!r}") from None
    return out[0], out[1]


def _cache_videos(data_string: str, fold: int) -> list[str]:
    """Every video of the train and test lists of ``data_string``, sorted."""
    from spacetime.video.datasets import VideoData, video_splits

    lists = video_splits(VideoData.parse(data_string), fold=fold)
    return sorted({str(path) for split in ("train", "val", "test")
                   for path, _ in lists.split(split)})


def missing_flow(data_string: str, flow_dir: str | os.PathLike, fold: int = 1) -> list[str]:
    """The videos of ``data_string`` whose flow is not (completely) in ``flow_dir``."""
    from spacetime.video.flow.cache import _DONE

    root = Path(flow_dir)
    return [v for v in _cache_videos(data_string, fold)
            if not (root / Path(v).stem / _DONE).is_file()]


def prepare_flow_cache(data_string: str, flow_dir: str | os.PathLike, *, method: str = "dis",
                       size: int = 112, fold: int = 1, workers: int = 2,
                       log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Compute the optical-flow cache of every video of ``data_string`` (its train and test
    lists) into ``flow_dir`` with ``method``, decoded at the two-stream training geometry (short
    side ``round(size · 128 / 112)``); this process does its share of the videos under torchrun
    (``RANK`` / ``WORLD_SIZE``) and skips finished ones (resumable)."""
    from spacetime.video.flow.cache import compute_dataset_flow

    videos = _cache_videos(data_string, fold)
    rank, world = _rank()
    res = compute_dataset_flow([Path(v) for v in videos], flow_dir, method=method,
                               workers=workers, size=max(size, round(size * 128 / 112)),
                               rank=rank, world_size=world, progress=sys.stderr.isatty())
    if log is not None:
        log(f"flow cache {flow_dir} (rank {rank}/{world}): computed {len(res['computed'])}, "
            f"skipped {len(res['skipped'])} already done, failed {len(res['failed'])}")
    return {k: v for k, v in res.items() if k in ("computed", "skipped", "failed", "pairs")}


def recipe_arguments(
    recipe: Recipe,
    data: str | os.PathLike,
    *,
    out: str | os.PathLike,
    device: str = "auto",
    max_steps: int | None = None,
    smoke: bool = False,
    resume: bool = False,
    overrides: Mapping[str, Any] | None = None,
    world_size: int = 1,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyword arguments of ``train`` and ``evaluate`` that :func:`run_recipe` passes.

    ``{data}`` / ``{out}`` are substituted and ``overrides`` applied; ``batch_size`` (the
    recipe's or an override) is the global batch, so under ``world_size`` processes each gets
    ``batch_size // world_size`` (at least 1). ``smoke`` applies batch 1 per process,
    ``max_steps`` (default 2) and as many epochs, no workers / progress bars / TensorBoard,
    then the recipe's ``smoke`` and ``smoke_evaluate`` overrides.
    """
    from spacetime.checks import check_int

    check_int(world_size, "world_size", min_value=1)
    kwargs = fill(dict(recipe.train), data=data, out=out)
    ev = fill(dict(recipe.evaluate), data=data, out=out)
    if smoke:
        steps = 2 if max_steps is None else max_steps
        kwargs.update(batch_size=1, max_steps=steps, epochs=steps, num_workers=0,
                      progress=False, tensorboard=False)
        kwargs.update(fill(dict(recipe.smoke), data=data, out=out))
        ev.update(fill(dict(recipe.smoke_evaluate), data=data, out=out))
        if "batch_size" in ev:
            ev["batch_size"] = 1
    elif max_steps is not None:
        kwargs["max_steps"] = max_steps
    kwargs.update(dict(overrides or {}))
    if not smoke and "batch_size" in kwargs:
        kwargs["batch_size"] = max(1, int(kwargs["batch_size"]) // world_size)
    kwargs.update(out=str(out), device=device)
    if resume:
        kwargs["resume"] = True
    return kwargs, ev


def run_recipe(
    name: str | Recipe,
    data: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    device: str = "auto",
    max_steps: int | None = None,
    smoke: bool = False,
    prepare_only: bool = False,
    resume: bool = False,
    overrides: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = print,
) -> RecipeRun:
    """Run a recipe: data preparation (the two-stream flow cache), ``train`` at the recipe's
    settings, then ``evaluate`` with the paper's protocol on rank 0 and the comparison with
    the paper's numbers (``out/recipe.json``). Data-parallel under ``torchrun`` (the API
    trains data-parallel): the recipe's global batch is split over the processes
    (:func:`recipe_arguments`).

    Args:
        name: a recipe name (:func:`recipe_names`) or a :class:`Recipe`.
        data: the dataset folder (the recipe's ``prepare`` text gives its layout).
        out: run directory (default ``runs/<name>``).
        device: ``auto``, ``cpu``, ``cuda``.
        max_steps: stop training after this many optimiser steps.
        smoke: the executable check: batch 1, two steps (unless ``max_steps``), the recipe's
            ``smoke`` overrides, no progress bars — what ``tests/recipes`` runs on fake data.
        prepare_only: only the data preparation (under torchrun each process does its share).
        resume: continue from ``out/checkpoints/last.pt``.
        overrides: more ``train`` keyword arguments (win over the recipe's).
        log: progress lines (None: silent).

    Returns:
        :class:`RecipeRun`; on ranks other than 0 without the evaluation. Under torchrun the
        process group is left after training (rank 0 then evaluates the whole test split
        alone), so a script cannot train again in the same torchrun launch afterwards.
    """
    recipe = name if isinstance(name, Recipe) else load_recipe(name)
    out = Path(out) if out is not None else Path("runs") / recipe.name
    data_string = recipe.data_string(data)
    rank, world = _rank()
    kwargs, ev = recipe_arguments(recipe, data, out=out, device=device, max_steps=max_steps,
                                  smoke=smoke, resume=resume, overrides=overrides,
                                  world_size=world)
    if log is not None and rank == 0 and kwargs["batch_size"] != recipe.train.get(
            "batch_size", kwargs["batch_size"]) and not smoke:
        log(f"batch_size {kwargs['batch_size']} per process x {world} processes (the "
            f"recipe's global batch {recipe.train['batch_size']})")
    result = RecipeRun(recipe, smoke=smoke)
    if recipe.flow_cache is not None:
        flow_dir = fill(recipe.flow_cache, data=data, out=out)
        fold = int(kwargs.get("fold", 1))
        if prepare_only or world == 1:
            result.prepared = prepare_flow_cache(
                data_string, flow_dir, method=str(kwargs.get("flow_method", "dis")),
                size=int(kwargs.get("size", 112)), fold=fold,
                workers=int(kwargs.get("num_workers", 2)), log=log if rank == 0 else None)
        elif missing := missing_flow(data_string, flow_dir, fold):
            raise InputError(
                f"flow_dir: {len(missing)} video(s) have no complete flow in {flow_dir} (e.g. "
                f"{missing[0]}); compute the cache first, sharded over the same processes: "
                f"torchrun ... -m spacetime recipe run {recipe.name} --data {data} "
                "--prepare-only")
        kwargs["flow_dir"] = flow_dir
    if prepare_only:
        return result
    module = importlib.import_module(f"spacetime.api.{FAMILIES[recipe.family]}")
    if log is not None and rank == 0:
        log(f"recipe {recipe.name}: {recipe.family}.train("
            + ", ".join([repr(a) for a in _positional(recipe, data_string)]
                        + [f"{k}={v!r}" for k, v in kwargs.items()]) + ")")
    result.train = module.train(*_positional(recipe, data_string), log=log, **kwargs)
    if world > 1:
        # evaluation runs on rank 0 alone, over the whole test split: leave the process group
        # (the API's loaders shard under an initialised group, and some evaluations gather)
        from spacetime.engine.distributed import cleanup_distributed

        cleanup_distributed()
    if rank != 0:
        return result
    ckpt = result.train.best_checkpoint or result.train.last_checkpoint
    if ckpt is None:
        raise InputError(f"recipe {recipe.name}: training wrote no checkpoint under {out}")
    result.evaluation = module.evaluate(ckpt, device=device, out=str(out / "eval"), **ev)
    result.rows = compare(recipe, result.evaluation.metrics)
    from spacetime.engine.rundir import write_json

    write_json(out / "recipe.json", result.to_dict())
    return result


def _positional(recipe: Recipe, data_string: str) -> tuple[str, ...]:
    if recipe.family in TAKES_MODEL:
        return (str(recipe.model), data_string)
    return (data_string,)


def torchrun_command(name: str, data: str | os.PathLike, *, gpus: int, nodes: int = 1,
                     node_rank: int | None = None, endpoint: str | None = None,
                     extra: Sequence[str] = ()) -> list[str]:
    """The launch command of ``spacetime recipe run`` on ``nodes`` machines × ``gpus``
    processes: ``torchrun --standalone`` on one machine, a c10d rendezvous at ``endpoint``
    (``HOST:PORT``) across several (run the same command on every machine)."""
    from spacetime.checks import check_int

    check_int(gpus, "gpus", min_value=1)
    check_int(nodes, "nodes", min_value=1)
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    if nodes == 1:
        cmd += ["--standalone", "--nproc_per_node", str(gpus)]
    else:
        if not endpoint:
            raise InputError("endpoint: several nodes need a rendezvous HOST:PORT")
        cmd += ["--nnodes", str(nodes), "--nproc_per_node", str(gpus), "--rdzv_backend", "c10d",
                "--rdzv_endpoint", endpoint, "--rdzv_id", f"spacetime-{name}"]
        if node_rank is not None:
            cmd += ["--node_rank", str(node_rank)]
    return cmd + ["-m", "spacetime", "recipe", "run", name, "--data", str(data), *extra]


def format_command(cmd: Sequence[str]) -> str:
    """A command list as one shell line."""
    return " ".join(shlex.quote(c) for c in cmd)


def launch_commands(name: str, data: str = "DATA") -> dict[str, str]:
    """The commands of a recipe for one GPU, N GPUs on one machine and N GPUs on each of M
    machines (c10d rendezvous; run the same line on every machine)."""
    one = f"spacetime recipe run {name} --data {data} --device cuda"
    return {
        "1 GPU": one,
        "N GPUs, one machine": f"{one} --gpus N   # = torchrun --standalone --nproc_per_node N "
                               f"-m spacetime recipe run {name} --data {data} --device cuda",
        "N GPUs x M machines": "torchrun --nnodes M --nproc_per_node N --rdzv_backend c10d "
                               "--rdzv_endpoint HOST:29500 --rdzv_id " + name
                               + f" -m spacetime recipe run {name} --data {data} --device cuda",
    }


def describe(recipe: Recipe) -> str:
    """Everything a user needs to run ``recipe``, as text (``spacetime recipe show``)."""
    import json

    lines = [f"{recipe.name}: {recipe.title}", f"paper: {recipe.paper}", "",
             "## Data preparation", recipe.prepare.rstrip(), "",
             f"## Training: spacetime.api.{FAMILIES[recipe.family]}.train("
             + (f"{recipe.model!r}, " if recipe.model else "") + f"{recipe.data!r}, ...)",
             json.dumps(dict(recipe.train), indent=2, default=str), "",
             f"## Evaluation: spacetime.api.{FAMILIES[recipe.family]}.evaluate(best.pt, ...)",
             json.dumps(dict(recipe.evaluate), indent=2, default=str), "",
             "## Expected (paper ± tolerance)"]
    for t in recipe.targets:
        p = "none" if t.paper is None else f"{fmt(t.paper)} ± {fmt(t.tolerance)}"
        lines.append(f"- {t.metric}: {p}{'' if t.comparable else ' (not comparable)'} — "
                     f"{t.source}")
    lines += ["", "## Where this recipe differs from the paper", recipe.differences.rstrip(),
              "", f"## Cost: ~{recipe.gpu_hours:g} GPU-hours", recipe.gpu_hours_basis,
              f"throughput: {recipe.throughput}", "",
              "## Executable check (--smoke, tests/recipes)",
              recipe.smoke_reason or "full size, batch 1, two steps", "", "## Commands"]
    lines += [f"{k}: {v}" for k, v in launch_commands(recipe.name).items()]
    return "\n".join(lines)
