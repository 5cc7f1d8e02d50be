"""What the video classification and two-stream families share: the clip geometry, the
datasets of each split, model arguments and the prediction result."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spacetime.api.checkpoints import complete_model_kwargs
from spacetime.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "VideoDatasets",
    "VideoPrediction",
    "video_model_kwargs",
    "preprocess_for",
    "clip_transform",
    "video_datasets",
    "video_data_options",
    "top_classes",
    "video_clips",
    "InitialWeights",
    "initial_weights",
    "load_initial_weights",
]


def video_model_kwargs(model: str, num_classes: int, frames: int, size: int | tuple[int, int],
                       given: Mapping[str, Any] | None = None,
                       family: str = "video") -> dict[str, Any]:
    """Every builder argument of a video model: the data's ``num_classes`` and clip geometry
    (``num_frames``, ``frame_size``, ``input_size`` for the builders that take them), the
    user's ``given`` ones, then the defaults."""
    hw = [size, size] if isinstance(size, int) else list(size)
    auto = {"num_classes": num_classes, "num_frames": frames, "frame_size": hw,
            "input_size": [frames, *hw]}
    return complete_model_kwargs(family, model, given, auto)


def preprocess_for(kind: str, frames: int, size: int) -> dict[str, Any]:
    """How clips are prepared for a model trained at ``frames`` × ``size`` × ``size``:
    synthetic data is generated at size; files are decoded with the short side at
    ``size · 128 / 112`` and centre- (eval) or randomly (train) cropped (C3D's recipe);
    Kinetics mean / std."""
    from spacetime.video.transforms import KINETICS_MEAN, KINETICS_STD

    synthetic = kind == "synthetic-motion"
    resize_to = size if synthetic else max(size, round(size * 128 / 112))
    return {"kind": "synthetic" if synthetic else "crop", "frames": frames, "size": size,
            "resize_to": resize_to, "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD)}


def clip_transform(pre: Mapping[str, Any], train: bool) -> Any:
    """uint8 ``(T, 3, H, W)`` → normalised float ``(3, T, H, W)`` by ``pre``
    (:func:`preprocess_for`). Synthetic clips are never flipped (left ≠ right there)."""
    from spacetime.video import transforms as tr

    if pre["kind"] == "synthetic":
        return tr.Compose([tr.ToFloat(), tr.Resize(pre["size"]),
                           tr.Normalize(pre["mean"], pre["std"]), tr.ConvertLayout()])
    make = tr.video_train_transform if train else tr.video_eval_transform
    return make(pre["size"], pre["resize_to"], mean=pre["mean"], std=pre["std"])


@dataclass
class VideoDatasets:
    """The datasets of one data source and run: ``datasets[split]``, class names, the split
    rule (one line) and the group id of every item (``groups[split]``)."""

    datasets: dict[str, Any]
    class_names: list[str]
    rule: str
    groups: dict[str, list[str]] = field(default_factory=dict)


def video_datasets(
    data: str,
    options: Mapping[str, Any],
    splits: tuple[str, ...],
    *,
    train_transform: Any,
    eval_transform: Any,
    decode_size: int | None = None,
    num_clips: int = 1,
    frames: int | None = None,
    on_error: str = "skip",
) -> VideoDatasets:
    """Datasets of ``splits`` (``"train"``: one random clip per video, ``"val"``: the centre
    clip, ``"test"`` — and ``"val"`` when ``num_clips > 1`` — ``num_clips`` evenly spaced clips
    stacked per video) for ``data`` under ``options`` (``frames``, ``size``, ``classes``,
    ``videos_per_class``, ``fold``, ``val_fraction``, ``seed``). ``frames`` overrides the clip
    length (two-stream windows)."""
    from spacetime.video.clips import RandomClipSampler, UniformClipSampler
    from spacetime.video.datasets import (
        LabeledVideoDataset,
        MultiClipVideos,
        SyntheticMotion,
        VideoData,
        video_splits,
    )

    spec = VideoData.parse(data)
    T = int(frames or options["frames"])
    seed = int(options.get("seed", 0))
    out: dict[str, Any] = {}
    if spec.kind == "synthetic-motion":
        vpc = int(options.get("videos_per_class", 24))
        common = {"classes": options.get("classes", "all"), "size": int(options["size"]),
                  "seed": seed}
        names: list[str] = []
        for split in splits:
            n = vpc if split == "train" else max(2, vpc // 4)
            if split == "train" or (split == "val" and num_clips == 1):
                t = train_transform if split == "train" else eval_transform
                ds: Any = SyntheticMotion(split, videos_per_class=n, num_frames=T, transform=t,
                                          **common)
            else:
                base = SyntheticMotion(split, videos_per_class=n,
                                       num_frames=T if num_clips == 1 else 2 * T, **common)
                ds = MultiClipVideos(base, T, num_clips, eval_transform)
            out[split], names = ds, list(ds.class_names)
        groups = {s: [f"synthetic://{s}/{i}" for i in range(len(out[s]))] for s in splits}
        return VideoDatasets(out, names, "synthetic-motion: generated train / val / test "
                             f"splits (disjoint seed streams, seed {seed})", groups)
    lists = video_splits(spec, fold=int(options.get("fold", 1)),
                         val_fraction=float(options.get("val_fraction", 0.1)), seed=seed)
    kw = {"decode_size": decode_size, "on_error": on_error}
    for split in splits:
        videos = lists.split(split)
        if split == "test" and not videos:
            raise InputError(f"data: {spec} has no test split ({lists.rule}); pass data with "
                             "one, e.g. kinetics:ROOT:TRAIN_CSV:VAL_CSV")
        if split == "train":
            out[split] = LabeledVideoDataset(videos, lists.class_names,
                                             clip_sampler=RandomClipSampler(T),
                                             transform=train_transform, seed=seed, **kw)
        else:
            k = 1 if split == "val" and num_clips == 1 else num_clips
            out[split] = LabeledVideoDataset(videos, lists.class_names,
                                             clip_sampler=UniformClipSampler(T, k),
                                             transform=eval_transform, multi_clip=k > 1, **kw)
    return VideoDatasets(out, lists.class_names, lists.rule,
                         {s: lists.groups[s] for s in splits})


def video_data_options(frames: int, size: int, classes: str, videos_per_class: int, fold: int,
                  val_fraction: float, seed: int) -> dict[str, Any]:
    """The data options of a video run (validated), as stored in its checkpoints."""
    from spacetime.checks import check_in, check_int

    check_int(frames, "frames", min_value=1)
    check_int(size, "size", min_value=8)
    check_in(classes, "classes", ("motion", "appearance", "all"))
    check_int(videos_per_class, "videos_per_class", min_value=1)
    check_in(fold, "fold", (1, 2, 3))
    if not 0.0 <= float(val_fraction) < 1.0:
        raise InputError(f"val_fraction: expected a value in [0, 1), got {val_fraction}")
    return {"frames": frames, "size": size, "classes": classes,
            "videos_per_class": videos_per_class, "fold": fold,
            "val_fraction": float(val_fraction), "seed": seed}


@dataclass
class VideoPrediction:
    """The classes of one video: ``top`` is ``[{"class", "index", "probability"}]`` (best
    first); ``probabilities`` ``(C,)`` is the mean over ``num_clips`` clips."""

    video: str
    model: str
    num_clips: int
    top: list[dict[str, Any]]
    probabilities: torch.Tensor = field(repr=False)

    def __str__(self) -> str:
        lines = [f"{self.video}: {self.model}, probabilities averaged over {self.num_clips} "
                 "clip(s)"]
        for rank, r in enumerate(self.top, start=1):
            lines.append(f"{rank:>2}. {r['class']:<24} {100 * r['probability']:6.2f} %")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"video": self.video, "model": self.model, "num_clips": self.num_clips,
                "top": self.top}


def top_classes(probs: torch.Tensor, classes: list[str], k: int) -> list[dict[str, Any]]:
    """``[{"class", "index", "probability"}]`` of the ``k`` most probable classes."""
    top = probs.topk(min(k, len(classes)))
    return [{"class": classes[int(i)], "index": int(i), "probability": float(p)}
            for p, i in zip(top.values, top.indices)]


def video_clips(path: str | os.PathLike, pre: Mapping[str, Any], num_clips: int,
                transform: Any, frames: int | None = None) -> torch.Tensor:
    """``num_clips`` evenly spaced clips of a video file, decoded at the training geometry and
    passed through ``transform``: ``(K, ...)``."""
    import torch

    from spacetime.video.clips import UniformClipSampler, clips_to_indices
    from spacetime.video.io import read_video, video_info

    T = int(frames or pre["frames"])
    info = video_info(path)
    idx = clips_to_indices(UniformClipSampler(T, num_clips)(info.num_frames, info.fps))
    size = (pre["size"], pre["size"]) if pre["kind"] == "synthetic" else pre["resize_to"]
    frames_ = read_video(path, frame_indices=idx.flatten(), size=size, strict=True)
    frames_ = frames_.view(*idx.shape, *frames_.shape[1:])  # (K, T, 3, H, W)
    return torch.stack([transform(clip) for clip in frames_])




#: builder arguments a fine-tuning run takes from its data, not from the initial weights
_DATA_ARGUMENTS = ("num_classes", "num_frames", "frame_size", "input_size", "checkpoint")


@dataclass
class InitialWeights:
    """Weights to start a training run from: ``state`` (our key names), the architecture
    arguments they imply (``model_kwargs``, data-dependent ones removed), the input
    normalisation they expect (``mean``, ``std``) and where they came from (``source``)."""

    state: dict[str, Any]
    model: str
    model_kwargs: dict[str, Any]
    mean: list[float]
    std: list[float]
    source: str


def initial_weights(weights: str | os.PathLike, from_format: str | None,
                    model: str) -> InitialWeights:
    """Read ``weights``: a spacetime checkpoint (``from_format=None``, e.g. one written by
    ``spacetime weights convert``) or a peer file converted in memory
    (:data:`spacetime.weights.FORMATS`). The weights must be a ``model``.

    Raises:
        InputError: the weights are another model. MissingFileError / FileFormatError: as
        :func:`spacetime.api.load_model`.
    """
    from spacetime.api.checkpoints import load_model

    loaded = load_model(weights=weights, from_format=from_format, device="cpu",
                        families=("video", "two-stream"))
    label = f"{weights}" + (f" ({from_format})" if from_format else "")
    if loaded.spec.model != model:
        raise InputError(f"weights: {label} holds a {loaded.spec.model} model; this run "
                         f"trains {model}")
    pre = loaded.spec.preprocess
    from spacetime.video.transforms import KINETICS_MEAN, KINETICS_STD

    return InitialWeights(
        {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}, model,
        {k: v for k, v in loaded.spec.model_kwargs.items() if k not in _DATA_ARGUMENTS},
        [float(v) for v in pre.get("mean", KINETICS_MEAN)],
        [float(v) for v in pre.get("std", KINETICS_STD)], label)


def load_initial_weights(net: Any, init: InitialWeights) -> list[str]:
    """Copy ``init`` into ``net``: every tensor must fit except the classifier (the last
    linear layer), which keeps its fresh init when the number of classes differs. Returns
    the names of the re-initialised tensors.

    Raises:
        InputError: another tensor does not fit (e.g. C3D's fc6 when the clip size differs
            from the weights'); the message lists them.
    """
    from torch import nn

    own = net.state_dict()
    head = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1:]
    fresh, bad = [], []
    for k, v in own.items():
        got = init.state.get(k)
        if got is not None and tuple(got.shape) == tuple(v.shape):
            continue
        if head and k.startswith(head[0] + "."):
            fresh.append(k)
        else:
            have = "missing" if got is None else f"{tuple(got.shape)}"
            bad.append(f"{k}: model {tuple(v.shape)}, weights {have}")
    if bad:
        raise InputError(f"weights: {init.source} does not fit the model of this run: "
                         f"{'; '.join(bad[:4])}{' ...' if len(bad) > 4 else ''} (train at the "
                         "weights' clip size, e.g. frames=16, size=112 for C3D)")
    net.load_state_dict({k: v for k, v in init.state.items() if k in own and k not in fresh},
                        strict=False)
    return fresh
