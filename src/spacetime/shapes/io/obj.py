"""Wavefront OBJ reader and writer (own parser: keeps vertex order, UVs and the diffuse texture).

Reads ``v`` (optionally ``v x y z r g b`` colours), ``vt``, ``vn``, ``f`` (polygons are
fan-triangulated; ``v/vt/vn`` forms and negative indices accepted), ``mtllib`` and the first
material's ``map_Kd`` texture. Unknown statements (``o``, ``g``, ``s``, ``usemtl``, ``l``) are
ignored. Normals given per face corner are kept only when every corner of a vertex agrees with
the vertex order (``f a//a``); otherwise they are dropped (recomputed by ``Meshes``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from spacetime.fileio import atomic_paths, atomic_write
from spacetime.limits import check_limit
from spacetime.shapes.io._common import check_writable_geometry, fail, format_rows, read_text

__all__ = ["read_obj", "write_obj"]


def _floats(path, lineno: int, parts: list[str], k_min: int, what: str) -> list[float]:
    if len(parts) < k_min:
        raise fail(path, f"line {lineno}: expected {k_min} numbers for '{what}', got {len(parts)}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise fail(path, f"line {lineno}: expected numbers for '{what}', got {parts!r}") from None


def _index(path, lineno: int, tok: str, count: int, what: str) -> int:
    try:
        i = int(tok)
    except ValueError:
        raise fail(path, f"line {lineno}: expected an integer index, got {tok!r}") from None
    j = i - 1 if i > 0 else count + i
    if i == 0 or j < 0 or j >= count:
        raise fail(
            path,
            f"line {lineno}: face refers to {what} {i} but only {count} "
            f"{'vertices' if what == 'vertex' else what + 's'} are defined "
            "(missing vertices: truncated or corrupt file?)",
        )
    return j


def _fast_obj(text: str) -> dict | None:
    """Vectorised parse of the common case (``v``/``vt``/``vn`` with fixed widths, triangles
    with one corner form, positive indices in range). ``None`` means "use the slow parser",
    which also produces the line-accurate error messages."""
    groups: dict[str, list[str]] = {"v": [], "vt": [], "vn": [], "f": []}
    mtllibs = []
    for raw in text.splitlines():
        if "#" in raw:
            raw = raw.split("#", 1)[0]
        head, _, rest = raw.strip().partition(" ")
        if head in groups:
            groups[head].append(rest)
        elif head == "mtllib":
            mtllibs.append(rest)
        elif head and head not in ("o", "g", "s", "usemtl", "l", "p"):
            return None
    out: dict = {"mtllibs": mtllibs}
    for key, width in (("v", (3, 6)), ("vt", (2, 3)), ("vn", (3,))):
        rows = groups[key]
        if not rows:
            out[key] = np.zeros((0, width[0]))
            continue
        toks = " ".join(rows).split()
        k = len(rows[0].split())
        if k not in width or len(toks) != k * len(rows):
            return None
        try:
            out[key] = np.asarray(toks, dtype=np.float64).reshape(len(rows), k)
        except ValueError:
            return None
    frows = groups["f"]
    nf = len(frows)
    if nf:
        ftext = " ".join(frows)
        first = frows[0].split()[0] if frows[0].split() else ""
        form = first.count("/") + 1 - (1 if "//" in first else 0)
        if "//" in first:
            ftext = ftext.replace("//", "/0/")
            form = 3
        toks = ftext.replace("/", " ").split()
        if len(toks) != nf * 3 * form or ftext.count("/") != nf * 3 * (form - 1):
            return None
        try:
            idx = np.asarray(toks, dtype=np.int64).reshape(nf, 3, form)
        except (ValueError, OverflowError):
            return None
    else:
        idx = np.zeros((0, 3, 1), np.int64)
        form = 1
    nv = out["v"].shape[0]
    if nv == 0 or (idx[..., 0] < 1).any() or (idx[..., 0] > nv).any():
        return None
    out["faces"] = idx[..., 0] - 1
    if form >= 2 and (idx[..., 1] > 0).all():
        if (idx[..., 1] > out["vt"].shape[0]).any():
            return None
        out["faces_uvs"] = idx[..., 1] - 1
    if form == 3 and (idx[..., 2] > 0).all():
        if (idx[..., 2] > out["vn"].shape[0]).any():
            return None
        out["faces_normals"] = idx[..., 2] - 1
    return out


def _finish(path, varr, faces, uvs, fuv, normals, fn, mtllibs) -> dict:
    check_limit(len(varr), "number of vertices", "MAX_MESH_VERTICES", path)
    check_limit(len(faces), "number of faces", "MAX_MESH_FACES", path)
    out: dict = {
        "verts": varr[:, :3].astype(np.float32),
        "faces": np.asarray(faces, dtype=np.int64).reshape(-1, 3),
    }
    if not np.isfinite(out["verts"]).all():
        raise fail(path, "vertex coordinates contain NaN or inf")
    if varr.shape[1] >= 6:
        out["colors"] = np.clip(varr[:, 3:6], 0, 1).astype(np.float32)
    nf = out["faces"].shape[0]
    if len(uvs) and fuv is not None and len(fuv) == nf and nf:
        out["verts_uvs"] = np.asarray(uvs, dtype=np.float32)[:, :2]
        out["faces_uvs"] = np.asarray(fuv, dtype=np.int64).reshape(-1, 3)
    if len(normals) and fn is not None and len(fn) == nf and nf:
        if np.array_equal(np.asarray(fn), out["faces"]) and len(normals) == len(varr):
            out["normals"] = np.asarray(normals, dtype=np.float32)
    for lib in mtllibs:
        tex = _texture_from_mtl(Path(path).parent / lib.strip())
        if tex is not None:
            out["texture_path"] = tex
            break
    return out


def read_obj(path: str | os.PathLike) -> dict:
    """Parse an OBJ file into numpy arrays.

    Returns:
        dict with ``verts`` ``(V, 3)`` float32, ``faces`` ``(F, 3)`` int64, and when present
        ``colors`` ``(V, 3)``, ``verts_uvs`` ``(T, 2)``, ``faces_uvs`` ``(F, 3)``, ``normals``
        ``(V, 3)`` and ``texture_path`` (a ``Path``).
    """
    text = read_text(path)
    fast = _fast_obj(text)
    if fast is not None:
        return _finish(path, fast["v"], fast["faces"], fast["vt"], fast.get("faces_uvs"),
                       fast["vn"], fast.get("faces_normals"), fast["mtllibs"])
    verts: list[list[float]] = []
    uvs: list[list[float]] = []
    normals: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    fuv: list[tuple[int, int, int]] = []
    fn: list[tuple[int, int, int]] = []
    mtllibs: list[str] = []
    has_uv_faces = True
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        key, args = parts[0], parts[1:]
        if key == "v":
            vals = _floats(path, lineno, args, 3, "v")
            if len(vals) not in (3, 4, 6, 7):
                raise fail(path, f"line {lineno}: expected 3 or 6 numbers for 'v', got {len(vals)}")
            verts.append(vals if len(vals) != 4 else vals[:3])
        elif key == "vt":
            vals = _floats(path, lineno, args, 2, "vt")
            uvs.append(vals[:2])
        elif key == "vn":
            normals.append(_floats(path, lineno, args, 3, "vn")[:3])
        elif key == "f":
            if len(args) < 3:
                raise fail(path, f"line {lineno}: expected >= 3 corners for 'f', got {len(args)}")
            check_limit(len(args), f"line {lineno}: corners of a face", "MAX_POLYGON_CORNERS",
                        path)
            vi, ti, ni = [], [], []
            for corner in args:
                sub = corner.split("/")
                if len(sub) > 3 or not sub[0]:
                    raise fail(path, f"line {lineno}: malformed face corner {corner!r}")
                vi.append(_index(path, lineno, sub[0], len(verts), "vertex"))
                if len(sub) > 1 and sub[1]:
                    ti.append(_index(path, lineno, sub[1], len(uvs), "texture coordinate"))
                if len(sub) > 2 and sub[2]:
                    ni.append(_index(path, lineno, sub[2], len(normals), "normal"))
            has_uv_faces = has_uv_faces and len(ti) == len(vi)
            for k in range(1, len(vi) - 1):
                faces.append((vi[0], vi[k], vi[k + 1]))
                if len(ti) == len(vi):
                    fuv.append((ti[0], ti[k], ti[k + 1]))
                if len(ni) == len(vi):
                    fn.append((ni[0], ni[k], ni[k + 1]))
        elif key == "mtllib":
            mtllibs.append(line.split(None, 1)[1] if len(parts) > 1 else "")
        elif key in ("o", "g", "s", "usemtl", "l", "p", "vp", "cstype", "deg", "curv", "surf"):
            continue
        elif not key.isalpha() and not key.startswith("#"):
            raise fail(path, f"line {lineno}: unknown statement {key[:20]!r} (not an OBJ file?)")
    if not verts:
        raise fail(path, "no vertices found (empty, truncated or not an OBJ file)")
    check_limit(len(verts), "number of vertices", "MAX_MESH_VERTICES", path)
    nv = max(len(v) for v in verts)
    if any(len(v) != nv for v in verts):
        verts = [v[:3] for v in verts]
    varr = np.asarray(verts, dtype=np.float64)
    return _finish(path, varr, faces, uvs, fuv if has_uv_faces else None, normals, fn, mtllibs)


def _texture_from_mtl(mtl: Path) -> Path | None:
    if not mtl.is_file():
        return None
    for raw in mtl.read_text(errors="replace").splitlines():
        parts = raw.strip().split()
        if len(parts) >= 2 and parts[0] == "map_Kd":
            tex = mtl.parent / parts[-1]
            return tex if tex.is_file() else None
    return None


def _fmt_rows(arr: np.ndarray, prefix: str, fmt: str) -> str:
    if arr.size == 0:
        return ""
    return format_rows(prefix + " " + " ".join([fmt] * arr.shape[1]) + "\n", arr)


def write_obj(
    path: str | os.PathLike,
    verts: torch.Tensor,
    faces: torch.Tensor,
    *,
    colors: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
    verts_uvs: torch.Tensor | None = None,
    faces_uvs: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
) -> None:
    """Write one mesh (1-based indices; ``%.9g`` keeps float32 exactly). A ``texture``
    ``(H, W, 3)`` in [0, 1] is written as ``<name>.png`` with a ``<name>.mtl`` beside it."""
    path = Path(path)
    check_writable_geometry(verts, faces, colors=colors, normals=normals, verts_uvs=verts_uvs)
    if faces_uvs is not None and verts_uvs is not None:
        check_writable_geometry(verts_uvs, faces_uvs)
    v = verts.numpy().astype(np.float64)
    lines = ["# written by spacetime\n"]
    has_tex = verts_uvs is not None and faces_uvs is not None
    if has_tex and texture is not None:
        lines.append(f"mtllib {path.stem}.mtl\nusemtl material_0\n")
    if colors is not None:
        vc = np.concatenate([v, colors.numpy().astype(np.float64)], 1)
        lines.append(_fmt_rows(vc, "v", "%.9g"))
    else:
        lines.append(_fmt_rows(v, "v", "%.9g"))
    if has_tex:
        lines.append(_fmt_rows(verts_uvs.numpy().astype(np.float64), "vt", "%.9g"))
    if normals is not None:
        lines.append(_fmt_rows(normals.numpy().astype(np.float64), "vn", "%.9g"))
    f = faces.numpy() + 1
    if has_tex:
        t = faces_uvs.numpy() + 1
        if normals is not None:
            corner = np.stack([f, t, f], -1).reshape(-1, 9)
            row = "f %d/%d/%d %d/%d/%d %d/%d/%d\n"
        else:
            corner = np.stack([f, t], -1).reshape(-1, 6)
            row = "f %d/%d %d/%d %d/%d\n"
    elif normals is not None:
        corner = np.stack([f, f], -1).reshape(-1, 6)
        row = "f %d//%d %d//%d %d//%d\n"
    else:
        corner, row = f, "f %d %d %d\n"
    lines.append(format_rows(row, corner))
    if has_tex and texture is not None:
        import io

        from PIL import Image

        img = (texture.nan_to_num(0.0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        png = io.BytesIO()
        Image.fromarray(img[..., :3]).save(png, format="PNG")
        mtl = ("newmtl material_0\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\n"
               f"map_Kd {path.stem}.png\n")
        # the three files are one write: all replaced, or none touched
        with atomic_paths(path, path.with_suffix(".mtl"), path.with_suffix(".png")) as tmps:
            tmps[0].write_text("".join(lines))
            tmps[1].write_text(mtl)
            tmps[2].write_bytes(png.getvalue())
        return
    with atomic_write(path, "w") as fh:
        fh.write("".join(lines))
