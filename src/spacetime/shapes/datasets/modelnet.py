"""ModelNet10 / ModelNet40 CAD models (Wu et al., "3D ShapeNets: A Deep Representation for
Volumetric Shapes", CVPR 2015), as point clouds with normals for classification.

On-disk layout (``ModelNet10.zip`` / ``ModelNet40.zip``)::

    <root>/<class>/train/<class>_0001.off
    <root>/<class>/test/<class>_0890.off

Some released OFF files put the header keyword and the counts on one line (``OFF490 518 0``);
they are read as ``OFF`` followed by ``490 518 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from spacetime.checks import check_in, check_int
from spacetime.errors import FileFormatError
from spacetime.shapes.datasets._common import (
    PathLike,
    cached_mesh,
    item_generator,
    load_mesh_tensors,
    normalize_unit_sphere,
    require_dir,
    require_file,
    sample_surface,
    select_names,
)

__all__ = ["ModelNet", "read_modelnet_off"]

def read_modelnet_off(path: PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a ModelNet OFF file as ``verts (V, 3)`` float32 and ``faces (F, 3)`` int64 through
    :func:`spacetime.shapes.io.load_mesh` (which also reads the glued ``OFF490 518 0`` header)."""
    p = require_file(path, "ModelNet model")
    verts, faces, _ = load_mesh_tensors(p, "ModelNet model")
    return verts, faces


class ModelNet(Dataset):
    """ModelNet10 / 40 models of one split, as sampled point clouds with normals.

    Args:
        root: the ``ModelNet10`` or ``ModelNet40`` folder (one sub-folder per class).
        split: ``"train"`` or ``"test"``.
        num_points: P, points sampled uniformly by area on each model's surface, with the
            normals of the faces they fall on (the PointNet input).
        return_mesh: also return ``verts`` / ``faces`` (normalised like the points).
        classes: keep only these classes (names of class folders).
        normalize: centre each model on its bounding-box centre and scale it so the farthest
            vertex is at distance 1 (inside the unit sphere, as in PointNet); points and
            normals are sampled after normalising.
        seed: item ``i`` always gets the points sampled with a generator seeded by
            ``(seed, i)``, whatever the worker or the epoch; ``None`` → the global torch RNG
            (fresh points every time, e.g. as augmentation).
        cache_dir: optional folder for decoded meshes (``.npz``): OFF parsing dominates the
            loading time (~0.15 s per item at 20k faces), the cache cuts it to ~10 ms.

    Items: ``points (P, 3)``, ``normals (P, 3)`` (unit), ``label`` (int index into
    ``class_names``), ``class_name``, ``path``, and ``verts`` / ``faces`` with
    ``return_mesh``. Models are ordered by (class, file name).
    """

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        num_points: int = 1024,
        return_mesh: bool = False,
        classes: Sequence[str] | str | None = None,
        *,
        normalize: bool = True,
        seed: int | None = 0,
        cache_dir: PathLike | None = None,
    ) -> None:
        check_in(split, "split", ("train", "test"))
        check_int(num_points, "num_points", min_value=1)
        self.root = require_dir(root, "ModelNet root")
        available = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if not available:
            raise FileFormatError(f"ModelNet root {self.root}: no class folders found")
        self.class_names = select_names(classes, available, "classes")
        self.split = split
        self.num_points = num_points
        self.return_mesh = bool(return_mesh)
        self.normalize = bool(normalize)
        self.seed = seed
        self.cache_dir = cache_dir
        self._files: list[tuple[Path, int]] = []
        for label, name in enumerate(self.class_names):
            folder = self.root / name / split
            if not folder.is_dir():
                continue  # a class may have no models in a split of a custom subset
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".off")
            self._files.extend((f, label) for f in files)

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return (
            f"ModelNet(root={str(self.root)!r}, split={self.split!r}, "
            f"classes={len(self.class_names)}, models={len(self)}, num_points={self.num_points})"
        )

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} models")
        index = index % len(self)
        path, label = self._files[index]
        verts, faces, _ = cached_mesh(
            path, self.root, self.cache_dir, lambda: (*read_modelnet_off(path), None)
        )
        if faces.shape[0] == 0:
            raise FileFormatError(f"ModelNet model: {path} has no faces")
        if self.normalize:
            verts = normalize_unit_sphere(verts)
        points, normals = sample_surface(
            verts, faces, self.num_points, item_generator(self.seed, index)
        )
        item: dict = {
            "points": points,
            "normals": normals,
            "label": label,
            "class_name": self.class_names[label],
            "path": str(path),
        }
        if self.return_mesh:
            item["verts"], item["faces"] = verts, faces
        return item
