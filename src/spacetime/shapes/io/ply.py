"""PLY reader and writer (own parser: ascii, binary little and big endian).

Reads every element of the header; meshes use ``vertex`` (``x y z``, optional ``nx ny nz``,
``red green blue`` as uchar 0-255 or float 0-1) and ``face`` (``vertex_indices`` or
``vertex_index`` lists; polygons are fan-triangulated). A header that promises more data than
the file holds raises :class:`~spacetime.errors.FileFormatError` (truncated file).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from spacetime.errors import FileFormatError
from spacetime.fileio import atomic_write
from spacetime.limits import check_limit
from spacetime.shapes.io._common import check_writable_geometry, fail, format_rows, read_bytes

__all__ = ["read_ply", "write_ply"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _parse_header(path, data: bytes):
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise fail(path, "not a PLY file (missing 'ply' magic or 'end_header')")
    nl = data.find(b"\n", end)
    if nl < 0:
        raise fail(path, "truncated PLY header")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    fmt = None
    elements: list[tuple[str, int, list]] = []
    for line in header[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            if len(parts) < 2 or parts[1] not in ("ascii", "binary_little_endian",
                                                    "binary_big_endian"):
                raise fail(path, f"unknown PLY format line {line!r}")
            fmt = parts[1]
        elif parts[0] == "element":
            try:
                elements.append((parts[1], int(parts[2]), []))
            except (IndexError, ValueError):
                raise fail(path, f"malformed PLY element line {line!r}") from None
            if elements[-1][1] < 0:
                raise fail(path, f"negative element count in {line!r}")
            check_limit(elements[-1][1], f"element {parts[1]} count",
                        "MAX_MESH_FACES" if parts[1] == "face" else "MAX_POINTS", path)
        elif parts[0] == "property":
            if not elements:
                raise fail(path, f"PLY property before any element: {line!r}")
            if len(parts) == 5 and parts[1] == "list":
                if parts[2] not in _TYPES or parts[3] not in _TYPES:
                    raise fail(path, f"unknown PLY property type in {line!r}")
                if _TYPES[parts[2]][0] not in "iu":
                    raise fail(path, f"PLY list count type must be an integer type, got "
                                     f"{parts[2]!r} in {line!r}")
                elements[-1][2].append((parts[4], "list", _TYPES[parts[2]], _TYPES[parts[3]]))
            elif len(parts) == 3 and parts[1] in _TYPES:
                elements[-1][2].append((parts[2], "scalar", _TYPES[parts[1]], None))
            else:
                raise fail(path, f"malformed PLY property line {line!r}")
        else:
            raise fail(path, f"unknown PLY header line {line!r}")
    if fmt is None:
        raise fail(path, "PLY header without a 'format' line")
    return fmt, elements, nl + 1


def _list_len(path, element: str, value) -> int:
    """A list's declared length: an integer in [0, MAX_POLYGON_CORNERS]."""
    return check_limit(value, f"list length in element '{element}'", "MAX_POLYGON_CORNERS", path)


