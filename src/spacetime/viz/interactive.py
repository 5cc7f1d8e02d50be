"""Interactive 3D views: a :class:`Figure` of panels drawn by three.js in the browser.

A figure holds one or more *panels* side by side; each 3D panel is a scene of meshes, point
clouds, cubes (voxels, octree cells), line sets (camera frustums) and image planes, and a 2D
panel is a picture (flow fields, normal maps). ``Figure.save("view.html")`` writes ONE
self-contained HTML file: the geometry is base64 inside the page and the three.js bundle
(``assets/three.bundle.min.js``, three r187, MIT) and the viewer script are inlined, so the
page opens offline by double-click and fetches nothing. In Jupyter a figure displays inline
(``_repr_html_``: the same page in an ``<iframe srcdoc>``).

Coordinates: a panel's ``frame`` is ``"y-up"`` (object / world frame, +y up: what
:func:`spacetime.viz.show` assumes too) or ``"opencv"`` (camera frame: x right, y down,
z forward; shown turned by 180° about x so that up is up and the view starts behind the camera).

Large inputs stay usable: above :data:`MAX_FACES` faces a mesh is decimated (quadric
decimation, ``fast-simplification``), above :data:`MAX_POINTS` points a cloud is subsampled
(uniformly at random, seeded), above :data:`MAX_CUBES` octree cells the finest levels are merged,
and a voxel grid whose cube surface exceeds ``MAX_FACES`` is max-pooled by 2 until it fits; the
panel then says so in a note. Positions are stored as 16-bit integers over each object's
bounding box (error at most 1/131070 of the box side), colours as bytes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import InputError
from spacetime.fileio import atomic_write

__all__ = [
    "Figure",
    "MAX_FACES",
    "MAX_POINTS",
    "MAX_CUBES",
    "html_page",
    "write_html",
    "colormap",
]

#: meshes with more faces are decimated for display
MAX_FACES = 200_000
#: point clouds with more points are subsampled for display
MAX_POINTS = 1_000_000
#: octrees with more occupied leaf cells have their finest levels merged for display
MAX_CUBES = 50_000

_DEFAULT_RGB = (0.58, 0.72, 0.88)
_FRAMES = ("y-up", "opencv")
_SHADING = ("smooth", "flat")
_COLOR_BY = ("auto", "rgb", "features", "normals", "height", "depth", "scalar", "uniform")
_PALETTE = ((0.31, 0.47, 0.74), (0.87, 0.52, 0.32), (0.35, 0.66, 0.41), (0.77, 0.31, 0.32),
            (0.51, 0.45, 0.70), (0.58, 0.47, 0.38), (0.85, 0.52, 0.75), (0.55, 0.55, 0.55),
            (0.73, 0.73, 0.33), (0.30, 0.70, 0.78))


# ---------------------------------------------------------------------------------- helpers
@cache
def _asset(name: str) -> str:
    return (resources.files("spacetime.viz") / "assets" / name).read_text(encoding="utf-8")


def _np(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected an array or tensor, got {type(x).__name__}") from exc


def _b64(arr: np.ndarray, dtype: str) -> dict[str, str]:
    np_dtype = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "f32": np.float32}[dtype]
    data = np.ascontiguousarray(arr, dtype=np_dtype).astype("<" + np.dtype(np_dtype).str[1:])
    return {"dtype": dtype, "b64": base64.b64encode(data.tobytes()).decode("ascii")}


def _quantize(p: np.ndarray) -> tuple[dict[str, str], list[float], list[float]]:
    """``(P, 3)`` float → uint16 over the bounding box, with ``offset`` and ``scale``."""
    p = p.astype(np.float64)
    lo, hi = p.min(0), p.max(0)
    ext = hi - lo
    ext = np.where(ext > 0, ext, 1.0)
    q = np.rint((p - lo) / ext * 65535.0).clip(0, 65535)
    return _b64(q, "u16"), lo.tolist(), ext.tolist()


def _colors_u8(c: Any, n: int, name: str) -> np.ndarray:
    """``(n, 3)`` uint8 from uint8 or float-in-[0, 1] colours (``(n, C>=3)``, channels last)."""
    arr = _np(c, name)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 3:
        raise InputError(f"{name}: expected ({n}, 3) colours, got shape {tuple(arr.shape)}")
    arr = arr[:, :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: expected finite colours, got NaN/inf")
    return (arr.clip(0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _rgb(color: Any, name: str) -> list[float]:
    if color is None:
        return list(_DEFAULT_RGB)
    if isinstance(color, str):
        from matplotlib.colors import to_rgb

        try:
            return list(to_rgb(color))
        except ValueError:
            raise InputError(f"{name}: expected a colour name or (r, g, b) in [0, 1], "
                             f"got {color!r}") from None
    arr = _np(color, name).astype(np.float64).reshape(-1)
    if arr.shape != (3,) or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise InputError(f"{name}: expected (r, g, b) in [0, 1], got {color!r}")
    return arr.tolist()


def _css(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{int(round(255 * float(v))):02x}" for v in rgb[:3])


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def colormap(
    values: Any,
    cmap: str = "viridis",
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str = "",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Colour ``(P,)`` scalars with a matplotlib colour map: ``(P, 3)`` uint8 and a colour-bar
    legend (a dict a :class:`Figure` panel shows). NaN values are drawn grey."""
    import matplotlib

    v = _np(values, "values").astype(np.float64).reshape(-1)
    finite = np.isfinite(v)
    lo = float(np.min(v[finite])) if vmin is None and finite.any() else float(vmin or 0.0)
    hi = float(np.max(v[finite])) if vmax is None and finite.any() else float(
        1.0 if vmax is None else vmax)
    if hi <= lo:
        hi = lo + 1.0
    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise InputError(f"cmap: expected a matplotlib colour map name, got {cmap!r}") from None
    rgb = cm(np.clip((np.nan_to_num(v, nan=lo) - lo) / (hi - lo), 0.0, 1.0))[:, :3]
    rgb[~finite] = 0.6
    stops = [[s, _css(cm(s)[:3])] for s in np.linspace(0.0, 1.0, 9)]
    legend = {"type": "bar", "title": title, "min": _fmt(lo), "max": _fmt(hi), "stops": stops,
              "marks": []}
    return (rgb * 255.0 + 0.5).astype(np.uint8), legend


