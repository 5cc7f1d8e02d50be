"""`spacetime video` subcommands: train, eval, predict, table (over :mod:`spacetime.api.video`
and :mod:`spacetime.api.two_stream`).

::

    spacetime video train --model slow-fusion --data synthetic-motion --epochs 5 --out runs/sf
    spacetime video eval --checkpoint runs/sf/checkpoints/best.pt --num-clips 4
    spacetime video predict clip.mp4 --checkpoint runs/sf/checkpoints/best.pt
    spacetime video table c3d

Training under ``torchrun --nproc_per_node N -m spacetime video train ...`` runs distributed
data parallel. See ``docs/engine.md`` and ``docs/api.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spacetime.cli._args import (
    LazyChoices,
    add_train_options,
    int_list,
    json_dict,
    print_help,
    print_json,
    train_options,
)
from spacetime.errors import InputError

__all__ = ["register", "DATA_HELP"]
#: the ``--data`` forms (spacetime.video.datasets.VIDEO_DATA_FORMS)
DATA_HELP = ("synthetic-motion | folder:ROOT | ucf101:ROOT:SPLITDIR | hmdb51:ROOT:SPLITDIR | "
             "kinetics:ROOT:TRAIN_CSV:VAL_CSV")


def _model_names() -> list[str]:
    from spacetime.video.models import MODEL_BUILDERS

    return sorted(MODEL_BUILDERS)


def _table_names() -> list[str]:
    from spacetime.analysis import table_model_names

    return table_model_names()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime video {train,eval,predict,table}``."""
    from spacetime.api.two_stream import DEFAULTS

    video = subparsers.add_parser(
        "video", help="video classification: train, evaluate, predict, layer tables",
        description="Video classification (single frame, late/early/slow fusion, C3D, "
        "video ResNets, two-stream) on built-in synthetic data or UCF101 / HMDB51 / Kinetics "
        "/ folders.",
    )
    sub = video.add_subparsers(dest="video_command", metavar="SUBCOMMAND")
    video.set_defaults(func=lambda args: print_help(video))
    models = LazyChoices(_model_names)

    t = sub.add_parser(
        "train", help="train a video classifier; writes a run directory",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train on the train split; validation (best.pt) uses a val split carved "
        "from the training videos; `video eval` scores the test split.",
    )
    t.add_argument("--model", default="slow-fusion", choices=models, metavar="MODEL",
                   help="one of: %(choices)s")
    t.add_argument("--model-kwargs", type=json_dict, default={},
                   help='extra builder kwargs as JSON, e.g. \'{"channels": [8, 16, 32]}\'')
    t.add_argument("--weights", default=None,
                   help="start from these weights (fine-tune): a spacetime checkpoint, or a "
                        "published file with --from (see `spacetime weights formats`)")
    t.add_argument("--from", dest="from_format", default=None,
                   help="the format of --weights (c3d-sports1m, mmaction2-c3d, torchvision)")
    t.add_argument("--data", default="synthetic-motion", help=DATA_HELP)
    d = t.add_argument_group("data")
    d.add_argument("--classes", default="all", choices=("motion", "appearance", "all"),
                   help="synthetic-motion: which class family")
    d.add_argument("--videos-per-class", type=int, default=24,
                   help="synthetic-motion: training videos per class")
    d.add_argument("--split", type=int, default=1, choices=(1, 2, 3),
                   help="ucf101/hmdb51 official split (fold)")
    d.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of each class's training groups held out for validation")
    d.add_argument("--frames", type=int, default=16, help="frames per clip (T)")
    d.add_argument("--size", type=int, default=112, help="clip height and width (H = W)")
    add_train_options(t, DEFAULTS)
    ts = t.add_argument_group("two-stream (--model two-stream)")
    ts.add_argument("--num-flows", type=int, default=10, help="L, stacked flows (2L channels)")
    ts.add_argument("--flow-method", default="dis", help="on-the-fly flow estimator")
    ts.add_argument("--flow-dir", default=None, help="read flow from this `flow cache` instead")
    ts.add_argument("--fusion", default="average", choices=("average", "linear"))
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser(
        "eval", help="clip and video accuracy of a checkpoint on the test split",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("--checkpoint", required=True, help="a checkpoint from `video train`")
    e.add_argument("--num-clips", type=int, default=1,
                   help="clips per video; their probabilities are averaged")
    e.add_argument("--data", default=None,
                   help=f"evaluation data (default: the training data): {DATA_HELP}")
    e.add_argument("--split", default="test", choices=("test", "val"),
                   help="which split to score")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--num-workers", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--out", default=None,
                   help="output folder (default: RUN_DIR/eval next to the checkpoint)")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "predict", help="top-5 classes of a video file (probabilities averaged over clips)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("video", help="video file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--num-clips", type=int, default=4)
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_predict)

    tb = sub.add_parser(
        "table", help="per-layer size / receptive field / multiply-adds table of any model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Layer table of a video model, an image -> 3D model, VoxNet, or the "
        "lecture's 2D references alexnet / vgg16 (spacetime.analysis.model_layer_table).",
    )
    tb.add_argument("model", choices=LazyChoices(_table_names), metavar="MODEL",
                    help="one of: %(choices)s")
    tb.add_argument("--input", type=_named_shape, action="append", default=None,
                    metavar="[NAME=]SHAPE",
                    help="input shape: C,T,H,W (clips, voxel grids), C,H,W (images) or P,D "
                    "(point sets); for models with several inputs repeat it with names in the "
                    "forward's order, e.g. --input rgb=3,112,112 --input flow=20,112,112 "
                    "(default: what the model takes: 3,16,112,112; 3,20,64,64 for toy-*; "
                    "3,224,224 for alexnet / vgg16; 1024,3 for pointnet; rgb + flow for "
                    "two-stream; images + points for occnet)")
    tb.add_argument("--num-classes", type=int, default=None,
                    help="classes (default 101 for video models, 1000 for alexnet / vgg16)")
    tb.add_argument("--model-kwargs", type=json_dict, default={})
    tb.add_argument("--unit", default="auto", choices=("auto", "G", "M"))
    tb.add_argument("--all-layers", action="store_true",
                    help="also list activation / norm / dropout layers")
    tb.set_defaults(func=_cmd_table)


