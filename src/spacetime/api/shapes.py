"""The lecture's 3D models (depth / normal FCNs, VoxNet, voxel generators and tubes, octree
generation, nested shape layers (Matryoshka networks), PointNet, point-set generation, occupancy
networks, Pixel2Mesh): :func:`train`,
:func:`evaluate`, :func:`predict`, :func:`load_model`.

::

    from spacetime.api import shapes

    run = shapes.train("voxel-gen", "synthetic", out="runs/vg", categories=["chair", "mug"],
                       image_size=32, voxel_resolution=16, epochs=10)
    print(shapes.evaluate(run.best_checkpoint))          # per category + mean, test split
    shapes.predict(run.best_checkpoint, "photo.png", out="pred/").files

``data``: ``synthetic`` (the built-in :class:`~spacetime.shapes.datasets.SyntheticShapes`),
``shapenet:ROOT[:SPLIT_CSV]`` (v1 or v2), ``r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON``,
``pix3d:ROOT[:TRAIN_JSON:TEST_JSON]`` or ``modelnet:ROOT``; real meshes are normalised to the
unit cube (:class:`~spacetime.shapes.datasets.MeshNormalizedDataset`). Which items are train /
val / test is the rule of :mod:`spacetime.shapes.datasets.splits`. What each model eats and
how it is trained, scored and saved is its task object
(:mod:`spacetime.shapes.models.tasks`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from spacetime.api.checkpoints import LoadedModel, ModelSpec, build_model, complete_model_kwargs
from spacetime.api.checkpoints import load_model as _load_any
from spacetime.errors import InputError

__all__ = ["DEFAULTS", "ShapePrediction", "train", "evaluate", "predict", "load_model",
           "shape_datasets", "metrics_table"]

#: training defaults of the shape models
DEFAULTS = TrainOptions(out="runs/shapes", epochs=20, batch_size=16, optimizer="adam", lr=1e-3,
                        scheduler="cosine")


def _data_options(categories: Sequence[str] | None, objects_per_category: int, views: int,
                  image_size: int, voxel_resolution: int, num_points: int, occ_samples: int,
                  mesh_resolution: int, cache: str | os.PathLike | None, val_fraction: float,
                  seed: int) -> dict[str, Any]:
    from spacetime.checks import check_int

    for name, v, lo in (("objects_per_category", objects_per_category, 1), ("views", views, 1),
                        ("image_size", image_size, 8), ("voxel_resolution", voxel_resolution, 4),
                        ("num_points", num_points, 1), ("occ_samples", occ_samples, 1),
                        ("mesh_resolution", mesh_resolution, 8)):
        check_int(v, name, min_value=lo)
    if not 0.0 <= float(val_fraction) < 1.0:
        raise InputError(f"val_fraction: expected a value in [0, 1), got {val_fraction}")
    return {"categories": None if categories is None else list(categories),
            "objects_per_category": objects_per_category, "views": views,
            "image_size": image_size, "voxel_resolution": voxel_resolution,
            "num_points": num_points, "occ_samples": occ_samples,
            "mesh_resolution": mesh_resolution,
            "cache": None if cache is None else str(cache), "val_fraction": float(val_fraction),
            "seed": seed}


@dataclass
class ShapeDatasets:
    """``datasets[split]``, the category names, the split rule and each item's group id."""

    datasets: dict[str, Any]
    class_names: list[str]
    rule: str
    groups: dict[str, list[str]] = field(default_factory=dict)


