"""ShapeNetCore v1 / v2 (Chang et al., "ShapeNet: An Information-Rich 3D Model Repository",
arXiv 2015).

On-disk layout (as downloaded from shapenet.org)::

    <root>/taxonomy.json                       # [{"synsetId", "name", "children", "numInstances"}]
    v1: <root>/<synset_id>/<model_id>/model.obj (+ model.mtl, images/)
    v2: <root>/<synset_id>/<model_id>/models/model_normalized.obj
                                            /models/model_normalized.json
                                            /models/model_normalized.solid.binvox
                                            /models/model_normalized.surface.binvox

Optional official split CSV (``all.csv``): header ``id,synsetId,subSynsetId,modelId,split`` with
``split`` in ``train`` / ``val`` / ``test`` (synset ids written without their leading zero are
accepted).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset

from spacetime.checks import check_in, check_int
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.shapes.datasets._common import (
    PathLike,
    cached_mesh,
    get_field,
    item_generator,
    load_binvox_grid,
    load_json,
    load_mesh_tensors,
    require_dir,
    require_file,
    sample_surface,
)

__all__ = ["ShapeNetCore", "read_shapenet_taxonomy", "read_shapenet_split_csv"]


def read_shapenet_taxonomy(path: PathLike) -> dict[str, dict]:
    """Parse ShapeNet's ``taxonomy.json`` into ``{synset_id: {"name", "names", "children",
    "num_instances"}}``; ``name`` is the first comma-separated name (``"chair"`` for
    ``"chair,seat"``), ``names`` all of them."""
    data = load_json(path, "taxonomy.json")
    if not isinstance(data, list):
        raise FileFormatError(f"{path}: expected a JSON list of synsets, got {type(data).__name__}")
    out: dict[str, dict] = {}
    for i, rec in enumerate(data):
        where = f"{path}: record {i}"
        sid = str(get_field(rec, "synsetId", where, kinds=(str, int)))
        names_raw = str(get_field(rec, "name", where, kinds=str))
        names = [n.strip() for n in names_raw.split(",") if n.strip()]
        out[sid] = {
            "name": names[0] if names else sid,
            "names": names,
            "children": [str(c) for c in rec.get("children", [])],
            "num_instances": rec.get("numInstances"),
        }
    return out


def read_shapenet_split_csv(path: PathLike) -> dict[str, set[tuple[str, str]]]:
    """Parse an official ShapeNet split CSV into ``{split: {(synset_id, model_id)}}``."""
    p = require_file(path, "ShapeNet split CSV")
    out: dict[str, set[tuple[str, str]]] = {}
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        for col in ("synsetId", "modelId", "split"):
            if col not in header:
                raise FileFormatError(f"{p}: missing column '{col}' (header: {header})")
        for row in reader:
            sid = (row["synsetId"] or "").strip()
            sid = sid.zfill(8) if sid.isdigit() else sid
            out.setdefault((row["split"] or "").strip(), set()).add(
                (sid, (row["modelId"] or "").strip())
            )
    return out


class ShapeNetCore(Dataset):
    """ShapeNetCore v1 or v2 models, one item per model, in sorted (synset, model) order.

    Args:
        root: the ShapeNetCore folder (holding ``taxonomy.json`` and one folder per synset).
        version: 1 (``model.obj``) or 2 (``models/model_normalized.obj``).
        synsets: synset ids (``"03001627"``) or category names (``"chair"``; any of the
            comma-separated names in ``taxonomy.json``); ``None`` → every synset folder.
        split: ``"train"`` / ``"val"`` / ``"test"`` with ``split_path``; ``None`` → all models.
        split_path: official split CSV (``id,synsetId,subSynsetId,modelId,split``).
        load_textures: also return ``verts_colors`` ``(V, 3)`` in [0, 1]: material / texture
            colours sampled at the vertices (trimesh), grey when a model has none.
        num_points: if given, also return ``points`` and ``normals`` ``(num_points, 3)``
            sampled uniformly by area on the surface (normals of the sampled faces).
        voxels: also return ``voxels`` ``(D, H, W)`` in {0, 1} indexed ``[z, y, x]`` with
            ``voxel_origin`` ``(3,)`` and ``voxel_size`` from the binvox header (v2 only:
            ``models/model_normalized.<voxel_kind>.binvox``).
        voxel_kind: ``"solid"`` or ``"surface"`` (v2 binvox files).
        seed: seed for the point sampling; item ``i`` always gets the same points
            (seeded by ``(seed, i)``); ``None`` → the global torch RNG.
        cache_dir: optional folder for decoded meshes (``.npz``, keyed by path, size and
            mtime): parsing a large OBJ takes ~0.2 s, reading the cache a few milliseconds.

    Items are dicts: ``verts (V, 3)``, ``faces (F, 3)`` int64, ``synset_id``, ``model_id``,
    ``label`` (category name), ``label_index`` (index into ``class_names``), ``path``, and the
    optional keys above. Batch them with :func:`~spacetime.shapes.datasets.collate_3d`
    (→ ``Meshes`` / ``Pointclouds``).

    Raises:
        MissingFileError: ``root`` / the split CSV missing (at construction) or a model's
            file missing (when the item is loaded); the message names the path.
        FileFormatError: a malformed ``taxonomy.json`` / split CSV / mesh / binvox.
        InputError: unknown synset names, bad arguments.
    """

    def __init__(
        self,
        root: PathLike,
        version: int = 1,
        synsets: Sequence[str] | str | None = None,
        split: str | None = None,
        *,
        split_path: PathLike | None = None,
        load_textures: bool = False,
        num_points: int | None = None,
        voxels: bool = False,
        voxel_kind: str = "solid",
        seed: int | None = 0,
        cache_dir: PathLike | None = None,
    ) -> None:
        check_in(version, "version", (1, 2))
        check_in(voxel_kind, "voxel_kind", ("solid", "surface"))
        if num_points is not None:
            check_int(num_points, "num_points", min_value=1)
        if voxels and version == 1:
            raise InputError("voxels: ShapeNetCore v1 has no binvox files; use version=2")
        self.root = require_dir(root, "ShapeNetCore root")
        self.version = version
        self.load_textures = bool(load_textures)
        self.num_points = num_points
        self.voxels = bool(voxels)
        self.voxel_kind = voxel_kind
        self.seed = seed
        self.cache_dir = cache_dir

        tax_path = self.root / "taxonomy.json"
        self.taxonomy = read_shapenet_taxonomy(tax_path) if tax_path.is_file() else {}
        on_disk = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.synset_ids = self._resolve_synsets(synsets, on_disk)
        self.synset_to_label = {s: self.taxonomy.get(s, {}).get("name", s) for s in on_disk}
        self.class_names = [self.synset_to_label[s] for s in self.synset_ids]

        allowed = None
        if split is not None:
            if split_path is None:
                raise InputError("split_path: expected the split CSV when split is given")
            table = read_shapenet_split_csv(split_path)
            if split not in table:
                raise InputError(
                    f"split: expected one of {sorted(table)} (from {split_path}), got {split!r}"
                )
            allowed = table[split]
        self.split = split

        self._models: list[tuple[str, str]] = []
        for sid in self.synset_ids:
            for mdir in sorted((self.root / sid).iterdir()):
                if not mdir.is_dir():
                    continue
                if allowed is not None and (sid, mdir.name) not in allowed:
                    continue
                self._models.append((sid, mdir.name))

    def _resolve_synsets(self, synsets, on_disk: list[str]) -> list[str]:
        if synsets is None:
            return on_disk
        if isinstance(synsets, str):
            synsets = [synsets]
        chosen: set[str] = set()
        for s in synsets:
            if s in on_disk:
                chosen.add(s)
                continue
            matches = [
                sid
                for sid in on_disk
                if s.lower() in (n.lower() for n in self.taxonomy.get(sid, {}).get("names", []))
            ]
            if not matches:
                hint = "" if self.taxonomy else f" ({self.root / 'taxonomy.json'} not found)"
                known = [
                    f"{sid} ({self.taxonomy.get(sid, {}).get('name', '?')})" for sid in on_disk
                ]
                raise InputError(f"synsets: unknown synset {s!r}{hint}; available: {known}")
            chosen.update(matches)
        return sorted(chosen)

    def __len__(self) -> int:
        return len(self._models)

    def model_dir(self, index: int) -> Path:
        sid, mid = self._models[index]
        return self.root / sid / mid

    def mesh_path(self, index: int) -> Path:
        """Path of the OBJ file of item ``index``."""
        d = self.model_dir(index)
        return d / "model.obj" if self.version == 1 else d / "models" / "model_normalized.obj"

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} models")
        index = index % len(self)
        sid, mid = self._models[index]
        path = self.mesh_path(index)
        what = f"ShapeNetCore model {sid}/{mid}"
        if not path.is_file():
            raise MissingFileError(f"{what}: file not found: {path}")
        cache = None if self.cache_dir is None else Path(self.cache_dir) / (
            "textured" if self.load_textures else "geometry"
        )
        verts, faces, colors = cached_mesh(
            path,
            self.root,
            cache,
            lambda: load_mesh_tensors(path, what, load_colors=self.load_textures),
        )
        label = self.synset_to_label[sid]
        item: dict = {
            "verts": verts,
            "faces": faces,
            "synset_id": sid,
            "model_id": mid,
            "label": label,
            "label_index": self.synset_ids.index(sid),
            "path": str(path),
        }
        if self.load_textures:
            item["verts_colors"] = colors
        if self.num_points is not None:
            g = item_generator(self.seed, index)
            item["points"], item["normals"] = sample_surface(verts, faces, self.num_points, g)
        if self.voxels:
            vpath = self.model_dir(index) / "models" / f"model_normalized.{self.voxel_kind}.binvox"
            grid = load_binvox_grid(vpath, f"ShapeNetCore voxels {sid}/{mid}")
            item["voxels"] = grid.grid[0]
            item["voxel_origin"] = grid.origin[0]
            item["voxel_size"] = grid.voxel_size[0]
        return item

    def __repr__(self) -> str:
        return (
            f"ShapeNetCore(root={str(self.root)!r}, version={self.version}, "
            f"synsets={len(self.synset_ids)}, split={self.split!r}, models={len(self)})"
        )
