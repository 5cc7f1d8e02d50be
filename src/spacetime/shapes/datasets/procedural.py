"""Procedural objects for the synthetic 3D dataset: chairs, tables, lamps, mugs, airplanes and
bottles built from analytic SDF primitives with CSG (:mod:`spacetime.shapes.convert.implicit`),
meshed by marching cubes (Lewiner) and normalised to a canonical frame.

Canonical object frame: +y up, the object's front (chair seat opening, airplane nose, mug
handle on +x) fixed per category, the axis-aligned bounding box centred at the origin and its
longest edge equal to 1, so every object lies in the cube ``[-0.5, 0.5]³`` (bounding sphere radius
at most ``√3 / 2``).

Every category samples its proportions and style (leg shape, back slats, shade type, engines …)
from a ``numpy.random.Generator``, so a seed fixes the object exactly. Parts carry a colour
index; vertices take the colour of the nearest part (smallest part SDF), colours are random per
object.

A mug is a cylinder with a cavity and a torus handle: a closed surface of genus 1
(Euler characteristic ``V − E + F = 0``), which a deformed sphere cannot represent (the lecture's
argument for Mesh R-CNN's voxel branch).
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from spacetime.checks import check_in, check_int
from spacetime.shapes.convert import (
    SDF,
    Box,
    Capsule,
    Cylinder,
    Difference,
    Rotate,
    Scale,
    Sphere,
    Torus,
    Translate,
    Union,
    marching_cubes,
    sample_grid,
)

__all__ = [
    "CATEGORIES",
    "PARTS",
    "PART_NAMES",
    "CATEGORY_PARTS",
    "ProceduralObject",
    "part_labels",
    "object_sdf",
    "make_object",
]

#: The categories, in label order.
CATEGORIES: tuple[str, ...] = ("chair", "table", "lamp", "mug", "airplane", "bottle")

#: The semantic parts of each category (local part index = position in the tuple). Like
#: ShapeNet-Part's 16 categories / 50 parts (Yi et al. 2016), parts get a *global* index: the
#: categories' tuples concatenated in :data:`CATEGORIES` order (chair/back = 0 … bottle/label =
#: 20). Optional parts (chair arms, table shelf, lamp bulb, airplane engines, bottle label) are
#: absent from some objects.
PARTS: dict[str, tuple[str, ...]] = {
    "chair": ("back", "seat", "leg", "arm"),
    "table": ("top", "leg", "shelf"),
    "lamp": ("base", "pole", "shade", "bulb"),
    "mug": ("body", "handle"),
    "airplane": ("body", "wing", "tail", "engine"),
    "bottle": ("body", "neck", "cap", "label"),
}

#: ``"category/part"`` for every global part index.
PART_NAMES: tuple[str, ...] = tuple(f"{c}/{p}" for c in CATEGORIES for p in PARTS[c])

#: category → its global part indices (ShapeNet-Part's ``seg_classes``).
CATEGORY_PARTS: dict[str, tuple[int, ...]] = {
    c: tuple(PART_NAMES.index(f"{c}/{p}") for p in PARTS[c]) for c in CATEGORIES}

_RX = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64,
                   device="cpu")  # CPU even when first imported under a meta device


def _ry(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def _rz(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _box(size, center) -> SDF:
    return Translate(Box(tuple(float(s) for s in size)), tuple(float(c) for c in center))


def _rbox(size, center, radius) -> SDF:
    return Translate(Box(tuple(float(s) for s in size), radius=float(radius)),
                     tuple(float(c) for c in center))


def _ycyl(radius: float, height: float, center) -> SDF:
    """Cylinder with its axis along +y."""
    return Translate(Rotate(Cylinder(float(radius), float(height)), _RX),
                     tuple(float(c) for c in center))


def _leg(rng: np.random.Generator, round_legs: bool, thick: float, height: float, x, z) -> SDF:
    if round_legs:
        return _ycyl(thick / 2, height, (x, height / 2, z))
    return _box((thick, height, thick), (x, height / 2, z))


Parts = list[tuple[SDF, int, str]]  # (part SDF, colour index, part name)
Cuts = list[tuple[SDF, str]]  # (cut SDF, the part whose surface the cut makes)


def _chair(rng: np.random.Generator) -> tuple[Parts, Cuts]:
    w, d = rng.uniform(0.42, 0.6), rng.uniform(0.4, 0.55)
    h, t = rng.uniform(0.4, 0.5), rng.uniform(0.05, 0.08)
    leg = rng.uniform(0.045, 0.07)
    round_legs = bool(rng.random() < 0.4)
    back_h = rng.uniform(0.35, 0.6)
    parts: Parts = [(_box((w, t, d), (0, h - t / 2, 0)), 0, "seat")]
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = sx * (w / 2 - leg / 2), sz * (d / 2 - leg / 2)
            parts.append((_leg(rng, round_legs, leg, h - t, x, z), 1, "leg"))
    zb = -d / 2 + leg / 2
    style = rng.integers(0, 3)
    if style == 0:  # solid panel
        parts.append((_box((w, back_h, leg), (0, h + back_h / 2, zb)), 0, "back"))
    else:  # two posts + top rail (+ slats)
        for sx in (-1, 1):
            parts.append((_box((leg, back_h, leg), (sx * (w / 2 - leg / 2), h + back_h / 2, zb)),
                          1, "back"))
        rail = rng.uniform(0.07, 0.12)
        parts.append((_box((w, rail, leg), (0, h + back_h - rail / 2, zb)), 0, "back"))
        if style == 2:
            n = int(rng.integers(1, 4))
            for i in range(n):
                x = (i + 1) / (n + 1) * (w - leg) - (w - leg) / 2
                parts.append((_box((leg * 0.8, back_h - rail, leg * 0.8),
                                   (x, h + (back_h - rail) / 2, zb)), 0, "back"))
    if rng.random() < 0.35:  # armrests
        ah = rng.uniform(0.18, 0.25)
        for sx in (-1, 1):
            x = sx * (w / 2 - leg / 2)
            parts.append((_box((leg, ah, leg), (x, h + ah / 2, d / 2 - leg)), 1, "arm"))
            parts.append((_box((leg * 1.2, leg, d), (x, h + ah, 0)), 1, "arm"))
    return parts, []


def _table(rng: np.random.Generator) -> tuple[Parts, Cuts]:
    h, t = rng.uniform(0.6, 0.78), rng.uniform(0.04, 0.07)
    parts: Parts
    if rng.random() < 0.35:  # round pedestal table
        r = rng.uniform(0.35, 0.6)
        parts = [(_ycyl(r, t, (0, h - t / 2, 0)), 0, "top")]
        pr = rng.uniform(0.04, 0.07)
        parts.append((_ycyl(pr, h - t, (0, (h - t) / 2, 0)), 1, "leg"))
        parts.append((_ycyl(rng.uniform(0.18, 0.3), 0.04, (0, 0.02, 0)), 1, "leg"))
        return parts, []
    w, d = rng.uniform(0.8, 1.5), rng.uniform(0.5, 0.9)
    leg = rng.uniform(0.05, 0.09)
    round_legs = bool(rng.random() < 0.4)
    parts = [(_rbox((w, t, d), (0, h - t / 2, 0), min(t / 3, 0.015)), 0, "top")]
    inset = rng.uniform(0.0, 0.08)
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = sx * (w / 2 - leg / 2 - inset), sz * (d / 2 - leg / 2 - inset)
            parts.append((_leg(rng, round_legs, leg, h - t, x, z), 1, "leg"))
    if rng.random() < 0.4:  # lower shelf
        sh = rng.uniform(0.12, 0.25)
        parts.append((_box((w - 2 * inset, 0.03, d - 2 * inset), (0, sh, 0)), 0, "shelf"))
    return parts, []


def _lamp(rng: np.random.Generator) -> tuple[Parts, Cuts]:
    br, bt = rng.uniform(0.14, 0.22), rng.uniform(0.03, 0.05)
    pole_r = rng.uniform(0.022, 0.032)
    ph = rng.uniform(0.45, 0.75)
    parts: Parts = [(_ycyl(br, bt, (0, bt / 2, 0)), 0, "base")]
    top = np.array([0.0, bt + ph, 0.0])
    parts.append((Capsule((0.0, bt, 0.0), tuple(top), pole_r), 1, "pole"))
    if rng.random() < 0.5:  # bent arm
        ang = rng.uniform(0.5, 1.1)
        length = rng.uniform(0.2, 0.35)
        end = top + length * np.array([math.sin(ang), math.cos(ang) - 0.4, 0.0])
        parts.append((Capsule(tuple(top), tuple(end), pole_r), 1, "pole"))
        top = end
    sr = rng.uniform(0.14, 0.24)
    if rng.random() < 0.5:  # drum shade: a tube open at the bottom and the top
        sh = rng.uniform(0.14, 0.24)
        wall = 0.03
        c = top + np.array([0.0, -sh * 0.35, 0.0])
        shade = Difference(_ycyl(sr, sh, c), _ycyl(sr - wall, sh * 2, c))
        parts.append((shade, 2, "shade"))
        # spokes from the pole to the shade
        parts.append((_box((2 * sr - wall, 0.025, 0.025), tuple(top)), 1, "pole"))
    else:  # dome shade
        wall = 0.035
        c = tuple(top + np.array([0.0, -0.02, 0.0]))
        dome = Difference(Sphere(sr, c), Sphere(sr - wall, c))
        dome = Difference(dome, _box((3 * sr, 2 * sr, 3 * sr), (c[0], c[1] - sr - 0.01, c[2])))
        parts.append((dome, 2, "shade"))
        parts.append((Capsule(tuple(top), (c[0], c[1] + sr - wall / 2, c[2]), pole_r), 1, "pole"))
        parts.append((Sphere(min(0.06, sr * 0.4), tuple(top)), 2, "bulb"))  # the bulb
    return parts, []


def _mug(rng: np.random.Generator) -> tuple[Parts, Cuts]:
    r, h = rng.uniform(0.26, 0.38), rng.uniform(0.55, 0.9)
    wall, bottom = rng.uniform(0.05, 0.07), rng.uniform(0.06, 0.09)
    body = _ycyl(r, h, (0, h / 2, 0))
    cavity = _ycyl(r - wall, h, (0, bottom + h / 2, 0))
    major = rng.uniform(0.16, 0.24) * h / 0.7
    major = min(major, 0.42 * h)
    minor = rng.uniform(0.045, 0.06)
    handle = Translate(Torus(major, minor), (r + 0.45 * major, h * rng.uniform(0.45, 0.55), 0.0))
    return [(body, 0, "body"), (handle, int(rng.random() < 0.5), "handle")], [(cavity, "body")]


def _airplane(rng: np.random.Generator) -> tuple[Parts, Cuts]:
    length = 1.0
    fr = rng.uniform(0.05, 0.08)
    parts: Parts = [(Capsule((0.0, 0.0, -length / 2 + fr), (0.0, 0.0, length / 2 - fr), fr), 0,
                     "body")]
    span, chord = rng.uniform(0.75, 1.05), rng.uniform(0.12, 0.2)
    wt = 0.045
    sweep = rng.uniform(0.0, 0.5)
    wz = rng.uniform(-0.05, 0.1)
    wy = rng.uniform(-0.5, 0.3) * fr
    for sx in (-1, 1):
        half = Box((span / 2, wt, chord), radius=0.018)
        wing = Translate(Rotate(half, _ry(sx * sweep)), (sx * span / 4, wy, wz - abs(
            math.sin(sweep)) * span / 4))
        parts.append((wing, 1, "wing"))
        if rng.random() < 0.6:
            ex = sx * span * rng.uniform(0.18, 0.3)
            er = rng.uniform(0.035, 0.05)
            ez = wz - math.sin(sweep) * abs(ex) + chord * 0.3
            parts.append((Capsule((ex, wy - er, ez - 0.06), (ex, wy - er, ez + 0.08), er), 2,
                          "engine"))
    fin_h, fin_c = rng.uniform(0.13, 0.22), rng.uniform(0.1, 0.16)
    zt = -length / 2 + fin_c / 2 + 0.02
    parts.append((_rbox((wt, fin_h, fin_c), (0, fr + fin_h / 2 - 0.02, zt), 0.018), 1,
                  "tail"))
    st = rng.uniform(0.25, 0.4)
    parts.append((_rbox((st, wt, fin_c * 0.8), (0, fr * 0.3, zt), 0.018), 1, "tail"))
    return parts, []


def _bottle(rng: np.random.Generator) -> tuple[Parts, Cuts]:
    r, h = rng.uniform(0.12, 0.2), rng.uniform(0.35, 0.6)
    nr = r * rng.uniform(0.3, 0.45)
    nh = rng.uniform(0.1, 0.2)
    parts: Parts = [(_ycyl(r, h, (0, h / 2, 0)), 0, "body")]
    if rng.random() < 0.6:  # round shoulder
        parts.append((Sphere(r, (0.0, h, 0.0)), 0, "body"))
        neck0 = h + r * 0.8
    else:  # conical-ish stepped shoulder
        parts.append((_ycyl(r * 0.7, r * 0.4, (0, h + r * 0.2, 0)), 0, "body"))
        neck0 = h + r * 0.4
    parts.append((_ycyl(nr, nh + 0.02, (0, neck0 + nh / 2 - 0.01, 0)), 0, "neck"))
    ch = rng.uniform(0.04, 0.07)
    parts.append((_ycyl(nr * 1.2, ch, (0, neck0 + nh + ch / 2, 0)), 1, "cap"))
    if rng.random() < 0.5:  # label band
        parts.append((_ycyl(r + 0.006, h * 0.4, (0, h * 0.45, 0)), 2, "label"))
    return parts, []


_BUILDERS: dict[str, Callable[[np.random.Generator], tuple[Parts, Cuts]]] = {
    "chair": _chair,
    "table": _table,
    "lamp": _lamp,
    "mug": _mug,
    "airplane": _airplane,
    "bottle": _bottle,
}


class ProceduralObject(NamedTuple):
    """One generated object in the canonical frame (see the module docstring).

    Attributes:
        verts: ``(V, 3)`` float32 vertices in ``[-0.5, 0.5]³``.
        faces: ``(F, 3)`` int64, counter-clockwise seen from outside.
        verts_colors: ``(V, 3)`` float32 RGB in [0, 1].
        sdf: the object's SDF in the canonical frame (negative inside; CSG, so a distance
            bound away from the surface).
        category: the category name.
        grid_spacing: the marching-cubes voxel edge in the canonical frame; the mesh lies
            within ``√3 · grid_spacing`` of the SDF's zero set.
        face_parts: ``(F,)`` int64 local part index (into ``PARTS[category]``) of each face,
            :func:`part_labels` at the face centroid.
        part_sdfs: one SDF per local part (the union of its primitives) in the canonical frame.
        labeller: ``points (Q, 3)`` in the canonical frame → ``(Q,)`` local part indices
            (:func:`part_labels` with the object's own parts and cuts).
    """

    verts: torch.Tensor
    faces: torch.Tensor
    verts_colors: torch.Tensor
    sdf: SDF
    category: str
    grid_spacing: float
    face_parts: torch.Tensor | None = None
    part_sdfs: tuple[SDF, ...] = ()
    labeller: Callable[[torch.Tensor], torch.Tensor] | None = None


def _palette(rng: np.random.Generator, n: int = 3) -> np.ndarray:
    h0 = rng.random()
    cols = []
    for i in range(n):
        hue = (h0 + i * rng.uniform(0.15, 0.5)) % 1.0
        sat = rng.uniform(0.35, 0.85)
        val = rng.uniform(0.45, 0.95)
        cols.append(colorsys.hsv_to_rgb(hue, sat, val))
    return np.asarray(cols, dtype=np.float32)


def _canonical_part_labels(category: str, parts: Parts, cuts: Cuts, centre: torch.Tensor,
                           scale: float, points: torch.Tensor) -> torch.Tensor:
    return part_labels(category, parts, cuts, points.to(torch.float64) / scale + centre)


def object_sdf(category: str, rng: np.random.Generator) -> tuple[SDF, list[tuple[SDF, int]]]:
    """The raw (un-normalised) SDF of a random ``category`` object and its coloured parts.

    Returns ``(sdf, parts)``, ``parts`` a list of ``(part_sdf, colour_index)``; the object is
    ``union(parts) − union(cuts)``.
    """
    sdf, parts, _ = _object_sdf(category, rng)
    return sdf, [(p, c) for p, c, _ in parts]


def _object_sdf(category: str, rng: np.random.Generator) -> tuple[SDF, Parts, Cuts]:
    check_in(category, "category", CATEGORIES)
    parts, cuts = _BUILDERS[category](rng)
    solid: SDF = Union(*[p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    if cuts:
        cut = [c for c, _ in cuts]
        solid = Difference(solid, Union(*cut) if len(cut) > 1 else cut[0])
    return solid, parts, cuts


def part_labels(category: str, parts: Parts, cuts: Cuts, points: torch.Tensor) -> torch.Tensor:
    """The local part index (into ``PARTS[category]``) of surface points ``(Q, 3)`` of the
    object ``union(parts) − union(cuts)`` (raw frame of :func:`object_sdf`): ``(Q,)`` int64.

    Read from the generating CSG tree, not from the mesh: the object's SDF is
    ``max(min_i d_i, −min_j c_j)``; where the union term is the larger (the point lies on a
    part's own surface) the point belongs to the part with the smallest ``d_i`` — on the exact
    surface that part's SDF is 0, the others' are >= 0 —; where the cut term is the larger (the
    point lies on a surface a cut made, e.g. a mug's inner wall) it belongs to the part that
    owns the cut. Primitives with the same part name (a chair's four legs) form one part; ties
    go to the first primitive.
    """
    names = PARTS[category]
    x = points.detach().to(torch.float64)
    with torch.no_grad():
        d = torch.stack([p(x) for p, _, _ in parts], 0)  # (K, Q)
        dmin, arg = d.min(0)
        owner = torch.as_tensor([names.index(n) for _, _, n in parts])
        lab = owner[arg]
        if cuts:
            c = torch.stack([cut(x) for cut, _ in cuts], 0)
            cmin, carg = c.min(0)
            cut_owner = torch.as_tensor([names.index(n) for _, n in cuts])
            on_cut = -cmin > dmin
            lab = torch.where(on_cut, cut_owner[carg], lab)
    return lab.to(torch.int64)


def make_object(
    category: str,
    seed: int | np.random.Generator = 0,
    *,
    resolution: int = 48,
) -> ProceduralObject:
    """Generate one ``category`` object: SDF → marching cubes → canonical frame + colours.

    Args:
        category: one of :data:`CATEGORIES`.
        seed: an int or a ``numpy.random.Generator`` (consumed) fixing shape and colours.
        resolution: marching-cubes voxels along the object's longest side (faces grow as
            ``resolution²``; 48 gives ~5-15 k faces).

    Returns:
        a :class:`ProceduralObject` (float32 vertices in ``[-0.5, 0.5]³``, +y up).
    """
    check_in(category, "category", CATEGORIES)
    check_int(resolution, "resolution", min_value=8)
    if not isinstance(seed, np.random.Generator):
        check_int(seed, "seed", min_value=0)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sdf, parts, cuts = _object_sdf(category, rng)
    palette = _palette(rng)
    # coarse pass for tight bounds, then the fine grid over them (+ a margin of 2 voxels)
    coarse = sample_grid(sdf, 24, (-1.5, 1.5), dtype=torch.float64)
    inside = torch.nonzero(coarse.grid[0] <= coarse.voxel_size[0]).to(torch.float64)
    idx_lo, idx_hi = inside.amin(0).flip(0), inside.amax(0).flip(0)  # (x, y, z)
    vs0 = float(coarse.voxel_size[0])
    lo = coarse.origin[0] + vs0 * idx_lo - vs0
    hi = coarse.origin[0] + vs0 * (idx_hi + 1) + vs0
    vs = float((hi - lo).max()) / resolution
    lo, hi = lo - 2 * vs, hi + 2 * vs
    grid = sample_grid(sdf, resolution + 4, torch.stack([lo, hi], 1), dtype=torch.float64)
    mesh = marching_cubes(grid, 0.0, inside="low", close_boundary=True)
    v, f = mesh.verts_list()[0], mesh.faces_list()[0]
    bmin, bmax = v.amin(0), v.amax(0)
    centre = (bmin + bmax) / 2
    scale = 1.0 / float((bmax - bmin).max())
    v_n = (v - centre) * scale
    # colours: the nearest part's colour (evaluated on the raw vertices)
    with torch.no_grad():
        d = torch.stack([p(v) for p, _, _ in parts], 0)
    part_idx = torch.as_tensor([c for _, c, _ in parts])[d.argmin(0)]
    colors = torch.as_tensor(palette)[part_idx.clamp_max(len(palette) - 1)]
    sdf_n = Scale(Translate(sdf, (-centre).tolist()), scale)
    face_parts = part_labels(category, parts, cuts, v[f].mean(1))
    names = PARTS[category]
    part_sdfs = []
    for name in names:
        prims = [p for p, _, n in parts if n == name] or [Sphere(1e-3, (1e3, 1e3, 1e3))]
        u = Union(*prims) if len(prims) > 1 else prims[0]
        part_sdfs.append(Scale(Translate(u, (-centre).tolist()), scale))
    labeller = functools.partial(_canonical_part_labels, category, parts, cuts, centre.clone(),
                                 float(scale))
    return ProceduralObject(v_n.to(torch.float32).contiguous(), f.contiguous(),
                            colors.to(torch.float32).contiguous(), sdf_n, category,
                            float(grid.voxel_size[0]) * scale, face_parts, tuple(part_sdfs),
                            labeller)
