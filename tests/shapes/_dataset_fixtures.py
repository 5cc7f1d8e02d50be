"""Tiny fixtures for the real-dataset loaders, written in the datasets' real on-disk formats:
OBJ / OFF text, binvox run-length bytes, RGBA PNG renderings, ``rendering_metadata.txt``,
``taxonomy.json``, ``pix3d.json`` and the split files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

CUBE_VERTS = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=np.float64
) * 0.8  # inside the ShapeNet unit sphere of radius 0.5
# Outward (counter-clockwise) triangles of the cube above; vertex i = (x, y, z) bits (4, 2, 1).
CUBE_FACES = np.array(
    [
        [0, 1, 3], [0, 3, 2],  # x = -
        [4, 6, 7], [4, 7, 5],  # x = +
        [0, 4, 5], [0, 5, 1],  # y = -
        [2, 3, 7], [2, 7, 6],  # y = +
        [0, 2, 6], [0, 6, 4],  # z = -
        [1, 5, 7], [1, 7, 3],  # z = +
    ],
    dtype=np.int64,
)
TETRA_VERTS = np.array([[0, 0, 0], [0.4, 0, 0], [0, 0.4, 0], [0, 0, 0.4]], dtype=np.float64)
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int64)

SYNSETS = {"03001627": "chair", "02691156": "airplane,aeroplane,plane"}
MODELS = {"03001627": ["c1", "c2"], "02691156": ["a1", "a2"]}


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray, mtl: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    if mtl is not None:
        (path.parent / "model.mtl").write_text(f"newmtl m0\nKd {mtl}\n")
        lines += ["mtllib model.mtl", "usemtl m0"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def write_off(path: Path, verts: np.ndarray, faces: np.ndarray, glued: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = f"{len(verts)} {len(faces)} 0"
    head = [f"OFF{counts}"] if glued else ["OFF", counts]
    body = [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    body += [f"3 {a} {b} {c}" for a, b, c in faces]
    path.write_text("\n".join(head + body) + "\n")


def binvox_bytes(occ_xzy: np.ndarray, translate=(0.0, 0.0, 0.0), scale: float = 1.0) -> bytes:
    """Encode a bool array indexed ``[x, z, y]`` (binvox order: x slowest, y fastest)."""
    dx, dz, dy = occ_xzy.shape
    flat = occ_xzy.reshape(-1).astype(np.uint8)
    pairs = bytearray()
    i = 0
    while i < flat.size:
        v, n = flat[i], 1
        while i + n < flat.size and flat[i + n] == v and n < 255:
            n += 1
        pairs += bytes([int(v), n])
        i += n
    tx, ty, tz = translate
    header = f"#binvox 1\ndim {dx} {dz} {dy}\ntranslate {tx} {ty} {tz}\nscale {scale}\ndata\n"
    return header.encode("ascii") + bytes(pairs)


def cube_voxels_xyz(n: int = 32, lo: int = 6, hi: int = 26) -> np.ndarray:
    """``[x, y, z]`` occupancy: the block ``[lo, hi)³`` plus one marker voxel that breaks the
    symmetry (x = hi, y = lo, z = lo)."""
    occ = np.zeros((n, n, n), dtype=bool)
    occ[lo:hi, lo:hi, lo:hi] = True
    occ[hi, lo, lo] = True
    return occ


def write_binvox(path: Path, occ_xyz: np.ndarray, translate=(0.0, 0.0, 0.0), scale=1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(binvox_bytes(occ_xyz.transpose(0, 2, 1), translate, scale))


def make_shapenet(root: Path, version: int = 1) -> Path:
    """2 synsets × 2 models (cube, tetrahedron) + ``taxonomy.json``."""
    tax = [
        {"synsetId": sid, "name": name, "children": [], "numInstances": 2}
        for sid, name in SYNSETS.items()
    ]
    tax.append({"synsetId": "04379243", "name": "table", "children": [], "numInstances": 0})
    root.mkdir(parents=True, exist_ok=True)
    (root / "taxonomy.json").write_text(json.dumps(tax))
    for sid, models in MODELS.items():
        for k, mid in enumerate(models):
            verts, faces = (CUBE_VERTS, CUBE_FACES) if k == 0 else (TETRA_VERTS, TETRA_FACES)
            if version == 1:
                write_obj(root / sid / mid / "model.obj", verts, faces, mtl="0.8 0.2 0.1")
            else:
                mdir = root / sid / mid / "models"
                write_obj(mdir / "model_normalized.obj", verts, faces)
                (mdir / "model_normalized.json").write_text(json.dumps({"id": mid}))
                occ = cube_voxels_xyz(16, 3, 13)
                write_binvox(mdir / "model_normalized.solid.binvox", occ, (-0.5,) * 3, 1.0)
                write_binvox(mdir / "model_normalized.surface.binvox", occ, (-0.5,) * 3, 1.0)
    return root


def write_split_csv(path: Path) -> Path:
    rows = ["id,synsetId,subSynsetId,modelId,split"]
    rows.append("1,3001627,3001627,c1,train")  # leading zero dropped, as in the official CSV
    rows.append("2,03001627,03001627,c2,test")
    rows.append("3,02691156,02691156,a1,train")
    rows.append("4,02691156,02691156,a2,val")
    path.write_text("\n".join(rows) + "\n")
    return path


R2N2_VIEWS = [
    # azimuth, elevation, in-plane rotation, distance ratio, fov
    (30.0, 20.0, 0.0, 0.8, 25.0),
    (200.0, 35.0, 0.0, 0.7, 25.0),
    (315.5, 5.0, 0.0, 0.9, 25.0),
]


def make_r2n2(root: Path, size: int = 137) -> dict[str, Path]:
    """ShapeNetRendering + ShapeNetVox32 + ShapeNet v1 + split JSON for the 4 fixture models."""
    renders, voxels = root / "ShapeNetRendering", root / "ShapeNetVox32"
    shapenet = make_shapenet(root / "ShapeNetCore.v1", version=1)
    for sid, models in MODELS.items():
        for mid in models:
            rdir = renders / sid / mid / "rendering"
            rdir.mkdir(parents=True)
            lines = [" ".join(f"{v:g}" for v in view) for view in R2N2_VIEWS]
            (rdir / "rendering_metadata.txt").write_text("\n".join(lines) + "\n")
            for v in range(len(R2N2_VIEWS)):
                rgba = np.zeros((size, size, 4), dtype=np.uint8)
                rgba[..., 0] = 200
                rgba[..., 1] = 40 * v
                rgba[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4, 3] = 255
                Image.fromarray(rgba, "RGBA").save(rdir / f"{v:02d}.png")
            write_binvox(voxels / sid / mid / "model.binvox", cube_voxels_xyz(), (0, 0, 0), 1.0)
    split = {
        "03001627": {"train": ["c1", "c2"], "val": [], "test": []},
        "02691156": {"train": ["a1"], "val": [], "test": ["a2"]},
    }
    split_path = root / "splits.json"
    split_path.write_text(json.dumps(split))
    return {"renderings": renders, "voxels": voxels, "shapenet": shapenet, "split": split_path}


def pix3d_project(verts: np.ndarray, rot, trans, f_mm: float, w: int, h: int) -> np.ndarray:
    """Reference projection in Pix3D's own camera (x left, y up, z forward)."""
    f = f_mm / 32.0 * w
    cam = verts @ np.asarray(rot).T + np.asarray(trans)
    u = (w - 1) / 2 - f * cam[:, 0] / cam[:, 2]
    v = (h - 1) / 2 - f * cam[:, 1] / cam[:, 2]
    return np.stack([u, v], 1)


