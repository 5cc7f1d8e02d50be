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

from spacetime.cli._args import int_list, json_dict, print_help

__all__ = ["register", "TABLE_DEFAULT_INPUTS", "TOY_MODELS"]

#: lecture toy models available to ``spacetime video table`` besides ``MODEL_BUILDERS``
TOY_MODELS = ("toy-late-fusion", "toy-early-fusion", "toy-slow-fusion")
#: default ``(C, T, H, W)`` per model for ``spacetime video table``
TABLE_DEFAULT_INPUTS = {"toy": (3, 20, 64, 64), "default": (3, 16, 112, 112)}




def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime video {train,eval,predict,table}``."""
    video = subparsers.add_parser(
        "video", help="video classification: train, evaluate, predict, layer tables",
        description="Video classification (single frame, late/early/slow fusion, C3D, "
        "video ResNets) on built-in synthetic data or UCF101 / HMDB51 / Kinetics / folders.",
    )
    sub = video.add_subparsers(dest="video_command", metavar="SUBCOMMAND")
    video.set_defaults(func=lambda args: print_help(video))

    # ---------------------------------------------------------------- train
    t = sub.add_parser(
        "train", help="train a video classifier; writes a run directory",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    t.add_argument("--model", default="slow-fusion",
                   help="model name (spacetime.video.models.MODEL_BUILDERS or toy-*)")
    t.add_argument("--model-kwargs", type=json_dict, default={},
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
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="also save last.pt every STEPS optimiser steps inside epochs")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--no-tensorboard", action="store_true")
    ts = t.add_argument_group("two-stream (--model two-stream; see spacetime.cli.two_stream)")
    ts.add_argument("--num-flows", type=int, default=10, help="L, stacked flows (2L channels)")
    ts.add_argument("--flow-method", default="dis", help="on-the-fly flow estimator")
    ts.add_argument("--flow-dir", default=None, help="read flow from this `flow cache` instead")
    ts.add_argument("--fusion", default="average", choices=("average", "linear"))
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
    tb.add_argument("--input", type=int_list, default=None, metavar="C,T,H,W",
                    help="clip shape (default 3,16,112,112; 3,20,64,64 for toy-* models)")
    tb.add_argument("--num-classes", type=int, default=101)
    tb.add_argument("--model-kwargs", type=json_dict, default={})
    tb.add_argument("--unit", default="auto", choices=("auto", "G", "M"))
    tb.add_argument("--all-layers", action="store_true",
                    help="also list activation / norm / dropout layers")
    tb.set_defaults(func=_cmd_table)



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
    if args.model == "two-stream":
        from spacetime.cli.two_stream import cmd_train_two_stream

        return cmd_train_two_stream(args)
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
    from spacetime.video.datasets.base import collate_clips

    info = init_distributed(args.device)
    try:
        seed_everything(args.seed)
        data = _build_datasets(
            args.data, split="train", frames=args.frames, size=args.size, classes=args.classes,
            videos_per_class=args.videos_per_class, fold=args.split, seed=args.seed,
            # a skipped (unreadable) video would desynchronise DDP ranks: replace it instead
            on_error="retry_other" if info.is_distributed else "skip",
        )
        kwargs = _model_kwargs(args.model, len(data.classes), args.frames, args.size,
                               args.model_kwargs)
        model = _build_model(args.model, kwargs)
        train_loader = build_loader(data.train, args.batch_size, shuffle=True, seed=args.seed,
                                    num_workers=args.num_workers, collate_fn=collate_clips,
                                    pin_memory=args.device.startswith("cuda"))
        val_loader = None
        if data.val is not None and len(data.val):
            val_loader = build_loader(data.val, args.batch_size, num_workers=args.num_workers,
                                      collate_fn=collate_clips)
        cfg = TrainConfig(
            epochs=args.epochs, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
            weight_decay=args.weight_decay, scheduler=args.scheduler,
            warmup_epochs=args.warmup_epochs, grad_clip=args.grad_clip, amp=not args.no_amp,
            seed=args.seed, device=args.device, out_dir=args.out,
            progress=not args.no_progress, tensorboard=not args.no_tensorboard,
            checkpoint_every=args.checkpoint_every,
        )
        meta = {"model": args.model, "model_kwargs": kwargs, "classes": list(data.classes),
                "data": data.spec, "frames": args.frames, "size": args.size,
                "preprocess": data.preprocess,
                "data_options": {"classes": args.classes, "fold": args.split,
                                 "videos_per_class": args.videos_per_class, "seed": args.seed}}
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
            best = trainer.best
            if best.get("value") is not None:
                print(f"best {best['metric']} = {best['value']:.4f} at epoch {best['epoch']}")
            print(f"run directory: {args.out}")
    finally:
        cleanup_distributed()
    return 0


class _Data:
    """Datasets for one ``--data`` spec: ``train`` / ``val`` / ``eval`` (any may be None)."""

    def __init__(self, spec: str, classes: list[str], train: Any = None, val: Any = None,
                 eval: Any = None, preprocess: dict[str, Any] | None = None):
        self.spec, self.classes = spec, classes
        self.train, self.val, self.eval = train, val, eval
        self.preprocess = preprocess or {}


class _MultiClip:
    """Cut ``K`` evenly spaced clips of ``T`` frames from each item of an in-memory video dataset
    (items ``{"video": uint8 (T_long, 3, H, W), "label": int, ...}``); the transform is applied
    per clip and the clips are stacked ``(K, ...)``."""

    def __init__(self, base: Any, clip_len: int, num_clips: int, transform: Any):
        from spacetime.video.clips import UniformClipSampler

        self.base, self.transform = base, transform
        self.sampler = UniformClipSampler(clip_len, num_clips)
        self.class_names = list(base.class_names)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        from spacetime.video.clips import clips_to_indices

        item = self.base[index]
        frames = item["video"]
        idx = clips_to_indices(self.sampler(int(frames.shape[0]), 1))  # (K, T)
        clips = torch.stack([self.transform(frames[i]) for i in idx])
        return {"video": clips, "label": item["label"], "video_index": item["video_index"],
                "clip_index": torch.arange(idx.shape[0]), "frame_indices": idx}


def _split_spec(spec: str) -> tuple[str, list[str]]:
    from spacetime.errors import InputError

    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    want = {"synthetic-motion": 0, "folder": 1, "ucf101": 2, "hmdb51": 2, "kinetics": 2}
    if kind not in want or len(parts) != want[kind]:
        raise InputError(
            f"--data: expected synthetic-motion, folder:PATH, ucf101:ROOT:SPLITDIR, "
            f"hmdb51:ROOT:SPLITDIR or kinetics:CSV:ROOT, got {spec!r}"
        )
    return kind, parts


def _preprocess(kind: str, frames: int, size: int) -> dict[str, Any]:
    from spacetime.video.transforms import KINETICS_MEAN, KINETICS_STD

    resize_to = size if kind == "synthetic" else max(size, round(size * 128 / 112))
    return {"kind": kind, "frames": frames, "size": size, "resize_to": resize_to,
            "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD)}


def _transform(pre: dict[str, Any], train: bool) -> Any:
    """Clip transform for uint8 ``(T, 3, H, W)`` clips -> normalised float ``(3, T, H, W)``."""
    from spacetime.video import transforms as tr

    if pre["kind"] == "synthetic":  # generated at the right size; never flip (left != right)
        return tr.Compose([tr.ToFloat(), tr.Resize(pre["size"]),
                           tr.Normalize(pre["mean"], pre["std"]), tr.ConvertLayout()])
    if train:
        return tr.video_train_transform(pre["size"], pre["resize_to"], mean=pre["mean"],
                                        std=pre["std"])
    return tr.video_eval_transform(pre["size"], pre["resize_to"], mean=pre["mean"],
                                   std=pre["std"])


def _build_datasets(
    spec: str,
    *,
    split: str,
    frames: int,
    size: int,
    classes: str = "all",
    videos_per_class: int = 24,
    fold: int = 1,
    seed: int = 0,
    num_clips: int = 1,
    on_error: str = "skip",
    class_names: list[str] | None = None,
) -> _Data:
    """Datasets for ``split="train"`` (train + val) or ``split="eval"`` (multi-clip eval set).

    synthetic-motion: train / val / test splits of :class:`SyntheticMotion`;
    folder:PATH: every 5th video (sorted order) is held out for val / eval;
    ucf101 / hmdb51: the official train / test lists of split ``fold``;
    kinetics:CSV:ROOT: the CSV's videos (train: all of them, no val; eval: all of them).
    """
    from spacetime.checks import check_int
    from spacetime.video.clips import RandomClipSampler, UniformClipSampler

    check_int(frames, "--frames", min_value=1)
    check_int(size, "--size", min_value=8)
    check_int(num_clips, "--num-clips", min_value=1)
    kind, parts = _split_spec(spec)
    pre = _preprocess("synthetic" if kind == "synthetic-motion" else "crop", frames, size)
    if kind == "synthetic-motion":
        from spacetime.video.datasets.synthetic import SyntheticMotion

        check_int(videos_per_class, "--videos-per-class", min_value=1)
        common = {"classes": classes, "size": size, "seed": seed}
        if split == "train":
            t = _transform(pre, train=True)
            train = SyntheticMotion("train", videos_per_class=videos_per_class, num_frames=frames,
                                    transform=t, **common)
            val = SyntheticMotion("val", videos_per_class=max(2, videos_per_class // 4),
                                  num_frames=frames, transform=t, **common)
            return _Data(spec, train.class_names, train=train, val=val, preprocess=pre)
        t = _transform(pre, train=False)
        n_frames = frames if num_clips == 1 else 2 * frames
        test = SyntheticMotion("test", videos_per_class=max(2, videos_per_class // 4),
                               num_frames=n_frames, **common)
        ev = _MultiClip(test, frames, num_clips, t)
        return _Data(spec, ev.class_names, eval=ev, preprocess=pre)

    ds_kw: dict[str, Any] = {"decode_size": pre["resize_to"], "on_error": on_error}
    train_kw = {**ds_kw, "clip_sampler": RandomClipSampler(frames),
                "transform": _transform(pre, True), "seed": seed}
    val_kw = {**ds_kw, "clip_sampler": UniformClipSampler(frames, 1),
              "transform": _transform(pre, False)}
    eval_kw = {**ds_kw, "clip_sampler": UniformClipSampler(frames, num_clips),
               "transform": _transform(pre, False), "multi_clip": True}
    if kind == "folder":
        from torch.utils.data import Subset

        from spacetime.video.datasets.folder import VideoFolder

        if split == "train":
            train, val = VideoFolder(parts[0], **train_kw), VideoFolder(parts[0], **val_kw)
            idx = range(len(train))
            tr_sub = Subset(train, [i for i in idx if i % 5 != 4])
            va_sub = Subset(val, [i for i in idx if i % 5 == 4])
            return _Data(spec, train.class_names, train=tr_sub, val=va_sub, preprocess=pre)
        ev = VideoFolder(parts[0], **eval_kw)
        ev_sub = Subset(ev, [i for i in range(len(ev)) if i % 5 == 4] or list(range(len(ev))))
        return _Data(spec, ev.class_names, eval=ev_sub, preprocess=pre)
    if kind in ("ucf101", "hmdb51"):
        if kind == "ucf101":
            from spacetime.video.datasets.ucf101 import UCF101 as cls
        else:
            from spacetime.video.datasets.hmdb51 import HMDB51 as cls
        root, split_dir = parts
        if split == "train":
            train = cls(root, split_dir, fold, True, **train_kw)
            val = cls(root, split_dir, fold, False, **val_kw)
            return _Data(spec, train.class_names, train=train, val=val, preprocess=pre)
        ev = cls(root, split_dir, fold, False, **eval_kw)
        return _Data(spec, ev.class_names, eval=ev, preprocess=pre)
    from spacetime.video.datasets.kinetics import Kinetics

    csv_path, root = parts
    if split == "train":
        train = Kinetics(root, csv_path, True, class_names=class_names, **train_kw)
        return _Data(spec, train.class_names, train=train, preprocess=pre)
    ev = Kinetics(root, csv_path, False, class_names=class_names, **eval_kw)
    return _Data(spec, ev.class_names, eval=ev, preprocess=pre)


def _load_model(path: str, device: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Rebuild the model stored in a `video train` checkpoint; return (model, meta, state)."""
    from spacetime.engine import load_checkpoint
    from spacetime.errors import FileFormatError

    state = load_checkpoint(path, map_location="cpu")
    meta = state.get("meta") or {}
    for key in ("model", "model_kwargs", "classes"):
        if key not in meta:
            raise FileFormatError(
                f"checkpoint {path!r}: missing meta[{key!r}]; it was not written by "
                "`spacetime video train`"
            )
    model = _build_model(meta["model"], dict(meta["model_kwargs"]))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return model, meta, state


