"""Load and save ``Meshes``: OBJ (with MTL texture), PLY, OFF and STL by our own parsers; GLB
and glTF through trimesh (``process=False``: vertex order kept)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in
from spacetime.errors import InputError
from spacetime.fileio import atomic_path
from spacetime.shapes.io._common import (
    check_writable_geometry,
    fail,
    mesh_parts,
    read_bytes,
    suffix,
)
from spacetime.shapes.io.obj import read_obj, write_obj
from spacetime.shapes.io.off import read_off, write_off
from spacetime.shapes.io.ply import read_ply, write_ply
from spacetime.shapes.io.stl import read_stl, write_stl

__all__ = ["load_mesh", "save_mesh", "MESH_EXTENSIONS"]

MESH_EXTENSIONS = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")


def _t(a: np.ndarray, dtype, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), device=device).to(
        dtype if np.issubdtype(a.dtype, np.floating) else torch.int64
    )


def _load_trimesh(path: Path, scene: str) -> list[dict]:
    import trimesh

    from spacetime.shapes.io.interop import trimesh_visuals

    read_bytes(path)  # MissingFileError for absent files
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:  # trimesh raises many types on bad input
        raise fail(path, f"could not be read ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump(concatenate=False) if isinstance(g, trimesh.Trimesh)]
        if not geoms:
            raise fail(path, "the scene holds no triangle meshes")
        if scene == "concat":
            geoms = [trimesh.util.concatenate(geoms)]
    elif isinstance(loaded, trimesh.Trimesh):
        geoms = [loaded]
    else:
        raise fail(path, f"holds a {type(loaded).__name__}, not a triangle mesh")
    out = []
    for g in geoms:
        v = np.asarray(g.vertices, dtype=np.float32)
        f = np.asarray(g.faces, dtype=np.int64).reshape(-1, 3)
        if v.shape[0] == 0 or not np.isfinite(v).all():
            raise fail(path, "no vertices or non-finite vertex coordinates")
        d: dict = {"verts": v, "faces": f}
        vis = trimesh_visuals(g)
        if "colors" in vis:
            d["colors"] = vis["colors"]
        if "verts_uvs" in vis:
            d["verts_uvs"], d["faces_uvs"] = vis["verts_uvs"], f
            if vis["texture"] is not None:
                d["texture"] = vis["texture"]
        out.append(d)
    return out


def load_mesh(
    path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    load_texture: bool = True,
    scene: str = "concat",
):
    """Read a mesh file into a ``Meshes``.

    Args:
        path: ``.obj``, ``.ply``, ``.off``, ``.stl``, ``.glb`` or ``.gltf``.
        load_texture: OBJ only: read the ``map_Kd`` image of the MTL file into
            ``texture_images`` (``(H, W, 3)`` in [0, 1]) along with ``verts_uvs``/``faces_uvs``.
        scene: files holding several meshes (GLB/glTF scenes): ``"concat"`` joins them into one
            mesh (N = 1), ``"batch"`` returns one mesh per geometry.

    Raises:
        FileFormatError: truncated or corrupt file, or faces indexing missing vertices (the
            message names the file and the reason). MissingFileError: no such file.
    """
    from spacetime.shapes.structures import Meshes

    check_in(scene, "scene", ("concat", "batch"))
    path = Path(path)
    ext = suffix(path)
    if ext == ".obj":
        parts = [read_obj(path)]
    elif ext == ".ply":
        parts = [read_ply(path)]
    elif ext == ".off":
        parts = [read_off(path)]
    elif ext == ".stl":
        parts = [read_stl(path)]
    elif ext in (".glb", ".gltf"):
        parts = _load_trimesh(path, scene)
    else:
        raise fail(path, f"unknown mesh extension {ext!r} (expected one of {MESH_EXTENSIONS})")
    verts = [_t(p["verts"], dtype, device) for p in parts]
    faces = [_t(p["faces"], dtype, device) for p in parts]
    kw: dict[str, Any] = {}
    if all("colors" in p for p in parts):
        kw["verts_colors"] = [_t(p["colors"], dtype, device) for p in parts]
    if all("normals" in p for p in parts):
        kw["verts_normals"] = [_t(p["normals"], dtype, device) for p in parts]
    p0 = parts[0]
    if len(parts) == 1 and "verts_uvs" in p0:
        kw["verts_uvs"] = [_t(p0["verts_uvs"], dtype, device)]
        kw["faces_uvs"] = [_t(p0["faces_uvs"], dtype, device)]
        tex = None
        if load_texture and "texture" in p0:
            tex = _t(p0["texture"], dtype, device)
        if load_texture and "texture_path" in p0:
            import io

            from PIL import Image

            from spacetime.fileio import image_header_size

            data = read_bytes(p0["texture_path"])
            image_header_size(data, p0["texture_path"])
            try:
                with Image.open(io.BytesIO(data)) as im:
                    img = np.asarray(im.convert("RGB"), np.float32)
            except Exception as exc:  # noqa: BLE001 - Pillow raises many types
                raise fail(p0["texture_path"], f"unreadable texture image ({exc})") from None
            tex = _t(img / 255.0, dtype, device)
        kw["texture_images"] = [tex]
    try:
        return Meshes(verts, faces, **kw)
    except InputError as exc:
        raise fail(path, f"invalid mesh data ({exc})") from None


def save_mesh(meshes: Any, path: str | os.PathLike, *, binary: bool = True) -> None:
    """Write a ``Meshes`` (a batch of N > 1 is joined into one scene) atomically.

    ``.obj`` keeps vertex colours, normals given by the user, UVs and the texture image
    (written beside it as ``<name>.mtl`` + ``<name>.png``); ``.ply`` (binary little endian, or
    ascii with ``binary=False``) keeps colours and normals; ``.off`` geometry only; ``.stl`` binary
    triangles; ``.glb`` goes through trimesh (geometry and vertex colours).
    """
    path = Path(path)
    ext = suffix(path)
    verts, faces, normals, colors, uvs, fuvs, tex = mesh_parts(meshes)
    check_writable_geometry(verts, faces, normals=normals, colors=colors)
    if ext == ".obj":
        write_obj(path, verts, faces, colors=colors, normals=normals, verts_uvs=uvs,
                  faces_uvs=fuvs, texture=tex)
    elif ext == ".ply":
        write_ply(path, verts, faces, normals=normals, colors=colors, binary=binary)
    elif ext == ".off":
        write_off(path, verts, faces)
    elif ext == ".stl":
        write_stl(path, verts, faces)
    elif ext == ".glb":
        from spacetime.shapes.io.interop import to_trimesh

        tm = to_trimesh(meshes)
        with atomic_path(path) as tmp:
            tm.export(str(tmp), file_type=ext[1:])
    else:
        raise InputError(
            f"path: expected a mesh extension .obj, .ply, .off, .stl or .glb, got {ext!r}"
        )
