"""`spacetime meshrcnn` subcommands: train, evaluate and run Mesh R-CNN (Gkioxari et al. 2019)
(over :mod:`spacetime.api.meshrcnn`).

::

    spacetime meshrcnn train --data synthetic-scenes --epochs 10 --out runs/mrcnn
    spacetime meshrcnn train --data synthetic --preset pretty --out runs/mrcnn-single
    spacetime meshrcnn eval --checkpoint runs/mrcnn/checkpoints/last.pt
    spacetime meshrcnn predict photo.png --checkpoint runs/mrcnn/checkpoints/last.pt -o pred/

``--data``: ``synthetic-scenes`` (default; scene mode with the torchvision Mask R-CNN
detector), ``synthetic`` (single-object mode: image → voxels → mesh, no detector),
``pix3d:ROOT[:TRAIN_JSON:TEST_JSON]`` (scene mode; Mesh R-CNN's S1 / S2 split files) or
``r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON`` (single-object mode on the R2N2 renderings with
camera-aligned voxels). See ``docs/mesh_rcnn.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spacetime.cli._args import add_train_options, json_dict, print_help, print_json, train_options

__all__ = ["register", "DATA_HELP"]

DATA_HELP = ("synthetic-scenes | synthetic | pix3d:ROOT[:TRAIN_JSON:TEST_JSON] | "
             "r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime meshrcnn {train,eval,predict}``."""
    from spacetime.api.meshrcnn import DEFAULTS

    top = subparsers.add_parser(
        "meshrcnn", help="Mesh R-CNN: detection + voxels + mesh refinement (train/eval/predict)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.set_defaults(func=lambda a: print_help(top))
    sub = top.add_subparsers(dest="meshrcnn_command", metavar="SUBCOMMAND")

    t = sub.add_parser("train", help="train; writes a run directory",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--data", default="synthetic-scenes", help=DATA_HELP)
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
    d = t.add_argument_group("data")
    d.add_argument("--categories", default=None, help="comma-separated subset")
    d.add_argument("--image-size", type=int, default=None,
                   help="default 128 (scenes) / 64 (single objects)")
    d.add_argument("--scenes", type=int, default=100, help="synthetic-scenes: train scenes")
    d.add_argument("--objects-per-category", type=int, default=20, help="synthetic")
    d.add_argument("--views", type=int, default=4, help="synthetic: views per object")
    d.add_argument("--mesh-resolution", type=int, default=48, help="synthetic")
    d.add_argument("--cache", default=None, help="synthetic cache folder")
    d.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of each category's training models held out for validation")
    add_train_options(t, DEFAULTS, optimizers=("adam", "adamw", "sgd"))
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="Mesh R-CNN metrics of a checkpoint on the test split",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default=None, help="evaluation data (default: the training data)")
    e.add_argument("--split", default="test", choices=("test", "val"))
    e.add_argument("--protocol", default="meshrcnn", choices=("meshrcnn", "pixel2mesh"),
                   help="single-object mode: gt-10 + F1@0.1/0.3/0.5, or Pixel2Mesh's")
    e.add_argument("--mesh-samples", type=int, default=10000)
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--device", default="auto")
    e.add_argument("--out", default=None, help="folder for metrics.json (default RUN/eval)")
    e.add_argument("--json", action="store_true", help="print the JSON instead of a table")
    e.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="meshes of the objects in an image, with pictures",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("input", help="an RGB image")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--focal", type=float, default=None,
                   help="fx = fy = FOCAL × image size (default 1.0: the synthetic cameras)")
    p.add_argument("--score-thresh", type=float, default=0.5, help="scene mode: min score")
    p.add_argument("--format", default="obj", choices=("obj", "ply", "off", "stl"))
    p.add_argument("--view-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_predict)


def _cmd_train(args: argparse.Namespace) -> int:
    from spacetime.api import meshrcnn

    cats = None
    if args.categories:
        cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    meshrcnn.train(args.data, model_kwargs=args.model_kwargs, preset=args.preset,
                   backbone=args.backbone, detector_checkpoint=args.detector_checkpoint,
                   grid_size=args.grid_size, num_stages=args.num_stages,
                   hidden_dim=args.hidden_dim, categories=cats, image_size=args.image_size,
                   scenes=args.scenes, objects_per_category=args.objects_per_category,
                   views=args.views, mesh_resolution=args.mesh_resolution, cache=args.cache,
                   val_fraction=args.val_fraction, **train_options(args))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from spacetime.api import meshrcnn

    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    result = meshrcnn.evaluate(args.checkpoint, data=args.data, split=args.split,
                               protocol=args.protocol, mesh_samples=args.mesh_samples,
                               batch_size=args.batch_size, device=args.device, out=out)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result)
        print(f"wrote {result.files[0]}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from spacetime.api import meshrcnn

    pred = meshrcnn.predict(args.checkpoint, args.input, out=args.output, focal=args.focal,
                            score_thresh=args.score_thresh, format=args.format,
                            view_size=args.view_size, device=args.device)
    print(pred)
    return 0
