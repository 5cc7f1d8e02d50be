"""Mesh R-CNN (Gkioxari, Malik & Johnson 2019): :func:`train`, :func:`evaluate`,
:func:`predict`, :func:`load_model`.

::

    from spacetime.api import meshrcnn

    run = meshrcnn.train("synthetic-scenes", out="runs/mrcnn", scenes=100, epochs=10)
    print(meshrcnn.evaluate(run.last_checkpoint))                 # box / mask / mesh AP, test
    meshrcnn.predict(run.last_checkpoint, "photo.png", out="pred/").objects

Two modes, chosen by the data: **scene** mode (``synthetic-scenes``,
``pix3d:ROOT[:TRAIN_JSON:TEST_JSON]``): torchvision's Mask R-CNN detects the objects and the
voxel + mesh heads reconstruct each of them (model ``mesh-rcnn``); **single-object** mode
(``synthetic``, ``r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON``): image → voxels → mesh, no
detector (model ``mesh-rcnn-single``). Splits follow :mod:`spacetime.shapes.datasets.splits`;
``evaluate`` scores the test split (scene mode: box / mask / mesh AP as in the paper's Pix3D
table; single mode: Chamfer, normal consistency and F1 by the Mesh R-CNN or Pixel2Mesh
protocol).
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

__all__ = ["DEFAULTS", "DATA_MODES", "MeshRCNNPrediction", "train", "evaluate", "predict",
           "load_model", "meshrcnn_datasets"]

#: training defaults of Mesh R-CNN
DEFAULTS = TrainOptions(out="runs/meshrcnn", epochs=10, batch_size=8, optimizer="adam", lr=1e-3,
                        scheduler="cosine", grad_clip=5.0)
#: ``--data`` kind → mode
DATA_MODES = {"synthetic-scenes": "scene", "synthetic": "single", "pix3d": "scene",
              "r2n2": "single"}
_MODEL = {"scene": "mesh-rcnn", "single": "mesh-rcnn-single"}


def _parse(data: str) -> tuple[str, str]:
    """``(canonical data string, mode)``."""
    from spacetime.shapes.datasets import ShapeData

    kind = str(data).partition(":")[0]
    if kind not in DATA_MODES:
        raise InputError("data: expected synthetic-scenes, synthetic, "
                         "pix3d:ROOT[:TRAIN_JSON:TEST_JSON] or "
                         f"r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON, got {data!r}")
    if kind in ("pix3d", "r2n2"):
        return str(ShapeData.parse(data)), DATA_MODES[kind]
    if str(data) != kind:
        raise InputError(f"data: {kind} takes no path, got {data!r}")
    return kind, DATA_MODES[kind]


@dataclass
class MeshRCNNDatasets:
    """``datasets[split]``, the category names, the mode, the split rule and group ids."""

    datasets: dict[str, Any]
    class_names: list[str]
    mode: str
    rule: str
    groups: dict[str, list[str]] = field(default_factory=dict)


def meshrcnn_datasets(data: str, options: Mapping[str, Any], splits: Sequence[str]
                      ) -> MeshRCNNDatasets:
    """Datasets of ``splits`` for ``data`` under the data ``options`` (see :func:`train`)."""
    from torch.utils.data import Subset

    from spacetime.shapes.datasets import (
        R2N2Views,
        SyntheticScenes,
        SyntheticShapes,
        shape_splits,
    )

    source, mode = _parse(data)
    kind = source.partition(":")[0]
    seed = int(options.get("seed", 0))
    progress = sys.stderr.isatty()
    out: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    if kind == "synthetic-scenes":
        n = int(options["scenes"])
        for split in splits:
            ds = SyntheticScenes(options.get("cache"), split, categories=options["categories"],
                                 num_scenes=n if split == "train" else max(1, n // 4),
                                 image_size=int(options["image_size"]),
                                 voxel_resolution=int(options["voxel_resolution"]),
                                 mesh_resolution=int(options["mesh_resolution"]), seed=seed,
                                 progress=progress)
            out[split] = ds
            groups[split] = [f"synthetic-scenes/{split}/{i}" for i in range(len(ds))]
        return MeshRCNNDatasets(out, list(out[splits[0]].class_names), mode,
                                "synthetic-scenes: generated train / val / test scenes "
                                f"(disjoint seed streams, seed {seed})", groups)
    if kind == "synthetic":
        n = int(options["objects_per_category"])
        for split in splits:
            ds = SyntheticShapes(options.get("cache"), split, categories=options["categories"],
                                 num_objects_per_category=n if split == "train" else max(1, n // 4),
                                 views_per_object=int(options["views"]),
                                 image_size=int(options["image_size"]),
                                 voxel_resolution=int(options["voxel_resolution"]),
                                 mesh_resolution=int(options["mesh_resolution"]), seed=seed,
                                 returns=("image", "K", "R", "t", "points", "mesh", "voxels_cam"),
                                 progress=progress)
            out[split] = ds
            groups[split] = [f"synthetic/{split}/{c}/{k}" for c, k in ds._objects
                             for _ in range(ds.views_per_object)]
        return MeshRCNNDatasets(out, list(out[splits[0]].class_names), mode,
                                "synthetic: generated train / val / test objects "
                                f"(disjoint seed streams, seed {seed})", groups)
    lists = shape_splits(source, val_fraction=float(options.get("val_fraction", 0.1)),
                         seed=seed, categories=options["categories"],
                         camera_voxel_size=int(options["voxel_resolution"])
                         if kind == "r2n2" else None)
    for split in splits:
        part = lists[split]
        if kind == "pix3d":
            out[split] = Subset(part.base, part.indices)
            groups[split] = list(part.groups)
        else:
            views = R2N2Views(part.base, int(options["image_size"]),
                              class_names=lists.class_names, indices=part.indices)
            out[split] = views
            groups[split] = [g for g in part.groups for _ in range(views.views)]
    return MeshRCNNDatasets(out, lists.class_names, mode, lists.rule, groups)


def _collate(mode: str) -> Any:
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models.mesh_rcnn import collate_scenes

    return collate_scenes if mode == "scene" else collate_3d


def _model_kwargs(mode: str, num_classes: int, opts: Mapping[str, Any], grid_size: int,
                  num_stages: int, hidden_dim: int, backbone: str,
                  detector_checkpoint: str | None, given: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    auto: dict[str, Any] = {"image_size": opts["image_size"], "grid_size": grid_size,
                            "num_stages": num_stages, "hidden_dim": hidden_dim}
    if mode == "scene":
        auto.update(num_classes=num_classes, backbone=backbone,
                    detector_checkpoint=detector_checkpoint)
    merged = {**auto, **(given or {})}
    return complete_model_kwargs("meshrcnn", _MODEL[mode], merged)


def train(
    data: str = "synthetic-scenes",
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    preset: str = "best",
    backbone: str = "tiny",
    detector_checkpoint: str | os.PathLike | None = None,
    grid_size: int = 24,
    num_stages: int = 3,
    hidden_dim: int = 64,
    categories: Sequence[str] | None = None,
    image_size: int | None = None,
    scenes: int = 100,
    objects_per_category: int = 20,
    views: int = 4,
    mesh_resolution: int = 48,
    cache: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    log: Log = print,
    **options: Any,
) -> TrainResult:
    """Train Mesh R-CNN; data-parallel under ``torchrun``.

    Args:
        data: see the module docstring (the mode follows from it).
        model_kwargs: more :func:`~spacetime.shapes.models.mesh_rcnn.mesh_rcnn` /
            :func:`~spacetime.shapes.models.mesh_rcnn.mesh_rcnn_single` arguments.
        preset: loss weights, ``best`` (no edge loss) or ``pretty`` (edge loss 0.2).
        backbone: scene mode: ``tiny`` or ``resnet50-fpn`` (Mask R-CNN's).
        detector_checkpoint: scene mode: a local Mask R-CNN state dict to start from.
        grid_size, num_stages, hidden_dim: voxel grid ``G``, mesh refinement stages (0: the
            voxel-only model) and their width.
        categories: keep only these categories.
        image_size: default 128 (scenes) / 64 (single objects).
        scenes: synthetic-scenes: training scenes (val / test: a quarter).
        objects_per_category, views, mesh_resolution, cache: the synthetic data.
        val_fraction: share of each category's training models held out for validation.
        **options: :class:`~spacetime.api.TrainOptions` fields (defaults :data:`DEFAULTS`).

    In scene mode the detector computes its losses only in training mode, so ``best.pt`` is
    chosen by the training loss (no test data is involved either way).
    """
    from spacetime.checks import check_in, check_int
    from spacetime.engine import Trainer, build_loader, seed_everything
    from spacetime.shapes.models.mesh_rcnn import MeshRCNNSceneStep, MeshRCNNStep

    opts = train_options(DEFAULTS, options)
    source, mode = _parse(data)
    check_in(preset, "preset", ("best", "pretty"))
    check_in(backbone, "backbone", ("tiny", "resnet50-fpn"))
    for name, v, lo in (("grid_size", grid_size, 2), ("num_stages", num_stages, 0),
                        ("hidden_dim", hidden_dim, 1), ("scenes", scenes, 1),
                        ("objects_per_category", objects_per_category, 1), ("views", views, 1),
                        ("mesh_resolution", mesh_resolution, 8)):
        check_int(v, name, min_value=lo)
    size = image_size or (128 if mode == "scene" else 64)
    check_int(size, "image_size", min_value=8)
    dopts = {"categories": None if categories is None else list(categories), "image_size": size,
             "scenes": scenes, "objects_per_category": objects_per_category, "views": views,
             "mesh_resolution": mesh_resolution, "cache": None if cache is None else str(cache),
             "voxel_resolution": grid_size, "val_fraction": float(val_fraction),
             "seed": opts.seed}
    det = None if detector_checkpoint is None else str(detector_checkpoint)
    _model_kwargs(mode, 1, dopts, grid_size, num_stages, hidden_dim, backbone, det,
                  model_kwargs)  # unknown arguments fail before any data is made
    resume = resume_checkpoint(opts.resume, opts.out)
    with distributed_run(opts.device) as info:
        seed_everything(opts.seed)
        sets = meshrcnn_datasets(source, dopts, ("train", "val"))
        names = sets.class_names
        kwargs = _model_kwargs(mode, len(names), dopts, grid_size, num_stages, hidden_dim,
                               backbone, det, model_kwargs)
        spec = ModelSpec("meshrcnn", _MODEL[mode], kwargs, names, source, dopts,
                         {"image_size": size}, {"mode": mode, "preset": preset})
        net = build_model(spec)
        train_ds, val_ds = sets.datasets["train"], sets.datasets["val"]
        collate = _collate(mode)
        train_loader = build_loader(train_ds, opts.batch_size, shuffle=True, seed=opts.seed,
                                    collate_fn=collate, num_workers=opts.num_workers,
                                    drop_last=len(train_ds) > opts.batch_size)
        val_loader = None
        if mode == "single" and len(val_ds):
            val_loader = build_loader(val_ds, opts.batch_size, collate_fn=collate,
                                      num_workers=opts.num_workers)
        step: Any = MeshRCNNSceneStep(preset=preset) if mode == "scene" else \
            MeshRCNNStep(preset=preset)
        cfg = engine_config(opts, monitor="val/loss" if val_loader is not None
                            else "train/loss", monitor_mode="min",
                            find_unused_parameters=mode == "scene")
        trainer = Trainer(net, train_loader, val_loader, cfg, meta=spec.to_meta(),
                          log=log if info.is_main else None, step_fn=step)
        if info.is_main and log is not None:
            log(f"training Mesh R-CNN ({mode} mode, preset {preset}) on {source}: "
                f"{len(names)} classes, {len(train_ds)} train / {len(val_ds)} val items "
                f"({sets.rule}), {sum(p.numel() for p in net.parameters()):,} parameters, "
                f"device {trainer.device}, {info.world_size} process(es)")
        history = trainer.fit(resume=resume)
        if info.is_main and log is not None and opts.out is not None:
            log(f"run directory: {opts.out}")
    best, last = checkpoints_of(opts.out)
    return TrainResult(spec, net.eval(), None if opts.out is None else Path(opts.out), best,
                       last, dict(trainer.best), history, len(train_ds), len(val_ds))


def load_model(checkpoint: str | os.PathLike | LoadedModel | None = None, *,
               device: str = "auto", weights: str | os.PathLike | None = None,
               from_format: str | None = None, **convert_options: Any) -> LoadedModel:
    """Rebuild a Mesh R-CNN (either mode) from a checkpoint (no other input).

    ``weights=PATH, from_format=NAME`` converts a peer's weight file in memory instead
    (:data:`spacetime.weights.FORMATS`; options such as ``classes=`` go to the format).
    """
    return _load_any(checkpoint, device=device, families=("meshrcnn",), weights=weights,
                     from_format=from_format, **convert_options)


def _mode(loaded: LoadedModel) -> str:
    return "scene" if loaded.spec.model == "mesh-rcnn" else "single"


def metrics_table(res: Mapping[str, Any]) -> str:
    """Rows: categories and ``mean``; columns: the metric names of
    :func:`~spacetime.shapes.models.mesh_rcnn.evaluate_scenes` /
    :func:`~spacetime.shapes.models.mesh_rcnn.evaluate_single`."""
    per: dict[str, dict[str, Any]] = {}
    for k, v in res.items():
        if not isinstance(v, (int, float)):
            continue
        if "/" in k:
            a, b = k.split("/", 1)
            if a.endswith("_AP"):  # detection_ap: "<kind>_AP/<category>"
                per.setdefault(b, {})[a] = v
            else:  # evaluate_single: "<category>/<metric>"
                per.setdefault(a, {})[b] = v
        else:
            per.setdefault("mean", {})[k] = v
    keys = [k for k in per.get("mean", {}) if not k.startswith("num_")]
    w0 = max([8] + [len(n) for n in per]) + 2
    widths = [max(len(k), 8) + 2 for k in keys]
    head = "category".ljust(w0) + "".join(k.rjust(w) for k, w in zip(keys, widths))
    lines = [head, "-" * len(head)]
    for name in [n for n in per if n != "mean"] + ["mean"]:
        d = per.get(name, {})
        cells = []
        for k, w in zip(keys, widths):
            v = d.get(k, "")
            cells.append((f"{v:.4g}" if isinstance(v, float) else str(v)).rjust(w))
        lines.append(name.ljust(w0) + "".join(cells))
    extra = {k: v for k, v in per.get("mean", {}).items() if k.startswith("num_")}
    if extra:
        lines.append(", ".join(f"{k} = {v}" for k, v in extra.items()))
    return "\n".join(lines)


def evaluate(
    checkpoint: str | os.PathLike | LoadedModel,
    *,
    data: str | None = None,
    split: str = "test",
    protocol: str = "meshrcnn",
    mesh_samples: int = 10000,
    batch_size: int = 8,
    device: str = "auto",
    out: str | os.PathLike | None = None,
) -> EvalResult:
    """Mesh R-CNN's metrics on the ``test`` split: scene mode box / mask / mesh AP (IoU 0.5;
    a mesh counts when F1@0.3 > 0.5) per category and mean; single-object mode Chamfer-L2,
    normal consistency and F1 by ``protocol`` (``meshrcnn``: gt-10 scale, F1@0.1/0.3/0.5;
    ``pixel2mesh``: the 0.57 scale and F1 at 1e-2 / 2e-2 squared)."""
    from spacetime.checks import check_in, check_int
    from spacetime.engine import build_loader
    from spacetime.engine.rundir import write_json
    from spacetime.shapes.models.mesh_rcnn import evaluate_scenes, evaluate_single

    check_in(split, "split", ("test", "val"))
    check_in(protocol, "protocol", ("meshrcnn", "pixel2mesh"))
    check_int(mesh_samples, "mesh_samples", min_value=1)
    loaded = load_model(checkpoint, device=device)
    spec, mode = loaded.spec, _mode(loaded)
    source, data_mode = _parse(data or spec.data)
    if data_mode != mode:
        raise InputError(f"data: {source!r} is {data_mode}-mode data but the checkpoint is a "
                         f"{mode}-mode model")
    sets = meshrcnn_datasets(source, spec.data_options, (split,))
    if sets.class_names != list(spec.classes) and mode == "scene":
        raise InputError(f"data: {source} has categories {sets.class_names}, the checkpoint "
                         f"was trained on {list(spec.classes)}")
    ds = sets.datasets[split]
    if not len(ds):
        raise InputError(f"data: the {split} split of {source} is empty ({sets.rule})")
    loader = build_loader(ds, batch_size, collate_fn=_collate(mode))
    if mode == "scene":
        res = evaluate_scenes(loaded.model, loader, device=loaded.device,
                              num_samples=mesh_samples, class_names=spec.classes)
    else:
        res = evaluate_single(loaded.model, loader, device=loaded.device, protocol=protocol,
                              num_samples=mesh_samples, class_names=sets.class_names)
    metrics = {"mode": mode, "protocol": protocol, "split_rule": sets.rule, "metrics": res}
    result = EvalResult("meshrcnn", spec.model, source, split, len(ds), metrics,
                        None if loaded.path is None else str(loaded.path), loaded.epoch,
                        metrics_table(res))
    if out is not None:
        write_json(Path(out) / "metrics.json", result.to_dict())
        result.files = [Path(out) / "metrics.json"]
    return result


@dataclass
class MeshRCNNPrediction:
    """The objects found in one image: ``objects`` (``label``, ``score``, ``depth``, ``box``
    in pixels, and ``mesh`` — the file name when written) and the meshes (camera frame)."""

    image: str
    K: list[list[float]]
    objects: list[dict[str, Any]]
    meshes: Any = field(repr=False, default=None)
    files: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.objects)} object(s)"]
        for k, o in enumerate(self.objects):
            lines.append(f"  {k}: {o['label']} (score {o['score']:.2f})")
        lines += [f"wrote {p}" for p in self.files]
        return "\n".join(lines)


def _view_page(meshes: Any, objects: list[dict[str, Any]], image: Any, K: Any, title: str,
               path: Path) -> Path:
    """``view.html``: the detected objects' meshes in the camera frame (one colour each), the
    camera's frustum and the input image as a backdrop plane behind the farthest object."""
    from spacetime.viz import Figure

    fig = Figure(title).panel("objects in the camera frame (OpenCV: x right, y down, z forward)",
                              frame="opencv")
    items, far = [], 0.0
    palette = ((0.31, 0.47, 0.74), (0.87, 0.52, 0.32), (0.35, 0.66, 0.41), (0.77, 0.31, 0.32),
               (0.51, 0.45, 0.70), (0.58, 0.47, 0.38))
    for k, rec in enumerate(objects):
        colour = palette[k % len(palette)]
        v = meshes.verts_list()[k]
        if v.shape[0]:
            far = max(far, float(v[:, 2].max()))
        fig.add_mesh(meshes[k].cpu(), color=colour, name=f"object {k}: {rec['label']}")
        items.append({"label": f"{k}: {rec['label']} ({rec['score']:.2f})",
                      "color": "#" + "".join(f"{int(255 * c):02x}" for c in colour)})
    if not objects:
        fig.note("no object detected")
    if items:
        fig.legend({"type": "categories", "title": "detections (score)", "items": items})
    far = far * 1.15 if far > 0 else float(K[0, 0]) / image.shape[-1] * 2.0
    fig.add_camera(K, image.shape[-1], image.shape[-2], depth=far, image=image)
    return fig.save(path)


