"""``spacetime video train/eval --model two-stream``: the two-stream protocol behind the CLI.

Called from :mod:`spacetime.cli.video` when the model is ``two-stream``::

    spacetime video train --model two-stream --data synthetic-motion --classes all \\
        --size 32 --num-flows 4 --epochs 6 --out runs/ts
    spacetime video eval --checkpoint runs/ts/checkpoints/last.pt --num-clips 4

Training runs :func:`~spacetime.video.models.train_two_stream` (spatial stream, temporal stream,
then the linear fusion when ``--fusion linear``) on :class:`~spacetime.video.datasets.FlowClips`
items built from the ``--data`` datasets with raw (un-normalised, ``(T, 3, H, W)``) frames; the
flow is computed on the fly with ``--flow-method`` or read from a ``--flow-dir`` cache (made by
``spacetime flow cache``; for file datasets frames are decoded with the short side at
``round(size * 128 / 112)``, so cache with that ``--size``, e.g. 128 for ``--size 112``). The
combined model is saved as ``OUT/checkpoints/last.pt`` (the stages' own runs are in
``OUT/spatial``, ``OUT/temporal``, ``OUT/fusion``). Evaluation averages the clip probabilities
of ``--num-clips`` windows per video, for each stream and the fusion.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["cmd_train_two_stream", "cmd_eval_two_stream"]


def _set_transform(ds: Any, transform: Any) -> None:
    """Set the transform of ``ds`` or of the dataset it wraps (``Subset.dataset``)."""
    while not hasattr(ds, "transform") and hasattr(ds, "dataset"):
        ds = ds.dataset
    ds.transform = transform


def _raw_transform(pre: dict[str, Any], train: bool, cached: bool) -> Any:
    """uint8 ``(T, 3, H, W)`` -> float ``(T, 3, H, W)`` in [0, 1], geometry as the clip models
    (no flip: it would have to negate dx; no crop with a flow cache: the cache is full-frame)."""
    from spacetime.video import transforms as tr

    if pre["kind"] == "synthetic":
        return tr.Compose([tr.ToFloat(), tr.Resize(pre["size"])])
    if cached:
        return tr.ToFloat()
    crop = tr.RandomCrop(pre["size"]) if train else tr.CenterCrop(pre["size"])
    return tr.Compose([tr.ToFloat(), tr.ShortSideResize(pre["resize_to"]), crop])


def _flow_clips(ds: Any, meta: dict[str, Any], train: bool, clips_per_video: int | None) -> Any:
    from spacetime.video.datasets import FlowClips

    opts = meta["two_stream"]
    pre = meta["preprocess"]
    _set_transform(ds, _raw_transform(pre, train, opts["flow_dir"] is not None))
    return FlowClips(ds, num_flows=opts["num_flows"], method=opts["flow_method"],
                     flow_dir=opts["flow_dir"], clips_per_video=clips_per_video,
                     mean=pre["mean"], std=pre["std"], seed=meta["data_options"]["seed"],
                     memory_cache=pre["kind"] == "synthetic")


def _frames_needed(kind: str, frames: int, num_flows: int) -> int:
    return max(frames, num_flows + 1) if kind == "synthetic-motion" else num_flows + 1


def _table(res: dict[str, Any], num_clips: int) -> str:
    from spacetime.cli.video import _fmt_pct

    head = f"{'stream':<10}{'clip top-1 %':>14}{'video top-1 %':>15}{'video top-5 %':>15}"
    lines = [head, "-" * len(head)]
    for name in ("spatial", "temporal", "fusion"):
        c, v = res[name]["clip"], res[name]["video"]
        lines.append(f"{name:<10}{_fmt_pct(c['top1']):>14}{_fmt_pct(v['top1']):>15}"
                     f"{_fmt_pct(v.get('top5')):>15}")
    lines.append(f"video scores: mean of the softmax probabilities of {num_clips} clip(s)")
    return "\n".join(lines)


def cmd_train_two_stream(args: argparse.Namespace) -> int:
    """``spacetime video train --model two-stream``."""
    from spacetime.checks import check_in, check_int
    from spacetime.cli.video import _build_datasets, _build_model, _model_kwargs, _split_spec
    from spacetime.engine import (
        TrainConfig,
        build_loader,
        cleanup_distributed,
        init_distributed,
        save_checkpoint,
        seed_everything,
    )
    from spacetime.errors import InputError
    from spacetime.video.datasets.base import collate_clips
    from spacetime.video.models import evaluate_two_stream, train_two_stream

    check_int(args.num_flows, "--num-flows", min_value=1)
    check_in(args.fusion, "--fusion", ("average", "linear"))
    if args.resume is not None:
        raise InputError("--resume: not supported for two-stream runs (each stage is a run)")
    kind, _ = _split_spec(args.data)
    frames = _frames_needed(kind, args.frames, args.num_flows)
    info = init_distributed(args.device)
    try:
        seed_everything(args.seed)
        data = _build_datasets(
            args.data, split="train", frames=frames, size=args.size, classes=args.classes,
            videos_per_class=args.videos_per_class, fold=args.split, seed=args.seed,
            on_error="retry_other" if info.is_distributed else "skip",
        )
        extra = {"num_flows": args.num_flows, "fusion": args.fusion, **args.model_kwargs}
        kwargs = _model_kwargs(args.model, len(data.classes), frames, args.size, extra)
        model = _build_model(args.model, kwargs)
        flow_dir = str(Path(args.flow_dir).resolve()) if args.flow_dir else None
        meta = {"model": args.model, "model_kwargs": kwargs, "classes": list(data.classes),
                "data": data.spec, "frames": frames, "size": args.size,
                "preprocess": data.preprocess,
                "data_options": {"classes": args.classes, "fold": args.split,
                                 "videos_per_class": args.videos_per_class, "seed": args.seed},
                "two_stream": {"num_flows": args.num_flows, "flow_method": args.flow_method,
                               "flow_dir": flow_dir, "fusion": args.fusion}}
        train_ds = _flow_clips(data.train, meta, True, None)
        train_loader = build_loader(train_ds, args.batch_size, shuffle=True, seed=args.seed,
                                    num_workers=args.num_workers, collate_fn=collate_clips,
                                    pin_memory=args.device.startswith("cuda"))
        val_loader = None
        if data.val is not None and len(data.val):
            val_ds = _flow_clips(data.val, meta, False, None)
            val_loader = build_loader(val_ds, args.batch_size, num_workers=args.num_workers,
                                      collate_fn=collate_clips)
        cfg = TrainConfig(
            epochs=args.epochs, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
            weight_decay=args.weight_decay, scheduler=args.scheduler,
            warmup_epochs=args.warmup_epochs, grad_clip=args.grad_clip, amp=not args.no_amp,
            seed=args.seed, device=args.device, progress=not args.no_progress,
            tensorboard=not args.no_tensorboard, checkpoint_every=args.checkpoint_every,
        )
        if info.is_main:
            n_val = len(val_loader.dataset) if val_loader is not None else 0
            src = f"cache {flow_dir}" if flow_dir else f"{args.flow_method} on the fly"
            print(f"training two-stream (L={args.num_flows}, flow: {src}, fusion "
                  f"{args.fusion}) on {data.spec}: {len(data.classes)} classes, "
                  f"{len(train_ds)} train / {n_val} val clips, "
                  f"{sum(p.numel() for p in model.parameters()):,} parameters")
        train_two_stream(model, train_loader, val_loader, config=cfg, out_dir=args.out,
                         meta=meta, log=print if info.is_main else None)
        if info.is_main:
            model.cpu()
            ckpt = Path(args.out) / "checkpoints" / "last.pt"
            save_checkpoint(ckpt, {"model": model.state_dict(), "meta": meta,
                                   "epoch": args.epochs})
            if val_loader is not None:
                res = evaluate_two_stream(model, val_loader)
                print(_table(res, 1))
            print(f"checkpoint: {ckpt}")
            print(f"run directory: {args.out}")
    finally:
        cleanup_distributed()
    return 0


def cmd_eval_two_stream(
    args: argparse.Namespace, model: Any, meta: dict[str, Any], state: dict[str, Any]
) -> int:
    """``spacetime video eval`` of a two-stream checkpoint: every stream and the fusion."""
    from spacetime.cli.video import _build_datasets
    from spacetime.engine import build_loader
    from spacetime.engine.rundir import write_json
    from spacetime.errors import FileFormatError, InputError
    from spacetime.video.datasets.base import collate_clips
    from spacetime.video.models import evaluate_two_stream

    if "two_stream" not in meta or "preprocess" not in meta:
        raise FileFormatError(f"checkpoint {args.checkpoint!r}: missing two-stream metadata")
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
        raise InputError(
            f"--data: the checkpoint was trained on classes {classes[:5]}..., "
            f"the data has {list(data.classes)[:5]}..."
        )
    ds = _flow_clips(data.eval, meta, False, args.num_clips)
    loader = build_loader(ds, args.batch_size, num_workers=args.num_workers,
                          collate_fn=collate_clips)
    res = evaluate_two_stream(model, loader, device=args.device)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    summary = {"checkpoint": str(args.checkpoint), "data": spec, "num_clips": args.num_clips,
               "classes": classes,
               **{name: {level: {k: v for k, v in m.items()} for level, m in r.items()}
                  for name, r in res.items()}}
    write_json(out / "metrics.json", summary)
    print(f"two-stream ({meta['two_stream']['fusion']} fusion) on {spec}, {len(classes)} classes")
    print(_table(res, args.num_clips))
    print(f"wrote {out / 'metrics.json'}")
    return 0
