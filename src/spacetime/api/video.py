"""Video classification (single frame, late / early / slow fusion, C3D, video ResNets, the
lecture's toy models): :func:`train`, :func:`evaluate`, :func:`predict`, :func:`load_model`.

::

    from spacetime.api import video

    run = video.train("slow-fusion", "synthetic-motion", out="runs/sf", classes="motion",
                      frames=8, size=32, epochs=6, optimizer="adam", lr=0.01,
                      model_kwargs={"channels": [16, 32, 32]})
    result = video.evaluate(run.best_checkpoint, num_clips=2)     # the test split
    print(result)                                                  # a table
    video.predict(run.best_checkpoint, "clip.mp4").top              # [{class, probability}]

``data`` is a ``--data`` string (:data:`~spacetime.video.datasets.VIDEO_DATA_FORMS`); which
videos are train / val / test is the documented rule of :mod:`spacetime.video.datasets.splits`
(validation is carved from the training data, evaluation scores the test split). Two-stream
checkpoints are handed to :mod:`spacetime.api.two_stream`.
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
    checkpoints_of,
    distributed_run,
    engine_config,
    fmt_pct,
    resume_checkpoint,
    train_options,
)
from spacetime.api._video_common import (
    VideoPrediction,
    clip_transform,
    initial_weights,
    load_initial_weights,
    preprocess_for,
    top_classes,
    video_clips,
    video_data_options,
    video_datasets,
    video_model_kwargs,
)
from spacetime.api.checkpoints import LoadedModel, ModelSpec, build_model
from spacetime.api.checkpoints import load_model as _load_any
from spacetime.errors import InputError

__all__ = [
    "DEFAULTS",
    "VideoPrediction",
    "train",
    "evaluate",
    "predict",
    "load_model",
    "video_model_kwargs",
    "preprocess_for",
    "clip_transform",
    "video_datasets",
]

#: training defaults of the video family (:class:`~spacetime.api.TrainOptions`)
DEFAULTS = TrainOptions(out="runs/video", epochs=10, batch_size=8, optimizer="sgd", lr=0.01,
                        scheduler="cosine")


def train(
    model: str = "slow-fusion",
    data: str = "synthetic-motion",
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    frames: int = 16,
    size: int = 112,
    classes: str = "all",
    videos_per_class: int = 24,
    fold: int = 1,
    val_fraction: float = 0.1,
    weights: str | os.PathLike | None = None,
    from_format: str | None = None,
    log: Log = print,
    **options: Any,
) -> TrainResult:
    """Train a video classifier; data-parallel under ``torchrun``.

    Args:
        model: a :data:`~spacetime.video.models.MODEL_BUILDERS` name (``two-stream`` is
            handed to :func:`spacetime.api.two_stream.train` with ``options``).
        data: ``synthetic-motion``, ``folder:ROOT``, ``ucf101:ROOT:SPLITDIR``,
            ``hmdb51:ROOT:SPLITDIR`` or ``kinetics:ROOT:TRAIN_CSV:VAL_CSV``.
        model_kwargs: builder arguments besides the ones taken from the data (``num_classes``,
            ``num_frames``, ``frame_size``, ``input_size``), e.g. ``{"channels": [8, 16]}``
            or ``{"checkpoint": "r3d_18.pth"}`` (initial weights, never downloaded).
        frames, size: clip length ``T`` and frame size ``H = W``.
        classes, videos_per_class: ``synthetic-motion``'s class family (``motion``,
            ``appearance``, ``all``) and training videos per class.
        fold: UCF101 / HMDB51 split 1–3.
        val_fraction: share of each class's training groups held out for validation.
        weights: start from these weights (fine-tuning): a spacetime checkpoint, or with
            ``from_format`` a peer's file (:data:`spacetime.weights.FORMATS`, e.g. C3D
            Sports-1M, torchvision ImageNet). The architecture arguments come from the
            weights, the classifier is re-initialised when the number of classes differs, and
            clips are normalised as the weights expect (their mean / std).
        from_format: the format of ``weights`` (None: a spacetime checkpoint).
        log: where progress lines go (rank 0 only; None: silent).
        **options: :class:`~spacetime.api.TrainOptions` fields (``out``, ``epochs``, ``lr``,
            ``batch_size``, ``device``, ``resume``, ``max_steps``, ``seed``, ...; defaults
            :data:`DEFAULTS`).

    Returns:
        :class:`~spacetime.api.TrainResult`; the checkpoints hold a
        :class:`~spacetime.api.ModelSpec` (:func:`load_model` needs nothing else).
    """
    from spacetime.engine import Trainer, build_loader, seed_everything
    from spacetime.video.datasets import VideoData, collate_clips

    if model == "two-stream":  # trained in stages, with flow: its own module
        from spacetime.api import two_stream

        if weights is not None or from_format is not None:
            raise InputError("weights: initial weights are not supported for two-stream "
                             "training; train spatial-stream from them")

        return two_stream.train(data, model_kwargs=model_kwargs, frames=frames, size=size,
                                classes=classes, videos_per_class=videos_per_class, fold=fold,
                                val_fraction=val_fraction, log=log, **options)
    opts = train_options(DEFAULTS, options)
    spec_data = VideoData.parse(data)
    dopts = video_data_options(frames, size, classes, videos_per_class, fold, val_fraction,
                               opts.seed)
    init = None
    if weights is not None:
        init = initial_weights(weights, from_format, model)
        model_kwargs = {**init.model_kwargs, **(model_kwargs or {})}
    elif from_format is not None:
        raise InputError("from_format: needs weights=PATH")
    video_model_kwargs(model, 1, frames, size, model_kwargs)  # unknown names fail before data
    resume = resume_checkpoint(opts.resume, opts.out)
    with distributed_run(opts.device) as info:
        seed_everything(opts.seed)
        pre = preprocess_for(spec_data.kind, frames, size)
        if init is not None:  # the features were learnt on inputs normalised this way
            pre.update(mean=init.mean, std=init.std)
        # an unreadable video skipped on one rank would desynchronise the ranks: replace it
        on_error = "retry_other" if info.is_distributed else "skip"
        sets = video_datasets(str(spec_data), dopts, ("train", "val"),
                              train_transform=clip_transform(pre, True),
                              eval_transform=clip_transform(pre, False),
                              decode_size=None if pre["kind"] == "synthetic" else pre["resize_to"],
                              on_error=on_error)
        kwargs = video_model_kwargs(model, len(sets.class_names), frames, size, model_kwargs)
        spec = ModelSpec("video", model, kwargs, sets.class_names, str(spec_data), dopts, pre)
        net = build_model(spec)
        if init is not None:
            fresh = load_initial_weights(net, init)
            if info.is_main and log is not None:
                log(f"initial weights: {init.source}; "
                    + (f"re-initialised {', '.join(fresh)} for {len(sets.class_names)} "
                       "classes" if fresh else "every tensor loaded")
                    + f"; clips normalised with mean {[round(m, 4) for m in init.mean]}, "
                      f"std {[round(v, 4) for v in init.std]}")
        train_ds, val_ds = sets.datasets["train"], sets.datasets["val"]
        cuda = str(opts.device).startswith("cuda")
        train_loader = build_loader(train_ds, opts.batch_size, shuffle=True, seed=opts.seed,
                                    num_workers=opts.num_workers, collate_fn=collate_clips,
                                    pin_memory=cuda)
        val_loader = build_loader(val_ds, opts.batch_size, num_workers=opts.num_workers,
                                  collate_fn=collate_clips) if len(val_ds) else None
        trainer = Trainer(net, train_loader, val_loader, engine_config(opts),
                          meta=spec.to_meta(), log=log if info.is_main else None)
        if info.is_main and log is not None:
            log(f"training {model} on {spec_data}: {len(sets.class_names)} classes, "
                f"{len(train_ds)} train / {len(val_ds)} val videos ({sets.rule}), "
                f"{sum(p.numel() for p in net.parameters()):,} parameters, device "
                f"{trainer.device}, {info.world_size} process(es)")
        history = trainer.fit(resume=resume)
        best, last = checkpoints_of(opts.out)
        if info.is_main and log is not None:
            if trainer.best.get("value") is not None:
                log(f"best {trainer.best['metric']} = {trainer.best['value']:.4f} at epoch "
                    f"{trainer.best['epoch']}")
            if opts.out is not None:
                log(f"run directory: {opts.out}")
    return TrainResult(spec, net.eval(), None if opts.out is None else Path(opts.out), best,
                       last, dict(trainer.best), history, len(train_ds), len(val_ds))


def load_model(checkpoint: str | os.PathLike | LoadedModel | None = None, *,
               device: str = "auto", weights: str | os.PathLike | None = None,
               from_format: str | None = None, **convert_options: Any) -> LoadedModel:
    """Rebuild a video (or two-stream) classifier from a checkpoint (no other input).

    ``weights=PATH, from_format=NAME`` converts a peer's weight file in memory instead
    (:data:`spacetime.weights.FORMATS`; options such as ``classes=`` go to the format).
    """
    return _load_any(checkpoint, device=device, families=("video", "two-stream"), weights=weights,
                     from_format=from_format, **convert_options)


def _metrics_table(res: Mapping[str, Any], num_clips: int) -> str:
    head = f"{'level':<8}{'videos/clips':>14}{'top-1 %':>10}{'top-5 %':>10}{'mean class %':>14}"
    lines = [head, "-" * len(head)]
    for level in ("clip", "video"):
        m = res[level]
        lines.append(f"{level:<8}{m['num_samples']:>14}{fmt_pct(m['top1']):>10}"
                     f"{fmt_pct(m.get('top5')):>10}{fmt_pct(m['mean_class_acc']):>14}")
    lines.append(f"video scores: mean of the softmax probabilities of {num_clips} clip(s)")
    return "\n".join(lines)


def _eval_data(loaded: LoadedModel, data: str | None) -> str:
    spec = loaded.spec
    chosen = data or spec.data
    if chosen is None:
        raise InputError("data: the checkpoint names no data; pass data=...")
    return chosen


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
    progress: bool = False,
) -> EvalResult:
    """Clip and video accuracy (top-1, top-5, mean class) on the ``test`` split.

    Each video is cut into ``num_clips`` evenly spaced clips; a video's prediction is the mean
    of its clips' softmax probabilities (the lecture's test-time averaging).

    Args:
        checkpoint: a checkpoint file or a :class:`~spacetime.api.LoadedModel`.
        data: the data source (default: the one the model was trained on); its classes must be
            the checkpoint's.
        split: ``test`` (the default and the honest one) or ``val``.
        out: also write ``metrics.json`` and ``confusion.png`` there.

    Returns:
        :class:`~spacetime.api.EvalResult` with ``metrics["clip"]`` / ``metrics["video"]``
        (``top1``, ``top5``, ``mean_class_acc``, ``num_samples``, ``confusion``).
    """
    from spacetime.checks import check_in, check_int
    from spacetime.engine import build_loader, evaluate_classifier
    from spacetime.engine.plots import plot_confusion_matrix
    from spacetime.engine.rundir import write_json
    from spacetime.video.datasets import VideoData, collate_clips

    check_int(num_clips, "num_clips", min_value=1)
    check_in(split, "split", ("test", "val"))
    loaded = load_model(checkpoint, device=device)
    if loaded.family == "two-stream":
        from spacetime.api import two_stream

        return two_stream.evaluate(loaded, data=data, split=split, num_clips=num_clips,
                                   batch_size=batch_size, num_workers=num_workers, out=out)
    spec = loaded.spec
    source = str(VideoData.parse(_eval_data(loaded, data)))
    pre = spec.preprocess
    sets = video_datasets(source, spec.data_options, (split,),
                          train_transform=None, eval_transform=clip_transform(pre, False),
                          decode_size=None if pre["kind"] == "synthetic" else pre["resize_to"],
                          num_clips=num_clips, frames=int(pre["frames"]))
    if sets.class_names != list(spec.classes):
        raise InputError(f"data: {source} has classes {sets.class_names[:5]}..., the checkpoint "
                         f"was trained on {list(spec.classes)[:5]}...")
    ds = sets.datasets[split]
    loader = build_loader(ds, batch_size, num_workers=num_workers, collate_fn=collate_clips)
    res = evaluate_classifier(loaded.model, loader, num_classes=len(spec.classes),
                              device=loaded.device, progress=progress)
    metrics = {"num_clips": num_clips, "classes": list(spec.classes), "split_rule": sets.rule,
               "clip": dict(res["clip"]), "video": dict(res["video"])}
    result = EvalResult("video", spec.model, source, split, len(ds), metrics,
                        None if loaded.path is None else str(loaded.path), loaded.epoch,
                        _metrics_table(res, num_clips))
    if out is not None:
        d = Path(out)
        write_json(d / "metrics.json", result.to_dict())
        plot_confusion_matrix(res["video"]["confusion"], d / "confusion.png", spec.classes,
                              title=f"{spec.model}: video-level confusion ({num_clips} clips)")
        result.files = [d / "metrics.json", d / "confusion.png"]
    return result


def predict(
    checkpoint: str | os.PathLike | LoadedModel,
    video: str | os.PathLike,
    *,
    num_clips: int = 4,
    topk: int = 5,
    device: str = "auto",
) -> VideoPrediction:
    """The ``topk`` classes of a video file, probabilities averaged over ``num_clips`` clips
    (prepared as in training: the checkpoint's ``preprocess``). Two-stream checkpoints compute
    the flow of each clip with the method they were trained with."""
    import torch

    from spacetime.checks import check_int

    check_int(num_clips, "num_clips", min_value=1)
    check_int(topk, "topk", min_value=1)
    loaded = load_model(checkpoint, device=device)
    if loaded.family == "two-stream":
        from spacetime.api import two_stream

        return two_stream.predict(loaded, video, num_clips=num_clips, topk=topk)
    spec = loaded.spec
    clips = video_clips(video, spec.preprocess, num_clips, clip_transform(spec.preprocess, False))
    with torch.no_grad():
        logits = loaded.model(clips.to(loaded.device)).float().cpu()
    probs = logits.softmax(dim=1).mean(dim=0)
    return VideoPrediction(str(video), spec.model, int(clips.shape[0]),
                           top_classes(probs, list(spec.classes), topk), probs)
