"""`spacetime video` subcommands: train, eval, predict, table.

::

    spacetime video train --model slow-fusion --data synthetic-motion --epochs 5 --out runs/sf
    spacetime video eval --checkpoint runs/sf/checkpoints/best.pt --num-clips 4
    spacetime video predict clip.mp4 --checkpoint runs/sf/checkpoints/best.pt
    spacetime video table c3d

``--data`` takes ``synthetic-motion``, ``folder:PATH``, ``ucf101:ROOT:SPLITDIR``,
``hmdb51:ROOT:SPLITDIR`` or ``kinetics:CSV:ROOT``. Training under
``torchrun --nproc_per_node N -m spacetime.cli.main video train ...`` runs distributed data
parallel. See ``docs/engine.md``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "TABLE_DEFAULT_INPUTS", "TOY_MODELS"]

#: lecture toy models available to ``spacetime video table`` besides ``MODEL_BUILDERS``
TOY_MODELS = ("toy-late-fusion", "toy-early-fusion", "toy-slow-fusion")
#: default ``(C, T, H, W)`` per model for ``spacetime video table``
TABLE_DEFAULT_INPUTS = {"toy": (3, 20, 64, 64), "default": (3, 16, 112, 112)}


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from exc


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime video {train,eval,predict,table}``."""
    video = subparsers.add_parser(
        "video", help="video classification: train, evaluate, predict, layer tables",
        description="Video classification (single frame, late/early/slow fusion, C3D, "
        "video ResNets) on built-in synthetic data or UCF101 / HMDB51 / Kinetics / folders.",
    )
    sub = video.add_subparsers(dest="video_command", metavar="SUBCOMMAND")
    video.set_defaults(func=lambda args: _print_help(video))

    # ---------------------------------------------------------------- train
    t = sub.add_parser(
        "train", help="train a video classifier; writes a run directory",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    t.add_argument("--model", default="slow-fusion",
                   help="model name (spacetime.video.models.MODEL_BUILDERS or toy-*)")
    t.add_argument("--model-kwargs", type=_json_dict, default={},
                   help='extra builder kwargs as JSON, e.g. \'{"channels": [8, 16, 32]}\'')
    t.add_argument("--data", default="synthetic-motion",
                   help="synthetic-motion | folder:PATH | ucf101:ROOT:SPLITDIR | "
                   "hmdb51:ROOT:SPLITDIR | kinetics:CSV:ROOT")
    t.add_argument("--classes", default="all", choices=("motion", "appearance", "all"),
                   help="synthetic-motion: which class family")
    t.add_argument("--videos-per-class", type=int, default=24,
                   help="synthetic-motion: training videos per class")
    t.add_argument("--split", type=int, default=1, help="ucf101/hmdb51 split number")
    t.add_argument("--frames", type=int, default=16, help="frames per clip (T)")
    t.add_argument("--size", type=int, default=112, help="clip height and width (H = W)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=8, help="per process")
    t.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "adamw"))
    t.add_argument("--lr", type=float, default=0.01)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--scheduler", default="cosine", choices=("none", "step", "cosine", "onecycle"))
    t.add_argument("--warmup-epochs", type=float, default=0.0)
    t.add_argument("--grad-clip", type=float, default=None, help="max gradient norm")
    t.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--num-workers", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    t.add_argument("--out", default="runs/video", help="run directory")
    t.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                   help="resume from CKPT (default OUT/checkpoints/last.pt)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--no-tensorboard", action="store_true")
    t.set_defaults(func=_cmd_train)

    # ---------------------------------------------------------------- eval
    e = sub.add_parser(
        "eval", help="clip and video accuracy of a checkpoint (metrics JSON + confusion PNG)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("--checkpoint", required=True, help="a checkpoint from `video train`")
    e.add_argument("--num-clips", type=int, default=1,
                   help="clips per video; their probabilities are averaged")
    e.add_argument("--data", default=None, help="evaluation data (default: the training data)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--num-workers", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", default=None,
                   help="output folder (default: RUN_DIR/eval next to the checkpoint)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_cmd_eval)

    # ---------------------------------------------------------------- predict
    p = sub.add_parser(
        "predict", help="top-5 classes of a video file (probabilities averaged over clips)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("video", help="video file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--num-clips", type=int, default=4)
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_predict)

    # ---------------------------------------------------------------- table
    tb = sub.add_parser(
        "table", help="per-layer size / receptive field / multiply-adds table of a model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    tb.add_argument("model", help="c3d | slow-fusion | toy-slow-fusion | ... (any model name)")
    tb.add_argument("--input", type=_int_list, default=None, metavar="C,T,H,W",
                    help="clip shape (default 3,16,112,112; 3,20,64,64 for toy-* models)")
    tb.add_argument("--num-classes", type=int, default=101)
    tb.add_argument("--model-kwargs", type=_json_dict, default={})
    tb.add_argument("--unit", default="auto", choices=("auto", "G", "M"))
    tb.add_argument("--all-layers", action="store_true",
                    help="also list activation / norm / dropout layers")
    tb.set_defaults(func=_cmd_table)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# ============================================================================ helpers


def _builders() -> dict[str, Any]:
    from spacetime.video import models

    builders = dict(models.MODEL_BUILDERS)
    for name in TOY_MODELS:
        fn = getattr(models, name.replace("-", "_"), None)
        if fn is not None:
            builders.setdefault(name, fn)
    return builders


def _model_kwargs(
    name: str, num_classes: int, frames: int, size: int | tuple[int, int],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Builder kwargs: num_classes + the clip geometry for builders that need it + extra."""
    import inspect

    from spacetime.checks import check_in
    from spacetime.errors import InputError

    builders = _builders()
    check_in(name, "model", sorted(builders))
    hw = (size, size) if isinstance(size, int) else tuple(size)
    params = inspect.signature(builders[name]).parameters
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if "num_frames" in params:
        kwargs["num_frames"] = frames
    if "frame_size" in params:
        kwargs["frame_size"] = list(hw)
    if "input_size" in params:
        kwargs["input_size"] = [frames, *hw]
    for k, v in (extra or {}).items():
        if k not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            raise InputError(
                f"model_kwargs: {name} does not take {k!r}; it takes {', '.join(params)}"
            )
        kwargs[k] = v
    return kwargs


def _build_model(name: str, kwargs: dict[str, Any]):
    """Call the builder; lists from JSON become tuples for sequence arguments."""
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return _builders()[name](**fixed)


def _fmt_pct(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{100 * float(v):.2f}"


# ============================================================================ commands


def _cmd_table(args: argparse.Namespace) -> int:
    import torch

    from spacetime.analysis import format_layer_table, layer_table
    from spacetime.errors import InputError

    toy = args.model.startswith("toy-")
    shape = tuple(args.input) if args.input else TABLE_DEFAULT_INPUTS["toy" if toy else "default"]
    if len(shape) != 4:
        raise InputError(f"--input: expected C,T,H,W, got {','.join(map(str, shape))}")
    kwargs = _model_kwargs(args.model, args.num_classes, shape[1], (shape[2], shape[3]),
                           args.model_kwargs)
    with torch.device("meta"):
        model = _build_model(args.model, kwargs)
    rows = layer_table(model, shape, all_layers=args.all_layers)
    print(f"{args.model}  input {' x '.join(map(str, shape))}  ({args.num_classes} classes)")
    print(format_layer_table(rows, unit=args.unit))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spacetime.engine import (
        TrainConfig,
        Trainer,
        build_loader,
        cleanup_distributed,
        init_distributed,
        seed_everything,
    )
    from spacetime.errors import MissingFileError

    info = init_distributed(args.device)
    try:
        seed_everything(args.seed)
        data = _build_datasets(args.data, split="train", frames=args.frames, size=args.size,
                              classes=args.classes, videos_per_class=args.videos_per_class,
                              fold=args.split, seed=args.seed)
        kwargs = _model_kwargs(args.model, len(data.classes), args.frames, args.size,
                               args.model_kwargs)
        model = _build_model(args.model, kwargs)
        train_loader = build_loader(data.train, args.batch_size, shuffle=True, seed=args.seed,
                                    num_workers=args.num_workers,
                                    pin_memory=args.device.startswith("cuda"))
        val_loader = None
        if data.val is not None and len(data.val):
            val_loader = build_loader(data.val, args.batch_size, num_workers=args.num_workers)
        cfg = TrainConfig(
            epochs=args.epochs, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
            weight_decay=args.weight_decay, scheduler=args.scheduler,
            warmup_epochs=args.warmup_epochs, grad_clip=args.grad_clip, amp=not args.no_amp,
            seed=args.seed, device=args.device, out_dir=args.out,
            progress=not args.no_progress, tensorboard=not args.no_tensorboard,
        )
        meta = {"model": args.model, "model_kwargs": kwargs, "classes": list(data.classes),
                "data": data.spec, "frames": args.frames, "size": args.size,
                "seed": args.seed}
        resume = None
        if args.resume is not None:
            resume = Path(args.out) / "checkpoints" / "last.pt" if args.resume == "auto" \
                else Path(args.resume)
            if not resume.is_file():
                raise MissingFileError(f"--resume: no checkpoint at {str(resume)!r}")
        trainer = Trainer(model, train_loader, val_loader, cfg, meta=meta,
                          log=print if info.is_main else None)
        if info.is_main:
            n_val = len(data.val) if data.val is not None else 0
            print(f"training {args.model} on {data.spec}: {len(data.classes)} classes, "
                  f"{len(data.train)} train / {n_val} val clips, "
                  f"{sum(p.numel() for p in model.parameters()):,} parameters, "
                  f"device {trainer.device}, {info.world_size} process(es)")
        trainer.fit(resume=resume)
        if info.is_main:
            print(f"best {trainer.best['metric']} = {trainer.best['value']:.4f} at epoch "
                  f"{trainer.best['epoch']}; run directory: {args.out}")
    finally:
        cleanup_distributed()
    return 0


def _build_datasets(spec: str, **kwargs: Any) -> Any:  # pragma: no cover - filled in later
    from spacetime.errors import DependencyError

    raise DependencyError(f"--data {spec}: the video dataset helpers are not available yet")


def _cmd_eval(args: argparse.Namespace) -> int:  # pragma: no cover - filled in below
    raise NotImplementedError


def _cmd_predict(args: argparse.Namespace) -> int:  # pragma: no cover - filled in below
    raise NotImplementedError
