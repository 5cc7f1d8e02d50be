"""`spacetime meshrcnn` subcommands: train, evaluate and run Mesh R-CNN (Gkioxari et al. 2019).

::

    spacetime meshrcnn train --data synthetic-scenes --epochs 10 --out runs/mrcnn
    spacetime meshrcnn train --data synthetic --preset pretty --out runs/mrcnn-single
    spacetime meshrcnn eval --checkpoint runs/mrcnn/checkpoints/last.pt
    spacetime meshrcnn predict photo.png --checkpoint runs/mrcnn/checkpoints/last.pt -o pred/

``--data``: ``synthetic-scenes`` (default; :class:`SyntheticScenes`, scene mode with the
torchvision Mask R-CNN detector), ``synthetic`` (:class:`SyntheticShapes`, single-object mode:
image → voxels → mesh, no detector), ``pix3d:ROOT`` (scene mode, every 5th image held out) or
``r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON`` (single-object mode on the R2N2 renderings with
camera-aligned voxels). See ``docs/mesh_rcnn.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spacetime.cli._args import json_dict, print_help

__all__ = ["register", "DATA_KINDS"]

#: ``--data`` kind → (number of ``:``-separated paths, mode)
DATA_KINDS = {"synthetic-scenes": (0, "scene"), "synthetic": (0, "single"),
              "pix3d": (1, "scene"), "r2n2": (4, "single")}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime meshrcnn {train,eval,predict}``."""
    top = subparsers.add_parser(
        "meshrcnn", help="Mesh R-CNN: detection + voxels + mesh refinement (train/eval/predict)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.set_defaults(func=lambda a: print_help(top))
    sub = top.add_subparsers(dest="meshrcnn_command", metavar="SUBCOMMAND")

    t = sub.add_parser("train", help="train; writes a run directory")
    t.add_argument("--data", default="synthetic-scenes",
                   help="synthetic-scenes | synthetic | pix3d:ROOT | r2n2:SN:REND:VOX:SPLIT")
    t.add_argument("--preset", default="best", choices=("best", "pretty"),
                   help="loss weights: best (no edge loss) or pretty (edge loss 0.2)")
    t.add_argument("--backbone", default="tiny", choices=("tiny", "resnet50-fpn"),
                   help="scene mode: the Mask R-CNN backbone")
    t.add_argument("--detector-checkpoint", default=None,
                   help="scene mode: a local Mask R-CNN state dict to start from")
    t.add_argument("--grid-size", type=int, default=24, help="voxel grid G")
    t.add_argument("--num-stages", type=int, default=3, help="mesh refinement stages (0: voxels)")
    t.add_argument("--hidden-dim", type=int, default=64, help="refinement width")
    t.add_argument("--model-kwargs", type=json_dict, default={},
                   help="more builder arguments as JSON")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--scheduler", default="cosine", choices=("none", "step", "cosine", "onecycle"))
    t.add_argument("--grad-clip", type=float, default=5.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--out", default="runs/meshrcnn", help="run directory")
    t.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--no-tensorboard", action="store_true")
    _data_options(t)
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="Mesh R-CNN metrics of a checkpoint (JSON + table)")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default=None, help="evaluation data (default: the training data)")
    e.add_argument("--split", default="val", choices=("val", "test"))
    e.add_argument("--protocol", default="meshrcnn", choices=("meshrcnn", "pixel2mesh"),
                   help="single-object mode: gt-10 + F1@0.1/0.3/0.5, or Pixel2Mesh's")
    e.add_argument("--mesh-samples", type=int, default=10000)
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", default=None, help="folder for metrics.json (default RUN/eval)")
    e.add_argument("--json", action="store_true", help="print the JSON instead of a table")
    e.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="meshes of the objects in an image, with pictures")
    p.add_argument("input", help="an RGB image")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--focal", type=float, default=None,
                   help="fx = fy = FOCAL × image size (default: the training data's)")
    p.add_argument("--score-thresh", type=float, default=0.5, help="scene mode: min score")
    p.add_argument("--format", default="obj", choices=("obj", "ply", "off", "stl"))
    p.add_argument("--view-size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_predict)


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--categories", default=None, help="comma-separated subset")
    parser.add_argument("--image-size", type=int, default=None,
                        help="default 128 (scenes) / 64 (single objects)")
    parser.add_argument("--scenes", type=int, default=100, help="synthetic-scenes: train scenes")
    parser.add_argument("--objects-per-category", type=int, default=20, help="synthetic")
    parser.add_argument("--views", type=int, default=4, help="synthetic: views per object")
    parser.add_argument("--mesh-resolution", type=int, default=48, help="synthetic")
    parser.add_argument("--cache", default=None, help="synthetic cache folder")


# ============================================================================ data


def _split_spec(spec: str) -> tuple[str, list[str], str]:
    from spacetime.errors import InputError

    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind not in DATA_KINDS or len(parts) != DATA_KINDS[kind][0]:
        raise InputError("--data: expected synthetic-scenes, synthetic, pix3d:ROOT or "
                         f"r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON, got {spec!r}")
    return kind, parts, DATA_KINDS[kind][1]


def _opts(args: argparse.Namespace, mode: str, grid: int) -> dict[str, Any]:
    cats = None
    if args.categories:
        cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    size = args.image_size or (128 if mode == "scene" else 64)
    return {"categories": cats, "image_size": size, "scenes": args.scenes,
            "objects_per_category": args.objects_per_category, "views": args.views,
            "mesh_resolution": args.mesh_resolution, "cache": args.cache, "seed": args.seed,
            "voxel_resolution": grid}


class _R2N2Views:
    """R2N2 items (all views of a model) → one single-object item per view: ``image`` resized to
    ``S``, ``K`` rescaled, ``R``, ``t``, the mesh, surface samples and camera-aligned voxels."""

    def __init__(self, base: Any, image_size: int, num_points: int = 2048) -> None:
        self.base, self.size, self.num_points = base, image_size, num_points
        first = base[0]
        self.views = first["images"].shape[0]
        self.class_names = list(base.class_names)

    def __len__(self) -> int:
        return len(self.base) * self.views

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        from spacetime.shapes import Meshes, sample_points_from_meshes

        item = self.base[index // self.views]
        v = index % self.views
        img = item["images"][v].float()
        s0 = img.shape[-1]
        img = F.interpolate(img[None], size=(self.size, self.size), mode="bilinear",
                            align_corners=False)[0].clamp(0, 1)
        sc = self.size / s0
        K = item["K"][v].clone().float()
        K[0, 0], K[1, 1] = K[0, 0] * sc, K[1, 1] * sc
        K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * sc - 0.5, (K[1, 2] + 0.5) * sc - 0.5
        m = Meshes([item["verts"].float()], [item["faces"]])
        gen = torch.Generator().manual_seed(index)
        p, n = sample_points_from_meshes(m, self.num_points, return_normals=True, generator=gen)
        return {"image": img, "K": K, "R": item["R"][v].float(), "t": item["t"][v].float(),
                "verts": item["verts"].float(), "faces": item["faces"], "points": p[0],
                "normals": n[0], "voxels_cam": item["camera_voxels"][v],
                "depth_range": item["camera_depth_range"][v].float(),
                "label": item["label_index"], "category": item["label"]}


def _datasets(spec: str, opts: dict[str, Any], split: str) -> tuple[Any, list[str], str]:
    """``(dataset, class names, mode)`` of ``split`` (``train`` / ``val`` / ``test``)."""
    from torch.utils.data import Subset

    kind, parts, mode = _split_spec(spec)
    progress = sys.stderr.isatty()
    if kind == "synthetic-scenes":
        from spacetime.shapes.datasets import SyntheticScenes

        n = opts["scenes"] if split == "train" else max(1, opts["scenes"] // 4)
        ds = SyntheticScenes(opts.get("cache"), split, categories=opts["categories"],
                             num_scenes=n, image_size=opts["image_size"],
                             voxel_resolution=opts["voxel_resolution"],
                             mesh_resolution=opts["mesh_resolution"], seed=opts["seed"],
                             progress=progress)
        return ds, list(ds.class_names), mode
    if kind == "synthetic":
        from spacetime.shapes.datasets import SyntheticShapes

        n = opts["objects_per_category"] if split == "train" else max(
            1, opts["objects_per_category"] // 4)
        ds = SyntheticShapes(opts.get("cache"), split, categories=opts["categories"],
                             num_objects_per_category=n, views_per_object=opts["views"],
                             image_size=opts["image_size"],
                             voxel_resolution=opts["voxel_resolution"],
                             mesh_resolution=opts["mesh_resolution"], seed=opts["seed"],
                             returns=("image", "K", "R", "t", "points", "mesh", "voxels_cam"),
                             progress=progress)
        return ds, list(ds.class_names), mode
    if kind == "pix3d":
        from spacetime.shapes.datasets import Pix3D

        base = Pix3D(parts[0], categories=opts["categories"])
        n = len(base)
        idx = [i for i in range(n) if (i % 5 != 4) == (split == "train")] or list(range(n))
        return Subset(base, idx), list(base.class_names), mode
    from spacetime.shapes.datasets import R2N2

    base = R2N2(parts[0], parts[1], parts[2], parts[3],
                split="train" if split == "train" else "test", return_voxels=False,
                voxels_in_camera_frame=True, camera_voxel_size=opts["voxel_resolution"])
    ds = _R2N2Views(base, opts["image_size"])
    return ds, ds.class_names, mode


def _collate(mode: str) -> Any:
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models.mesh_rcnn import collate_scenes

    return collate_scenes if mode == "scene" else collate_3d


# ============================================================================ model


def _model_kwargs(args: argparse.Namespace, mode: str, num_classes: int,
                  opts: dict[str, Any]) -> dict[str, Any]:
    import inspect

    from spacetime.errors import InputError
    from spacetime.shapes.models.mesh_rcnn import mesh_rcnn, mesh_rcnn_single

    builder = mesh_rcnn if mode == "scene" else mesh_rcnn_single
    kw: dict[str, Any] = {"image_size": opts["image_size"], "grid_size": args.grid_size,
                          "num_stages": args.num_stages, "hidden_dim": args.hidden_dim}
    if mode == "scene":
        kw.update(num_classes=num_classes, backbone=args.backbone,
                  detector_checkpoint=args.detector_checkpoint)
    params = inspect.signature(builder).parameters
    for k, v in args.model_kwargs.items():
        if k not in params:
            raise InputError(f"--model-kwargs: {builder.__name__} does not take {k!r}; it takes "
                             f"{', '.join(params)}")
        kw[k] = v
    return kw


def _build(mode: str, kwargs: dict[str, Any]) -> Any:
    from spacetime.shapes.models.mesh_rcnn import mesh_rcnn, mesh_rcnn_single

    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return (mesh_rcnn if mode == "scene" else mesh_rcnn_single)(**fixed)


def _load(path: str, device: str) -> tuple[Any, dict[str, Any]]:
    from spacetime.engine import load_checkpoint
    from spacetime.errors import FileFormatError

    state = load_checkpoint(path, map_location="cpu")
    meta = state.get("meta") or {}
    for key in ("mode", "model_kwargs", "classes", "data", "data_options"):
        if key not in meta:
            raise FileFormatError(f"checkpoint {path!r}: missing meta[{key!r}]; it was not "
                                  "written by `spacetime meshrcnn train`")
    kw = dict(meta["model_kwargs"])
    kw.pop("detector_checkpoint", None)  # the weights are in the checkpoint
    model = _build(meta["mode"], kw)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), meta


# ============================================================================ commands


def _cmd_train(args: argparse.Namespace) -> int:
    from spacetime.engine import TrainConfig, Trainer, build_loader, seed_everything
    from spacetime.errors import MissingFileError
    from spacetime.shapes.models.mesh_rcnn import MeshRCNNSceneStep, MeshRCNNStep

    _, _, mode = _split_spec(args.data)
    opts = _opts(args, mode, args.grid_size)
    seed_everything(args.seed)
    train, classes, mode = _datasets(args.data, opts, "train")
    val, _, _ = _datasets(args.data, opts, "val")
    kwargs = _model_kwargs(args, mode, len(classes), opts)
    model = _build(mode, kwargs)
    collate = _collate(mode)
    train_loader = build_loader(train, args.batch_size, shuffle=True, seed=args.seed,
                                collate_fn=collate, drop_last=len(train) > args.batch_size)
    val_loader = build_loader(val, args.batch_size, collate_fn=collate) if len(val) else None
    if mode == "scene":
        step: Any = MeshRCNNSceneStep(preset=args.preset)
        val_loader = None  # the detector computes its losses only in training mode
    else:
        step = MeshRCNNStep(preset=args.preset)
    cfg = TrainConfig(
        epochs=args.epochs, optimizer="adam", lr=args.lr, weight_decay=args.weight_decay,
        scheduler=args.scheduler, grad_clip=args.grad_clip, seed=args.seed, device=args.device,
        out_dir=args.out, progress=not args.no_progress, tensorboard=not args.no_tensorboard,
        monitor="val/loss" if val_loader is not None else "train/loss", monitor_mode="min")
    meta = {"mode": mode, "model_kwargs": kwargs, "classes": classes, "data": args.data,
            "data_options": opts, "preset": args.preset}
    resume = None
    if args.resume is not None:
        resume = Path(args.out) / "checkpoints" / "last.pt" if args.resume == "auto" \
            else Path(args.resume)
        if not resume.is_file():
            raise MissingFileError(f"--resume: no checkpoint at {str(resume)!r}")
    trainer = Trainer(model, train_loader, val_loader, cfg, meta=meta, log=print, step_fn=step)
    print(f"training Mesh R-CNN ({mode} mode, preset {args.preset}) on {args.data}: "
          f"{len(classes)} classes, {len(train)} train / {len(val)} val items, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, device {trainer.device}")
    trainer.fit(resume=resume)
    print(f"run directory: {args.out}")
    return 0


def _table(res: dict[str, Any]) -> str:
    """Rows: categories and ``mean``; columns: the metric names."""
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


def _cmd_eval(args: argparse.Namespace) -> int:
    from spacetime.engine import build_loader
    from spacetime.engine.rundir import write_json
    from spacetime.shapes.models.mesh_rcnn import evaluate_scenes, evaluate_single

    model, meta = _load(args.checkpoint, args.device)
    spec = args.data or meta["data"]
    ds, classes, mode = _datasets(spec, dict(meta["data_options"]), args.split)
    if mode != meta["mode"]:
        from spacetime.errors import InputError

        raise InputError(f"--data: {spec!r} is {mode}-mode data but the checkpoint is a "
                         f"{meta['mode']}-mode model")
    loader = build_loader(ds, args.batch_size, collate_fn=_collate(mode))
    if mode == "scene":
        res = evaluate_scenes(model, loader, device=args.device, num_samples=args.mesh_samples,
                              class_names=classes)
    else:
        res = evaluate_single(model, loader, device=args.device, protocol=args.protocol,
                              num_samples=args.mesh_samples, class_names=classes)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"data": spec, "split": args.split, "mode": mode,
                                      "protocol": args.protocol, "metrics": res})
    print(json.dumps(res, indent=1) if args.json else _table(res))
    print(f"wrote {out / 'metrics.json'}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from spacetime.cli.shapes_models import _read_rgb
    from spacetime.engine.rundir import write_json
    from spacetime.shapes import save_mesh
    from spacetime.shapes.models.mesh_rcnn import overlay_predictions, save_png, second_view

    model, meta = _load(args.checkpoint, args.device)
    s = int(meta["data_options"]["image_size"])
    image = _read_rgb(args.input, s).to(args.device)  # (1, 3, S, S)
    focal = args.focal if args.focal is not None else 1.0
    f = focal * s
    K = torch.tensor([[[f, 0.0, (s - 1) / 2], [0.0, f, (s - 1) / 2], [0.0, 0.0, 1.0]]],
                     device=args.device)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = meta["classes"]
    with torch.no_grad():
        if meta["mode"] == "scene":
            o = model([image[0]], K)[0]
            keep = (o["scores"] >= args.score_thresh).nonzero().squeeze(1)
            boxes, labels, scores = o["boxes"][keep], o["labels"][keep], o["scores"][keep]
            masks = o["masks"][keep] if o["masks"] is not None else None
            meshes = o["meshes"][keep.tolist()] if len(keep) and o["meshes"] is not None \
                else None
            depths = o["depths"][keep].tolist() if len(keep) else []
        else:
            r = model(image, K)
            meshes = r.meshes[-1] if r.meshes else r.initial
            boxes = masks = None
            labels, scores, depths = torch.zeros(1, dtype=torch.long), torch.ones(1), [None]
    records = []
    n = 0 if meshes is None else len(meshes)
    for k in range(n):
        name = classes[int(labels[k])] if meta["mode"] == "scene" else "object"
        path = out_dir / f"object_{k:02d}_{name}.{args.format}"
        save_mesh(meshes[k].cpu(), path)
        save_png(second_view(meshes, k, size=args.view_size), out_dir / f"object_{k:02d}_view2.png")
        rec: dict[str, Any] = {"mesh": path.name, "label": name, "score": float(scores[k]),
                               "depth": depths[k]}
        if boxes is not None:
            rec["box"] = [float(x) for x in boxes[k]]
        records.append(rec)
    pic = overlay_predictions(image[0].cpu(), K[0].cpu(), boxes=boxes, masks=masks,
                              meshes=meshes)
    save_png(pic, out_dir / "overlay.png")
    write_json(out_dir / "predictions.json", {"image": str(args.input), "K": K[0].tolist(),
                                              "objects": records})
    print(f"{n} object(s); wrote {out_dir}/overlay.png, predictions.json and "
          f"{n} mesh(es) + second views")
    return 0
