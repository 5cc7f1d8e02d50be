"""Private helpers shared by the file readers and writers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.errors import FileFormatError, InputError
from spacetime.fileio import read_file_bytes

__all__: list[str] = []


def format_rows(row: str, arr: np.ndarray, chunk: int = 65536) -> str:
    """Text of ``arr`` ``(R, C)`` formatted one row per ``row`` (a ``%``-format with ``C``
    fields and its own newline). One ``%`` call per chunk of rows instead of one per row
    (2-2.5x faster on 80k faces); chunks bound the temporary tuple of Python numbers."""
    if arr.shape[0] == 0:
        return ""
    parts = []
    for s in range(0, arr.shape[0], chunk):
        block = arr[s : s + chunk]
        parts.append((row * block.shape[0]) % tuple(block.ravel().tolist()))
    return "".join(parts)


def fail(path: str | os.PathLike, reason: str) -> FileFormatError:
    """A ``FileFormatError`` naming the file and the reason (raise the result)."""
    return FileFormatError(f"{os.fspath(path)}: {reason}")


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes (``MissingFileError`` if absent; at most ``limits.MAX_FILE_BYTES``)."""
    return read_file_bytes(path)


def read_text(path: str | os.PathLike) -> str:
    data = read_bytes(path)
    if b"\x00" in data:
        raise fail(path, "expected a text file, found binary data (NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes everything
            raise fail(path, f"not a text file ({exc})") from None


def suffix(path: str | os.PathLike) -> str:
    return Path(path).suffix.lower()


def mesh_parts(meshes: Any, name: str = "meshes"):
    """``(verts (V, 3), faces (F, 3), normals|None, colors|None, uvs|None, faces_uvs|None,
    texture|None)`` of one mesh; a batch of N > 1 is joined into one scene first."""
    if not (hasattr(meshes, "verts_list") and hasattr(meshes, "faces_list")):
        raise InputError(f"{name}: expected a Meshes, got {type(meshes).__name__}")
    if len(meshes) > 1:
        from spacetime.shapes.structures import join_meshes_as_scene

        meshes = join_meshes_as_scene(meshes)
    verts = meshes.verts_list()[0].detach().cpu()
    faces = meshes.faces_list()[0].detach().cpu()
    normals = meshes.verts_normals_list()[0].detach().cpu() if meshes.has_verts_normals() else None
    colors = meshes.verts_colors_list()
    colors = None if colors is None else colors[0].detach().cpu()
    uvs, fuvs, tex = meshes.verts_uvs_list(), meshes.faces_uvs_list(), meshes.texture_images_list()
    uvs = None if uvs is None else uvs[0].detach().cpu()
    fuvs = None if fuvs is None else fuvs[0].detach().cpu()
    tex = None if tex is None or tex[0] is None else tex[0].detach().cpu()
    return verts, faces, normals, colors, uvs, fuvs, tex


def cloud_parts(clouds: Any, name: str = "pointclouds"):
    """``(points (P, 3), normals|None, colors|None)`` of one cloud (a batch is concatenated).

    Features with 3 channels are taken as RGB colours in [0, 1]."""
    if isinstance(clouds, torch.Tensor):
        from spacetime.checks import check_tensor

        check_tensor(clouds, name, ("P", 3), dtype="float")
        return clouds.detach().cpu(), None, None
    if not hasattr(clouds, "points_list"):
        raise InputError(
            f"{name}: expected a Pointclouds or a (P, 3) tensor, got {type(clouds).__name__}"
        )
    pts = torch.cat(clouds.points_list(), 0).detach().cpu()
    nl = clouds.normals_list()
    normals = None if nl is None else torch.cat(nl, 0).detach().cpu()
    fl = clouds.features_list()
    colors = None
    if fl is not None and fl[0].shape[-1] == 3:
        colors = torch.cat(fl, 0).detach().cpu()
    return pts, normals, colors


def check_writable_geometry(
    verts: torch.Tensor,
    faces: torch.Tensor | None = None,
    **extra: torch.Tensor | None,
) -> None:
    """What a writer refuses because its reader would: non-finite coordinates (and normals,
    colours, UVs given in ``extra``), faces that are not integer or index outside the
    vertices. Raises :class:`~spacetime.errors.InputError` naming the array."""
    for name, t in (("verts", verts), *extra.items()):
        if t is None:
            continue
        if t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).any(-1).sum()) if t.ndim > 1 else -1
            raise InputError(f"{name}: expected finite values, got NaN or inf"
                             + (f" in {bad} rows" if bad >= 0 else "")
                             + " (the file's reader would refuse it)")
    if faces is None:
        return
    if faces.is_floating_point():
        raise InputError(f"faces: expected integer indices, got {faces.dtype}")
    if faces.numel():
        lo, hi = int(faces.min()), int(faces.max())
        if lo < 0 or hi >= verts.shape[0]:
            raise InputError(f"faces: expected indices in [0, {verts.shape[0] - 1}], got "
                             f"[{lo}, {hi}]")