def _rot_y(deg: float) -> list[list[float]]:
    a = math.radians(deg)
    return [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]


def make_pix3d(root: Path) -> Path:
    """``pix3d.json`` with 2 good records (chair, sofa) and 1 excluded-by-default record."""
    records = []
    specs = [
        ("chair", "img/chair/0001.png", (48, 32), 35.0, _rot_y(30), [0.05, -0.02, 2.2]),
        ("sofa", "img/sofa/0007.jpg", (40, 40), 50.0, _rot_y(-60), [-0.1, 0.03, 3.0]),
        ("table", "img/table/1749.jpg", (20, 20), 35.0, _rot_y(0), [0.0, 0.0, 2.0]),
    ]
    for cat, img, (w, h), f_mm, rot, trans in specs:
        name = Path(img).stem
        model = f"model/{cat}/IKEA_{cat.upper()}/model.obj"
        write_obj(root / model, CUBE_VERTS, CUBE_FACES)
        (root / img).parent.mkdir(parents=True, exist_ok=True)
        rgb = np.zeros((h, w, 3), dtype=np.uint8)
        rgb[..., 2] = 255
        Image.fromarray(rgb).save(root / img)
        mask_rel = f"mask/{cat}/{name}.png"
        (root / mask_rel).parent.mkdir(parents=True, exist_ok=True)
        m = np.zeros((h, w), dtype=np.uint8)
        m[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255
        Image.fromarray(m).save(root / mask_rel)
        uv = pix3d_project(CUBE_VERTS, rot, trans, f_mm, w, h)
        records.append(
            {
                "img": img,
                "category": cat,
                "img_size": [w, h],
                "2d_keypoints": [],
                "mask": mask_rel,
                "img_source": "ikea",
                "model": model,
                "model_raw": model,
                "model_source": "ikea",
                "3d_keypoints": f"model/{cat}/IKEA_{cat.upper()}/3d_keypoints.txt",
                "voxel": f"model/{cat}/IKEA_{cat.upper()}/voxel.mat",
                "rot_mat": rot,
                "trans_mat": trans,
                "focal_length": f_mm,
                "cam_position": [0.0, 0.0, 2.0],
                "inplane_rotation": 0.0,
                "truncated": False,
                "occluded": cat == "sofa",
                "slightly_occluded": False,
                "bbox": [float(uv[:, 0].min()), float(uv[:, 1].min()),
                         float(uv[:, 0].max()), float(uv[:, 1].max())],
            }
        )
    (root / "pix3d.json").write_text(json.dumps(records))
    return root


def write_pix3d_splits(root: Path, train: list[str], test: list[str],
                       name: str = "s1") -> tuple[Path, Path]:
    """Mesh R-CNN's Pix3D split files (COCO style: ``images[].file_name``) for these images."""
    paths = []
    for split, imgs in (("train", train), ("test", test)):
        p = root / f"pix3d_{name}_{split}.json"
        images = [{"id": i + 1, "file_name": f, "width": 0, "height": 0}
                  for i, f in enumerate(imgs)]
        p.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
        paths.append(p)
    return paths[0], paths[1]


def make_modelnet(root: Path) -> Path:
    """2 classes × (2 train + 1 test) models; one file with the glued ``OFF<counts>`` header."""
    for cls in ("chair", "bed"):
        for split, ids in (("train", (1, 2)), ("test", (3,))):
            for k in ids:
                verts, faces = (CUBE_VERTS * 3.0, CUBE_FACES) if k != 2 else (
                    TETRA_VERTS + 1.0, TETRA_FACES
                )
                glued = cls == "bed" and k == 1
                write_off(root / cls / split / f"{cls}_{k:04d}.off", verts, faces, glued=glued)
    return root
