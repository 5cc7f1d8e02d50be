"""Private helpers shared by the real-dataset loaders: file checks, JSON fields, images, meshes,
binvox voxels, seeded surface sampling and the collate function's building blocks.

Every loader goes through these helpers so that a missing file always raises
:class:`~spacetime.errors.MissingFileError` naming the path, and a bad annotation always raises
:class:`~spacetime.errors.FileFormatError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.errors import FileFormatError, InputError, MissingFileError

__all__: list[str] = []

PathLike = str | os.PathLike


def require_dir(path: PathLike, what: str) -> Path:
    """Return ``Path(path)`` or raise ``MissingFileError`` naming ``what`` and the path."""
    p = Path(path)
    if not p.is_dir():
        raise MissingFileError(f"{what}: folder not found: {p}")
    return p


def require_file(path: PathLike, what: str) -> Path:
    """Return ``Path(path)`` or raise ``MissingFileError`` naming ``what`` and the path."""
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{what}: file not found: {p}")
    return p


def load_json(path: PathLike, what: str) -> Any:
    """Parse a JSON file; a missing file → ``MissingFileError``, bad JSON → ``FileFormatError``."""
    p = require_file(path, what)
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise FileFormatError(f"{what}: {p} is not valid JSON ({e})") from e


def get_field(record: dict, key: str, where: str, *, kinds: type | tuple[type, ...] | None = None):
    """``record[key]`` or ``FileFormatError`` naming the field and ``where`` (file, record)."""
    if not isinstance(record, dict):
        raise FileFormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise FileFormatError(f"{where}: missing field '{key}'")
    value = record[key]
    if kinds is not None and not isinstance(value, kinds):
        raise FileFormatError(
            f"{where}: field '{key}' has type {type(value).__name__}, expected "
            f"{kinds.__name__ if isinstance(kinds, type) else '/'.join(k.__name__ for k in kinds)}"
        )
    return value


def float_array(value: Any, shape: tuple[int, ...], field: str, where: str) -> torch.Tensor:
    """Convert a JSON list to a float32 tensor of ``shape`` or raise ``FileFormatError``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise FileFormatError(f"{where}: field '{field}' is not numeric ({e})") from e
    if arr.shape != shape:
        raise FileFormatError(
            f"{where}: field '{field}' has shape {arr.shape}, expected {shape}"
        )
    if not np.isfinite(arr).all():
        raise FileFormatError(f"{where}: field '{field}' contains NaN/inf")
    return torch.from_numpy(arr).to(torch.float32)


def load_image_rgba(path: PathLike, what: str) -> np.ndarray:
    """Read an image as ``(H, W, 4)`` uint8 RGBA (opaque alpha for images without one)."""
    from PIL import Image, UnidentifiedImageError

    p = require_file(path, what)
    try:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as e:
        raise FileFormatError(f"{what}: cannot decode image {p} ({e})") from e


def load_image_rgb(path: PathLike, what: str) -> torch.Tensor:
    """Read an image as a ``(3, H, W)`` float32 tensor in [0, 1] (grey/RGBA converted to RGB)."""
    from PIL import Image, UnidentifiedImageError

    p = require_file(path, what)
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise FileFormatError(f"{what}: cannot decode image {p} ({e})") from e
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def load_mask(path: PathLike, what: str) -> torch.Tensor:
    """Read a mask image as an ``(H, W)`` float32 tensor in [0, 1] (grey level / 255)."""
    from PIL import Image, UnidentifiedImageError

    p = require_file(path, what)
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise FileFormatError(f"{what}: cannot decode mask {p} ({e})") from e
    return torch.from_numpy(arr.copy()).to(torch.float32) / 255.0