def shape_datasets(data: str, options: Mapping[str, Any], splits: Sequence[str],
                   returns: Sequence[str]) -> ShapeDatasets:
    """Datasets of ``splits`` for ``data`` with the fields ``returns``
    (:data:`~spacetime.shapes.datasets.SYNTHETIC_RETURNS` names) under the data ``options``
    (see :func:`train`)."""
    from spacetime.shapes.datasets import (
        MeshNormalizedDataset,
        ShapeData,
        SyntheticShapes,
        shape_splits,
    )

    spec = ShapeData.parse(data)
    seed = int(options.get("seed", 0))
    out: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    if spec.kind == "synthetic":
        n = int(options["objects_per_category"])
        for split in splits:
            ds = SyntheticShapes(
                options.get("cache"), split, categories=options.get("categories"),
                num_objects_per_category=n if split == "train" else max(1, n // 4),
                views_per_object=int(options["views"]), image_size=int(options["image_size"]),
                voxel_resolution=int(options["voxel_resolution"]),
                num_points=int(options["num_points"]),
                num_occupancy_samples=int(options["occ_samples"]),
                mesh_resolution=int(options["mesh_resolution"]), seed=seed, returns=returns,
                progress=sys.stderr.isatty())
            out[split] = ds
            v = ds.views_per_object
            groups[split] = [f"synthetic/{split}/{c}/{k}" for c, k in ds._objects
                             for _ in range(v)]
        names = list(out[splits[0]].class_names)
        return ShapeDatasets(out, names, "synthetic: generated train / val / test objects "
                             f"(disjoint seed streams, seed {seed})", groups)
    lists = shape_splits(spec, val_fraction=float(options.get("val_fraction", 0.1)), seed=seed,
                         categories=options.get("categories"))
    for split in splits:
        part = lists[split]
        out[split] = MeshNormalizedDataset(
            part.base, lists.class_names, returns, indices=part.indices,
            image_size=int(options["image_size"]),
            voxel_resolution=int(options["voxel_resolution"]),
            num_points=int(options["num_points"]),
            num_occupancy_samples=int(options["occ_samples"]), seed=seed)
        groups[split] = list(part.groups)
    return ShapeDatasets(out, lists.class_names, lists.rule, groups)


def _model_kwargs(model: str, num_classes: int, opts: Mapping[str, Any],
                  given: Mapping[str, Any] | None) -> dict[str, Any]:
    auto = {"num_classes": num_classes, "image_size": opts["image_size"],
            "resolution": opts["voxel_resolution"], "num_points": opts["num_points"]}
    return complete_model_kwargs("shapes", model, given, auto)


def _check_data_for(task: Any, data: str) -> None:
    from spacetime.shapes.datasets import ShapeData

    kind = ShapeData.parse(data).kind
    if "parts" in task.returns and kind != "synthetic":
        raise InputError(f"data: {task.name} needs per-point part labels, which only the "
                         f"synthetic data has, got {data!r}")
    if task.needs_cameras and kind not in ("synthetic", "r2n2", "pix3d"):
        raise InputError(f"data: {task.name} models need images with their cameras (K, R, t): "
                         f"synthetic, r2n2:... or pix3d:..., got {data!r}")
    if "image" in task.returns and kind in ("shapenet", "modelnet"):
        raise InputError(f"data: {task.name} models learn from images; {kind} has none "
                         "(use synthetic, r2n2:... or pix3d:...)")


_DATA_ARGUMENTS = ("num_classes", "image_size", "resolution", "num_points")


def _initial_shape_weights(weights: str | os.PathLike, from_format: str | None, model: str,
                           image_size: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The state dict, architecture arguments (the data-derived ones left out) and a label of
    the initial weights of :func:`train`."""
    # torchvision files fit several targets: name this run's model and image size
    target = {"model": model, "size": image_size} if from_format == "torchvision" else {}
    loaded = _load_any(weights=weights, from_format=from_format, device="cpu",
                       families=("shapes",), **target)
    label = f"{weights}" + (f" ({from_format})" if from_format else "")
    if loaded.spec.model != model:
        raise InputError(f"weights: {label} holds a {loaded.spec.model} model; this run "
                         f"trains {model}")
    state = {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}
    kwargs = {k: v for k, v in loaded.spec.model_kwargs.items() if k not in _DATA_ARGUMENTS}
    return state, kwargs, label


def _load_shape_weights(net: Any, state: Mapping[str, Any], label: str) -> list[str]:
    """Copy ``state`` into ``net``; encoder tensors must fit, others that do not keep their
    fresh init (returned)."""
    own = net.state_dict()
    fresh, bad = [], []
    for k, v in own.items():
        got = state.get(k)
        if got is not None and tuple(got.shape) == tuple(v.shape):
            continue
        if k.startswith("encoder."):
            have = "missing" if got is None else f"{tuple(got.shape)}"
            bad.append(f"{k}: model {tuple(v.shape)}, weights {have}")
        else:
            fresh.append(k)
    if bad:
        raise InputError(f"weights: the encoder of {label} does not fit the model of this run: "
                         f"{'; '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}")
    net.load_state_dict({k: v for k, v in state.items() if k in own and k not in fresh},
                        strict=False)
    return fresh


def train(
    model: str = "voxel-gen",
    data: str = "synthetic",
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    categories: Sequence[str] | None = None,
    objects_per_category: int = 20,
    views: int = 4,
    image_size: int = 64,
    voxel_resolution: int = 32,
    num_points: int = 2048,
    occ_samples: int = 2048,
    mesh_resolution: int = 48,
    cache: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    depth_loss: str = "l2",
    use_gt_depth: bool = True,
    layer_loss: str = "l1",
    weights: str | os.PathLike | None = None,
    from_format: str | None = None,
    log: Log = print,
    **options: Any,
) -> TrainResult:
    """Train one of the lecture's 3D models; data-parallel under ``torchrun``.

    Args:
        model: a :data:`~spacetime.shapes.models.SHAPE_MODEL_BUILDERS` name.
        data: see the module docstring.
        model_kwargs: builder arguments besides the ones taken from the data
            (``num_classes``, ``image_size``, ``resolution``, ``num_points``).
        categories: keep only these categories.
        objects_per_category, views, mesh_resolution, cache: the synthetic data (training
            objects per category — val / test get a quarter —, views per object, the
            reference meshes' marching-cubes resolution, its cache folder).
        image_size, voxel_resolution, num_points, occ_samples: input images ``S × S``,
            target voxel grids ``G³``, surface samples, occupancy samples per item.
        val_fraction: share of each category's training models held out for validation
            (real data without a val list).
        depth_loss: ``l2`` or ``scale-invariant`` (``depth-fcn``).
        use_gt_depth: Pixel2Mesh's initial sphere at the known object distance (else at the
            model's ``init_depth``; evaluation does the same).
        layer_loss: ``l1`` or ``l2`` on the shape-layer depths (``matryoshka``; empty rays
            masked to a hinge, :func:`~spacetime.shapes.losses.shape_layer_loss`).
        weights: start from these weights: a spacetime shapes checkpoint of the same model
            (e.g. one written by ``spacetime weights convert --from torchvision --model
            voxel-gen``: an ImageNet ResNet encoder), or with ``from_format`` a peer's file
            converted in memory. The architecture arguments come from the weights
            (``model_kwargs`` may override them); every encoder tensor must fit, other
            tensors that do not fit this run's sizes (a decoder at another resolution, the
            classifier for other classes) keep their fresh init and are logged.
        from_format: the format of ``weights`` (None: a spacetime checkpoint).
        **options: :class:`~spacetime.api.TrainOptions` fields (defaults :data:`DEFAULTS`).
    """
    from spacetime.engine import Trainer, build_loader, seed_everything
    from spacetime.shapes.datasets import ShapeData, collate_3d
    from spacetime.shapes.models import shape_task

    opts = train_options(DEFAULTS, options)
    source = str(ShapeData.parse(data))
    dopts = _data_options(categories, objects_per_category, views, image_size,
                          voxel_resolution, num_points, occ_samples, mesh_resolution, cache,
                          val_fraction, opts.seed)
    init = None
    if weights is not None:
        init = _initial_shape_weights(weights, from_format, model, image_size)
        model_kwargs = {**init[1], **(model_kwargs or {})}
    elif from_format is not None:
        raise InputError("from_format: needs weights=PATH")
    _model_kwargs(model, 1, dopts, model_kwargs)  # unknown model / arguments fail first
    task = shape_task(model, depth_loss=depth_loss, use_gt_depth=use_gt_depth,
                      layer_loss=layer_loss)
    _check_data_for(task, source)
    resume = resume_checkpoint(opts.resume, opts.out)
    with distributed_run(opts.device) as info:
        seed_everything(opts.seed)
        sets = shape_datasets(source, dopts, ("train", "val"), task.returns)
        names = sets.class_names
        kwargs = _model_kwargs(model, len(names), dopts, model_kwargs)
        task_options = {"task": task.name, "depth_loss": depth_loss,
                        "use_gt_depth": bool(use_gt_depth), "layer_loss": layer_loss}
        spec = ModelSpec("shapes", model, kwargs, names, source, dopts,
                         {"image_size": image_size}, task_options)
        net = build_model(spec)
        if init is not None:
            fresh = _load_shape_weights(net, init[0], init[2])
            if info.is_main and log is not None:
                log(f"initial weights: {init[2]}"
                    + (f"; fresh init for {len(fresh)} tensor(s) that do not fit this run "
                       f"({', '.join(fresh[:3])}{' ...' if len(fresh) > 3 else ''})"
                       if fresh else ""))
        train_ds, val_ds = sets.datasets["train"], sets.datasets["val"]
        train_loader = build_loader(train_ds, opts.batch_size, shuffle=True, seed=opts.seed,
                                    num_workers=opts.num_workers, collate_fn=collate_3d,
                                    drop_last=len(train_ds) > opts.batch_size,
                                    pin_memory=str(opts.device).startswith("cuda"))
        val_loader = build_loader(val_ds, opts.batch_size, num_workers=opts.num_workers,
                                  collate_fn=collate_3d) if len(val_ds) else None
        cfg = engine_config(opts, monitor="val/loss" if val_loader is not None
                            else "train/loss", monitor_mode="min")
        trainer = Trainer(net, train_loader, val_loader, cfg, meta=spec.to_meta(),
                          log=log if info.is_main else None, step_fn=task)
        if info.is_main and log is not None:
            log(f"training {model} ({task.name}) on {source}: {len(names)} classes, "
                f"{len(train_ds)} train / {len(val_ds)} val items ({sets.rule}), "
                f"{sum(p.numel() for p in net.parameters()):,} parameters, device "
                f"{trainer.device}, {info.world_size} process(es)")
        history = trainer.fit(resume=resume)
        if info.is_main and log is not None and trainer.best.get("value") is not None:
            log(f"best {trainer.best['metric']} = {trainer.best['value']:.4f} at epoch "
                f"{trainer.best['epoch']}" + (f"; run directory: {opts.out}" if opts.out
                                               else ""))
    best, last = checkpoints_of(opts.out)
    return TrainResult(spec, net.eval(), None if opts.out is None else Path(opts.out), best,
                       last, dict(trainer.best), history, len(train_ds), len(val_ds))


def load_model(checkpoint: str | os.PathLike | LoadedModel | None = None, *,
               device: str = "auto", weights: str | os.PathLike | None = None,
               from_format: str | None = None, **convert_options: Any) -> LoadedModel:
    """Rebuild a shape model from a checkpoint (no other input).

    ``weights=PATH, from_format=NAME`` converts a peer's weight file in memory instead
    (:data:`spacetime.weights.FORMATS`; options such as ``classes=`` go to the format).
    """
    return _load_any(checkpoint, device=device, families=("shapes",), weights=weights,
                     from_format=from_format, **convert_options)


def _task_of(loaded: LoadedModel) -> Any:
    from spacetime.shapes.models import shape_task

    o = loaded.spec.options
    return shape_task(loaded.spec.model, depth_loss=o.get("depth_loss", "l2"),
                      use_gt_depth=bool(o.get("use_gt_depth", True)),
                      layer_loss=o.get("layer_loss", "l1"))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4g}"
    return str(v)


def metrics_table(res: Mapping[str, Any]) -> str:
    """A text table of :func:`~spacetime.shapes.models.evaluate_shape_model`'s result: one row
    per category plus ``mean`` (over samples), then the baselines / counts it reports."""
    keys = list(res["mean"])
    rows = [(name, d) for name, d in res["per_category"].items()]
    rows.append(("mean", {**res["mean"], "num_samples": res["num_samples"]}))
    w0 = max([len("category")] + [len(r[0]) for r in rows]) + 2
    widths = [max(len(k), 8) + 2 for k in keys]
    head = "category".ljust(w0) + "n".rjust(6) + "".join(k.rjust(w) for k, w in zip(keys, widths))
    lines = [head, "-" * len(head)]
    for name, d in rows:
        lines.append(name.ljust(w0) + str(d.get("num_samples", "")).rjust(6)
                     + "".join(_fmt(d.get(k, "")).rjust(w) for k, w in zip(keys, widths)))
    if "instance_mIoU" in res:
        b = res["majority_part_baseline"]
        lines.append(f"instance mIoU {_fmt(res['instance_mIoU'])}, class mIoU "
                     f"{_fmt(res['class_mIoU'])}; majority-part baseline: accuracy "
                     f"{_fmt(b['accuracy'])}, instance mIoU {_fmt(b['instance_mIoU'])}, "
                     f"class mIoU {_fmt(b['class_mIoU'])}")
    if "majority_baseline" in res:
        b = res["majority_baseline"]
        lines.append(f"majority-class baseline: {100 * b['accuracy']:.1f} % ({b['class']})")
    if "network_evaluations" in res:
        ne = res["network_evaluations"]
        lines.append(f"occupancy evaluations: {ne['mise']:,} coarse-to-fine vs "
                     f"{ne['dense']:,} dense")
    return "\n".join(lines)


def evaluate(
    checkpoint: str | os.PathLike | LoadedModel,
    *,
    data: str | None = None,
    split: str = "test",
    batch_size: int = 8,
    mesh_samples: int = 2000,
    occ_resolution: int = 32,
    device: str = "auto",
    out: str | os.PathLike | None = None,
) -> EvalResult:
    """Per-category and mean metrics of a shape model on the ``test`` split (the task's
    metrics: depth / normal errors, accuracy, voxel IoU, Chamfer-L2, normal consistency,
    F1@0.1/0.3/0.5 by Mesh R-CNN's protocol).

    Args:
        data: the data source (default: the training data, with its options).
        split: ``test`` or ``val``.
        mesh_samples: points sampled per surface for the mesh metrics.
        occ_resolution: occupancy networks' marching-cubes resolution.
        out: also write ``metrics.json`` there.
    """
    from spacetime.checks import check_in, check_int
    from spacetime.engine import build_loader
    from spacetime.engine.rundir import write_json
    from spacetime.shapes.datasets import ShapeData, collate_3d
    from spacetime.shapes.models import evaluate_shape_model

    check_in(split, "split", ("test", "val"))
    check_int(mesh_samples, "mesh_samples", min_value=1)
    loaded = load_model(checkpoint, device=device)
    spec, task = loaded.spec, _task_of(loaded)
    source = str(ShapeData.parse(data or spec.data))
    _check_data_for(task, source)
    sets = shape_datasets(source, spec.data_options, (split,),
                          tuple(task.returns) + tuple(task.eval_returns))
    if sets.class_names != list(spec.classes):
        raise InputError(f"data: {source} has categories {sets.class_names}, the checkpoint "
                         f"was trained on {list(spec.classes)}")
    ds = sets.datasets[split]
    if not len(ds):
        raise InputError(f"data: the {split} split of {source} is empty ({sets.rule})")
    loader = build_loader(ds, batch_size, collate_fn=collate_3d)
    res = evaluate_shape_model(loaded.model, task, loader, class_names=spec.classes,
                               device=loaded.device, mesh_samples=mesh_samples,
                               occ_resolution=occ_resolution,
                               seed=int(spec.data_options.get("seed", 0)))
    res["split_rule"] = sets.rule
    if task.name == "mesh":
        res["use_gt_depth"] = bool(getattr(task, "use_gt_depth", True))
    result = EvalResult("shapes", spec.model, source, split, len(ds), res,
                        None if loaded.path is None else str(loaded.path), loaded.epoch,
                        metrics_table(res))
    if out is not None:
        write_json(Path(out) / "metrics.json", result.to_dict())
        result.files = [Path(out) / "metrics.json"]
    return result


@dataclass
class ShapePrediction:
    """What :func:`predict` made of one input: the task's raw outputs (``outputs``: tensors,
    ``Meshes``, ...), the files written (``files``) and a JSON-friendly ``summary`` (also in
    ``prediction.json``)."""

    outputs: dict[str, Any] = field(repr=False)
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        lines = []
        for rank, item in enumerate(self.summary.get("top", []), 1):
            lines.append(f"{rank:>2}. {item['class']:<20} {100 * item['probability']:6.2f} %")
        if self.summary.get("empty_mesh"):
            lines.append("the prediction is empty (no occupied voxel / no surface): "
                         "no mesh written")
        lines += [f"wrote {p}" for p in self.files]
        return "\n".join(lines)


def _view_page(views: list[dict[str, Any]], image: Any, title: str, path: Path) -> Path:
    """``view.html``: one panel per view of :meth:`ShapeTask.views`; objects in a camera frame
    get the camera's frustum with the input ``image`` on its far plane behind them."""
    from spacetime.viz import Figure

    fig = Figure(title)
    for v in views:
        camera = v.get("frame") == "camera"
        if v["kind"] == "normals":
            fig.add(v["object"], kind="normals", title=v["title"])
            continue
        fig.panel(v["title"], frame="opencv" if camera else "y-up")
        if v["kind"] == "depth":
            fig.add_depth(v["object"], v["K"], image=image)
            continue
        fig.add(v["object"], kind=v["kind"])
        if camera and v.get("K") is not None and image is not None and v["kind"] == "mesh":
            z = float(v["object"].verts_list()[0][:, 2].max())
            fig.add_camera(v["K"], image.shape[-1], image.shape[-2], depth=max(z, 1e-3) * 1.15,
                           image=image)
    return fig.save(path)


def predict(
    checkpoint: str | os.PathLike | LoadedModel,
    input: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    occ_resolution: int = 64,
    focal: float = 1.0,
    depth: float | None = None,
    topk: int = 5,
    category: str | None = None,
    device: str = "auto",
) -> ShapePrediction:
    """Run a shape model on one file: an RGB image (generators, depth / normal FCNs), or a
    mesh / point / voxel file (classifiers).

    Args:
        out: write the prediction there (depth ``.npy`` + picture, normals PNG, points
            ``.ply``, ``mesh.obj`` + picture, ``voxels.npz``, shape layers' ``layers.npz`` +
            ``layers.png``, ``prediction.json``) and
            ``view.html``, the interactive 3D view of the prediction (one self-contained page;
            classifiers have none).
        occ_resolution: occupancy networks' marching-cubes resolution.
        focal: Pixel2Mesh: focal length in image widths (``fx = fy = focal · S``, principal
            point at the centre; 1.0 = the synthetic cameras).
        depth: Pixel2Mesh: the object distance for the initial sphere (default: the model's
            ``init_depth``).
        topk: classifiers: how many classes to report.
        category: part segmentation (``pointnet-seg``): the object's category, one of the
            checkpoint's classes (may be left out when it has one class only).
    """
    import torch

    from spacetime.checks import check_positive

    loaded = load_model(checkpoint, device=device)
    spec, task = loaded.spec, _task_of(loaded)
    x = task.load_input(input, spec.data_options, spec.model_kwargs).to(loaded.device)
    summary: dict[str, Any] = {"input": str(input), "model": spec.model, "task": task.name}
    kw: dict[str, Any] = {"occ_resolution": occ_resolution}
    if task.name == "mesh":
        check_positive(focal, "focal")
        kw["focal"] = focal
        if depth is not None:
            check_positive(depth, "depth")
            kw["depths"] = torch.tensor([float(depth)], dtype=x.dtype, device=x.device)
        summary["depth"] = float(depth if depth is not None else loaded.model.init_depth)
    if task.name == "point-segmentation":
        from spacetime.checks import check_in

        if category is None and len(spec.classes) == 1:
            category = spec.classes[0]
        if category is None:
            raise InputError(f"category: part segmentation needs the object's category, one of "
                             f"{list(spec.classes)}; got none")
        check_in(category, "category", list(spec.classes))
        kw["category"] = torch.tensor([list(spec.classes).index(category)], device=x.device)
        kw["category_names"] = [category]
    pred = task.predict(loaded.model, x, **kw)
    if pred.get("probabilities") is not None:
        probs = pred["probabilities"][0].cpu()
        top = probs.topk(min(topk, probs.numel()))
        summary["top"] = [{"class": spec.classes[int(i)], "probability": float(p)}
                          for p, i in zip(top.values, top.indices)]
    summary.update(task.summary(pred))
    files: list[Path] = []
    if out is not None:
        from spacetime.engine.rundir import write_json
        from spacetime.viz import show

        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        files += task.save(pred, d)
        for obj, name, kind, *extra in task.pictures(pred):
            files.append(show(obj, d / name, kind=kind, **(extra[0] if extra else {})))
        views = task.views(pred)
        if views:
            image = x[0].cpu() if task.input_kind == "image" else None
            files.append(_view_page(views, image, f"{spec.model}: {Path(input).name}",
                                    d / "view.html"))
        summary["files"] = [str(p) for p in files]
        write_json(d / "prediction.json", summary)
    return ShapePrediction(pred, summary, files)