def predict(
    checkpoint: str | os.PathLike | LoadedModel,
    image: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    focal: float | None = None,
    score_thresh: float = 0.5,
    format: str = "obj",
    view_size: int = 256,
    device: str = "auto",
) -> MeshRCNNPrediction:
    """Detect and reconstruct the objects of an RGB image (resized to the training size).

    Args:
        focal: ``fx = fy = focal × image size`` (default 1.0, the synthetic cameras).
        score_thresh: scene mode: keep detections with at least this score.
        out: write ``overlay.png``, one mesh (``format``: obj, ply, off, stl) and one second
            view picture per object, ``predictions.json`` and ``view.html`` (the objects'
            meshes in the camera frame, interactive, with the image as a backdrop plane).
    """
    import torch

    from spacetime.checks import check_in, check_positive
    from spacetime.shapes.io import read_rgb_image

    check_in(format, "format", ("obj", "ply", "off", "stl"))
    loaded = load_model(checkpoint, device=device)
    spec, mode = loaded.spec, _mode(loaded)
    s = int(spec.data_options["image_size"])
    x = read_rgb_image(image, s)[None].to(loaded.device)
    f = (1.0 if focal is None else float(focal)) * s
    check_positive(f, "focal")
    K = torch.tensor([[[f, 0.0, (s - 1) / 2], [0.0, f, (s - 1) / 2], [0.0, 0.0, 1.0]]],
                     device=loaded.device)
    with torch.no_grad():
        if mode == "scene":
            o = loaded.model([x[0]], K)[0]
            keep = (o["scores"] >= score_thresh).nonzero().squeeze(1)
            boxes, labels, scores = o["boxes"][keep], o["labels"][keep], o["scores"][keep]
            masks = o["masks"][keep] if o["masks"] is not None else None
            meshes = o["meshes"][keep.tolist()] if len(keep) and o["meshes"] is not None \
                else None
            depths = o["depths"][keep].tolist() if len(keep) else []
        else:
            r = loaded.model(x, K)
            meshes = r.meshes[-1] if r.meshes else r.initial
            boxes = masks = None
            labels, scores, depths = torch.zeros(1, dtype=torch.long), torch.ones(1), [None]
    objects = []
    n = 0 if meshes is None else len(meshes)
    for k in range(n):
        name = spec.classes[int(labels[k])] if mode == "scene" else "object"
        rec: dict[str, Any] = {"label": name, "score": float(scores[k]), "depth": depths[k]}
        if boxes is not None:
            rec["box"] = [float(v) for v in boxes[k]]
        objects.append(rec)
    pred = MeshRCNNPrediction(str(image), K[0].tolist(), objects,
                              None if meshes is None else meshes.cpu())
    if out is not None:
        from spacetime.engine.rundir import write_json
        from spacetime.shapes import save_mesh
        from spacetime.shapes.models.mesh_rcnn import overlay_predictions, save_png, second_view

        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        for k, rec in enumerate(objects):
            path = d / f"object_{k:02d}_{rec['label']}.{format}"
            save_mesh(meshes[k].cpu(), path)
            view = save_png(second_view(meshes, k, size=view_size), d / f"object_{k:02d}_view2.png")
            rec["mesh"] = path.name
            pred.files += [path, Path(view)]
        pic = overlay_predictions(x[0].cpu(), K[0].cpu(), boxes=boxes, masks=masks,
                                  meshes=meshes)
        pred.files.append(Path(save_png(pic, d / "overlay.png")))
        pred.files.append(_view_page(meshes, objects, x[0].cpu(), K[0].cpu(),
                                     f"Mesh R-CNN: {Path(image).name}", d / "view.html"))
        write_json(d / "predictions.json", {"image": str(image), "K": pred.K,
                                            "objects": objects})
        pred.files.append(d / "predictions.json")
    return pred