def _named_shape(text: str) -> tuple[str | None, tuple[int, ...]]:
    """``"3,112,112"`` → ``(None, (3, 112, 112))``; ``"rgb=3,112,112"`` → ``("rgb", ...)``."""
    name, sep, dims = text.rpartition("=")
    if sep and not name:
        raise argparse.ArgumentTypeError(f"expected NAME=SHAPE or SHAPE, got {text!r}")
    return (name or None), int_list(dims)


def _cmd_table(args: argparse.Namespace) -> int:
    from spacetime.analysis import format_layer_table, model_layer_table

    given = args.input or []
    named = [name for name, _ in given if name is not None]
    if named and len(named) != len(given):
        raise InputError(f"--input: name every input or none (NAME=SHAPE), got "
                         f"{[f'{n}=' if n else '' for n, _ in given]}")
    if len(set(named)) != len(named):
        raise InputError(f"--input: each name once, got {named}")
    if len(given) > 1 and not named:
        raise InputError("--input: several inputs need names, e.g. --input rgb=3,112,112 "
                         "--input flow=20,112,112")
    shape_arg: tuple[int, ...] | dict[str, tuple[int, ...]] | None = (
        dict(given) if named else (given[0][1] if given else None))
    rows = model_layer_table(args.model, shape_arg, num_classes=args.num_classes,
                             model_kwargs=args.model_kwargs, all_layers=args.all_layers)
    shapes = " + ".join(
        (f"{k} " if len(rows.inputs) > 1 else "") + " x ".join(map(str, v))
        for k, v in rows.inputs.items())
    classes = f"  ({args.num_classes} classes)" if args.num_classes is not None else ""
    print(f"{args.model}  input {shapes}{classes}")
    print(format_layer_table(rows, unit=args.unit))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from spacetime.api import video

    extra: dict = {}
    if args.weights is not None or args.from_format is not None:
        extra = {"weights": args.weights, "from_format": args.from_format}
    if args.model == "two-stream":
        extra.update(num_flows=args.num_flows, flow_method=args.flow_method,
                     flow_dir=args.flow_dir, fusion=args.fusion)
    video.train(args.model, args.data, model_kwargs=args.model_kwargs, frames=args.frames,
                size=args.size, classes=args.classes, videos_per_class=args.videos_per_class,
                fold=args.split, val_fraction=args.val_fraction, **extra, **train_options(args))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from spacetime.api import video

    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    result = video.evaluate(args.checkpoint, data=args.data, split=args.split,
                            num_clips=args.num_clips, batch_size=args.batch_size,
                            num_workers=args.num_workers, device=args.device, out=out,
                            progress=not args.no_progress)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result)
        print("wrote " + " and ".join(str(f) for f in result.files))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from spacetime.api import video

    pred = video.predict(args.checkpoint, args.video, num_clips=args.num_clips, topk=args.topk,
                         device=args.device)
    if args.json:
        print_json(pred.to_dict())
    else:
        print(pred)
    return 0