def _read_binary(path, data: bytes, offset: int, elements, endian: str) -> dict:
    out: dict = {}
    for name, count, props in elements:
        scalars_only = all(p[1] == "scalar" for p in props)
        if scalars_only:
            dt = np.dtype([(p[0], endian + p[2]) for p in props])
            need = dt.itemsize * count
            if offset + need > len(data):
                raise fail(path, f"truncated: element '{name}' needs {need} bytes, "
                                 f"{len(data) - offset} left")
            arr = np.frombuffer(data, dtype=dt, count=count, offset=offset)
            offset += need
            out[name] = {p[0]: arr[p[0]].astype(arr[p[0]].dtype.newbyteorder("=")) for p in props}
            continue
        # element with list properties: try constant list length, else row by row
        cols: dict = {p[0]: [] for p in props}
        if count == 0:
            out[name] = {p[0]: np.zeros((0,) if p[1] == "scalar" else (0, 3)) for p in props}
            continue
        first_len = None
        probe = offset
        fields = []
        for p in props:
            if p[1] == "scalar":
                fields.append((p[0], endian + p[2]))
            else:
                cdt = np.dtype(endian + p[2])
                if probe + cdt.itemsize > len(data):
                    raise fail(path, f"truncated: element '{name}' is incomplete")
                c = _list_len(path, name, np.frombuffer(data, cdt, 1, probe)[0])
                first_len = c if first_len is None else first_len
                fields.append((p[0] + "__n", endian + p[2]))
                fields.append((p[0], endian + p[3], (c,)))
                probe += cdt.itemsize + np.dtype(p[3]).itemsize * c
                continue
            probe += np.dtype(p[2]).itemsize
        dt = np.dtype(fields)
        need = dt.itemsize * count
        ok = offset + need <= len(data)
        if ok:
            arr = np.frombuffer(data, dtype=dt, count=count, offset=offset)
            ok = all(
                bool((arr[p[0] + "__n"] == arr.dtype[p[0]].shape[0]).all())
                for p in props if p[1] == "list"
            )
        if ok:
            offset += need
            out[name] = {p[0]: np.array(arr[p[0]]) for p in props}
            continue
        for _ in range(count):  # variable-length lists: slow path
            for p in props:
                if p[1] == "scalar":
                    sdt = np.dtype(endian + p[2])
                    if offset + sdt.itemsize > len(data):
                        raise fail(path, f"truncated: element '{name}' is incomplete")
                    cols[p[0]].append(np.frombuffer(data, sdt, 1, offset)[0])
                    offset += sdt.itemsize
                else:
                    cdt, idt = np.dtype(endian + p[2]), np.dtype(endian + p[3])
                    if offset + cdt.itemsize > len(data):
                        raise fail(path, f"truncated: element '{name}' is incomplete")
                    c = _list_len(path, name, np.frombuffer(data, cdt, 1, offset)[0])
                    offset += cdt.itemsize
                    if offset + idt.itemsize * c > len(data):
                        raise fail(path, f"truncated: element '{name}' is incomplete")
                    cols[p[0]].append(np.frombuffer(data, idt, c, offset).astype(np.int64))
                    offset += idt.itemsize * c
        out[name] = {k: (np.array(v) if props[[p[0] for p in props].index(k)][1] == "scalar"
                         else v) for k, v in cols.items()}
    return out


def _read_ascii(path, data: bytes, offset: int, elements) -> dict:
    try:
        tokens = data[offset:].decode("ascii").split()
    except UnicodeDecodeError:
        raise fail(path, "ascii PLY body contains non-ascii bytes") from None
    pos = 0
    out: dict = {}

    def take(k: int, what: str) -> list[str]:
        nonlocal pos
        if pos + k > len(tokens):
            raise fail(path, f"truncated: element '{what}' is incomplete")
        t = tokens[pos:pos + k]
        pos += k
        return t

    for name, count, props in elements:
        try:
            if all(p[1] == "scalar" for p in props):
                arr = np.asarray(take(count * len(props), name), dtype=np.float64)
                arr = arr.reshape(count, len(props))
                out[name] = {p[0]: arr[:, i].astype(p[2]) for i, p in enumerate(props)}
                continue
            cols: dict = {p[0]: [] for p in props}
            for _ in range(count):
                for p in props:
                    if p[1] == "scalar":
                        cols[p[0]].append(float(take(1, name)[0]))
                    else:
                        c = _list_len(path, name, int(take(1, name)[0]))
                        cols[p[0]].append(np.asarray(take(c, name), dtype=np.int64))
            out[name] = {
                p[0]: (np.asarray(cols[p[0]], dtype=p[2]) if p[1] == "scalar" else cols[p[0]])
                for p in props
            }
        except ValueError as exc:
            if isinstance(exc, FileFormatError):
                raise
            raise fail(path, f"element '{name}': expected numbers ({exc})") from None
    return out