def _png_data_url(img: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image_u8(image: Any, name: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 from an image: tensors ``(3, H, W)`` / ``(1, H, W)`` (channels
    first), arrays ``(H, W, 3)`` (channels last, or first when the last axis is not 1, 3 or 4)
    or ``(H, W)``; uint8, or float in [0, 1]."""
    arr = _np(image, name)
    shape = tuple(arr.shape)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and (
            isinstance(image, torch.Tensor) or arr.shape[2] not in (1, 3, 4)):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.size == 0:
        raise InputError(f"{name}: expected an image (3, H, W), (H, W, 3) or (H, W), got shape "
                         f"{shape}")
    arr = arr[..., :3]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.dtype != np.uint8:
        arr = (np.nan_to_num(arr.astype(np.float64)).clip(0.0, 1.0) * 255.0 + 0.5).astype(
            np.uint8)
    return np.ascontiguousarray(arr)


def _intrinsics(K: Any) -> np.ndarray:
    mat = K.K if hasattr(K, "K") else K
    arr = _np(mat, "K").astype(np.float64)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape == (4,):
        fx, fy, cx, cy = arr
        arr = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    if arr.shape != (3, 3) or not np.isfinite(arr).all() or arr[0, 0] <= 0 or arr[1, 1] <= 0:
        raise InputError(f"K: expected a (3, 3) intrinsic matrix with fx, fy > 0 (or fx, fy, "
                         f"cx, cy), got {arr.tolist() if arr.size <= 16 else arr.shape}")
    return arr


def _decimate(v: np.ndarray, f: np.ndarray, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to at most ``max_faces`` faces (fast-simplification)."""
    import fast_simplification

    target = max_faces
    for _ in range(4):
        v2, f2 = fast_simplification.simplify(v.astype(np.float64), f.astype(np.int64),
                                              target_count=target)
        if f2.shape[0] <= max_faces:
            return np.asarray(v2), np.asarray(f2)
        target = int(target * 0.9)
    return np.asarray(v2), np.asarray(f2)


def _nearest(src: np.ndarray, query: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    return cKDTree(src).query(query, k=1)[1]


# ---------------------------------------------------------------------------------- figure
@dataclass
class _Panel:
    title: str | None
    frame: str = "y-up"
    kind: str = "3d"
    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    legend: dict[str, Any] | None = None
    src: str | None = None
    pixelated: bool = False
    lo: np.ndarray = field(default_factory=lambda: np.full(3, np.inf))
    hi: np.ndarray = field(default_factory=lambda: np.full(3, -np.inf))

    def grow(self, pts: np.ndarray) -> None:
        if pts.size:
            self.lo = np.minimum(self.lo, pts.min(0))
            self.hi = np.maximum(self.hi, pts.max(0))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "kind": self.kind, "frame": self.frame,
                               "notes": self.notes, "legend": self.legend}
        if self.kind == "image":
            out.update(src=self.src, pixelated=self.pixelated)
            return out
        lo, hi = self.lo, self.hi
        if not np.isfinite(lo).all():
            lo, hi = np.full(3, -1.0), np.full(3, 1.0)
        out.update(objects=self.objects, bounds=[lo.tolist(), hi.tolist()])
        return out


class Figure:
    """An interactive figure: panels side by side, each a 3D scene or a picture.

    Build it with the ``add_*`` methods (each draws into the current panel; :meth:`panel`
    starts a new one) and save it with :meth:`save`; in Jupyter it displays inline. Every
    method returns the figure, so calls chain::

        Figure("two views").add_mesh(mesh).panel("points").add_points(cloud).save("v.html")

    Args:
        title: a title above the panels.
        cols: panels per row (default: all panels in one row, at most 3).
        height: height of each panel's drawing area, CSS pixels.
        link_cameras: turning one 3D panel turns the others (panels with the same ``frame``).
        wireframe: start with the wireframe overlay on (the page has a toggle, key ``W``).
    """

    def __init__(
        self,
        title: str | None = None,
        *,
        cols: int | None = None,
        height: int = 420,
        link_cameras: bool = True,
        wireframe: bool = False,
    ) -> None:
        if cols is not None:
            check_int(cols, "cols", min_value=1)
        check_int(height, "height", min_value=64)
        self.title = title
        self.cols = cols
        self.height = int(height)
        self.link_cameras = bool(link_cameras)
        self.wireframe = bool(wireframe)
        self._panels: list[_Panel] = []

    # ------------------------------------------------------------------ panels
    def __repr__(self) -> str:
        kinds = ", ".join(f"{p.kind}:{len(p.objects)}" for p in self._panels)
        return f"Figure(title={self.title!r}, panels=[{kinds}])"

    @property
    def num_panels(self) -> int:
        """Number of panels."""
        return len(self._panels)

    @property
    def notes(self) -> list[str]:
        """Every panel's notes (decimation, assumptions), in order."""
        return [n for p in self._panels for n in p.notes]

    def panel(self, title: str | None = None, *, frame: str = "y-up") -> Figure:
        """Start a new 3D panel (``frame``: ``"y-up"`` or ``"opencv"``, see the module doc)."""
        check_in(frame, "frame", _FRAMES)
        self._panels.append(_Panel(title, frame))
        return self

    def _current(self, frame: str | None = None) -> _Panel:
        if not self._panels or self._panels[-1].kind != "3d":
            self._panels.append(_Panel(None, frame or "y-up"))
        p = self._panels[-1]
        if frame is not None and not p.objects and p.frame != frame:
            p.frame = frame
        return p

    def note(self, text: str) -> Figure:
        """Add a note under the current panel."""
        self._current().notes.append(str(text))
        return self

    def legend(self, spec: dict[str, Any]) -> Figure:
        """Set the current panel's legend: a colour bar (from :func:`colormap`) or
        ``{"type": "categories", "title": ..., "items": [{"label", "color"}]}``."""
        self._current().legend = spec
        return self

    # ------------------------------------------------------------------ meshes
    def add_mesh(
        self,
        meshes: Any,
        *,
        index: int = 0,
        colors: Any = None,
        color: Any = None,
        values: Any = None,
        cmap: str = "viridis",
        shading: str = "smooth",
        opacity: float = 1.0,
        max_faces: int = MAX_FACES,
        name: str | None = None,
    ) -> Figure:
        """Draw mesh ``index`` of a ``Meshes`` (or a ``(verts (V, 3), faces (F, 3))`` pair).

        Args:
            colors: per-vertex colours ``(V, 3)`` (uint8, or float in [0, 1]), or
                ``"normals"`` (``(n + 1) / 2``); default: the mesh's ``verts_colors`` if it has
                them, else the uniform ``color``.
            color: uniform colour (a name or ``(r, g, b)`` in [0, 1]).
            values: per-vertex scalars ``(V,)`` coloured with ``cmap`` (adds a colour bar).
            shading: ``"smooth"`` (vertex normals) or ``"flat"`` (face normals).
            opacity: 0-1.
            max_faces: decimate above this many faces (the panel says so).
        """
        check_in(shading, "shading", _SHADING)
        check_positive(opacity, "opacity")
        check_int(max_faces, "max_faces", min_value=4)
        if isinstance(meshes, tuple) and len(meshes) == 2:
            v, f = _np(meshes[0], "verts"), _np(meshes[1], "faces")
            vc = None
        elif hasattr(meshes, "faces_list"):
            check_int(index, "index", min_value=0)
            if index >= len(meshes):
                raise InputError(f"index: expected < {len(meshes)} (meshes in the batch), "
                                 f"got {index}")
            v, f = _np(meshes.verts_list()[index], "verts"), _np(meshes.faces_list()[index],
                                                                  "faces")
            vcl = meshes.verts_colors_list() if hasattr(meshes, "verts_colors_list") else None
            vc = None if vcl is None else vcl[index]
        else:
            raise InputError(f"meshes: expected a Meshes or a (verts, faces) pair, got "
                             f"{type(meshes).__name__}")
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
            raise InputError(f"meshes: expected verts (V, 3) and faces (F, 3), got "
                             f"{tuple(v.shape)} and {tuple(f.shape)}")
        p = self._current()
        label = name or "mesh"
        if f.shape[0] == 0 or v.shape[0] == 0:
            p.notes.append(f"{label}: empty (no faces)")
            return self
        v = v.astype(np.float64)
        f = f.astype(np.int64)
        if not np.isfinite(v).all():
            raise InputError(f"meshes: expected finite vertices, got NaN/inf in {label}")
        if f.min() < 0 or f.max() >= v.shape[0]:
            raise InputError(f"meshes: expected face indices in [0, {v.shape[0]}), got "
                             f"[{int(f.min())}, {int(f.max())}]")
        legend = None
        if isinstance(colors, str):
            check_in(colors, "colors", ("normals",))
            from spacetime.shapes.structures import Meshes

            n = Meshes([torch.from_numpy(v)], [torch.from_numpy(f)]).verts_normals_list()[0]
            rgb = _colors_u8((n.numpy() + 1.0) / 2.0, v.shape[0], "colors")
        elif colors is not None:
            rgb = _colors_u8(colors, v.shape[0], "colors")
        elif values is not None:
            vals = _np(values, "values").reshape(-1)
            if vals.shape[0] != v.shape[0]:
                raise InputError(f"values: expected {v.shape[0]} values (one per vertex), got "
                                 f"{vals.shape[0]}")
            rgb, legend = colormap(vals, cmap, title=label)
        elif vc is not None:
            rgb = _colors_u8(vc, v.shape[0], "verts_colors")
        else:
            rgb = None
        n_faces = f.shape[0]
        if n_faces > max_faces:
            v2, f2 = _decimate(v, f, max_faces)
            if rgb is not None:
                rgb = rgb[_nearest(v, v2)]
            p.notes.append(f"{label}: decimated for display, {n_faces:,} → {f2.shape[0]:,} "
                           f"faces (limit {max_faces:,}; quadric decimation)")
            v, f = v2.astype(np.float64), f2.astype(np.int64)
        pos, offset, scale = _quantize(v)
        obj: dict[str, Any] = {
            "type": "mesh", "name": label, "position": pos, "offset": offset, "scale": scale,
            "index": _b64(f.reshape(-1), "u32" if v.shape[0] > 65535 else "u16"),
            "shading": shading, "opacity": float(min(opacity, 1.0)), "rgb": _rgb(color, "color"),
        }
        if rgb is not None:
            obj["color"] = _b64(rgb, "u8")
        p.objects.append(obj)
        p.grow(v)
        if legend is not None:
            p.legend = legend
        return self

    # ------------------------------------------------------------------ points
    def add_points(
        self,
        points: Any,
        *,
        index: int = 0,
        color_by: str = "auto",
        colors: Any = None,
        values: Any = None,
        cmap: str = "viridis",
        color: Any = None,
        point_size: float | None = None,
        max_points: int = MAX_POINTS,
        seed: int = 0,
        name: str | None = None,
        legend_title: str | None = None,
    ) -> Figure:
        """Draw cloud ``index`` of a ``Pointclouds`` (or ``(P, 3)`` / ``(N, P, 3)`` points).

        Args:
            color_by: ``"rgb"`` (the cloud's 3-channel ``features``, alias ``"features"``),
                ``"normals"`` (``(n + 1) / 2``), ``"height"`` (the up coordinate of the panel's
                frame), ``"depth"`` (z), ``"scalar"`` (``values``), ``"uniform"`` (``color``),
                or ``"auto"``: RGB features, else normals, else height (camera frame: depth).
            colors: explicit ``(P, 3)`` colours (overrides ``color_by``).
            values: ``(P,)`` scalars for ``color_by="scalar"`` (a colour bar is added).
            point_size: pixels (default 3 up to 10k points, 2 up to 200k, else 1).
            max_points: subsample above this many points (uniformly at random with ``seed``;
                the panel says so).
        """
        check_in(color_by, "color_by", _COLOR_BY)
        check_int(max_points, "max_points", min_value=1)
        normals = feats = None
        if hasattr(points, "points_list"):
            check_int(index, "index", min_value=0)
            if index >= len(points.points_list()):
                raise InputError(f"index: expected < {len(points.points_list())} (clouds in the "
                                 f"batch), got {index}")
            pts = _np(points.points_list()[index], "points")
            nl, fl = points.normals_list(), points.features_list()
            normals = None if nl is None else _np(nl[index], "normals")
            feats = None if fl is None else _np(fl[index], "features")
        else:
            pts = _np(points, "points")
            if pts.ndim == 3:
                pts = pts[index]
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise InputError(f"points: expected (P, 3) points, got shape {tuple(pts.shape)}")
        p = self._current()
        label = name or "points"
        keep = np.isfinite(pts).all(1)
        if not keep.all():
            p.notes.append(f"{label}: {int((~keep).sum()):,} non-finite points dropped")
        n_all = int(keep.sum())
        idx = np.flatnonzero(keep)
        if n_all > max_points:
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(idx, max_points, replace=False))
            p.notes.append(f"{label}: subsampled for display, {n_all:,} → {max_points:,} "
                           f"points (limit {max_points:,}; uniform random)")
        if idx.size == 0:
            p.notes.append(f"{label}: empty (no points)")
            return self
        pts = pts[idx].astype(np.float64)
        mode = color_by
        if mode == "features":
            mode = "rgb"
        if mode == "auto":
            if feats is not None and feats.ndim == 2 and feats.shape[1] >= 3:
                mode = "rgb"
            elif normals is not None:
                mode = "normals"
            else:
                mode = "depth" if p.frame == "opencv" else "height"
        legend = None
        rgb: np.ndarray | None
        if colors is not None:
            c = _np(colors, "colors")
            rgb = _colors_u8(c[idx] if c.shape[0] == keep.shape[0] else c, idx.size, "colors")
        elif mode == "rgb":
            if feats is None or feats.ndim != 2 or feats.shape[1] < 3:
                raise InputError("color_by: 'rgb' needs a Pointclouds with 3-channel features, "
                                 "got none")
            rgb = _colors_u8(feats[idx], idx.size, "features")
        elif mode == "normals":
            if normals is None:
                raise InputError("color_by: 'normals' needs a Pointclouds with normals, got none")
            rgb = _colors_u8((normals[idx].astype(np.float64) + 1.0) / 2.0, idx.size, "normals")
        elif mode == "uniform":
            rgb = None
        else:
            if mode == "scalar":
                if values is None:
                    raise InputError("values: expected (P,) scalars for color_by='scalar', got "
                                     "None")
                vals = _np(values, "values").reshape(-1)
                if vals.shape[0] != keep.shape[0]:
                    raise InputError(f"values: expected {keep.shape[0]} values (one per point), "
                                     f"got {vals.shape[0]}")
                vals = vals[idx]
                title = legend_title or label
            elif mode == "height":
                vals = -pts[:, 1] if p.frame == "opencv" else pts[:, 1]
                title = legend_title or "height (y)"
            else:  # depth
                vals = pts[:, 2]
                title = legend_title or "depth (z)"
            rgb, legend = colormap(vals, cmap, title=title)
        if point_size is None:
            point_size = 3.0 if idx.size <= 10_000 else 2.0 if idx.size <= 200_000 else 1.0
        check_positive(point_size, "point_size")
        pos, offset, scale = _quantize(pts)
        obj: dict[str, Any] = {"type": "points", "name": label, "position": pos, "offset": offset,
                               "scale": scale, "size": float(point_size),
                               "rgb": _rgb(color, "color")}
        if rgb is not None:
            obj["color"] = _b64(rgb, "u8")
        p.objects.append(obj)
        p.grow(pts)
        if legend is not None:
            p.legend = legend
        return self

    # ------------------------------------------------------------------ cubes and voxels
    def add_cubes(
        self,
        centres: Any,
        sizes: Any,
        colors: Any,
        *,
        name: str | None = None,
    ) -> Figure:
        """Draw axis-aligned cubes: centres ``(M, 3)``, edge lengths ``(M,)``, colours
        ``(M, 3)``."""
        c = _np(centres, "centres").astype(np.float64)
        s = _np(sizes, "sizes").astype(np.float64).reshape(-1)
        if c.ndim != 2 or c.shape[1] != 3 or s.shape[0] != c.shape[0]:
            raise InputError(f"centres/sizes: expected (M, 3) and (M,), got {tuple(c.shape)} and "
                             f"{tuple(s.shape)}")
        p = self._current()
        if c.shape[0] == 0:
            p.notes.append(f"{name or 'cubes'}: empty (no cells)")
            return self
        rgb = _colors_u8(colors, c.shape[0], "colors")
        pos, offset, scale = _quantize(c)
        p.objects.append({"type": "cubes", "name": name or "cubes", "centres": pos,
                          "offset": offset, "scale": scale, "sizes": _b64(s, "f32"),
                          "color": _b64(rgb, "u8")})
        half = s[:, None] / 2
        p.grow(np.concatenate([c - half, c + half]))
        return self

    def add_voxels(
        self,
        voxels: Any,
        *,
        index: int = 0,
        threshold: float = 0.5,
        sdf: bool | None = None,
        level: float = 0.0,
        color: Any = None,
        max_faces: int = MAX_FACES,
        name: str | None = None,
    ) -> Figure:
        """Draw grid ``index`` of a ``VoxelGrid`` (or ``ShapeLayers``, or a ``(D, H, W)``
        tensor in voxel units).

        Occupancy grids are drawn as cubes (the cube surface of :func:`~spacetime.shapes.cubify`,
        flat shaded, voxels ``> threshold``); signed distance grids (``sdf=None``: any value
        below 0 or above 1) as their ``level`` iso-surface (marching cubes, smooth shaded).
        A cube surface above ``max_faces`` faces is drawn from the grid max-pooled by 2 (the
        panel says so).
        """
        from spacetime.shapes.convert import cubify, marching_cubes
        from spacetime.shapes.structures import VoxelGrid

        if hasattr(voxels, "compose") and hasattr(voxels, "depths"):  # ShapeLayers
            voxels = VoxelGrid(voxels.compose().float())
        if isinstance(voxels, torch.Tensor):
            voxels = VoxelGrid(voxels)
        if not hasattr(voxels, "voxel_size"):
            raise InputError(f"voxels: expected a VoxelGrid, ShapeLayers or (D, H, W) tensor, got "
                             f"{type(voxels).__name__}")
        check_int(index, "index", min_value=0)
        if index >= len(voxels):
            raise InputError(f"index: expected < {len(voxels)} (grids in the batch), got {index}")
        g = voxels[index]
        label = name or "voxels"
        values = g.grid
        if sdf is None:
            sdf = bool(values.numel()) and (float(values.min()) < 0 or float(values.max()) > 1)
        d, h, w = g.resolution
        if sdf:
            mesh = marching_cubes(g.to(dtype=torch.float32), float(level), inside="low",
                                  close_boundary=True)
            self._current().notes.append(f"{name or 'SDF grid'} {d}×{h}×{w}: iso-surface at "
                                         f"{level:g} (marching cubes)")
            return self.add_mesh(mesh, color=color, shading="smooth", max_faces=max_faces,
                                 name=name or "SDF iso-surface")
        occ = values > threshold
        vs, origin = g.voxel_size, g.origin
        factor = 1
        while True:
            mesh = cubify(VoxelGrid(occ.float(), origin=origin, voxel_size=vs * factor), 0.5)
            n_faces = int(mesh.faces_list()[0].shape[0])
            if n_faces <= max_faces or min(occ.shape[1:]) <= 1:
                break
            occ = torch.nn.functional.max_pool3d(occ.float()[:, None], 2, ceil_mode=True)[:, 0] > 0
            factor *= 2
        if factor > 1:
            self._current().notes.append(
                f"{label}: {d}×{h}×{w} drawn max-pooled by {factor} "
                f"({n_faces:,} cube faces; limit {max_faces:,})")
        return self.add_mesh(mesh, color=color, shading="flat", max_faces=max(max_faces, n_faces),
                             name=label)

    def add_sdf(self, grid: Any, level: float = 0.0, **kw: Any) -> Figure:
        """Draw the ``level`` iso-surface of a signed distance ``VoxelGrid`` (negative inside);
        other keywords as :meth:`add_voxels`."""
        return self.add_voxels(grid, sdf=True, level=level, **kw)

    def add_octree(
        self,
        octree: Any,
        *,
        index: int = 0,
        max_cubes: int = MAX_CUBES,
        cmap: str = "viridis",
        name: str | None = None,
    ) -> Figure:
        """Draw the occupied leaf cells of octree ``index`` as cubes coloured by level (a legend
        lists the cell sizes). Above ``max_cubes`` cells the finest levels are merged into their
        parents (the panel says so)."""
        import matplotlib

        check_int(max_cubes, "max_cubes", min_value=1)
        if not hasattr(octree, "leaves"):
            raise InputError(f"octree: expected an Octree, got {type(octree).__name__}")
        check_int(index, "index", min_value=0)
        if index >= len(octree):
            raise InputError(f"index: expected < {len(octree)} (octrees in the batch), got "
                             f"{index}")
        coords, sizes, vals = octree.leaves()
        occ = vals.bool() if vals.dtype == torch.bool else vals.float() > 0.5
        sel = (coords[:, 0] == index) & occ
        xyz = coords[sel][:, [3, 2, 1]].cpu().numpy().astype(np.int64)
        size = sizes[sel].cpu().numpy().astype(np.int64)
        n0 = xyz.shape[0]
        merged = 1
        while xyz.shape[0] > max_cubes:
            merged *= 2
            small = size < merged
            snapped = np.where(small[:, None], xyz // merged * merged, xyz)
            size = np.where(small, merged, size)
            key = np.concatenate([snapped, size[:, None]], 1)
            key = np.unique(key, axis=0)
            xyz, size = key[:, :3], key[:, 3]
        label = name or "octree"
        p = self._current()
        if merged > 1:
            p.notes.append(f"{label}: {n0:,} leaf cells drawn as {xyz.shape[0]:,} (cells smaller "
                           f"than {merged} voxels merged; limit {max_cubes:,})")
        vs = float(octree.voxel_size[index])
        origin = octree.origin[index].cpu().numpy().astype(np.float64)
        centres = origin + vs * (xyz + size[:, None] / 2.0)
        levels = sorted(set(size.tolist()), reverse=True)
        cm = matplotlib.colormaps[cmap]
        pal = {s: cm(0.15 + 0.7 * i / max(len(levels) - 1, 1))[:3] for i, s in enumerate(levels)}
        rgb = np.array([pal[s] for s in size.tolist()]) if size.size else np.zeros((0, 3))
        self.add_cubes(centres, size * vs, rgb, name=label)
        depth = int(octree.depth)
        items = [{"label": f"level {depth - int(math.log2(s))}: {s}³ voxels "
                           f"({int((size == s).sum()):,})", "color": _css(pal[s])}
                 for s in levels]
        p.legend = {"type": "categories", "title": f"{label} leaf cells by level", "items": items}
        return self

    # ------------------------------------------------------------------ cameras and depth
    def add_lines(self, segments: Any, *, color: Any = (0.1, 0.1, 0.1)) -> Figure:
        """Draw line segments ``(L, 2, 3)``."""
        s = _np(segments, "segments").astype(np.float64)
        if s.ndim != 3 or s.shape[1:] != (2, 3):
            raise InputError(f"segments: expected (L, 2, 3), got {tuple(s.shape)}")
        p = self._current()
        p.objects.append({"type": "lines", "position": _b64(s.reshape(-1), "f32"),
                          "rgb": _rgb(color, "color")})
        p.grow(s.reshape(-1, 3))
        return self

    def add_image_plane(self, image: Any, corners: Any, *, opacity: float = 1.0) -> Figure:
        """Draw ``image`` on the quadrilateral ``corners`` ``(4, 3)``: top-left, top-right,
        bottom-right, bottom-left."""
        c = _np(corners, "corners").astype(np.float64)
        if c.shape != (4, 3):
            raise InputError(f"corners: expected (4, 3), got {tuple(c.shape)}")
        p = self._current()
        p.objects.append({"type": "image", "corners": c.tolist(),
                          "src": _png_data_url(_image_u8(image, "image")),
                          "opacity": float(opacity)})
        p.grow(c)
        return self

    def add_camera(
        self,
        K: Any,
        width: int,
        height: int,
        *,
        R: Any = None,
        t: Any = None,
        depth: float = 1.0,
        image: Any = None,
        color: Any = (0.15, 0.15, 0.15),
    ) -> Figure:
        """Draw a pinhole camera as a frustum from its centre to the image rectangle at
        ``depth`` (with ``image`` on it, if given) and a small triangle on the top edge.

        ``K`` (3, 3) or ``CameraIntrinsics`` in pixels (OpenCV: pixel centres at integers);
        without ``R``, ``t`` the frustum is in the camera frame (draw into an ``"opencv"``
        panel), else in the world frame of ``X_cam = R X + t``.
        """
        check_int(width, "width", min_value=1)
        check_int(height, "height", min_value=1)
        check_positive(depth, "depth")
        k = _intrinsics(K)
        uv = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5],
                       [-0.5, height - 0.5]])
        x = (uv[:, 0] - k[0, 2]) / k[0, 0] * depth
        y = (uv[:, 1] - k[1, 2]) / k[1, 1] * depth
        corners = np.stack([x, y, np.full(4, depth)], 1)
        top = (corners[0] + corners[1]) / 2
        up = np.array([0.0, -(y[2] - y[0]) * 0.12, 0.0])
        half = (corners[1] - corners[0]) * 0.12
        tri = np.stack([top - half, top + half, top + up])
        centre = np.zeros(3)
        if R is not None or t is not None:
            Rm = np.eye(3) if R is None else _np(R, "R").astype(np.float64).reshape(3, 3)
            tv = np.zeros(3) if t is None else _np(t, "t").astype(np.float64).reshape(3)

            def to_world(pts: np.ndarray) -> np.ndarray:
                return (pts - tv) @ Rm

            corners, tri, centre = to_world(corners), to_world(tri), to_world(centre[None])[0]
        segs = [[centre, c] for c in corners]
        segs += [[corners[i], corners[(i + 1) % 4]] for i in range(4)]
        segs += [[tri[i], tri[(i + 1) % 3]] for i in range(3)]
        self.add_lines(np.array(segs), color=color)
        if image is not None:
            self.add_image_plane(image, corners)
        return self

    def add_depth(
        self,
        depth: Any,
        K: Any = None,
        *,
        image: Any = None,
        mask: Any = None,
        color_by: str = "auto",
        cmap: str = "turbo",
        camera: bool = True,
        max_points: int = MAX_POINTS,
        point_size: float | None = None,
        name: str | None = None,
    ) -> Figure:
        """Back-project a depth map ``(H, W)`` with ``K`` into a point cloud in the camera frame
        (pixels with depth ``<= 0`` / NaN dropped), coloured by ``image`` (``(3, H, W)`` or
        ``(H, W, 3)``, when given) or by depth, with the camera drawn as a frustum.

        Without ``K`` the camera is assumed to be ``fx = fy = max(H, W)`` with the principal
        point at the centre (the panel says so). Starts the panel in the ``"opencv"`` frame
        when it is empty.
        """
        from spacetime.shapes.convert import depth_to_points

        d = depth if isinstance(depth, torch.Tensor) else torch.as_tensor(_np(depth, "depth"))
        while d.ndim > 2 and d.shape[0] == 1:
            d = d[0]
        if d.ndim != 2:
            raise InputError(f"depth: expected a depth map (H, W), got shape {tuple(d.shape)}")
        d = d.detach().cpu().double()
        h, w = d.shape
        p = self._current("opencv")
        label = name or "depth"
        if K is None:
            f = float(max(h, w))
            k = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
            p.notes.append(f"{label}: no intrinsics given, assumed fx = fy = {f:g} px and the "
                           "principal point at the image centre")
        else:
            k = _intrinsics(K)
        rgb = None
        if image is not None:
            img = _image_u8(image, "image")
            if img.shape[:2] != (h, w):
                raise InputError(f"image: expected size {(h, w)} like depth, got "
                                 f"{img.shape[:2]}")
            rgb = torch.from_numpy(img).permute(2, 0, 1)[None].double() / 255.0
        m = None if mask is None else torch.as_tensor(_np(mask, "mask")).bool().reshape(1, h, w)
        cloud = depth_to_points(d[None], torch.from_numpy(k)[None], mask=m, rgb=rgb)
        mode = color_by
        if mode == "auto":
            mode = "rgb" if rgb is not None else "depth"
        self.add_points(cloud, color_by=mode, cmap=cmap, max_points=max_points,
                        point_size=point_size, name=label, legend_title="depth (z)")
        if camera:
            valid = d[torch.isfinite(d) & (d > 0)]
            fd = float(valid.median()) * 0.3 if valid.numel() else 1.0
            self.add_camera(k, w, h, depth=fd,
                            image=None if image is None else _image_u8(image, "image"))
        return self

    # ------------------------------------------------------------------ pictures
    def add_image(
        self,
        image: Any,
        *,
        title: str | None = None,
        legend: dict[str, Any] | None = None,
        notes: Sequence[str] = (),
        pixelated: bool | None = None,
    ) -> Figure:
        """Add a 2D panel showing ``image`` (``(3, H, W)``, ``(H, W, 3)`` or ``(H, W)``; uint8
        or float in [0, 1]); small images are drawn with square pixels."""
        img = _image_u8(image, "image")
        if pixelated is None:
            pixelated = max(img.shape[:2]) < 256
        self._panels.append(_Panel(title, kind="image", src=_png_data_url(img),
                                   pixelated=bool(pixelated), notes=list(notes), legend=legend))
        return self

    def add_flow(self, flow: Any, *, title: str | None = None,
                 max_flow: float | None = None) -> Figure:
        """Add a 2D panel with a flow field ``(2, H, W)`` (pixels) in the Middlebury colours,
        its colour wheel and magnitude range."""
        from spacetime.video.flow import flow_to_image
        from spacetime.viz.flow import flow_legend

        fl = flow if isinstance(flow, torch.Tensor) else torch.as_tensor(_np(flow, "flow"))
        if fl.ndim != 3 or fl.shape[0] != 2:
            raise InputError(f"flow: expected (2, H, W), got shape {tuple(fl.shape)}")
        fl = fl.detach().cpu().float()
        img = flow_to_image(fl, max_flow=max_flow).permute(1, 2, 0).numpy()
        wheel, notes = flow_legend(fl, max_flow)
        return self.add_image(img, title=title or f"flow {fl.shape[2]}×{fl.shape[1]}",
                              legend={"type": "image", "title": "direction (hue) and magnitude "
                                      "(saturation)", "src": _png_data_url(wheel)},
                              notes=notes)

    # ------------------------------------------------------------------ dispatch
    def add(self, obj: Any, *, kind: str | None = None, **kw: Any) -> Figure:
        """Draw anything :func:`spacetime.viz.show` draws: a ``Meshes``, ``Pointclouds``,
        ``VoxelGrid`` (occupancy or SDF), ``Octree``, ``ShapeLayers``, or a tensor with
        ``kind`` one of ``"points"`` ``(P, 3)``, ``"depth"`` ``(H, W)`` (``K=`` in ``kw``),
        ``"normals"`` ``(3, H, W)``, ``"flow"`` ``(2, H, W)``, ``"image"``, ``"voxels"``;
        keywords go to the matching ``add_*`` method."""
        if kind is not None:
            check_in(kind, "kind", ("mesh", "points", "voxels", "sdf", "octree", "depth",
                                    "normals", "flow", "image"))
        if hasattr(obj, "faces_list"):
            return self.add_mesh(obj, **kw)
        if hasattr(obj, "points_list"):
            return self.add_points(obj, **kw)
        if hasattr(obj, "leaves") and hasattr(obj, "to_voxelgrid"):
            return self.add_octree(obj, **kw)
        if hasattr(obj, "voxel_size") or (hasattr(obj, "compose") and hasattr(obj, "depths")):
            return self.add_voxels(obj, sdf=True if kind == "sdf" else None, **kw)
        if not isinstance(obj, (torch.Tensor, np.ndarray)):
            raise InputError(f"obj: cannot draw a {type(obj).__name__}")
        t = obj if isinstance(obj, torch.Tensor) else torch.from_numpy(np.asarray(obj))
        if kind is None:
            if t.ndim == 2 and t.shape[-1] == 3:
                kind = "points"
            elif t.ndim == 2:
                kind = "depth"
            elif t.ndim == 3 and t.shape[0] == 2:
                kind = "flow"
            elif t.ndim == 3 and t.shape[0] == 3:
                kind = "normals"
            else:
                raise InputError(f"obj: cannot tell what a tensor of shape {tuple(t.shape)} "
                                 "holds; pass kind=")
        if kind == "points":
            return self.add_points(t, **kw)
        if kind == "depth":
            return self.add_depth(t, **kw)
        if kind == "flow":
            return self.add_flow(t, **kw)
        if kind == "normals":
            n = t.detach().cpu().double()
            n = n[0] if n.ndim == 4 else n
            valid = n.abs().sum(0) > 0
            rgb = ((n + 1) / 2).clamp(0, 1)
            rgb[:, ~valid] = 1.0
            return self.add_image(rgb, title=kw.pop("title", None) or "normal map (n + 1) / 2",
                                  **kw)
        if kind == "image":
            return self.add_image(t, **kw)
        if kind in ("voxels", "sdf"):
            return self.add_voxels(t, sdf=True if kind == "sdf" else None, **kw)
        raise InputError(f"kind: cannot draw a tensor of shape {tuple(t.shape)} as {kind!r}")

    # ------------------------------------------------------------------ output
    def _cols(self) -> int:
        """Panels per row: ``cols``, else all panels in one row, at most 3."""
        return self.cols or min(max(len(self._panels), 1), 3)

    def to_json(self) -> dict[str, Any]:
        """The figure as the viewer reads it (geometry base64-encoded)."""
        return {"title": self.title, "cols": self._cols(), "height": self.height,
                "link_cameras": self.link_cameras, "wireframe": self.wireframe,
                "panels": [p.to_json() for p in self._panels]}

    def fragment(self) -> str:
        """The figure's ``<div>`` (needs the page scripts of :func:`html_page`)."""
        data = json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False)
        data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return ('<div class="st-figure"><script type="application/json" class="st-data">'
                f"{data}</script></div>\n")

    def to_html(self) -> str:
        """A complete self-contained HTML page of this figure."""
        return html_page([self], title=self.title or "spacetime view")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (atomically) and return the path."""
        return write_html(path, [self], title=self.title or "spacetime view")

    def _repr_html_(self) -> str:
        """Jupyter's inline display: the page in a sandboxed ``<iframe srcdoc>``."""
        cols = self._cols()
        rows = math.ceil(max(len(self._panels), 1) / cols)
        h = rows * (self.height + 140) + 80
        page = html.escape(self.to_html(), quote=True)
        return (f'<iframe srcdoc="{page}" style="width: 100%; height: {h}px; border: 0" '
                'sandbox="allow-scripts"></iframe>')


