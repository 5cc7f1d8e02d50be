"""OFF (Object File Format) reader and writer: ``OFF`` / ``COFF`` header, counts, vertices and
polygon faces (fan-triangulated); ``#`` comments allowed."""

from __future__ import annotations

import os
import re

import numpy as np
import torch

from spacetime.fileio import atomic_write
from spacetime.shapes.io._common import fail, read_text

__all__ = ["read_off", "write_off"]


def read_off(path: str | os.PathLike) -> dict:
    """Parse an OFF file into ``verts`` ``(V, 3)`` float32 and ``faces`` ``(F, 3)`` int64."""
    text = read_text(path)
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise fail(path, "empty file")
    head = lines[0].split()
    glued = re.match(r"^([A-Z]*OFF)(\d.*)$", head[0])
    if glued:  # "OFF490 518 0": keyword glued to the counts (seen in ModelNet's released files)
        head = [glued.group(1), glued.group(2), *head[1:]]
    if not head[0].endswith("OFF"):
        raise fail(path, f"not an OFF file (first line {lines[0][:30]!r})")
    if len(head) > 1:  # "OFF nv nf ne" on one line
        counts, body = head[1:], lines[1:]
    elif len(lines) > 1:
        counts, body = lines[1].split(), lines[2:]
    else:
        raise fail(path, "truncated: missing the vertex/face counts line")
    try:
        nv, nf = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        raise fail(path, "missing or malformed vertex/face counts line") from None
    if nv < 0 or nf < 0:
        raise fail(path, f"negative counts {nv}, {nf}")
    if len(body) < nv + nf:
        raise fail(path, f"truncated: header promises {nv} vertices and {nf} faces, "
                         f"file holds {len(body)} lines")
    try:
        rows = [r.split() for r in body[:nv]]
        if any(len(r) < 3 for r in rows):
            raise ValueError("short row")
        verts = np.asarray([r[:3] for r in rows], dtype=np.float64).reshape(nv, 3)
    except ValueError:
        raise fail(path, "malformed vertex block (short rows or non-numbers)") from None
    verts = verts.astype(np.float32)
    if not np.isfinite(verts).all():
        raise fail(path, "vertex coordinates contain NaN or inf")
    tris = []
    for i, row in enumerate(body[nv:nv + nf]):
        parts = row.split()
        try:
            k = int(parts[0])
            idx = [int(t) for t in parts[1:1 + k]]
        except ValueError:
            raise fail(path, f"face {i} is malformed: {row[:40]!r}") from None
        if k < 3 or len(idx) < k:
            raise fail(path, f"face {i} is truncated or has fewer than 3 corners")
        for j in range(1, k - 1):
            tris.append((idx[0], idx[j], idx[j + 1]))
    faces = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= nv):
        raise fail(path, f"faces index vertices in [{faces.min()}, {faces.max()}] but only {nv} "
                         "vertices exist")
    return {"verts": verts, "faces": faces}


def write_off(path: str | os.PathLike, verts: torch.Tensor, faces: torch.Tensor) -> None:
    """Write one mesh as ascii OFF."""
    v = verts.detach().cpu().numpy().astype(np.float64)
    f = faces.detach().cpu().numpy()
    text = [f"OFF\n{v.shape[0]} {f.shape[0]} 0\n"]
    vrow, frow = "%.9g %.9g %.9g\n", "3 %d %d %d\n"
    text.append("".join(vrow % tuple(r) for r in v.tolist()))
    text.append("".join(frow % tuple(r) for r in f.tolist()))
    with atomic_write(path, "w") as fh:
        fh.write("".join(text))
