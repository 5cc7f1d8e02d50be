"""`spacetime shapes` subcommands: train, eval and predict the lecture's 3D models.

::

    spacetime shapes train --model voxel-gen --data synthetic --epochs 20 --out runs/vgen
    spacetime shapes eval --checkpoint runs/vgen/checkpoints/best.pt
    spacetime shapes predict photo.png --checkpoint runs/vgen/checkpoints/best.pt -o pred/
    spacetime shapes train --model pixel2mesh --epochs 25 --out runs/p2m

Models: ``spacetime.shapes.models.SHAPE_MODEL_BUILDERS`` (``depth-fcn``, ``normal-fcn``,
``voxnet``, ``voxel-gen``, ``voxel-tubes``, ``octree-gen``, ``pointnet``, ``point-gen``,
``occnet``, ``pixel2mesh``). ``--data`` takes ``synthetic`` (built-in
:class:`SyntheticShapes`, the default), ``shapenet:ROOT``,
``r2n2:SHAPENET_ROOT:RENDERINGS:VOXELS:SPLIT_JSON``, ``pix3d:ROOT`` or ``modelnet:ROOT`` (real
meshes are normalised to the unit cube; every 5th item is held out for validation /
evaluation). Pixel2Mesh needs the cameras of every image: ``synthetic``, ``r2n2`` or ``pix3d``.
See ``docs/shape_models.md`` and ``docs/pixel2mesh.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spacetime.cli._args import json_dict, print_help

__all__ = ["register", "DATA_KINDS"]

#: ``--data`` kinds and the number of ``:``-separated paths each takes
DATA_KINDS = {"synthetic": 0, "shapenet": 1, "r2n2": 4, "pix3d": 1, "modelnet": 1}



def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime shapes {train,eval,predict}``."""
    shapes = subparsers.add_parser(
        "shapes",
        help="3D models: train, evaluate, predict (depth, voxels, points, occupancy, meshes)",
        description="Train / evaluate / run the lecture's 3D models on the built-in synthetic "
        "shapes or on ShapeNet, R2N2, Pix3D, ModelNet (Pixel2Mesh: synthetic, R2N2, Pix3D).",
    )
    sub = shapes.add_subparsers(dest="shapes_command", metavar="SUBCOMMAND")
    shapes.set_defaults(func=lambda args: print_help(shapes))

    t = sub.add_parser("train", help="train a model; writes a run directory",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--model", default="voxel-gen", help="a SHAPE_MODEL_BUILDERS name")
    t.add_argument("--model-kwargs", type=json_dict, default={},
                   help='extra builder kwargs as JSON, e.g. \'{"latent_dim": 64}\'')
    t.add_argument("--data", default="synthetic",
                   help="synthetic | shapenet:ROOT | r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT | "
                   "pix3d:ROOT | modelnet:ROOT")
    _data_options(t)
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--optimizer", default="adam", choices=("sgd", "adam", "adamw"))
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--scheduler", default="cosine", choices=("none", "step", "cosine", "onecycle"))
    t.add_argument("--grad-clip", type=float, default=None)
    t.add_argument("--depth-loss", default="l2", choices=("l2", "scale-invariant"),
                   help="depth-fcn training loss")
    t.add_argument("--no-gt-depth", action="store_true",
                   help="pixel2mesh: start the sphere at the model's init_depth instead of the "
                   "known object distance |t| (the model must infer the distance; eval does "
                   "the same)")
    t.add_argument("--no-amp", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--num-workers", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--out", default="runs/shapes", help="run directory")
    t.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--no-tensorboard", action="store_true")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="metrics of a checkpoint per category and mean (JSON + table)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default=None, help="evaluation data (default: the training data)")
    e.add_argument("--split", default="test", choices=("val", "test"),
                   help="synthetic split (real data: the held-out items)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--mesh-samples", type=int, default=2000,
                   help="points sampled per surface for Chamfer / F1 / normal consistency")
    e.add_argument("--occ-resolution", type=int, default=32,
                   help="occnet: marching-cubes resolution (coarse-to-fine from 8 or 16)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", default=None, help="folder for metrics.json (default RUN/eval)")
    e.add_argument("--json", action="store_true", help="print the JSON instead of a table")
    e.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="run a model on an image (or a shape file for classifiers)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("input", help="an RGB image; for voxnet / pointnet a mesh, point or voxel file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--occ-resolution", type=int, default=64)
    p.add_argument("--focal", type=float, default=1.0,
                   help="pixel2mesh: focal length in image widths (fx = fy = FOCAL * S, "
                   "principal point at the centre; 1.0 = the synthetic cameras)")
    p.add_argument("--depth", type=float, default=None,
                   help="pixel2mesh: object distance for the initial sphere (default: the "
                   "model's init_depth, the synthetic data's mean camera distance)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_predict)


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--categories", default=None,
                        help="synthetic: comma-separated categories (default all)")
    parser.add_argument("--objects-per-category", type=int, default=20, help="synthetic")
    parser.add_argument("--views", type=int, default=4, help="synthetic: views per object")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--voxel-resolution", type=int, default=32)
    parser.add_argument("--num-points", type=int, default=2048)
    parser.add_argument("--occ-samples", type=int, default=2048)
    parser.add_argument("--mesh-resolution", type=int, default=48, help="synthetic")
    parser.add_argument("--cache", default=None, help="synthetic cache folder")