def _metrics_table(res: dict[str, Any], num_clips: int) -> str:
    head = f"{'level':<8}{'videos/clips':>14}{'top-1 %':>10}{'top-5 %':>10}{'mean class %':>14}"
    lines = [head, "-" * len(head)]
    for level in ("clip", "video"):
        m = res[level]
        lines.append(f"{level:<8}{m['num_samples']:>14}{_fmt_pct(m['top1']):>10}"
                     f"{_fmt_pct(m['top5']):>10}{_fmt_pct(m['mean_class_acc']):>14}")
    lines.append(f"video scores: mean of the softmax probabilities of {num_clips} clip(s)")
    return "\n".join(lines)


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spacetime.checks import check_int
    from spacetime.engine import build_loader, evaluate_classifier
    from spacetime.engine.rundir import write_json
    from spacetime.video.datasets.base import collate_clips
    from spacetime.viz.plots import plot_confusion_matrix

    check_int(args.num_clips, "--num-clips", min_value=1)
    model, meta, state = _load_model(args.checkpoint, args.device)
    if meta["model"] == "two-stream":
        from spacetime.cli.two_stream import cmd_eval_two_stream

        return cmd_eval_two_stream(args, model, meta, state)
    classes = list(meta["classes"])
    spec = args.data or meta.get("data")
    opts = dict(meta.get("data_options") or {})
    data = _build_datasets(
        spec, split="eval", frames=int(meta["frames"]), size=int(meta["size"]),
        classes=opts.get("classes", "all"), videos_per_class=opts.get("videos_per_class", 24),
        fold=opts.get("fold", 1), seed=opts.get("seed", 0), num_clips=args.num_clips,
        class_names=classes if spec.startswith("kinetics:") else None,
    )
    if list(data.classes) != classes:
        from spacetime.errors import InputError

        raise InputError(
            f"--data: the checkpoint was trained on classes {classes[:5]}..., "
            f"the data has {list(data.classes)[:5]}..."
        )
    loader = build_loader(data.eval, args.batch_size, num_workers=args.num_workers,
                          collate_fn=collate_clips)
    res = evaluate_classifier(model, loader, num_classes=len(classes), device=args.device,
                              progress=not args.no_progress)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "checkpoint": str(args.checkpoint), "epoch": state.get("epoch"), "data": spec,
        "num_clips": args.num_clips, "classes": classes,
        "clip": {k: v for k, v in res["clip"].items()},
        "video": {k: v for k, v in res["video"].items()},
    }
    write_json(out / "metrics.json", summary)
    plot_confusion_matrix(res["video"]["confusion"], out / "confusion.png", classes,
                          title=f"{meta['model']}: video-level confusion ({args.num_clips} clips)")
    print(f"{meta['model']} (epoch {state.get('epoch')}) on {spec}, {len(classes)} classes")
    print(_metrics_table(res, args.num_clips))
    print(f"wrote {out / 'metrics.json'} and {out / 'confusion.png'}")
    return 0