def html_page(blocks: Sequence[str | Figure], *, title: str = "spacetime") -> str:
    """A self-contained HTML page: ``blocks`` are raw HTML strings (which may hold
    :meth:`Figure.fragment` s) or :class:`Figure` s, in order; the three.js bundle and the
    viewer are inlined once when the page has a figure."""
    body = "".join(b.fragment() if isinstance(b, Figure) else str(b) for b in blocks)
    scripts = ""
    if '<div class="st-figure">' in body:
        scripts = (f"<script>{_asset('three.bundle.min.js')}</script>\n"
                   f"<script>{_asset('viewer.js')}</script>\n")
    from spacetime import __version__

    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta name=\"generator\" content=\"spacetime {__version__}, three.js r187\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_asset('viewer.css')}</style>\n"
            f"</head>\n<body>\n<main class=\"st-page\">\n{body}</main>\n{scripts}</body>\n"
            "</html>\n")


def write_html(path: str | os.PathLike, blocks: Sequence[str | Figure], *,
               title: str = "spacetime") -> Path:
    """Write :func:`html_page` of ``blocks`` to ``path`` atomically; return the path."""
    dest = Path(path)
    text = html_page(blocks, title=title)
    with atomic_write(dest, "wb") as f:
        f.write(text.encode("utf-8"))
    return dest