def read_ply(path: str | os.PathLike) -> dict:
    """Parse a PLY file.

    Returns:
        dict with ``verts`` ``(V, 3)`` float32, ``faces`` ``(F, 3)`` int64 (possibly empty) and
        when present ``normals`` ``(V, 3)`` and ``colors`` ``(V, 3)`` in [0, 1].
    """
    data = read_bytes(path)
    fmt, elements, offset = _parse_header(path, data)
    if fmt == "ascii":
        els = _read_ascii(path, data, offset, elements)
    else:
        els = _read_binary(path, data, offset, elements, "<" if "little" in fmt else ">")
    if "vertex" not in els:
        raise fail(path, "PLY file has no 'vertex' element")
    v = els["vertex"]
    for k in ("x", "y", "z"):
        if k not in v:
            raise fail(path, f"PLY vertex element has no '{k}' property")
    verts = np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float32)
    if not np.isfinite(verts).all():
        raise fail(path, "vertex coordinates contain NaN or inf")
    out: dict = {"verts": verts}
    if all(k in v for k in ("nx", "ny", "nz")):
        out["normals"] = np.stack([v["nx"], v["ny"], v["nz"]], 1).astype(np.float32)
    if all(k in v for k in ("red", "green", "blue")):
        c = np.stack([v["red"], v["green"], v["blue"]], 1)
        c = c.astype(np.float32) / 255.0 if c.dtype.kind in "iu" else c.astype(np.float32)
        out["colors"] = np.clip(c, 0, 1)
    faces = np.zeros((0, 3), dtype=np.int64)
    if "face" in els:
        f = els["face"]
        key = "vertex_indices" if "vertex_indices" in f else "vertex_index"
        if key not in f:
            raise fail(path, "PLY face element has no 'vertex_indices' list")
        kinds = {p[3] for n_, c_, props in elements if n_ == "face" for p in props
                 if p[0] == key and p[1] == "list"}
        if any(k[0] not in "iu" for k in kinds):
            raise fail(path, f"PLY face '{key}' must hold integers, got types {sorted(kinds)}")
        lst = f[key]
        if isinstance(lst, np.ndarray) and lst.ndim == 2 and lst.shape[1] == 3:
            faces = lst.astype(np.int64)
        else:
            tris = []
            for poly in lst:
                poly = np.asarray(poly, dtype=np.int64)
                if poly.shape[0] < 3:
                    raise fail(path, f"face with {poly.shape[0]} vertices (need >= 3)")
                for k in range(1, poly.shape[0] - 1):
                    tris.append((poly[0], poly[k], poly[k + 1]))
            faces = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
        if faces.size and (faces.min() < 0 or faces.max() >= verts.shape[0]):
            raise fail(
                path,
                f"faces index vertices in [{faces.min()}, {faces.max()}] but only "
                f"{verts.shape[0]} vertices exist",
            )
    out["faces"] = faces
    return out


def write_ply(
    path: str | os.PathLike,
    verts: torch.Tensor,
    faces: torch.Tensor | None = None,
    *,
    normals: torch.Tensor | None = None,
    colors: torch.Tensor | None = None,
    binary: bool = True,
) -> None:
    """Write vertices (float32), optional normals (float32), colours (uchar, from [0, 1]) and
    faces (``uchar`` count + ``int`` indices), binary little endian or ascii."""
    check_writable_geometry(verts, faces, normals=normals, colors=colors)
    v = verts.detach().cpu().numpy().astype(np.float32)
    n = v.shape[0]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    cols = [v[:, 0], v[:, 1], v[:, 2]]
    if normals is not None:
        nn_ = normals.detach().cpu().numpy().astype(np.float32)
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
        cols += [nn_[:, 0], nn_[:, 1], nn_[:, 2]]
    if colors is not None:
        c = (np.clip(colors.detach().cpu().numpy(), 0, 1) * 255 + 0.5).astype(np.uint8)
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        cols += [c[:, 0], c[:, 1], c[:, 2]]
    f = None if faces is None else faces.detach().cpu().numpy().astype(np.int32)
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
              "comment written by spacetime", f"element vertex {n}"]
    tname = {"<f4": "float", "u1": "uchar"}
    header += [f"property {tname[t]} {k}" for k, t in fields]
    if f is not None:
        header += [f"element face {f.shape[0]}", "property list uchar int vertex_indices"]
    header.append("end_header")
    head = ("\n".join(header) + "\n").encode("ascii")
    with atomic_write(path, "wb") as fh:
        fh.write(head)
        if binary:
            arr = np.empty(n, dtype=np.dtype(fields))
            for (k, _), col in zip(fields, cols):
                arr[k] = col
            fh.write(arr.tobytes())
            if f is not None:
                fa = np.empty(f.shape[0], dtype=np.dtype([("n", "u1"), ("i", "<i4", (3,))]))
                fa["n"] = 3
                fa["i"] = f
                fh.write(fa.tobytes())
        else:
            fmts = ["%.9g" if t == "<f4" else "%d" for _, t in fields]
            rows = np.stack([c.astype(np.float64) for c in cols], 1) if n else np.zeros((0, 3))
            row = " ".join(fmts) + "\n"
            fh.write(format_rows(row, rows).encode("ascii"))
            if f is not None:
                frow = "3 %d %d %d\n"
                fh.write(format_rows(frow, f).encode("ascii"))
