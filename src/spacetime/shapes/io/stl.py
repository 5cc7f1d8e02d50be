"""STL reader and writer (binary and ascii; own parser).

STL stores a triangle soup. Reading merges vertices with bit-identical coordinates (kept in
order of first occurrence) so that the mesh is connected again; writing emits binary STL with
per-face normals.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from spacetime.fileio import atomic_write
from spacetime.limits import check_limit
from spacetime.shapes.io._common import check_writable_geometry, fail, read_bytes

__all__ = ["read_stl", "write_stl"]

_TRI = np.dtype([("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])


def _merge(tris: np.ndarray) -> dict:
    flat = np.ascontiguousarray(tris.reshape(-1, 3), dtype=np.float32)
    if flat.shape[0] == 0:
        return {"verts": np.zeros((0, 3), np.float32), "faces": np.zeros((0, 3), np.int64)}
    from spacetime.shapes.io._dedupe import unique_rows_first

    first, inverse = unique_rows_first(flat.view(np.uint32))  # bitwise, first occurrence
    return {"verts": flat[first], "faces": inverse.reshape(-1, 3)}


def read_stl(path: str | os.PathLike) -> dict:
    """Parse binary or ascii STL into ``verts`` ``(V, 3)`` float32 and ``faces`` ``(F, 3)``."""
    data = read_bytes(path)
    if len(data) >= 84:
        n = int(np.frombuffer(data, "<u4", 1, 80)[0])
        if len(data) == 84 + 50 * n:
            check_limit(n, "triangle count", "MAX_MESH_FACES", path)
            tris = np.frombuffer(data, _TRI, n, 84)["v"]
            if not np.isfinite(tris).all():
                raise fail(path, "vertex coordinates contain NaN or inf")
            return _merge(tris)
    head = data[:5].lower()
    if head != b"solid":
        if len(data) >= 84:
            n = int(np.frombuffer(data, "<u4", 1, 80)[0])
            raise fail(path, f"binary STL promises {n} triangles ({84 + 50 * n} bytes), "
                             f"file has {len(data)} bytes (truncated or corrupt)")
        raise fail(path, "not an STL file (too short, no 'solid' header)")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise fail(path, "ascii STL contains non-ascii bytes (corrupt?)") from None
    verts = []
    nfacets = nends = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "vertex":
            if len(parts) != 4:
                raise fail(path, f"line {lineno}: malformed vertex line {line.strip()[:40]!r}")
            try:
                verts.append([float(p) for p in parts[1:]])
            except ValueError:
                raise fail(path, f"line {lineno}: expected numbers, got {line.strip()!r}") from None
        elif parts[0] == "facet":
            nfacets += 1
        elif parts[0] == "endfacet":
            nends += 1
    if nfacets != nends or len(verts) != 3 * nfacets or "endsolid" not in text:
        raise fail(path, f"truncated ascii STL: {nfacets} facets opened, {nends} closed, "
                         f"{len(verts)} vertices")
    tris = np.asarray(verts, dtype=np.float32).reshape(-1, 3, 3)
    if not np.isfinite(tris).all():
        raise fail(path, "vertex coordinates contain NaN or inf")
    return _merge(tris)


def write_stl(path: str | os.PathLike, verts: torch.Tensor, faces: torch.Tensor) -> None:
    """Write binary STL (unit face normals, zero attribute bytes)."""
    check_writable_geometry(verts, faces)
    v = verts.detach().cpu().numpy().astype(np.float32, copy=False)
    f = faces.detach().cpu().numpy()
    arr = np.empty(f.shape[0], dtype=_TRI)
    tri = arr["v"]
    np.take(v, f, axis=0, out=tri)  # (F, 3, 3) straight into the records
    e1 = (tri[:, 1] - tri[:, 0]).astype(np.float64)
    e2 = (tri[:, 2] - tri[:, 0]).astype(np.float64)
    nrm = np.empty((f.shape[0], 3))
    nrm[:, 0] = e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1]
    nrm[:, 1] = e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2]
    nrm[:, 2] = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    nrm /= np.maximum(np.sqrt((nrm * nrm).sum(1, keepdims=True)), 1e-30)
    arr["n"] = nrm
    arr["attr"] = 0
    header = b"binary STL written by spacetime".ljust(80, b" ")
    with atomic_write(path, "wb") as fh:
        fh.write(header)
        fh.write(np.uint32(f.shape[0]).tobytes())
        fh.write(arr.tobytes())
