"""A deterministic corpus of malformed inputs and failing destinations (issue 15).

:func:`generate` writes the seed files and their mutations under ``root`` and returns the cases
as plain dicts (JSON-able), each run by :mod:`tests.fuzz.runner`:

- ``read``: a reader of the API (``reader``) and, for some, the CLI (``argv``) on one
  malformed file. ``must_reject`` cases (structural damage: truncation, bad counts, bad magic,
  wrong types) must raise a spacetime error; the others (a flipped byte may still be a valid
  file) may also load. Never allowed: any other exception, a hang, a memory blow-up.
- ``write``: a writer (``writer``) to a destination that holds ``previous`` bytes, under a
  file-size limit (``fsize``, the simulated full disk) or to a bad destination (a directory,
  a path below a file). It must fail with ``OSError`` or a spacetime error, leave the
  destination's bytes untouched and leave no other file behind.

Everything derives from fixed seeds, so the corpus is the same on every machine.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).parents[1] / "fixtures" / "checkpoints_v0_1"
BAD_INTS = ["-1", "0", "2147483648", "99999999999999999999", "1e30", "nan", "abc", "-0"]


def _png(w: int, h: int, depth: int = 8, color: int = 2, body: bytes = b"\0" * 64) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body))
            + chunk(b"IEND", b""))


def _npy(shape: tuple, dtype: str = "<f4", body: bytes = b"\0" * 64) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        b, {"descr": dtype, "fortran_order": False, "shape": shape})
    return b.getvalue() + body


def _npz(**arrays: Any) -> bytes:
    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def _mutations(data: bytes, rng: np.random.Generator, n_flips: int = 4,
               empty_is_bad: bool = True) -> list[tuple[str, bytes, bool]]:
    """Generic damage: empty, truncations (reject), byte flips and junk (may load)."""
    out = [("empty", b"", empty_is_bad), ("junk", rng.bytes(200), True)]
    for frac in (0.1, 0.5, 0.9):
        out.append((f"cut{int(frac * 100)}", data[: max(1, int(len(data) * frac))], False))
    for k in range(n_flips):
        b = bytearray(data)
        for i in rng.integers(0, len(b), size=3):
            b[int(i)] ^= 0xFF
        out.append((f"flip{k}", bytes(b), False))
    out.append(("doubled", data + data, False))
    return out


def _seeds() -> dict[str, bytes]:
    """Valid small files of every format we read (bytes), built without spacetime."""
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, (8, 3)).astype(np.float32)
    f = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 0]])
    obj = "".join(f"v {a:.5f} {b:.5f} {c:.5f}\n" for a, b, c in v)
    obj += "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in f)
    off = "OFF\n8 4 0\n" + "".join(f"{a:.5f} {b:.5f} {c:.5f}\n" for a, b, c in v)
    off += "".join(f"3 {a} {b} {c}\n" for a, b, c in f)
    head = (b"ply\nformat binary_little_endian 1.0\nelement vertex 8\nproperty float x\n"
            b"property float y\nproperty float z\nelement face 4\n"
            b"property list uchar int vertex_indices\nend_header\n")
    fa = np.empty(4, dtype=[("n", "u1"), ("i", "<i4", (3,))])
    fa["n"], fa["i"] = 3, f
    ply = head + v.tobytes() + fa.tobytes()
    ply_ascii = ("ply\nformat ascii 1.0\nelement vertex 8\nproperty float x\nproperty float y\n"
                 "property float z\nelement face 4\nproperty list uchar int vertex_indices\n"
                 "end_header\n" + "".join(f"{a} {b} {c}\n" for a, b, c in v)
                 + "".join(f"3 {a} {b} {c}\n" for a, b, c in f)).encode()
    tri = np.zeros(4, dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    tri["v"] = v[f]
    stl = b"x" * 80 + struct.pack("<I", 4) + tri.tobytes()
    binvox = b"#binvox 1\ndim 4 4 4\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([0, 32, 1, 32])
    flo = np.array([202021.25], "<f4").tobytes() + np.array([6, 5], "<i4").tobytes() \
        + rng.normal(0, 2, (5, 6, 2)).astype("<f4").tobytes()
    import cv2

    kitti = np.zeros((6, 8, 3), np.uint16)
    kitti[..., 0] = 1
    kitti[..., 1:] = 2**15 + 64
    depth16 = (rng.uniform(0.5, 3, (6, 8)) * 1000).astype(np.uint16)
    rgb = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    return {
        "mesh.obj": obj.encode(), "mesh.off": off.encode(), "mesh.ply": ply,
        "ascii.ply": ply_ascii, "mesh.stl": stl, "grid.binvox": binvox,
        "grid.npz": _npz(grid=np.ones((1, 3, 3, 3), np.float32), origin=np.zeros((1, 3)),
                         voxel_size=np.ones(1)),
        "points.npy": _npy((8, 3), body=v.tobytes()),
        "points.npz": _npz(points=v),
        "points.xyz": "".join(f"{a} {b} {c}\n" for a, b, c in v).encode(),
        "depth.png": cv2.imencode(".png", depth16)[1].tobytes(),
        "depth.npy": _npy((6, 8), body=rng.uniform(0, 1, (6, 8)).astype("<f4").tobytes()),
        "normals.npy": _npy((3, 4, 4), body=np.ones((3, 4, 4), "<f4").tobytes()),
        "flow.flo": flo,
        "kitti.png": cv2.imencode(".png", kitti)[1].tobytes(),
        "flow.npy": _npy((2, 4, 5), body=np.ones((2, 4, 5), "<f4").tobytes()),
        "image.png": cv2.imencode(".png", rgb)[1].tobytes(),
        "image.jpg": cv2.imencode(".jpg", rgb)[1].tobytes(),
    }


#: file name → (API reader, CLI argv template or None); ``{f}`` is the file, ``{o}`` an output
READERS: dict[str, tuple[str, list[str] | None]] = {
    "mesh.obj": ("load_mesh", ["show", "{f}", "-o", "{o}.png", "--size", "64"]),
    "mesh.off": ("load_mesh", ["convert", "{f}", "{o}.ply", "-q", "--to", "points",
                               "--num-samples", "50"]),
    "mesh.ply": ("load_mesh", ["convert", "{f}", "{o}.binvox", "-q", "--resolution", "8"]),
    "ascii.ply": ("load_mesh", None),
    "mesh.stl": ("load_mesh", ["show", "{f}", "-o", "{o}.png", "--size", "64"]),
    "grid.binvox": ("load_voxels", ["convert", "{f}", "{o}.obj", "-q"]),
    "grid.npz": ("load_voxels", None),
    "points.npy": ("load_pointcloud", ["show", "{f}", "-o", "{o}.png", "--size", "64"]),
    "points.npz": ("load_pointcloud", None),
    "points.xyz": ("load_pointcloud", None),
    "depth.png": ("load_depth", None),
    "depth.npy": ("load_depth", None),
    "normals.npy": ("load_normals", None),
    "flow.flo": ("read_flow", ["show", "{f}", "-o", "{o}.png", "--size", "64"]),
    "kitti.png": ("read_kitti_flow", None),
    "flow.npy": ("read_flow", None),
    "image.png": ("read_rgb_image", ["flow", "{f}", "{f}", "-o", "{o}.flo"]),
    "image.jpg": ("read_rgb_image", None),
}


def _targeted(name: str) -> list[tuple[str, bytes]]:
    """Hand-made structural damage per format: every one must be refused."""
    out: list[tuple[str, bytes]] = []
    if name == "mesh.obj":
        for bad in BAD_INTS:
            if bad != "-1":  # -1: the last vertex (a relative index), valid
                out.append((f"index_{bad}",
                            f"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 {bad}\n".encode()))
        out += [("nan_vertex", b"v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
                ("inf_vertex", b"v 1e999 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
                ("short_vertex", b"v 0 0\nf 1 1 1\n"),
                ("huge_polygon", b"v 0 0 0\nf " + b"1 " * 5000 + b"\n"),
                ("binary", b"v 0 0 0\x00\x01\n")]
    elif name == "mesh.off":
        for bad in BAD_INTS:
            if bad not in ("0", "-0"):
                out.append((f"count_{bad}", f"OFF\n{bad} 1 0\n0 0 0\n3 0 0 0\n".encode()))
        out += [("face_oob", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n"),
                ("corners_huge", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n99999 0 1 2\n"),
                ("nan", b"OFF\n3 1 0\nnan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")]
    elif name in ("mesh.ply", "ascii.ply"):
        fmt = "binary_little_endian" if name == "mesh.ply" else "ascii"
        base = (f"ply\nformat {fmt} 1.0\nelement vertex 3\nproperty float x\n"
                "property float y\nproperty float z\nelement face 1\n")
        for ctype, count in (("int", -1), ("int", 2_000_000_000), ("float", float("nan")),
                             ("uchar", 255)):
            body = (np.zeros(9, "<f4").tobytes() + struct.pack("<" + ("f" if ctype == "float"
                    else "i" if ctype == "int" else "B"), count) + bytes(12)
                    if fmt != "ascii" else f"0 0 0\n0 0 0\n0 0 0\n{count} 0 1 2\n".encode())
            out.append((f"list_{ctype}_{count}", (base + f"property list {ctype} int "
                        "vertex_indices\nend_header\n").encode() + body))
        for bad in (b for b in BAD_INTS if b not in ("0", "-0")):  # 0 vertices: valid
            out.append((f"vcount_{bad}", (f"ply\nformat {fmt} 1.0\nelement vertex {bad}\n"
                        "property float x\nproperty float y\nproperty float z\nend_header\n"
                        ).encode() + b"\0" * 12))
        out += [("no_end", b"ply\nformat ascii 1.0\nelement vertex 1\n"),
                ("bad_type", (base + "property list uchar quaternion vertex_indices\n"
                              "end_header\n").encode()),
                ("face_oob", (base + "property list uchar int vertex_indices\nend_header\n"
                              ).encode() + (np.zeros(9, "<f4").tobytes() + b"\x03"
                                            + np.array([0, 1, 9], "<i4").tobytes()
                                            if fmt != "ascii" else b"0 0 0\n0 0 0\n0 0 0\n"
                                            b"3 0 1 9\n"))]
    elif name == "mesh.stl":
        out += [("count_lies", b"x" * 80 + struct.pack("<I", 2**31) + bytes(50)),
                ("ascii_truncated", b"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"),
                ("ascii_nan", b"solid x\nfacet normal 0 0 1\nouter loop\nvertex nan 0 0\n"
                 b"vertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid x\n")]
    elif name == "grid.binvox":
        for dims in ("2097152 2097152 4194304", "0 4 4", "-4 4 4", "4 4", "a b c",
                     "99999999999999999999 1 1", "1024 1024 1024"):
            out.append((f"dim_{dims.replace(' ', 'x')}",
                        f"#binvox 1\ndim {dims}\ntranslate 0 0 0\nscale 1\ndata\n".encode()
                        + bytes([0, 255])))
        out += [("scale_nan", b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale nan\ndata\n\0\x08"),
                ("values_2", b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n\x02\x08"),
                ("overshoot", b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n\0\x09")]
    elif name == "grid.npz":
        out += [("strings", _npz(grid=np.array([[[["a", "b"]]]]))),
                ("objects_header", _npz(grid=np.zeros(2)).replace(b"'<f8'", b"'|O'")),
                ("no_grid", _npz(points=np.zeros((3, 3)))),
                ("ndim5", _npz(grid=np.zeros((1, 1, 1, 1, 1)))),
                ("origin_strings", _npz(grid=np.zeros((1, 2, 2, 2)),
                                        origin=np.array(["x", "y", "z"]))),
                ("origin_nan", _npz(grid=np.zeros((1, 2, 2, 2)), origin=np.full((1, 3), np.nan))),
                ("complex", _npz(grid=np.zeros((1, 2, 2, 2), np.complex64)))]
    elif name in ("points.npy", "depth.npy", "normals.npy", "flow.npy"):
        for shape in ((10**12 // 3, 3), (10**6, 10**6), (2, 10**6, 10**6), (3, 10**5, 10**5),
                      (-1, 3), (5, 7, 9, 11)):
            out.append((f"shape_{'x'.join(map(str, shape))}", _npy(shape)))
        out += [("object_dtype", _npy((3, 3), "|O")), ("strings", _npy((3, 3), "<U3")),
                ("bad_header", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4', \n"),
                ("truncated_body", _npy((100, 3)))]
    elif name in ("points.npz",):
        out += [("huge_member", _npz(points=np.zeros((2, 3), np.float32)).replace(
                    b"(2, 3)", b"(9999999999, 3)")),
                ("strings", _npz(points=np.array([["a", "b", "c"]]))),
                ("normals_mismatch", _npz(points=np.zeros((4, 3)), normals=np.zeros((2, 3)))),
                ("nan", _npz(points=np.full((4, 3), np.nan)))]
    elif name == "points.xyz":
        out += [("ragged", b"0 0 0\n1 1\n"), ("words", b"a b c\n"), ("nan", b"nan 0 0\n"),
                ("cols4", b"0 0 0 0\n")]
    elif name in ("depth.png", "kitti.png", "image.png"):
        for w, h in ((30000, 30000), (20000, 20000), (0, 10), (2**31 - 1, 1)):
            out.append((f"size_{w}x{h}", _png(w, h, 16 if name != "image.png" else 8)))
        out += [("ihdr_only", b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR")]
        if name == "kitti.png":
            out.append(("wrong_type", _png(4, 4, 8, 0, b"\0" * 20)))
    elif name == "image.jpg":
        out += [("header_only", b"\xff\xd8\xff\xe0\0\x10JFIF\0")]
    elif name == "flow.flo":
        magic = np.array([202021.25], "<f4").tobytes()
        for w, h in ((-1, 4), (100000, 100000), (2**31 - 1, 2**31 - 1), (4, 0)):
            out.append((f"size_{w}x{h}", magic + np.array([w, h], "<i4").tobytes() + bytes(64)))
        out += [("bad_magic", b"PIEX" + bytes(40)), ("header_short", magic + b"\0\0")]
    return out


def _checkpoint_cases(root: Path) -> list[dict[str, Any]]:
    """Damaged checkpoints: the v0.1 fixtures truncated, bytes flipped, and not zip at all."""
    cases = []
    rng = np.random.default_rng(1)
    for fx in sorted(FIXTURES.glob("*.pt.gz")):
        data = gzip.decompress(fx.read_bytes())
        stem = fx.name[: -len(".pt.gz")]
        variants = [("truncated", data[: len(data) // 2], True),
                    ("tail_cut", data[:-30], True),
                    ("junk", rng.bytes(300), True),
                    ("pickle", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94"
                     b"\x8c\x06system\x94\x93\x94.", True)]
        for name, blob, must in variants:
            p = root / "checkpoints" / f"{stem}_{name}.pt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(blob)
            cases.append({"id": f"checkpoint/{stem}/{name}", "kind": "read",
                          "reader": "load_model", "path": str(p), "must_reject": must,
                          "argv": ["video", "predict", "--checkpoint", "{f}", "{f}"]
                          if stem == "video" else None})
    return cases


def _video_cases(root: Path) -> list[dict[str, Any]]:
    """Malformed videos (no valid video is needed: every one of these must be refused), and a
    dataset folder of them."""
    rng = np.random.default_rng(2)
    blobs = {"empty": b"", "junk": rng.bytes(4096),
             "ftyp_only": b"\0\0\0\x18ftypisom\0\0\0\0isomiso2",
             "mkv_magic": b"\x1a\x45\xdf\xa3" + rng.bytes(200),
             "avi_magic": b"RIFF\x10\0\0\0AVI LIST" + rng.bytes(100)}
    cases = []
    for name, blob in blobs.items():
        p = root / "video" / f"{name}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        cases.append({"id": f"video/{name}", "kind": "read", "reader": "read_video",
                      "path": str(p), "must_reject": True,
                      "argv": ["flow", "video", "{f}", "-o", "{o}"]})
    folder = root / "video_folder"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        (folder / cls / "clip.mp4").write_bytes(rng.bytes(500))
    cases.append({"id": "dataset/video_folder_of_junk", "kind": "read",
                  "reader": "video_folder", "path": str(folder), "must_reject": True,
                  "argv": None})
    empty = root / "empty_folder"
    empty.mkdir(exist_ok=True)
    cases.append({"id": "dataset/empty_video_folder", "kind": "read",
                  "reader": "video_folder", "path": str(empty), "must_reject": True,
                  "argv": None})
    flow_root = root / "flow_folder"
    (flow_root / "seq").mkdir(parents=True, exist_ok=True)
    (flow_root / "seq" / "frame10.png").write_bytes(_png(30000, 30000))
    (flow_root / "seq" / "frame11.png").write_bytes(b"junk")
    (flow_root / "seq" / "flow10.flo").write_bytes(b"PIEH" + bytes(8))
    cases.append({"id": "dataset/middlebury_folder_broken", "kind": "read",
                  "reader": "flow_folder", "path": str(flow_root), "must_reject": True,
                  "argv": ["flow", "eval", "{f}"]})
    return cases


#: writer name → extensions it writes (the runner builds the data)
WRITERS: dict[str, tuple[str, ...]] = {
    "save_mesh": (".obj", ".ply", ".off", ".stl", ".glb"),
    "save_textured_obj": (".obj",),
    "save_pointcloud": (".ply", ".xyz", ".npy", ".npz"),
    "save_voxels": (".binvox", ".npz"),
    "save_depth": (".png", ".npy"),
    "save_normals": (".png", ".npy"),
    "write_flow": (".flo", ".png", ".npy"),
    "write_image": (".png", ".jpg"),
    "save_checkpoint": (".pt",),
    "write_video": (".mp4",),
    "show": (".png", ".html"),
    "cli_convert": (".ply", ".obj", ".binvox"),
    "cli_show": (".png",),
}


def _writer_cases(root: Path) -> list[dict[str, Any]]:
    cases = []
    for writer, exts in WRITERS.items():
        for ext in exts:
            for mode in ("full_disk", "dest_is_dir", "parent_is_file"):
                d = root / "writes" / f"{writer}_{ext[1:]}_{mode}"
                d.mkdir(parents=True, exist_ok=True)
                cases.append({"id": f"write/{writer}{ext}/{mode}", "kind": "write",
                              "writer": writer, "dir": str(d), "ext": ext, "mode": mode,
                              "fsize": 64 if mode == "full_disk" else None})
    return cases


def generate(root: str | Path) -> list[dict[str, Any]]:
    """Write the corpus under ``root``; return its cases (same every run)."""
    root = Path(root)
    rng = np.random.default_rng(12345)
    cases: list[dict[str, Any]] = []
    for name, data in _seeds().items():
        reader, argv = READERS[name]
        stem, ext = name.rsplit(".", 1)
        variants = _mutations(data, rng, empty_is_bad=name != "points.xyz")  # "": no points
        variants += [(m, b, True) for m, b in _targeted(name)]
        for k, (mut, blob, must) in enumerate(variants):
            p = root / "read" / stem / f"{k:03d}_{mut}.{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(blob)
            cases.append({"id": f"read/{name}/{mut}", "kind": "read", "reader": reader,
                          "path": str(p), "must_reject": must,
                          "argv": argv if k % 3 == 0 else None})
    cases += _checkpoint_cases(root)
    cases += _video_cases(root)
    cases += _writer_cases(root)
    return cases