def _video_clips(path: str, meta: dict[str, Any], num_clips: int) -> Any:
    """``(K, 3, T, H, W)`` float clips of a video file, preprocessed as in training."""
    import torch

    from spacetime.video.clips import UniformClipSampler, clips_to_indices
    from spacetime.video.io import read_video, video_info

    pre = dict(meta.get("preprocess") or _preprocess("crop", meta["frames"], meta["size"]))
    info = video_info(path)
    idx = clips_to_indices(UniformClipSampler(int(pre["frames"]), num_clips)(
        info.num_frames, info.fps))  # (K, T)
    size = (pre["size"], pre["size"]) if pre["kind"] == "synthetic" else pre["resize_to"]
    frames = read_video(path, frame_indices=idx.flatten(), size=size, strict=True)
    frames = frames.view(*idx.shape, *frames.shape[1:])  # (K, T, 3, H, W)
    transform = _transform(pre, train=False)
    return torch.stack([transform(clip) for clip in frames])


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from spacetime.checks import check_int

    check_int(args.num_clips, "--num-clips", min_value=1)
    check_int(args.topk, "--topk", min_value=1)
    model, meta, _ = _load_model(args.checkpoint, args.device)
    classes = list(meta["classes"])
    clips = _video_clips(args.video, meta, args.num_clips)  # (K, 3, T, H, W)
    with torch.no_grad():
        logits = model(clips.to(args.device)).float().cpu()
    probs = logits.softmax(dim=1).mean(dim=0)
    k = min(args.topk, len(classes))
    top = probs.topk(k)
    result = [{"class": classes[int(i)], "index": int(i), "probability": float(p)}
              for p, i in zip(top.values, top.indices)]
    if args.json:
        print(json.dumps({"video": args.video, "num_clips": int(clips.shape[0]),
                          "top": result}, indent=2))
    else:
        print(f"{args.video}: {meta['model']}, probabilities averaged over "
              f"{clips.shape[0]} clip(s)")
        for rank, r in enumerate(result, start=1):
            print(f"{rank:>2}. {r['class']:<24} {100 * r['probability']:6.2f} %")
    return 0
