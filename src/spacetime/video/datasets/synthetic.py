"""SyntheticMotion: the built-in, procedurally generated action dataset (no download).

Motion classes differ **only by motion**: every video shows the same kind of object (a square
with a random 4 x 4 texture of saturated colours) on a random grey textured background, and the
class says how it moves over time:

============  ==================================================================================
class         motion (image axes: x right, y down; angles clockwise on screen)
============  ==================================================================================
move_left     centre x decreases by ``v`` px/frame, wrapping around the frame (a torus)
move_right    x increases by ``v``; move_up: y decreases by ``v``; move_down: y increases by ``v``
rotate_cw     angle increases by ``omega`` rad/frame; rotate_ccw: decreases
grow          log-scale follows a rising sawtooth with period ``scale_period`` frames;
              shrink: a falling sawtooth
============  ==================================================================================

A single frame carries **no class information**: in every class and at every frame the object's
centre is uniform over the frame, its angle uniform in ``[0, 2 pi)``, its log-scale uniform in
``[log s_min, log s_max]`` and its texture and the background come from the same distributions.
This holds because translation wraps around with a uniform random start, rotation starts at a
uniform random angle, and the sawtooth starts at a uniform random phase; classes that do not
move (rotate) keep an equally distributed static position (angle, scale). Only comparing frames
reveals the class, so a single-frame model is at chance (1/8) while a temporal model (e.g. a tiny
3D CNN on 8 x 32 x 32 clips) learns it. Defaults: ``v`` = 2 or 3 px/frame at 32 x 32 (scaled with
``size``), ``omega`` = 0.3 rad/frame, scales 0.7..1.4 of a square covering 20 % of the frame,
``scale_period`` 8 frames.

Appearance classes are the control that a single frame *can* classify: ``red_disc``,
``green_triangle``, ``blue_cross``, ``yellow_ring`` (shape and hue differ), each moving with a
random one of the eight motions.

Generation is seeded and deterministic (same arguments -> bit-identical tensors; splits use
different seeds) and cached as a ``.pt`` file under ``cache_dir`` (default ``$SPACETIME_CACHE`` or
``~/.cache/spacetime``), generated on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from spacetime.checks import check_in, check_int
from spacetime.errors import InputError
from spacetime.fileio import atomic_write
from spacetime.video.datasets.base import item_generator
from spacetime.video.io import default_video_codec, write_video
from spacetime.video.transforms import ClipTransform

__all__ = [
    "MOTION_CLASSES",
    "APPEARANCE_CLASSES",
    "SyntheticMotion",
    "generate_synthetic_motion",
    "synthetic_class_names",
    "default_cache_dir",
]

MOTION_CLASSES = ("move_left", "move_right", "move_up", "move_down",
                  "rotate_cw", "rotate_ccw", "grow", "shrink")
APPEARANCE_CLASSES = ("red_disc", "green_triangle", "blue_cross", "yellow_ring")
_APPEARANCE = {"red_disc": ("disc", 0.0), "green_triangle": ("triangle", 1 / 3),
               "blue_cross": ("cross", 2 / 3), "yellow_ring": ("ring", 1 / 6)}
_SPLITS = {"train": 0, "val": 1, "test": 2}
_VERSION = 1  # bump when the generator changes (invalidates caches)

_AREA = 0.2  # fraction of the frame covered by the object at scale 1
_LOG_S = (float(np.log(0.7)), float(np.log(1.4)))
_OMEGA = 0.3
_SPEEDS = (2.0, 3.0)  # px / frame at 32 x 32
_SCALE_PERIOD = 8
_SUPERSAMPLE = 2


def default_cache_dir() -> Path:
    """``$SPACETIME_CACHE`` if set, else ``~/.cache/spacetime``."""
    env = os.environ.get("SPACETIME_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spacetime"


def synthetic_class_names(classes: str = "motion") -> list[str]:
    """Class names for ``classes="motion"`` (8), ``"appearance"`` (4) or ``"all"`` (12)."""
    check_in(classes, "classes", ("motion", "appearance", "all"))
    if classes == "motion":
        return list(MOTION_CLASSES)
    if classes == "appearance":
        return list(APPEARANCE_CLASSES)
    return list(MOTION_CLASSES + APPEARANCE_CLASSES)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, inputs in [0, 1]; output ``(..., 3)``."""
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, -1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.take_along_axis(table, i[None, ..., None].repeat(3, -1), 0)[0]


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in object coordinates ``u, v`` (the unit square is ``[-0.5, 0.5]^2``)."""
    if shape == "square":
        return (np.abs(u) < 0.5) & (np.abs(v) < 0.5)
    r2 = u * u + v * v
    if shape == "disc":
        return r2 < 0.25
    if shape == "ring":
        return (r2 < 0.25) & (r2 > 0.09)
    if shape == "cross":
        return ((np.abs(u) < 0.5) & (np.abs(v) < 0.17)) | ((np.abs(v) < 0.5) & (np.abs(u) < 0.17))
    if shape == "triangle":
        return (v < 0.4) & (np.abs(u) < (v + 0.5) * 0.5)
    raise InputError(f"shape: unknown shape {shape!r}")


def _trajectory(rng: np.random.Generator, motion: str, T: int, S: int) -> np.ndarray:
    """``(T, 4)`` per-frame ``(cx, cy, angle, log_scale)``; every marginal is class-independent."""
    c0 = rng.uniform(0, S, size=2)
    a0 = rng.uniform(0, 2 * np.pi)
    phase = rng.uniform(0, 1)
    speed = rng.choice(_SPEEDS) * S / 32
    t = np.arange(T, dtype=np.float64)
    vel = {"move_left": (-speed, 0), "move_right": (speed, 0),
           "move_up": (0, -speed), "move_down": (0, speed)}.get(motion, (0.0, 0.0))
    cx = (c0[0] + vel[0] * t) % S
    cy = (c0[1] + vel[1] * t) % S
    spin = {"rotate_cw": 1, "rotate_ccw": -1}.get(motion, 0)
    angle = (a0 + spin * _OMEGA * t) % (2 * np.pi)
    grow = {"grow": 1, "shrink": -1}.get(motion, 0)
    u = (phase + grow * t / _SCALE_PERIOD) % 1.0
    log_s = _LOG_S[0] + u * (_LOG_S[1] - _LOG_S[0])
    return np.stack([cx, cy, angle, log_s], 1)


def _render_video(rng: np.random.Generator, name: str, T: int, S: int) -> tuple[np.ndarray, ...]:
    """One video: uint8 ``(T, 3, S, S)`` and float ``(T, 4)`` parameters."""
    # background: smooth periodic grey texture plus static fine grain (zero saturation)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float64)
    bg = np.full((S, S), 0.4)
    for _ in range(6):
        fx, fy = rng.integers(-3, 4, size=2)
        bg += rng.uniform(0, 0.05) * np.cos(2 * np.pi * (fx * xx + fy * yy) / S
                                            + rng.uniform(0, 2 * np.pi))
    bg = np.clip(bg + rng.normal(0, 0.03, size=(S, S)), 0, 1)
    bg = np.repeat(np.repeat(bg, _SUPERSAMPLE, 0), _SUPERSAMPLE, 1)[None].repeat(3, 0)
    # object: kind, texture colours and motion
    if name in MOTION_CLASSES:
        shape, motion = "square", name
        hues = rng.uniform(0, 1, size=(4, 4))
    else:
        shape, hue = _APPEARANCE[name]
        motion = MOTION_CLASSES[int(rng.integers(len(MOTION_CLASSES)))]
        hues = (hue + rng.uniform(-0.02, 0.02, size=(4, 4))) % 1.0
    colours = _hsv_to_rgb(hues, np.ones((4, 4)), rng.uniform(0.7, 1.0, size=(4, 4)))  # (4,4,3)
    params = _trajectory(rng, motion, T, S)
    side0 = np.sqrt(_AREA) * S
    n = S * _SUPERSAMPLE
    py, px = (np.mgrid[0:n, 0:n].astype(np.float64) + 0.5) / _SUPERSAMPLE
    frames = np.empty((T, 3, S, S), dtype=np.uint8)
    for k, (cx, cy, angle, log_s) in enumerate(params):
        dx = (px - cx + S / 2) % S - S / 2  # toroidal offset from the centre
        dy = (py - cy + S / 2) % S - S / 2
        side = side0 * np.exp(log_s)
        c, s = np.cos(angle), np.sin(angle)
        u = (c * dx + s * dy) / side
        v = (-s * dx + c * dy) / side
        inside = _shape_mask(shape, u, v)
        iu = np.clip(np.floor((u + 0.5) * 4).astype(int), 0, 3)
        iv = np.clip(np.floor((v + 0.5) * 4).astype(int), 0, 3)
        obj = colours[iv, iu].transpose(2, 0, 1)  # (3, n, n)
        img = np.where(inside[None], obj, bg)
        img = img.reshape(3, S, _SUPERSAMPLE, S, _SUPERSAMPLE).mean((2, 4))
        frames[k] = np.round(img * 255).astype(np.uint8)
    return frames, params.astype(np.float32)


def generate_synthetic_motion(
    videos_per_class: int = 32,
    num_frames: int = 16,
    size: int = 64,
    classes: str = "motion",
    split: str = "train",
    seed: int = 0,
) -> dict[str, Any]:
    """Generate the dataset in memory (no caching); see the module docstring.

    Returns:
        ``{"videos": uint8 (N, T, 3, S, S), "labels": int64 (N,), "params": float32 (N, T, 4)
        (cx, cy in px, angle in rad, log-scale), "class_names": list[str]}`` with ``N =
        videos_per_class * num_classes``, classes interleaved (``labels[i] = i % num_classes``).
    """
    check_int(videos_per_class, "videos_per_class", min_value=1)
    check_int(num_frames, "num_frames", min_value=2)
    check_int(size, "size", min_value=8)
    check_int(seed, "seed", min_value=0)
    check_in(split, "split", tuple(_SPLITS))
    names = synthetic_class_names(classes)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLITS[split], _VERSION]))
    N = videos_per_class * len(names)
    videos = np.empty((N, num_frames, 3, size, size), dtype=np.uint8)
    params = np.empty((N, num_frames, 4), dtype=np.float32)
    labels = np.arange(N) % len(names)
    for i in range(N):
        videos[i], params[i] = _render_video(rng, names[labels[i]], num_frames, size)
    return {"videos": torch.from_numpy(videos), "labels": torch.from_numpy(labels).long(),
            "params": torch.from_numpy(params), "class_names": names}


class SyntheticMotion(Dataset):
    """The built-in synthetic action dataset (see the module docstring), generated and cached.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (different seeds).
        classes: ``"motion"`` (8 classes, motion only), ``"appearance"`` (4, single-frame
            solvable control) or ``"all"`` (12).
        videos_per_class: videos of each class in this split.
        num_frames: frames per video (e.g. 8 for tests, 16 like the lecture's clips).
        size: frame height = width in pixels (e.g. 32).
        seed: base seed.
        cache_dir: where the ``.pt`` cache lives (default :func:`default_cache_dir`); the file name
            encodes all arguments; ``cache=False`` generates in memory only.
        transform: applied to each uint8 ``(T, 3, S, S)`` video (ClipTransforms get a generator
            seeded by ``(transform_seed, epoch, index)`` when ``transform_seed`` is an int).

    Items are dicts like the file datasets': ``video``, ``label``, ``video_index``,
    ``clip_index`` (0), ``frame_indices`` (``arange(T)``) and ``path`` (``synthetic://split/i``).
    Attributes: ``videos``, ``labels``, ``params``, ``class_names``, ``cache_path``.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        classes: str = "motion",
        videos_per_class: int = 32,
        num_frames: int = 16,
        size: int = 64,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        cache: bool = True,
        transform: Callable | None = None,
        transform_seed: int | None = None,
    ) -> None:
        self.config = {"split": split, "classes": classes, "videos_per_class": videos_per_class,
                       "num_frames": num_frames, "size": size, "seed": seed,
                       "version": _VERSION}
        synthetic_class_names(classes)
        check_in(split, "split", tuple(_SPLITS))
        key = hashlib.sha1(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:16]
        root = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
        self.cache_path: Path | None = (
            root / "synthetic_motion" / f"{split}_{classes}_{key}.pt" if cache else None)
        data = self._load_cached()
        if data is None:
            data = generate_synthetic_motion(videos_per_class, num_frames, size, classes, split,
                                             seed)
            if self.cache_path is not None:
                with atomic_write(self.cache_path) as f:
                    torch.save({**data, "config": self.config}, f)
        self.videos: torch.Tensor = data["videos"]
        self.labels: torch.Tensor = data["labels"]
        self.params: torch.Tensor = data["params"]
        self.class_names: list[str] = list(data["class_names"])
        self.transform = transform
        self.transform_seed = transform_seed
        self.epoch = 0

    def _load_cached(self) -> dict[str, Any] | None:
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        try:
            data = torch.load(self.cache_path, map_location="cpu", weights_only=True)
            if data.get("config") != self.config:
                raise ValueError("configuration mismatch")
            return data
        except Exception as e:  # noqa: BLE001 - any unreadable cache is regenerated
            warnings.warn(f"regenerating unreadable cache {self.cache_path}: {e}", stacklevel=3)
            return None

    def __len__(self) -> int:
        return int(self.videos.shape[0])

    def set_epoch(self, epoch: int) -> None:
        """Vary seeded transform draws per epoch."""
        self.epoch = check_int(epoch, "epoch", min_value=0)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} videos")
        index = index % len(self)
        video = self.videos[index]
        if self.transform is not None:
            if isinstance(self.transform, ClipTransform):
                g = item_generator(self.transform_seed, self.epoch, index)
                video = self.transform(video, generator=g)
            else:
                video = self.transform(video)
        T = self.videos.shape[1]
        return {"video": video, "label": int(self.labels[index]), "video_index": index,
                "clip_index": 0, "frame_indices": torch.arange(T),
                "path": f"synthetic://{self.config['split']}/{index}"}

    def export(self, root: str | os.PathLike, fps: int = 8, ext: str = ".mp4") -> Path:
        """Write the videos as ``root/<class_name>/<index:05d>.mp4`` (readable by VideoFolder).

        Returns ``root``. Encoding is near-lossless where libx264 is available (crf 0, full
        chroma ``yuv444p``: the textures are saturated and fine).
        """
        root = Path(root).expanduser()
        x264 = default_video_codec() == "libx264"
        for i in range(len(self)):
            name = self.class_names[int(self.labels[i])]
            write_video(root / name / f"{i:05d}{ext}", self.videos[i], fps, crf=0,
                        pix_fmt="yuv444p" if x264 else None)
        return root

    def __repr__(self) -> str:
        c = self.config
        return (f"SyntheticMotion(split={c['split']!r}, classes={c['classes']!r}, {len(self)} "
                f"videos of {c['num_frames']}x{c['size']}x{c['size']}, "
                f"{len(self.class_names)} classes)")