# ============================================================================ helpers


def _split_spec(spec: str) -> tuple[str, list[str]]:
    from spacetime.errors import InputError

    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind not in DATA_KINDS or len(parts) != DATA_KINDS[kind]:
        raise InputError(
            "--data: expected synthetic, shapenet:ROOT, r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT, "
            f"pix3d:ROOT or modelnet:ROOT, got {spec!r}"
        )
    return kind, parts


def _data_opts(args: argparse.Namespace) -> dict[str, Any]:
    cats = None
    if args.categories:
        cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    return {"categories": cats, "objects_per_category": args.objects_per_category,
            "views": args.views, "image_size": args.image_size,
            "voxel_resolution": args.voxel_resolution, "num_points": args.num_points,
            "occ_samples": args.occ_samples, "mesh_resolution": args.mesh_resolution,
            "cache": args.cache, "seed": args.seed}


def _datasets(spec: str, task: str, opts: dict[str, Any], split: str,
              with_mesh: bool = False) -> tuple[Any, list[str]]:
    """The dataset of ``split`` (``train`` / ``val`` / ``test``) and its class names."""
    from spacetime.shapes.models.training import TASK_RETURNS, MeshNormalizedDataset

    kind, parts = _split_spec(spec)
    if task == "mesh" and kind not in ("synthetic", "r2n2", "pix3d"):
        from spacetime.errors import InputError

        raise InputError(f"--data: pixel2mesh needs images with their cameras (K, R, t): "
                         f"synthetic, r2n2:... or pix3d:..., got {spec!r}")
    returns = tuple(TASK_RETURNS[task]) + (("mesh",) if with_mesh else ())
    if kind == "synthetic":
        from spacetime.shapes.datasets import SyntheticShapes

        n_obj = opts["objects_per_category"]
        if split != "train":
            n_obj = max(1, n_obj // 4)
        ds = SyntheticShapes(
            opts.get("cache"), split, categories=opts.get("categories"),
            num_objects_per_category=n_obj, views_per_object=opts["views"],
            image_size=opts["image_size"], voxel_resolution=opts["voxel_resolution"],
            num_points=opts["num_points"], num_occupancy_samples=opts["occ_samples"],
            mesh_resolution=opts["mesh_resolution"], seed=opts["seed"], returns=returns,
            progress=sys.stderr.isatty(),
        )
        return ds, list(ds.class_names)
    if kind == "shapenet":
        from spacetime.shapes.datasets import ShapeNetCore

        base: Any = ShapeNetCore(parts[0])
        names = list(base.class_names)
    elif kind == "r2n2":
        from spacetime.shapes.datasets import R2N2

        base = R2N2(parts[0], parts[1], parts[2], parts[3],
                    split="train" if split == "train" else "test", return_voxels=False)
        names = list(base.class_names)
    elif kind == "pix3d":
        from spacetime.shapes.datasets import Pix3D

        base = Pix3D(parts[0])
        names = list(base.class_names)
    else:
        from spacetime.shapes.datasets import ModelNet

        base = ModelNet(parts[0], "train" if split == "train" else "test", return_mesh=True)
        names = list(base.class_names)
    n = len(base)
    if kind in ("r2n2", "modelnet"):
        idx = list(range(n)) if split != "val" else [i for i in range(n) if i % 5 == 4]
    elif split == "train":
        idx = [i for i in range(n) if i % 5 != 4]
    else:
        idx = [i for i in range(n) if i % 5 == 4] or list(range(n))
    ds = MeshNormalizedDataset(base, names, returns, indices=idx,
                               image_size=opts["image_size"],
                               voxel_resolution=opts["voxel_resolution"],
                               num_points=opts["num_points"],
                               num_occupancy_samples=opts["occ_samples"], seed=opts["seed"])
    return ds, names


def _model_kwargs(name: str, num_classes: int, opts: dict[str, Any],
                  extra: dict[str, Any]) -> dict[str, Any]:
    """Builder kwargs from the data geometry (only those the builder takes) + ``extra``."""
    import inspect

    from spacetime.checks import check_in
    from spacetime.errors import InputError
    from spacetime.shapes.models import MODEL_TASKS, SHAPE_MODEL_BUILDERS

    check_in(name, "model", sorted(MODEL_TASKS))  # the models with a CLI task
    params = inspect.signature(SHAPE_MODEL_BUILDERS[name]).parameters
    auto = {"num_classes": num_classes, "image_size": opts["image_size"],
            "resolution": opts["voxel_resolution"], "num_points": opts["num_points"]}
    kwargs = {k: v for k, v in auto.items() if k in params}
    for k, v in extra.items():
        if k not in params:
            raise InputError(f"--model-kwargs: {name} does not take {k!r}; it takes "
                             f"{', '.join(params)}")
        kwargs[k] = v
    return kwargs


def _build_model(name: str, kwargs: dict[str, Any]) -> Any:
    from spacetime.shapes.models import SHAPE_MODEL_BUILDERS

    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return SHAPE_MODEL_BUILDERS[name](**fixed)


def _load_model(path: str, device: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from spacetime.engine import load_checkpoint
    from spacetime.errors import FileFormatError

    state = load_checkpoint(path, map_location="cpu")
    meta = state.get("meta") or {}
    for key in ("model", "model_kwargs", "classes", "task"):
        if key not in meta:
            raise FileFormatError(f"checkpoint {path!r}: missing meta[{key!r}]; it was not "
                                  "written by `spacetime shapes train`")
    model = _build_model(meta["model"], dict(meta["model_kwargs"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), meta, state


# ============================================================================ commands


def _cmd_train(args: argparse.Namespace) -> int:
    from spacetime.engine import (
        TrainConfig,
        Trainer,
        build_loader,
        cleanup_distributed,
        init_distributed,
        seed_everything,
    )
    from spacetime.errors import MissingFileError
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models import MODEL_TASKS, ShapeStep

    opts = _data_opts(args)
    _model_kwargs(args.model, 1, opts, args.model_kwargs)  # validate the name and kwargs first
    info = init_distributed(args.device)
    try:
        seed_everything(args.seed)
        task = MODEL_TASKS[args.model]
        train, classes = _datasets(args.data, task, opts, "train")
        val, _ = _datasets(args.data, task, opts, "val")
        kwargs = _model_kwargs(args.model, len(classes), opts, args.model_kwargs)
        model = _build_model(args.model, kwargs)
        train_loader = build_loader(train, args.batch_size, shuffle=True, seed=args.seed,
                                    num_workers=args.num_workers, collate_fn=collate_3d,
                                    drop_last=len(train) > args.batch_size,
                                    pin_memory=args.device.startswith("cuda"))
        val_loader = build_loader(val, args.batch_size, num_workers=args.num_workers,
                                  collate_fn=collate_3d) if len(val) else None
        cfg = TrainConfig(
            epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
            weight_decay=args.weight_decay, scheduler=args.scheduler, grad_clip=args.grad_clip,
            amp=not args.no_amp, seed=args.seed, device=args.device, out_dir=args.out,
            progress=not args.no_progress, tensorboard=not args.no_tensorboard,
            monitor="val/loss" if val_loader is not None else "train/loss", monitor_mode="min",
        )
        meta = {"model": args.model, "model_kwargs": kwargs, "classes": classes, "task": task,
                "data": args.data, "data_options": opts}
        if task == "mesh":
            meta["use_gt_depth"] = not args.no_gt_depth
        resume = None
        if args.resume is not None:
            resume = Path(args.out) / "checkpoints" / "last.pt" if args.resume == "auto" \
                else Path(args.resume)
            if not resume.is_file():
                raise MissingFileError(f"--resume: no checkpoint at {str(resume)!r}")
        trainer = Trainer(model, train_loader, val_loader, cfg, meta=meta,
                          log=print if info.is_main else None,
                          step_fn=ShapeStep(task, depth_loss=args.depth_loss,
                                            use_gt_depth=not args.no_gt_depth))
        if info.is_main:
            print(f"training {args.model} ({task}) on {args.data}: {len(classes)} classes, "
                  f"{len(train)} train / {len(val)} val items, "
                  f"{sum(p.numel() for p in model.parameters()):,} parameters, "
                  f"device {trainer.device}, {info.world_size} process(es)")
        trainer.fit(resume=resume)
        if info.is_main:
            print(f"best {trainer.best['metric']} = {trainer.best['value']:.4f} at epoch "
                  f"{trainer.best['epoch']}; run directory: {args.out}")
    finally:
        cleanup_distributed()
    return 0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4g}"
    return str(v)


def metrics_table(res: dict[str, Any]) -> str:
    """A text table: one row per category plus ``mean`` (over samples)."""
    keys = [k for k in res["mean"]]
    rows = [(name, d) for name, d in res["per_category"].items()]
    rows.append(("mean", {**res["mean"], "num_samples": res["num_samples"]}))
    w0 = max([len("category")] + [len(r[0]) for r in rows]) + 2
    widths = [max(len(k), 8) + 2 for k in keys]
    head = "category".ljust(w0) + "n".rjust(6) + "".join(k.rjust(w) for k, w in zip(keys, widths))
    lines = [head, "-" * len(head)]
    for name, d in rows:
        lines.append(name.ljust(w0) + str(d.get("num_samples", "")).rjust(6)
                     + "".join(_fmt(d.get(k, "")).rjust(w) for k, w in zip(keys, widths)))
    return "\n".join(lines)


def _cmd_eval(args: argparse.Namespace) -> int:
    from spacetime.engine import build_loader
    from spacetime.engine.rundir import write_json
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models import evaluate_shape_model

    model, meta, state = _load_model(args.checkpoint, args.device)
    task = meta["task"]
    spec = args.data or meta["data"]
    opts = dict(meta["data_options"])
    with_mesh = task in ("voxels", "octree", "occupancy", "mesh")
    ds, classes = _datasets(spec, task, opts, args.split, with_mesh=with_mesh)
    loader = build_loader(ds, args.batch_size, collate_fn=collate_3d)
    res = evaluate_shape_model(model, task, loader, class_names=classes, device=args.device,
                               mesh_samples=args.mesh_samples,
                               occ_resolution=args.occ_resolution,
                               use_gt_depth=bool(meta.get("use_gt_depth", True)))
    res.update({"checkpoint": str(args.checkpoint), "model": meta["model"],
                "epoch": state.get("epoch"), "data": spec, "split": args.split})
    if task == "mesh":
        res["use_gt_depth"] = bool(meta.get("use_gt_depth", True))
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", res)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    else:
        print(f"{meta['model']} (epoch {state.get('epoch')}) on {spec} [{args.split}], "
              f"{res['num_samples']} samples")
        print(metrics_table(res))
        if "majority_baseline" in res:
            b = res["majority_baseline"]
            print(f"majority-class baseline: {100 * b['accuracy']:.1f} % ({b['class']})")
        if "network_evaluations" in res:
            ne = res["network_evaluations"]
            print(f"occupancy evaluations: {ne['mise']:,} coarse-to-fine vs {ne['dense']:,} "
                  "dense")
        print(f"wrote {out / 'metrics.json'}")
    return 0


def _read_rgb(path: str, size: int) -> Any:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image, UnidentifiedImageError

    from spacetime.errors import FileFormatError, MissingFileError

    if not Path(path).is_file():
        raise MissingFileError(f"INPUT: no file at {path!r}")
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise FileFormatError(f"INPUT: cannot read {path!r} as an image ({exc})") from exc
    x = torch.from_numpy(arr).permute(2, 0, 1)[None]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def _classifier_input(path: str, task: str, meta: dict[str, Any]) -> Any:
    import torch

    from spacetime.shapes.convert import sample_points_from_meshes
    from spacetime.shapes.datasets.synthetic import solid_voxels
    from spacetime.shapes.io import detect_kind, load
    from spacetime.shapes.models import voxels_to_shapenets_input

    kind = detect_kind(path)
    obj = load(path, kind=kind)
    opts = meta["data_options"]
    if kind == "mesh":
        v, f = obj.verts_list()[0].double(), obj.faces_list()[0]
        lo, hi = v.amin(0), v.amax(0)
        v = ((v - (lo + hi) / 2) / (hi - lo).amax().clamp(min=1e-12)).float()
        if task == "point-classification":
            from spacetime.shapes.structures import Meshes

            return sample_points_from_meshes(Meshes([v], [f]), opts["num_points"],
                                             generator=torch.Generator().manual_seed(0))
        g = opts["voxel_resolution"]
        return voxels_to_shapenets_input(solid_voxels((v.double() + 0.5) * g, f, g)[None],
                                         int(meta["model_kwargs"].get("input_size", 30)))
    if kind == "points" and task == "point-classification":
        pts = obj.points_list()[0] if hasattr(obj, "points_list") else obj
        lo, hi = pts.amin(0), pts.amax(0)
        return ((pts - (lo + hi) / 2) / (hi - lo).amax().clamp(min=1e-12))[None].float()
    if kind == "voxels" and task == "voxel-classification":
        grid = obj.grid if hasattr(obj, "grid") else obj
        return voxels_to_shapenets_input(grid[:1] > 0.5,
                                         int(meta["model_kwargs"].get("input_size", 30)))
    from spacetime.errors import InputError

    raise InputError(f"INPUT: a {kind} file cannot feed a {task} model")


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from spacetime.shapes.io import save_depth, save_mesh, save_normals, save_pointcloud
    from spacetime.shapes.models import predict_shapes
    from spacetime.viz.shapes import show

    model, meta, _ = _load_model(args.checkpoint, args.device)
    task = meta["task"]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    summary: dict[str, Any] = {"input": args.input, "model": meta["model"], "task": task}
    if task.endswith("classification"):
        x = _classifier_input(args.input, task, meta).to(args.device)
        with torch.no_grad():
            probs = model(x).float().softmax(1)[0].cpu()
        top = probs.topk(min(5, probs.numel()))
        summary["top"] = [{"class": meta["classes"][int(i)], "probability": float(p)}
                          for p, i in zip(top.values, top.indices)]
        for r, item in enumerate(summary["top"], 1):
            print(f"{r:>2}. {item['class']:<20} {100 * item['probability']:6.2f} %")
    else:
        size = int(meta["model_kwargs"].get("image_size", meta["data_options"]["image_size"]))
        img = _read_rgb(args.input, size).to(args.device)
        depths = None
        if task == "mesh":
            from spacetime.checks import check_positive

            check_positive(args.focal, "--focal")
            if args.depth is not None:
                check_positive(args.depth, "--depth")
                depths = torch.tensor([args.depth], dtype=img.dtype, device=img.device)
        pred = predict_shapes(model, task, img, occ_resolution=args.occ_resolution,
                              focal=args.focal, depths=depths)
        if task == "depth":
            d = pred["depth"][0, 0].cpu()
            save_depth(d, out / "depth.npy")
            written += [out / "depth.npy", show(d, out / "depth.png", kind="depth")]
        elif task == "normals":
            nrm = pred["normals"][0].cpu()
            save_normals(nrm, out / "normals.png")
            written += [out / "normals.png",
                        show(nrm, out / "normals_picture.png", kind="normals")]
        elif task == "points":
            pts = pred["points"][0].cpu()
            save_pointcloud(pts, out / "points.ply")
            written += [out / "points.ply", show(pts, out / "points.png", kind="points")]
        else:
            meshes = pred["meshes"].to("cpu") if hasattr(pred["meshes"], "to") else pred["meshes"]
            empty = meshes.faces_list()[0].shape[0] == 0
            summary["empty_mesh"] = bool(empty)
            if not empty:
                save_mesh(meshes, out / "mesh.obj")
                pic = meshes
                if task == "mesh":  # camera frame (y down) turned y-up for the picture
                    from spacetime.shapes.structures import Meshes

                    flip = torch.tensor([1.0, -1.0, -1.0])
                    pic = Meshes([v * flip for v in meshes.verts_list()], meshes.faces_list())
                written += [out / "mesh.obj", show(pic, out / "mesh.png")]
            if task in ("voxels", "octree"):
                from spacetime.shapes.io import save_voxels
                from spacetime.shapes.structures import VoxelGrid

                probs = pred["probs"].cpu()
                r = probs.shape[-1]
                vg = VoxelGrid(probs[:1], voxel_size=1.0 / r, origin=(-0.5, -0.5, -0.5))
                save_voxels(vg, out / "voxels.npz")
                written.append(out / "voxels.npz")
                if not empty:
                    written.append(show(vg, out / "voxels.png"))
            if task == "mesh":
                summary["frame"] = "camera (OpenCV: x right, y down, z forward)"
                summary["K"] = pred["K"][0].tolist()
                summary["depth"] = float(args.depth if args.depth is not None
                                         else model.init_depth)
                summary["num_verts"] = int(meshes.verts_list()[0].shape[0])
                summary["num_faces"] = int(meshes.faces_list()[0].shape[0])
            if task == "octree":
                summary["octree_cells"] = pred["octree"].num_cells()
            if task == "occupancy":
                summary["network_evaluations"] = pred["num_evaluations"]
                summary["dense_evaluations"] = pred["dense_evaluations"]
            if empty:
                print("the prediction is empty (no occupied voxel / no surface): no mesh written")
    summary["files"] = [str(p) for p in written]
    from spacetime.engine.rundir import write_json

    write_json(out / "prediction.json", summary)
    for p in written:
        print(f"wrote {p}")
    return 0