def load_mesh_tensors(
    path: PathLike, what: str, *, load_colors: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Load a mesh file as ``verts (V, 3) float32``, ``faces (F, 3) int64`` and optional
    per-vertex colours ``(V, 3)`` in [0, 1] (material/texture colours sampled at the vertices).

    Goes through :func:`spacetime.shapes.io.load_mesh` (trimesh underneath).
    """
    p = require_file(path, what)
    load_mesh = _io_function("load_mesh")
    if load_colors or load_mesh is None:
        return _load_mesh_trimesh(p, what, load_colors=load_colors)
    try:
        meshes = load_mesh(p, load_texture=False)
    except MissingFileError:
        raise
    except FileFormatError as e:
        raise FileFormatError(f"{what}: {e}") from e
    return meshes.verts_list()[0], meshes.faces_list()[0], None


def _io_function(name: str):
    """``spacetime.shapes.io.<name>`` if that module provides it, else ``None``."""
    try:
        from spacetime.shapes import io as shapes_io
    except ImportError:  # pragma: no cover - io is part of the package
        return None
    return getattr(shapes_io, name, None)


def _read_binvox_fallback(path: Path):
    """FALLBACK binvox reader, used only while ``spacetime.shapes.io.load_voxels`` is absent.

    binvox (Patrick Min): text header ``#binvox 1`` / ``dim D H W`` / ``translate tx ty tz`` /
    ``scale s`` / ``data``, then run-length ``(value, count)`` byte pairs over the voxels in
    x-slowest, z-middle, y-fastest order; voxel ``(i, j, k)`` has its centre at
    ``translate + scale * ((i, j, k) + 0.5) / dim``.
    """
    from spacetime.shapes.structures import VoxelGrid

    data = path.read_bytes()
    pos = 0
    header: list[bytes] = []
    while len(header) < 5 or header[-1] != b"data":
        end = data.find(b"\n", pos)
        if end < 0 or len(header) > 16:
            raise FileFormatError(f"{path}: truncated binvox header")
        line = data[pos:end].strip()
        pos = end + 1
        if line:
            header.append(line)
    if not header[0].startswith(b"#binvox"):
        raise FileFormatError(f"{path}: not a binvox file (first line {header[0][:20]!r})")
    fields = {h.split()[0]: h.split()[1:] for h in header[1:]}
    try:
        dims = [int(v) for v in fields[b"dim"]]
        translate = [float(v) for v in fields.get(b"translate", [0, 0, 0])]
        scale = float(fields.get(b"scale", [1.0])[0])
    except (KeyError, ValueError, IndexError) as e:
        raise FileFormatError(f"{path}: bad binvox header ({e!r})") from e
    if len(dims) != 3 or len(translate) != 3 or min(dims) <= 0:
        raise FileFormatError(f"{path}: bad binvox header dims={dims} translate={translate}")
    raw = np.frombuffer(data[pos:], dtype=np.uint8)
    if raw.size % 2:
        raise FileFormatError(f"{path}: binvox data has an odd number of bytes")
    values, counts = raw[0::2], raw[1::2].astype(np.int64)
    total = int(np.prod(dims))
    if int(counts.sum()) != total:
        raise FileFormatError(
            f"{path}: binvox run lengths cover {int(counts.sum())} voxels, expected {total}"
        )
    dense = np.repeat(values > 0, counts).reshape(dims[0], dims[2], dims[1])  # [x, z, y]
    grid = torch.from_numpy(np.ascontiguousarray(dense.transpose(1, 2, 0)))  # [z, y, x]
    return VoxelGrid(
        grid.to(torch.float32)[None], origin=translate, voxel_size=scale / max(dims)
    )


def _load_mesh_trimesh(
    p: Path, what: str, *, load_colors: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """trimesh reader used for per-vertex colours (``spacetime.shapes.io`` returns geometry)."""
    import trimesh

    try:
        mesh = trimesh.load(p, force="mesh", process=False)
    except Exception as e:  # trimesh raises many exception types for broken files
        raise FileFormatError(f"{what}: cannot read mesh {p} ({type(e).__name__}: {e})") from e
    verts = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32).reshape(-1, 3)
    faces = torch.as_tensor(np.asarray(mesh.faces), dtype=torch.int64).reshape(-1, 3)
    colors = None
    if load_colors:
        try:
            vc = np.asarray(mesh.visual.to_color().vertex_colors)[:, :3]
            colors = torch.as_tensor(vc, dtype=torch.float32) / 255.0
        except Exception:  # no usable material: grey
            colors = None
        if colors is None or colors.shape[0] != verts.shape[0]:
            colors = torch.full_like(verts, 0.5)
    return verts, faces, colors


def load_binvox_grid(path: PathLike, what: str):
    """Read a binvox file as a :class:`VoxelGrid` (N = 1) indexed ``[z, y, x]`` and placed by
    the header (``origin = translate``, ``voxel_size = scale / dim``)."""
    p = require_file(path, what)
    load_voxels = _io_function("load_voxels") or _read_binvox_fallback
    try:
        return load_voxels(p)
    except MissingFileError:
        raise
    except FileFormatError as e:
        raise FileFormatError(f"{what}: {e}") from e


def sample_surface(
    verts: torch.Tensor,
    faces: torch.Tensor,
    num_points: int,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Area-weighted surface samples ``(P, 3)`` and their face normals ``(P, 3)``."""
    from spacetime.shapes.convert import sample_points_from_meshes
    from spacetime.shapes.structures import Meshes

    mesh = Meshes([verts], [faces], validate=False)
    points, normals = sample_points_from_meshes(
        mesh, num_points, return_normals=True, generator=generator
    )
    return points[0], normals[0]


def item_generator(seed: int | None, index: int) -> torch.Generator | None:
    """A generator seeded by ``(seed, index)`` (``None`` → the global RNG): the same item gives
    the same samples whatever the worker or the order it is loaded in."""
    if seed is None:
        return None
    g = torch.Generator()
    g.manual_seed((int(seed) * 1_000_003 + int(index)) % (2**63 - 1))
    return g


def normalize_unit_sphere(verts: torch.Tensor) -> torch.Tensor:
    """Centre on the bounding-box centre and scale so the farthest vertex is at distance 1."""
    if verts.shape[0] == 0:
        return verts
    center = (verts.min(0).values + verts.max(0).values) / 2
    v = verts - center
    r = v.norm(dim=1).max()
    return v / r if float(r) > 0 else v


def select_names(
    requested: Sequence[str] | str | None, available: Sequence[str], what: str
) -> list[str]:
    """Validate a requested subset of names (``None`` → all), keep ``available``'s order."""
    if requested is None:
        return list(available)
    if isinstance(requested, str):
        requested = [requested]
    missing = [r for r in requested if r not in available]
    if missing:
        raise InputError(
            f"{what}: unknown name(s) {missing}; available: {list(available)}"
        )
    wanted = set(requested)
    return [a for a in available if a in wanted]
