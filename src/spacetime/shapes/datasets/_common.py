"""Private helpers shared by the real-dataset loaders: file checks, JSON fields, images, meshes,
binvox voxels, an on-disk mesh cache and seeded surface sampling.

Every loader goes through these helpers so that a missing file always raises
:class:`~spacetime.errors.MissingFileError` naming the path, and a bad annotation always raises
:class:`~spacetime.errors.FileFormatError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Sequence
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


def _open_image(p: Path):
    """``PIL.Image.open`` on the file's bytes, after its declared size was checked against
    ``limits.MAX_IMAGE_PIXELS`` (no DecompressionBombError, no huge allocation)."""
    import io

    from PIL import Image

    from spacetime.fileio import image_header_size, read_file_bytes

    data = read_file_bytes(p)
    image_header_size(data, p)
    return Image.open(io.BytesIO(data))


def load_image_rgba(path: PathLike, what: str) -> np.ndarray:
    """Read an image as ``(H, W, 4)`` uint8 RGBA (opaque alpha for images without one)."""
    from PIL import UnidentifiedImageError

    p = require_file(path, what)
    try:
        with _open_image(p) as im:
            return np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as e:
        raise FileFormatError(f"{what}: cannot decode image {p} ({e})") from e


def load_image_rgb(path: PathLike, what: str) -> torch.Tensor:
    """Read an image as a ``(3, H, W)`` float32 tensor in [0, 1] (grey/RGBA converted to RGB)."""
    from PIL import UnidentifiedImageError

    p = require_file(path, what)
    try:
        with _open_image(p) as im:
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise FileFormatError(f"{what}: cannot decode image {p} ({e})") from e
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def load_mask(path: PathLike, what: str) -> torch.Tensor:
    """Read a mask image as an ``(H, W)`` float32 tensor in [0, 1] (grey level / 255)."""
    from PIL import UnidentifiedImageError

    p = require_file(path, what)
    try:
        with _open_image(p) as im:
            arr = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise FileFormatError(f"{what}: cannot decode mask {p} ({e})") from e
    return torch.from_numpy(arr.copy()).to(torch.float32) / 255.0


def load_mesh_tensors(
    path: PathLike, what: str, *, load_colors: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Load a mesh file as ``verts (V, 3) float32``, ``faces (F, 3) int64`` and optional
    per-vertex colours ``(V, 3)`` in [0, 1] (material/texture colours sampled at the vertices).

    Geometry goes through :func:`spacetime.shapes.io.load_mesh`; with ``load_colors`` the file is
    read by trimesh, whose ``to_color()`` turns materials and textures into vertex colours.
    """
    p = require_file(path, what)
    if load_colors:
        return _load_mesh_trimesh(p, what)
    from spacetime.shapes.io import load_mesh

    try:
        meshes = load_mesh(p, load_texture=False)
    except MissingFileError:
        raise
    except FileFormatError as e:
        raise FileFormatError(f"{what}: {e}") from e
    return meshes.verts_list()[0], meshes.faces_list()[0], None


def _load_mesh_trimesh(p: Path, what: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mesh + per-vertex colours via trimesh (``spacetime.shapes.io`` keeps UV textures but
    does not bake material colours into vertex colours)."""
    import trimesh

    try:
        mesh = trimesh.load(p, force="mesh", process=False)
    except Exception as e:  # trimesh raises many exception types for broken files
        raise FileFormatError(f"{what}: cannot read mesh {p} ({type(e).__name__}: {e})") from e
    verts = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32).reshape(-1, 3)
    faces = torch.as_tensor(np.asarray(mesh.faces), dtype=torch.int64).reshape(-1, 3)
    colors = None
    try:
        vc = np.asarray(mesh.visual.to_color().vertex_colors)[:, :3]
        colors = torch.as_tensor(vc, dtype=torch.float32) / 255.0
    except Exception:  # no usable material: grey below
        colors = None
    if colors is None or colors.shape[0] != verts.shape[0]:
        colors = torch.full_like(verts, 0.5)
    return verts, faces, colors


MeshTensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def cached_mesh(
    path: Path, root: Path, cache_dir: PathLike | None, load: Callable[[], MeshTensors]
) -> MeshTensors:
    """``load()`` a mesh, through an on-disk cache of decoded arrays when ``cache_dir`` is set.

    Text formats (OBJ, OFF) take 0.1–1 s per model to parse; the cache keeps
    ``verts`` / ``faces`` / ``colors`` as ``<cache_dir>/<path relative to root>.npz``, written
    atomically (safe with several ``DataLoader`` workers) and stamped with the source's size and
    modification time, so an edited source file is decoded again.
    """
    if cache_dir is None:
        return load()
    from spacetime.fileio import atomic_write

    st = require_file(path, "mesh").stat()
    stamp = np.asarray([st.st_size, st.st_mtime_ns], dtype=np.int64)
    key = Path(cache_dir) / (str(path.relative_to(root)) + ".npz")
    if key.is_file():
        try:
            from spacetime.fileio import load_npz_bytes, read_file_bytes

            z = load_npz_bytes(read_file_bytes(key), key)
            if np.array_equal(z["stamp"], stamp):
                colors = torch.from_numpy(z["colors"]) if "colors" in z else None
                return torch.from_numpy(z["verts"]), torch.from_numpy(z["faces"]), colors
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # unreadable cache entry: decode again and overwrite it
    verts, faces, colors = load()
    arrays = {"verts": verts.numpy(), "faces": faces.numpy(), "stamp": stamp}
    if colors is not None:
        arrays["colors"] = colors.numpy()
    key.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(key, "wb") as fh:
        np.savez(fh, **arrays)
    return verts, faces, colors


def load_binvox_grid(path: PathLike, what: str):
    """Read a binvox file as a :class:`VoxelGrid` (N = 1) indexed ``[z, y, x]`` and placed by
    the header (``origin = translate``, ``voxel_size = scale / dim``)."""
    from spacetime.shapes.io import load_voxels

    p = require_file(path, what)
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
