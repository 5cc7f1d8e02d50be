"""Conversion to and from other libraries' mesh and point cloud objects.

``trimesh`` is a core dependency; Open3D and PyTorch3D are optional and imported only when these
functions are called (a :class:`~spacetime.errors.DependencyError` names the missing package).
Vertex order is always kept (``process=False``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from spacetime.errors import DependencyError, InputError
from spacetime.shapes.io._common import cloud_parts, mesh_parts

__all__ = [
    "to_trimesh",
    "from_trimesh",
    "to_open3d",
    "from_open3d",
    "to_pytorch3d",
    "from_pytorch3d",
    "trimesh_visuals",
]


def to_trimesh(meshes: Any):
    """``Meshes`` → ``trimesh.Trimesh`` (a batch is joined into one scene mesh first).
    Vertex colours and user-given vertex normals are kept; UV textures are not converted
    (trimesh keeps one UV per vertex, spacetime one per face corner, as OBJ)."""
    import trimesh

    verts, faces, normals, colors, uvs, fuvs, tex = mesh_parts(meshes)
    mesh = trimesh.Trimesh(
        vertices=verts.numpy().astype(np.float64),
        faces=faces.numpy(),
        vertex_normals=None if normals is None else normals.numpy(),
        process=False,
    )
    if colors is not None:
        rgba = np.concatenate(
            [(colors.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8),
             np.full((colors.shape[0], 1), 255, np.uint8)], 1
        )
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=rgba)
    return mesh


def trimesh_visuals(mesh: Any) -> dict:
    """Vertex colours (``colors`` ``(V, 3)`` in [0, 1]) or per-vertex UVs with their texture
    (``verts_uvs`` ``(V, 2)``, ``texture`` ``(H, W, 3)`` in [0, 1] or None) of a trimesh."""
    out: dict = {}
    vis = getattr(mesh, "visual", None)
    kind = getattr(vis, "kind", None)
    if kind == "vertex":
        out["colors"] = np.asarray(vis.vertex_colors)[:, :3].astype(np.float32) / 255.0
    elif kind == "texture" and getattr(vis, "uv", None) is not None:
        uv = np.asarray(vis.uv, dtype=np.float32)
        if uv.shape == (len(mesh.vertices), 2):
            out["verts_uvs"] = uv
            img = getattr(getattr(vis, "material", None), "image", None)
            if img is None:
                img = getattr(getattr(vis, "material", None), "baseColorTexture", None)
            out["texture"] = (
                None if img is None else np.asarray(img.convert("RGB"), np.float32) / 255.0
            )
    return out


def from_trimesh(mesh: Any, *, dtype: torch.dtype = torch.float32, device=None):
    """``trimesh.Trimesh`` (or a list of them, giving a batch) → ``Meshes``. Vertex colours are
    kept as ``verts_colors`` in [0, 1]; per-vertex UVs and the material's texture image as
    ``verts_uvs`` / ``faces_uvs`` (= the faces) / ``texture_images``."""
    import trimesh

    from spacetime.shapes.structures import Meshes

    items = list(mesh) if isinstance(mesh, (list, tuple)) else [mesh]
    if not items:
        raise InputError("mesh: expected a trimesh.Trimesh or a non-empty list of them")
    verts, faces, extras = [], [], []
    for i, m in enumerate(items):
        if not isinstance(m, trimesh.Trimesh):
            raise InputError(f"mesh[{i}]: expected a trimesh.Trimesh, got {type(m).__name__}")
        verts.append(torch.as_tensor(np.asarray(m.vertices), dtype=dtype, device=device))
        faces.append(torch.as_tensor(np.asarray(m.faces, dtype=np.int64), device=device))
        extras.append(trimesh_visuals(m))

    def t(a):
        return None if a is None else torch.as_tensor(a, dtype=dtype, device=device)

    kw: dict[str, Any] = {}
    if all("colors" in e for e in extras):
        kw["verts_colors"] = [t(e["colors"]) for e in extras]
    if all("verts_uvs" in e for e in extras):
        kw["verts_uvs"] = [t(e["verts_uvs"]) for e in extras]
        kw["faces_uvs"] = list(faces)
        kw["texture_images"] = [t(e["texture"]) for e in extras]
    return Meshes(verts, faces, **kw)


def _require(name: str, pip: str):
    try:
        return __import__(name)
    except ImportError:
        raise DependencyError(
            f"{pip} is needed for this conversion but is not installed (pip install {pip})"
        ) from None


def to_open3d(obj: Any):
    """``Meshes`` → ``open3d.geometry.TriangleMesh``; ``Pointclouds`` → ``PointCloud``."""
    o3d = _require("open3d", "open3d")
    if hasattr(obj, "points_list"):
        pts, normals, colors = cloud_parts(obj)
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.double().numpy()))
        if normals is not None:
            pc.normals = o3d.utility.Vector3dVector(normals.double().numpy())
        if colors is not None:
            pc.colors = o3d.utility.Vector3dVector(colors.double().numpy())
        return pc
    verts, faces, normals, colors, *_ = mesh_parts(obj)
    m = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(verts.double().numpy()),
        o3d.utility.Vector3iVector(faces.numpy().astype(np.int32)),
    )
    if colors is not None:
        m.vertex_colors = o3d.utility.Vector3dVector(colors.double().numpy())
    return m


def from_open3d(obj: Any, *, dtype: torch.dtype = torch.float32):
    """``open3d`` ``TriangleMesh`` → ``Meshes``; ``PointCloud`` → ``Pointclouds``."""
    _require("open3d", "open3d")
    from spacetime.shapes.structures import Meshes, Pointclouds

    if hasattr(obj, "triangles"):
        v = torch.as_tensor(np.asarray(obj.vertices), dtype=dtype)
        f = torch.as_tensor(np.asarray(obj.triangles), dtype=torch.int64)
        kw = {}
        if obj.has_vertex_colors():
            kw["verts_colors"] = [torch.as_tensor(np.asarray(obj.vertex_colors), dtype=dtype)]
        return Meshes([v], [f], **kw)
    if hasattr(obj, "points"):
        p = torch.as_tensor(np.asarray(obj.points), dtype=dtype)
        kw = {}
        if obj.has_normals():
            kw["normals"] = [torch.as_tensor(np.asarray(obj.normals), dtype=dtype)]
        if obj.has_colors():
            kw["features"] = [torch.as_tensor(np.asarray(obj.colors), dtype=dtype)]
        return Pointclouds([p], **kw)
    raise InputError(
        f"obj: expected an open3d TriangleMesh or PointCloud, got {type(obj).__name__}"
    )


def to_pytorch3d(obj: Any):
    """``Meshes`` → ``pytorch3d.structures.Meshes``; ``Pointclouds`` → its ``Pointclouds``."""
    _require("pytorch3d", "pytorch3d")
    from pytorch3d import structures as p3d

    if hasattr(obj, "points_list"):
        return p3d.Pointclouds(
            points=obj.points_list(), normals=obj.normals_list(), features=obj.features_list()
        )
    return p3d.Meshes(verts=obj.verts_list(), faces=obj.faces_list())


def from_pytorch3d(obj: Any):
    """``pytorch3d`` ``Meshes`` / ``Pointclouds`` → spacetime ``Meshes`` / ``Pointclouds``."""
    _require("pytorch3d", "pytorch3d")
    from spacetime.shapes.structures import Meshes, Pointclouds

    if hasattr(obj, "points_list"):
        return Pointclouds(obj.points_list(), normals=obj.normals_list(),
                           features=obj.features_list())
    if hasattr(obj, "verts_list"):
        return Meshes(obj.verts_list(), obj.faces_list())
    raise InputError(f"obj: expected a pytorch3d Meshes or Pointclouds, got {type(obj).__name__}")
