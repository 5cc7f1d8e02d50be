"""`spacetime shapes` subcommands: train, eval and predict the lecture's 3D models (over
:mod:`spacetime.api.shapes`).

::

    spacetime shapes train --model voxel-gen --data synthetic --epochs 20 --out runs/vgen
    spacetime shapes eval --checkpoint runs/vgen/checkpoints/best.pt
    spacetime shapes predict photo.png --checkpoint runs/vgen/checkpoints/best.pt -o pred/
    spacetime shapes train --model pixel2mesh --epochs 25 --out runs/p2m
    spacetime shapes train --model matryoshka --epochs 20 --out runs/mat

See ``docs/shape_models.md``, ``docs/pixel2mesh.md`` and ``docs/api.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spacetime.cli._args import (
    LazyChoices,
    add_train_options,
    json_dict,
    print_help,
    print_json,
    train_options,
)

__all__ = ["register", "DATA_HELP"]

#: the ``--data`` forms (spacetime.shapes.datasets.SHAPE_DATA_FORMS)
DATA_HELP = ("synthetic | shapenet:ROOT[:SPLIT_CSV] | r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON "
             "| pix3d:ROOT[:TRAIN_JSON:TEST_JSON] | modelnet:ROOT")


def _model_names() -> list[str]:
    from spacetime.shapes.models import MODEL_TASKS

    return sorted(MODEL_TASKS)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime shapes {train,eval,predict}``."""
    from spacetime.api.shapes import DEFAULTS

    shapes = subparsers.add_parser(
        "shapes",
        help="3D models: train, evaluate, predict (depth, voxels, points, occupancy, meshes)",
        description="Train / evaluate / run the lecture's 3D models on the built-in synthetic "
        "shapes or on ShapeNet, R2N2, Pix3D, ModelNet (Pixel2Mesh: synthetic, R2N2, Pix3D).",
    )
    sub = shapes.add_subparsers(dest="shapes_command", metavar="SUBCOMMAND")
    shapes.set_defaults(func=lambda args: print_help(shapes))

    t = sub.add_parser("train", help="train a model; writes a run directory",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Train on the train split; validation (best.pt) uses the "
                       "val split (carved from the training models where the data has none); "
                       "`shapes eval` scores the test split.")
    t.add_argument("--model", default="voxel-gen", choices=LazyChoices(_model_names),
                   metavar="MODEL", help="one of: %(choices)s")
    t.add_argument("--model-kwargs", type=json_dict, default={},
                   help='extra builder kwargs as JSON, e.g. \'{"latent_dim": 64}\'')
    t.add_argument("--data", default="synthetic", help=DATA_HELP)
    d = t.add_argument_group("data")
    d.add_argument("--categories", default=None,
                   help="comma-separated categories to keep (default all)")
    d.add_argument("--objects-per-category", type=int, default=20,
                   help="synthetic: training objects per category (val/test: a quarter)")
    d.add_argument("--views", type=int, default=4, help="synthetic: views per object")
    d.add_argument("--image-size", type=int, default=64)
    d.add_argument("--voxel-resolution", type=int, default=32)
    d.add_argument("--num-points", type=int, default=2048)
    d.add_argument("--occ-samples", type=int, default=2048)
    d.add_argument("--mesh-resolution", type=int, default=48, help="synthetic")
    d.add_argument("--cache", default=None, help="synthetic cache folder")
    d.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of each category's training models held out for validation")
    m = t.add_argument_group("model")
    m.add_argument("--depth-loss", default="l2", choices=("l2", "scale-invariant"),
                   help="depth-fcn training loss")
    m.add_argument("--layer-loss", default="l1", choices=("l1", "l2"),
                   help="matryoshka: loss on the shape-layer depths (empty rays masked)")
    m.add_argument("--weights", default=None,
                   help="start from these weights: a shapes checkpoint of the same model (e.g. "
                        "from `spacetime weights convert --from torchvision --model voxel-gen`), "
                        "or a published file with --from")
    m.add_argument("--from", dest="from_format", default=None,
                   help="the format of --weights (see `spacetime weights formats`)")
    m.add_argument("--no-gt-depth", action="store_true",
                   help="pixel2mesh: start the sphere at the model's init_depth instead of the "
                   "known object distance |t| (the model must infer the distance; eval does "
                   "the same)")
    add_train_options(t, DEFAULTS)
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="metrics of a checkpoint per category and mean (test split)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default=None,
                   help=f"evaluation data (default: the training data): {DATA_HELP}")
    e.add_argument("--split", default="test", choices=("test", "val"), help="which split")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--mesh-samples", type=int, default=2000,
                   help="points sampled per surface for Chamfer / F1 / normal consistency")
    e.add_argument("--occ-resolution", type=int, default=32,
                   help="occnet: marching-cubes resolution (coarse-to-fine from 8 or 16)")
    e.add_argument("--device", default="auto")
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
    p.add_argument("--category", default=None,
                   help="pointnet-seg: the object's category (one of the checkpoint's classes)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_predict)


def _cmd_train(args: argparse.Namespace) -> int:
    from spacetime.api import shapes

    cats = None
    if args.categories:
        cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    shapes.train(args.model, args.data, model_kwargs=args.model_kwargs, categories=cats,
                 objects_per_category=args.objects_per_category, views=args.views,
                 image_size=args.image_size, voxel_resolution=args.voxel_resolution,
                 num_points=args.num_points, occ_samples=args.occ_samples,
                 mesh_resolution=args.mesh_resolution, cache=args.cache,
                 val_fraction=args.val_fraction, depth_loss=args.depth_loss,
                 use_gt_depth=not args.no_gt_depth, layer_loss=args.layer_loss,
                 weights=args.weights, from_format=args.from_format, **train_options(args))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from spacetime.api import shapes

    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    result = shapes.evaluate(args.checkpoint, data=args.data, split=args.split,
                             batch_size=args.batch_size, mesh_samples=args.mesh_samples,
                             occ_resolution=args.occ_resolution, device=args.device, out=out)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result)
        print(f"wrote {result.files[0]}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from spacetime.api import shapes

    pred = shapes.predict(args.checkpoint, args.input, out=args.output,
                          occ_resolution=args.occ_resolution, focal=args.focal,
                          depth=args.depth, category=args.category, device=args.device)
    print(pred)
    return 0
