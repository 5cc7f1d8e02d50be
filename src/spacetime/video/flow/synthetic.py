"""A built-in synthetic optical-flow data set with exact ground truth (FlyingChairs-like).

Each sample is a textured background plus 1-3 textured foreground shapes (ellipses and rotated
rectangles), every layer moved by its own random affine motion (translation, rotation, scale
about the layer centre). Layer ``l`` maps frame-1 pixel ``x`` to ``M_l x`` in frame 2, so:

- frame 1 shows each layer's texture ``T_l`` at ``x`` (inside its shape ``S_l``); frame 2 shows
  ``T_l(M_l^{-1} x')`` inside ``M_l S_l`` (inverse mapping, bilinear texture lookup; shape masks
  are analytic, so edges are exact);
- layers are composited back to front; the ground-truth flow at ``x`` is ``M_l x - x`` for the
  top layer ``l`` at ``x`` in frame 1 (defined at every pixel);
- ``occlusion`` is True where that point is hidden in frame 2 (another layer is on top at
  ``M_l x``) or leaves the frame.

Textures are smooth multi-scale colour noise, so ``warp(frame2, flow) ≈ frame1`` holds on
non-occluded pixels up to bilinear interpolation error. Samples are deterministic functions of
``(seed, split, index)``; ``split="val"`` draws from a disjoint seed stream (held-out set).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import InputError

__all__ = ["SyntheticFlow", "make_synthetic_pair"]

_SPLITS = {"train": 0, "val": 1, "test": 2}


def _texture(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    """Smooth multi-scale colour noise ``(3, h, w)`` in [0, 1]."""
    out = torch.zeros(1, 3, h, w)
    total = 0.0
    for cells, amp in ((3, 1.0), (7, 0.6), (15, 0.4), (31, 0.25)):
        gh = max(2, int(h * cells / max(h, w)) + 2)
        gw = max(2, int(w * cells / max(h, w)) + 2)
        noise = torch.from_numpy(rng.random((1, 3, gh, gw), dtype=np.float32))
        out += amp * F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=True)
        total += amp
    out = out / total
    lo = out.amin(dim=(2, 3), keepdim=True)
    hi = out.amax(dim=(2, 3), keepdim=True)
    out = (out - lo) / (hi - lo + 1e-6)
    base = torch.from_numpy(rng.random(3, dtype=np.float32)).view(1, 3, 1, 1)
    return (0.35 * base + 0.65 * out).clamp(0, 1)[0]


def _affine(rng: np.random.Generator, cx: float, cy: float, max_t: float, max_rot: float,
            max_scale: float) -> np.ndarray:
    """3x3 matrix: rotate/scale about (cx, cy), then translate."""
    ang = math.radians(rng.uniform(-max_rot, max_rot))
    s = 1.0 + rng.uniform(-max_scale, max_scale)
    tx, ty = rng.uniform(-max_t, max_t, size=2)
    c, si = math.cos(ang) * s, math.sin(ang) * s
    a = np.array([[c, -si], [si, c]])
    t = np.array([cx, cy]) - a @ np.array([cx, cy]) + np.array([tx, ty])
    m = np.eye(3)
    m[:2, :2] = a
    m[:2, 2] = t
    return m


def _apply(m: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mt = torch.from_numpy(m).to(torch.float64)
    return mt[0, 0] * x + mt[0, 1] * y + mt[0, 2], mt[1, 0] * x + mt[1, 1] * y + mt[1, 2]


def _sample_texture(tex: torch.Tensor, x: torch.Tensor, y: torch.Tensor, margin: int
                    ) -> torch.Tensor:
    """Bilinear lookup of ``tex`` (covering [-margin, W + margin)) at canonical coords x, y."""
    _, th, tw = tex.shape
    gx = 2.0 * (x + margin) / (tw - 1) - 1.0
    gy = 2.0 * (y + margin) / (th - 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1).float()[None]
    return F.grid_sample(tex[None], grid, mode="bilinear", padding_mode="border",
                         align_corners=True)[0]


class _Shape:
    def __init__(self, rng: np.random.Generator, h: int, w: int):
        self.kind = "ellipse" if rng.random() < 0.5 else "rect"
        self.cx = rng.uniform(0.2, 0.8) * w
        self.cy = rng.uniform(0.2, 0.8) * h
        side = min(h, w)
        self.a = rng.uniform(0.12, 0.3) * side
        self.b = rng.uniform(0.12, 0.3) * side
        self.theta = rng.uniform(0, math.pi)

    def inside(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c, s = math.cos(self.theta), math.sin(self.theta)
        dx, dy = x - self.cx, y - self.cy
        u = (c * dx + s * dy) / self.a
        v = (-s * dx + c * dy) / self.b
        if self.kind == "ellipse":
            return u * u + v * v <= 1.0
        return (u.abs() <= 1.0) & (v.abs() <= 1.0)


def make_synthetic_pair(
    rng: np.random.Generator,
    size: tuple[int, int] = (64, 64),
    *,
    max_layers: int = 3,
    max_translation: float = 4.0,
    max_rotation: float = 5.0,
    max_scale: float = 0.05,
) -> dict[str, torch.Tensor]:
    """One sample: ``frame1``, ``frame2`` float ``(3, H, W)`` in [0, 1], ``flow`` ``(2, H, W)``,
    ``valid`` bool ``(H, W)`` (all True: flow is defined everywhere) and ``occlusion`` bool
    ``(H, W)``. Foreground shapes move up to 1.5 x ``max_translation`` px."""
    h, w = size
    margin = int(math.ceil(2 * max_translation + 0.2 * max(h, w))) + 2
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    n_fg = int(rng.integers(1, max_layers + 1))
    layers: list[tuple[torch.Tensor, np.ndarray, _Shape | None]] = []
    bg_m = _affine(rng, w / 2, h / 2, max_translation, max_rotation, max_scale)
    layers.append((_texture(rng, h + 2 * margin, w + 2 * margin), bg_m, None))
    for _ in range(n_fg):
        shape = _Shape(rng, h, w)
        m = _affine(rng, shape.cx, shape.cy, 1.5 * max_translation, 2 * max_rotation,
                    2 * max_scale)
        layers.append((_texture(rng, h + 2 * margin, w + 2 * margin), m, shape))

    frame1 = torch.zeros(3, h, w)
    frame2 = torch.zeros(3, h, w)
    top1 = torch.zeros(h, w, dtype=torch.long)  # layer index on top in frame 1
    top2 = torch.zeros(h, w, dtype=torch.long)
    flow = torch.zeros(2, h, w, dtype=torch.float64)
    for li, (tex, m, shape) in enumerate(layers):
        inv = np.linalg.inv(m)
        # frame 1: canonical coords = pixel coords
        in1 = torch.ones(h, w, dtype=torch.bool) if shape is None else shape.inside(xs, ys)
        col1 = _sample_texture(tex, xs, ys, margin)
        frame1 = torch.where(in1, col1, frame1)
        top1[in1] = li
        fx, fy = _apply(m, xs, ys)
        flow[0] = torch.where(in1, fx - xs, flow[0])
        flow[1] = torch.where(in1, fy - ys, flow[1])
        # frame 2: canonical coords = M^-1 x'
        cx, cy = _apply(inv, xs, ys)
        in2 = torch.ones(h, w, dtype=torch.bool) if shape is None else shape.inside(cx, cy)
        col2 = _sample_texture(tex, cx, cy, margin)
        frame2 = torch.where(in2, col2, frame2)
        top2[in2] = li
    # occlusion: top layer at the destination in frame 2 differs (nearest pixel), or out of frame
    px = xs + flow[0]
    py = ys + flow[1]
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    ix = px.round().clamp(0, w - 1).long()
    iy = py.round().clamp(0, h - 1).long()
    occ = (~inside) | (top2[iy, ix] != top1)
    return {
        "frame1": frame1.clamp(0, 1).float(),
        "frame2": frame2.clamp(0, 1).float(),
        "flow": flow.float(),
        "valid": torch.ones(h, w, dtype=torch.bool),
        "occlusion": occ,
    }


class SyntheticFlow(Dataset):
    """Seeded synthetic flow pairs (see module docstring); a map-style ``Dataset``.

    Args:
        length: number of samples.
        size: ``(H, W)`` of the frames.
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint seed streams).
        seed: base seed; sample ``i`` depends only on ``(seed, split, i)``.
        max_layers: at most this many foreground shapes (at least 1).
        max_translation: background translation range in pixels (foreground: 1.5 x).
        max_rotation: background rotation range in degrees (foreground: 2 x).
        max_scale: background relative scale change (foreground: 2 x).

    Items are dicts with ``frame1``, ``frame2`` ``(3, H, W)`` float in [0, 1], ``flow``
    ``(2, H, W)`` float32 px, ``valid`` and ``occlusion`` bool ``(H, W)``; the default collate
    stacks them into ``(N, ...)`` batches.
    """

    def __init__(
        self,
        length: int = 1000,
        size: tuple[int, int] | int = (64, 64),
        *,
        split: str = "train",
        seed: int = 0,
        max_layers: int = 3,
        max_translation: float = 4.0,
        max_rotation: float = 5.0,
        max_scale: float = 0.05,
    ):
        check_int(length, "length", min_value=0)
        check_in(split, "split", tuple(_SPLITS))
        check_int(seed, "seed", min_value=0)
        check_int(max_layers, "max_layers", min_value=1)
        check_positive(max_translation, "max_translation", strict=False)
        if isinstance(size, int):
            size = (size, size)
        if len(size) != 2 or min(size) < 8:
            raise InputError(f"size: expected (H, W) with H, W >= 8, got {size!r}")
        self.length = length
        self.size = (int(size[0]), int(size[1]))
        self.split = split
        self.seed = seed
        self.kwargs: dict[str, Any] = dict(
            max_layers=max_layers,
            max_translation=float(max_translation),
            max_rotation=float(max_rotation),
            max_scale=float(max_scale),
        )

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        index = index % self.length
        rng = np.random.default_rng([self.seed, _SPLITS[self.split], index])
        return make_synthetic_pair(rng, self.size, **self.kwargs)
