"""Two-stream networks (Simonyan & Zisserman 2014): :func:`train`, :func:`evaluate`,
:func:`predict`, :func:`load_model`.

::

    from spacetime.api import two_stream

    run = two_stream.train("synthetic-motion", out="runs/ts", classes="all", size=32,
                           num_flows=4, epochs=6, optimizer="adam", lr=0.003)
    print(two_stream.evaluate(run.best_checkpoint, num_clips=4))   # each stream + the fusion

Training runs the spatial stream, the temporal stream, then (``fusion="linear"``) the fusion
layer (:func:`~spacetime.video.models.train_two_stream`), each stage validated on the ``val``
split and restored to its best epoch before the next one. The run directory holds each stage's
own run (``OUT/spatial``, ``OUT/temporal``, ``OUT/fusion``) and the combined model as
``OUT/checkpoints/best.pt`` (every stage at its best epoch) and ``last.pt`` (the same weights,
written last). Flow is estimated on the fly with ``flow_method`` or read from a ``flow_dir``
cache (``spacetime flow cache``; for file data cache at the decoding size, the short side
``round(size * 128 / 112)``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spacetime.api._common import (
    EvalResult,
    Log,
    TrainOptions,
    TrainResult,
    distributed_run,
    engine_config,
    fmt_pct,
    train_options,
)
from spacetime.api._video_common import (
    VideoPrediction,
    preprocess_for,
    top_classes,
    video_data_options,
    video_datasets,
    video_model_kwargs,
)
from spacetime.api.checkpoints import LoadedModel, ModelSpec, build_model
from spacetime.api.checkpoints import load_model as _load_any
from spacetime.errors import InputError

__all__ = ["DEFAULTS", "train", "evaluate", "predict", "load_model", "raw_transform"]

#: training defaults of the two-stream family (each stage uses them)
DEFAULTS = TrainOptions(out="runs/two-stream", epochs=10, batch_size=8, optimizer="sgd",
                        lr=0.01, scheduler="cosine")


def raw_transform(pre: Mapping[str, Any], train: bool, cached: bool) -> Any:
    """uint8 ``(T, 3, H, W)`` → float ``(T, 3, H, W)`` in [0, 1] at the model's geometry: no
    flip (it would have to negate dx) and no crop with a flow cache (the cache is full-frame);
    :class:`~spacetime.video.datasets.FlowClips` normalises the RGB frame."""
    from spacetime.video import transforms as tr

    if pre["kind"] == "synthetic":
        return tr.Compose([tr.ToFloat(), tr.Resize(pre["size"])])
    if cached:
        return tr.ToFloat()
    crop = tr.RandomCrop(pre["size"]) if train else tr.CenterCrop(pre["size"])
    return tr.Compose([tr.ToFloat(), tr.ShortSideResize(pre["resize_to"]), crop])


def _flow_clips(base: Any, spec: ModelSpec, clips_per_video: int | None) -> Any:
    from spacetime.video.datasets import FlowClips

    o, pre = spec.options, spec.preprocess
    return FlowClips(base, num_flows=int(o["num_flows"]), method=o["flow_method"],
                     flow_dir=o.get("flow_dir"), clips_per_video=clips_per_video,
                     mean=pre["mean"], std=pre["std"], seed=int(spec.data_options.get("seed", 0)),
                     memory_cache=pre["kind"] == "synthetic")


def _sets(spec: ModelSpec, data: str, splits: tuple[str, ...], num_clips: int = 1,
          on_error: str = "skip") -> Any:
    pre, cached = spec.preprocess, spec.options.get("flow_dir") is not None
    return video_datasets(
        data, spec.data_options, splits,
        train_transform=raw_transform(pre, True, cached),
        eval_transform=raw_transform(pre, False, cached),
        decode_size=None if pre["kind"] == "synthetic" else pre["resize_to"],
        num_clips=num_clips, frames=int(pre["frames"]), on_error=on_error)


def train(
    data: str = "synthetic-motion",
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    num_flows: int = 10,
    flow_method: str = "dis",
    flow_dir: str | os.PathLike | None = None,
    fusion: str = "average",
    frames: int = 16,
    size: int = 112,
    classes: str = "all",
    videos_per_class: int = 24,
    fold: int = 1,
    val_fraction: float = 0.1,
    log: Log = print,
    **options: Any,
) -> TrainResult:
    """Train a two-stream network stage by stage; data-parallel under ``torchrun``.

    Args:
        data: as :func:`spacetime.api.video.train`.
        model_kwargs: :func:`~spacetime.video.models.two_stream` arguments (``channels``,
            ``temporal_channels``, ``dropout``, ...).
        num_flows: ``L``, stacked flows (``2L`` input channels of the temporal stream).
        flow_method: on-the-fly estimator (``dis``, ``farneback``, ``tvl1``, ...).
        flow_dir: read flow from this cache instead (``spacetime flow cache``).
        fusion: ``average`` (class probabilities) or ``linear`` (a trained layer).
        frames, size, classes, videos_per_class, fold, val_fraction: as for video models;
            the frames read per clip are ``max(frames, L + 1)`` for synthetic data and
            ``L + 1`` for files.
        **options: :class:`~spacetime.api.TrainOptions` fields (defaults :data:`DEFAULTS`).
    """
    from spacetime.checks import check_in, check_int
    from spacetime.engine import build_loader, save_checkpoint, seed_everything
    from spacetime.video.datasets import VideoData, collate_clips
    from spacetime.video.flow.estimate import FLOW_METHODS
    from spacetime.video.models import evaluate_two_stream, train_two_stream

    opts = train_options(DEFAULTS, options)
    check_int(num_flows, "num_flows", min_value=1)
    check_in(fusion, "fusion", ("average", "linear"))
    check_in(flow_method, "flow_method", FLOW_METHODS)
    if opts.resume is not None:
        raise InputError("resume: not supported for two-stream runs (each stage is a run)")
    if opts.out is None:
        raise InputError("out: a two-stream run needs a run directory (each stage's best "
                         "epoch is read back from it)")
    spec_data = VideoData.parse(data)
    T = max(frames, num_flows + 1) if spec_data.kind == "synthetic-motion" else num_flows + 1
    dopts = video_data_options(frames, size, classes, videos_per_class, fold, val_fraction,
                               opts.seed)
    extra = {"num_flows": num_flows, "fusion": fusion, **(model_kwargs or {})}
    video_model_kwargs("two-stream", 1, T, size, extra, family="two-stream")
    with distributed_run(opts.device) as info:
        seed_everything(opts.seed)
        pre = preprocess_for(spec_data.kind, T, size)
        fdir = None if flow_dir is None else str(Path(flow_dir).resolve())
        probe = ModelSpec("two-stream", "two-stream", {}, [], str(spec_data), dopts, pre,
                          {"num_flows": num_flows, "flow_method": flow_method,
                           "flow_dir": fdir, "fusion": fusion})
        sets = _sets(probe, str(spec_data), ("train", "val"),
                     on_error="retry_other" if info.is_distributed else "skip")
        names = sets.class_names
        kwargs = video_model_kwargs("two-stream", len(names), T, size, extra, family="two-stream")
        spec = ModelSpec("two-stream", "two-stream", kwargs, names, str(spec_data), dopts, pre,
                         probe.options)
        net = build_model(spec)
        train_ds = _flow_clips(sets.datasets["train"], spec, None)
        val_ds = _flow_clips(sets.datasets["val"], spec, None)
        cuda = str(opts.device).startswith("cuda")
        train_loader = build_loader(train_ds, opts.batch_size, shuffle=True, seed=opts.seed,
                                    num_workers=opts.num_workers, collate_fn=collate_clips,
                                    pin_memory=cuda)
        val_loader = build_loader(val_ds, opts.batch_size, num_workers=opts.num_workers,
                                  collate_fn=collate_clips) if len(val_ds) else None
        stage_meta = {}
        for stage in ("spatial", "temporal"):
            sk = video_model_kwargs(f"{stage}-stream", len(names), T, size,
                                    {k: v for k, v in kwargs.items()
                                     if k in _stage_args(stage)}, family="two-stream")
            stage_meta[stage] = ModelSpec("two-stream", f"{stage}-stream", sk, names,
                                          str(spec_data), dopts, pre, probe.options).to_meta()
        stage_meta["fusion"] = spec.to_meta()
        cfg = engine_config(opts)
        if info.is_main and log is not None:
            src = f"cache {fdir}" if fdir else f"{flow_method} on the fly"
            log(f"training two-stream (L={num_flows}, flow: {src}, fusion {fusion}) on "
                f"{spec_data}: {len(names)} classes, {len(train_ds)} train / {len(val_ds)} val "
                f"clips ({sets.rule}), {sum(p.numel() for p in net.parameters()):,} parameters")
        histories = train_two_stream(net, train_loader, val_loader, config=cfg,
                                     out_dir=str(opts.out), stage_meta=stage_meta,
                                     keep_best=True, log=log if info.is_main else None)
        ckpt_dir = Path(opts.out) / "checkpoints"
        best: dict[str, Any] = {"metric": "each stage's own validation metric", "stages": {}}
        for stage in ("spatial", "temporal", "fusion"):
            summary = Path(opts.out) / stage / "metrics.json"
            if histories.get(stage) and summary.is_file():
                from spacetime.engine.rundir import read_json

                best["stages"][stage] = read_json(summary).get("best", {})
        state = {"model": net.state_dict(), "meta": spec.to_meta(), "epoch": opts.epochs,
                 "history": [], "best": best}
        if info.is_main:
            save_checkpoint(ckpt_dir / "best.pt", state)
            save_checkpoint(ckpt_dir / "last.pt", state)
            if val_loader is not None and log is not None:
                log(_table(evaluate_two_stream(net, val_loader, device=next(
                    net.parameters()).device), 1))
            if log is not None:
                log(f"checkpoint: {ckpt_dir / 'best.pt'}\nrun directory: {opts.out}")
    history = [dict(row, stage=stage) for stage, rows in histories.items() for row in rows]
    return TrainResult(spec, net.eval(), Path(opts.out), ckpt_dir / "best.pt",
                       ckpt_dir / "last.pt", best, history, len(train_ds), len(val_ds))


def _stage_args(stage: str) -> set[str]:
    import inspect

    from spacetime.video.models import spatial_stream, temporal_stream

    fn = spatial_stream if stage == "spatial" else temporal_stream
    return set(inspect.signature(fn).parameters)


def load_model(checkpoint: str | os.PathLike | LoadedModel | None = None, *,
               device: str = "auto", weights: str | os.PathLike | None = None,
               from_format: str | None = None, **convert_options: Any) -> LoadedModel:
    """Rebuild a two-stream network (or one of its stages) from a checkpoint.

    ``weights=PATH, from_format=NAME`` converts a peer's weight file in memory instead
    (:data:`spacetime.weights.FORMATS`; options such as ``classes=`` go to the format).
    """
    return _load_any(checkpoint, device=device, families=("two-stream",), weights=weights,
                     from_format=from_format, **convert_options)


def _table(res: Mapping[str, Any], num_clips: int) -> str:
    head = f"{'stream':<10}{'clip top-1 %':>14}{'video top-1 %':>15}{'video top-5 %':>15}"
    lines = [head, "-" * len(head)]
    for name in ("spatial", "temporal", "fusion"):
        c, v = res[name]["clip"], res[name]["video"]
        lines.append(f"{name:<10}{fmt_pct(c['top1']):>14}{fmt_pct(v['top1']):>15}"
                     f"{fmt_pct(v.get('top5')):>15}")
    lines.append(f"video scores: mean of the softmax probabilities of {num_clips} clip(s)")
    return "\n".join(lines)


def _whole(loaded: LoadedModel) -> None:
    if loaded.spec.model != "two-stream":
        raise InputError(f"checkpoint: {loaded.path} holds the {loaded.spec.model} stage of a "
                         "two-stream run; use the run's checkpoints/best.pt")


def evaluate(
    checkpoint: str | os.PathLike | LoadedModel,
    *,
    data: str | None = None,
    split: str = "test",
    num_clips: int = 1,
    batch_size: int = 8,
    num_workers: int = 0,
    device: str = "auto",
    out: str | os.PathLike | None = None,
) -> EvalResult:
    """Clip and video accuracy of each stream and of the fusion on the ``test`` split
    (``num_clips`` windows per video, probabilities averaged)."""
    from spacetime.checks import check_in, check_int
    from spacetime.engine import build_loader
    from spacetime.engine.rundir import write_json
    from spacetime.video.datasets import VideoData, collate_clips
    from spacetime.video.models import evaluate_two_stream

    check_int(num_clips, "num_clips", min_value=1)
    check_in(split, "split", ("test", "val"))
    loaded = load_model(checkpoint, device=device)
    _whole(loaded)
    spec = loaded.spec
    source = str(VideoData.parse(data or spec.data))
    sets = _sets(spec, source, (split,), num_clips=num_clips)
    if sets.class_names != list(spec.classes):
        raise InputError(f"data: {source} has classes {sets.class_names[:5]}..., the checkpoint "
                         f"was trained on {list(spec.classes)[:5]}...")
    base = sets.datasets[split]
    ds = _flow_clips(base, spec, num_clips)
    loader = build_loader(ds, batch_size, num_workers=num_workers, collate_fn=collate_clips)
    res = evaluate_two_stream(loaded.model, loader, device=loaded.device)
    metrics: dict[str, Any] = {"num_clips": num_clips, "classes": list(spec.classes),
                               "split_rule": sets.rule, "fusion": spec.options["fusion"]}
    metrics.update({name: {level: dict(m) for level, m in r.items()} for name, r in res.items()})
    result = EvalResult("two-stream", spec.model, source, split, len(base), metrics,
                        None if loaded.path is None else str(loaded.path), loaded.epoch,
                        _table(res, num_clips))
    if out is not None:
        write_json(Path(out) / "metrics.json", result.to_dict())
        result.files = [Path(out) / "metrics.json"]
    return result


class _OneVideo:
    """One decoded multi-clip item, the base of :class:`FlowClips` for :func:`predict`."""

    def __init__(self, clips: Any, frame_indices: Any, path: str) -> None:
        self.item = {"video": clips, "label": 0, "video_index": 0,
                     "frame_indices": frame_indices, "path": path}

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.item


def predict(
    checkpoint: str | os.PathLike | LoadedModel,
    video: str | os.PathLike,
    *,
    num_clips: int = 4,
    topk: int = 5,
    device: str = "auto",
) -> VideoPrediction:
    """The ``topk`` classes of a video file by the fused scores, averaged over ``num_clips``
    windows of ``L + 1`` frames; the flow is estimated with the training's ``flow_method``."""
    import torch

    from spacetime.checks import check_int
    from spacetime.video.clips import UniformClipSampler, clips_to_indices
    from spacetime.video.datasets import FlowClips
    from spacetime.video.io import read_video, video_info

    check_int(num_clips, "num_clips", min_value=1)
    check_int(topk, "topk", min_value=1)
    loaded = load_model(checkpoint, device=device)
    _whole(loaded)
    spec, pre, o = loaded.spec, loaded.spec.preprocess, loaded.spec.options
    L = int(o["num_flows"])
    info = video_info(video)
    idx = clips_to_indices(UniformClipSampler(L + 1, num_clips)(info.num_frames, info.fps))
    size = (pre["size"], pre["size"]) if pre["kind"] == "synthetic" else pre["resize_to"]
    frames = read_video(video, frame_indices=idx.flatten(), size=size, strict=True)
    frames = frames.view(*idx.shape, *frames.shape[1:])  # (K, L + 1, 3, H, W)
    t = raw_transform(pre, False, cached=o.get("flow_dir") is not None)  # training geometry
    clips = torch.stack([t(c) for c in frames])
    ds = FlowClips(_OneVideo(clips, idx, str(video)), num_flows=L, method=o["flow_method"],
                   clips_per_video=int(idx.shape[0]), mean=pre["mean"], std=pre["std"])
    items = [ds[i] for i in range(len(ds))]
    rgb = torch.stack([it["rgb"] for it in items]).to(loaded.device)
    flow = torch.stack([it["flow"] for it in items]).to(loaded.device)
    with torch.no_grad():
        s, tl = loaded.model.stream_logits(rgb, flow)
        fused = loaded.model.fuse(s, tl).float().cpu()
    probs = fused.softmax(dim=1).mean(dim=0)
    return VideoPrediction(str(video), spec.model, len(items),
                           top_classes(probs, list(spec.classes), topk), probs)
