"""The one documented split rule of each 3D data source, behind the ``--data`` strings.

=================================================  ==============  ========  ==================
``--data``                                         train           val       test (``evaluate``)
=================================================  ==============  ========  ==================
``synthetic``                                      ``"train"``     ``"val"`` ``"test"``
``shapenet:ROOT:SPLIT_CSV``                        CSV train       CSV val   CSV test
``shapenet:ROOT``                                  the rest        carved    fixed 20 % hold-out
``r2n2:SHAPENET:RENDERINGS:VOXELS:SPLIT_JSON``     JSON train      JSON val  JSON test
``pix3d:ROOT:TRAIN_JSON:TEST_JSON`` (S1 or S2)     ``TRAIN_JSON``  carved    ``TEST_JSON``
``pix3d:ROOT``                                     the rest        carved    fixed 20 % hold-out
``modelnet:ROOT``                                  ``train/``      carved    ``test/``
=================================================  ==============  ========  ==================

*Carved* means :func:`spacetime.splits.holdout_groups` with the run's seed: ``val_fraction``
(default 10 %) of each category's training **objects** — the group is the 3D model, so the
views of one R2N2 object or the photos of one Pix3D model never straddle train and val. A split
file without a ``val`` list (or with an empty one) gets a carved one too. The fixed test
hold-outs take 20 % of each category's models with the salt
:data:`~spacetime.splits.TEST_SALT` (the same models on every machine, whatever the seed).
ShapeNetCore v1 (``model.obj``) and v2 (``models/model_normalized.obj``) are told apart from the
files. Test data never selects a checkpoint: the training loop validates on ``val``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetime.errors import InputError, MissingFileError
from spacetime.splits import TEST_SALT, holdout_groups

__all__ = [
    "SHAPE_DATA_FORMS",
    "ShapeData",
    "ShapeSplit",
    "ShapeSplits",
    "shape_splits",
    "shapenet_version",
]

#: ``--data`` kinds and their accepted ``:``-separated field lists
SHAPE_DATA_FORMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "synthetic": ((),),
    "shapenet": (("ROOT",), ("ROOT", "SPLIT_CSV")),
    "r2n2": (("SHAPENET", "RENDERINGS", "VOXELS", "SPLIT_JSON"),),
    "pix3d": (("ROOT",), ("ROOT", "TRAIN_JSON", "TEST_JSON")),
    "modelnet": (("ROOT",),),
}

#: share of each category's models held out as the test split when there is no official one
TEST_FRACTION = 0.2


def _forms() -> str:
    return ", ".join(":".join([k, *f]) for k, forms in SHAPE_DATA_FORMS.items() for f in forms)


@dataclass(frozen=True)
class ShapeData:
    """A parsed ``--data`` string: ``kind`` and its paths (see :data:`SHAPE_DATA_FORMS`)."""

    kind: str
    paths: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | ShapeData) -> ShapeData:
        """Parse ``"pix3d:/data/pix3d"`` and friends."""
        if isinstance(text, ShapeData):
            return text
        kind, _, rest = str(text).partition(":")
        parts = tuple(rest.split(":")) if rest else ()
        if kind not in SHAPE_DATA_FORMS or all(len(parts) != len(f)
                                                for f in SHAPE_DATA_FORMS[kind]):
            raise InputError(f"data: expected one of {_forms()}, got {text!r}")
        if any(not p for p in parts):
            raise InputError(f"data: empty path in {text!r}")
        return cls(kind, parts)

    def __str__(self) -> str:
        return ":".join([self.kind, *self.paths])


@dataclass
class ShapeSplit:
    """The items of one split: positions ``indices`` in ``base`` and each item's group id
    (``"<category>/<model>"``)."""

    base: Any
    indices: list[int]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class ShapeSplits:
    """Train / val / test of one data source, its category names (shared label order across
    splits) and the rule that made them (one line)."""

    data: ShapeData
    class_names: list[str]
    splits: dict[str, ShapeSplit] = field(default_factory=dict)
    rule: str = ""

    def __getitem__(self, split: str) -> ShapeSplit:
        if split not in self.splits:
            raise InputError(f"split: expected one of {sorted(self.splits)}, got {split!r}")
        return self.splits[split]


def shapenet_version(root: str | Path) -> int:
    """1 (``<synset>/<model>/model.obj``) or 2 (``.../models/model_normalized.obj``), read off
    the first model folder that has either file."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingFileError(f"data: ShapeNetCore root not found: {root}")
    for synset in sorted(p for p in root.iterdir() if p.is_dir()):
        for model in sorted(p for p in synset.iterdir() if p.is_dir()):
            if (model / "models" / "model_normalized.obj").is_file():
                return 2
            if (model / "model.obj").is_file():
                return 1
    raise MissingFileError(f"data: no ShapeNetCore model under {root} (expected "
                           "<synset>/<model>/model.obj or .../models/model_normalized.obj)")


def _carve(split: ShapeSplit, names: list[str], labels: list[int], fraction: float,
           salt: str | int) -> tuple[ShapeSplit, ShapeSplit]:
    kept, held = holdout_groups(split.groups, fraction, salt=salt, strata=labels)
    del names
    pick = lambda idx: ShapeSplit(split.base, [split.indices[i] for i in idx],  # noqa: E731
                                  [split.groups[i] for i in idx])
    return pick(kept), pick(held)


def _whole(base: Any, groups: list[str]) -> ShapeSplit:
    return ShapeSplit(base, list(range(len(base))), groups)


def _category(group: str) -> str:
    return group.split("/", 1)[0]


def shape_splits(
    data: str | ShapeData,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    categories: Sequence[str] | None = None,
    camera_voxel_size: int | None = None,
) -> ShapeSplits:
    """Train / val / test items of a real 3D data source by its documented rule.

    Args:
        data: ``shapenet:...``, ``r2n2:...``, ``pix3d:...`` or ``modelnet:ROOT`` (``synthetic``
            has generated splits: :class:`~spacetime.shapes.datasets.SyntheticShapes`).
        val_fraction: share of each category's training models held out for validation.
        seed: the validation hold-out's seed (the run's seed).
        categories: keep only these categories (names; ShapeNet also takes synset ids).
        camera_voxel_size: R2N2: also return the per-view camera-frame voxel grids of this
            resolution (Mesh R-CNN's single-object mode).

    The bases are the loaders of :mod:`spacetime.shapes.datasets` (ShapeNetCore, R2N2 without
    model-frame voxels, Pix3D with meshes, ModelNet with meshes); items are not loaded here.
    """
    spec = ShapeData.parse(data)
    if spec.kind == "synthetic":
        raise InputError("data: synthetic has generated splits (SyntheticShapes)")
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction: expected a value in [0, 1), got {val_fraction}")
    cats = None if categories is None else list(categories)
    parts: dict[str, ShapeSplit] = {}
    carve_val = True
    if spec.kind == "shapenet":
        from spacetime.shapes.datasets.shapenet import ShapeNetCore, read_shapenet_split_csv

        root = spec.paths[0]
        version = shapenet_version(root)

        def load(split: str | None = None) -> tuple[Any, list[str]]:
            csv = spec.paths[1] if split is not None else None
            ds = ShapeNetCore(root, version, synsets=cats, split=split, split_path=csv)
            return ds, [f"{ds.synset_to_label[ds.model_dir(i).parent.name]}/"
                        f"{ds.model_dir(i).parent.name}/{ds.model_dir(i).name}"
                        for i in range(len(ds))]

        if len(spec.paths) == 2:
            table = read_shapenet_split_csv(spec.paths[1])
            for split in ("train", "test"):
                if split not in table:
                    raise InputError(f"data: {spec.paths[1]} has no {split!r} rows")
                parts[split] = _whole(*load(split))
            if table.get("val"):
                parts["val"], carve_val = _whole(*load("val")), False
            rule = f"shapenet v{version}: split CSV {spec.paths[1]}"
        else:
            ds, groups = load()
            parts["all"] = _whole(ds, groups)
            rule = f"shapenet v{version}: fixed {TEST_FRACTION:.0%} test hold-out of each " \
                   "category's models"
        names = list(parts.get("train", parts.get("all")).base.class_names)
    elif spec.kind == "r2n2":
        from spacetime.shapes.datasets.r2n2 import R2N2

        sn, rend, vox, split_json = spec.paths
        kw: dict[str, Any] = {"return_voxels": False}
        if camera_voxel_size is not None:
            kw.update(voxels_in_camera_frame=True, camera_voxel_size=camera_voxel_size)

        def load_r2n2(split: str) -> ShapeSplit:
            ds = R2N2(sn, rend, vox, split_json, split=split, **kw)
            groups = [f"{ds.class_names[ds.synset_ids.index(sid)]}/{sid}/{mid}"
                      for sid, mid, _ in ds._models]
            return _whole(ds, groups)

        parts["train"], parts["test"] = load_r2n2("train"), load_r2n2("test")
        try:
            val = load_r2n2("val")
        except (InputError, ValueError):  # a split file without a val list
            val = None
        if val is not None and len(val):
            parts["val"], carve_val = val, False
        names = list(parts["train"].base.class_names)
        rule = f"r2n2: split file {split_json} (train / val / test models)"
    elif spec.kind == "pix3d":
        from spacetime.shapes.datasets.pix3d import Pix3D

        root = spec.paths[0]

        def load_pix3d(split_json: str | None) -> ShapeSplit:
            ds = Pix3D(root, split_json=split_json, categories=cats)
            return _whole(ds, [f"{ds.record(i)['category']}/{ds.record(i)['model']}"
                               for i in range(len(ds))])

        if len(spec.paths) == 3:
            parts["train"], parts["test"] = load_pix3d(spec.paths[1]), load_pix3d(spec.paths[2])
            rule = f"pix3d: split files {spec.paths[1]} / {spec.paths[2]}"
        else:
            parts["all"] = load_pix3d(None)
            rule = f"pix3d: fixed {TEST_FRACTION:.0%} test hold-out of each category's models"
        names = list(parts.get("train", parts.get("all")).base.class_names)
    else:  # modelnet
        from spacetime.shapes.datasets.modelnet import ModelNet

        root = spec.paths[0]

        def load_modelnet(split: str) -> ShapeSplit:
            ds = ModelNet(root, split, return_mesh=True, classes=cats)
            return _whole(ds, [f"{ds.class_names[y]}/{p.stem}" for p, y in ds._files])

        parts["train"], parts["test"] = load_modelnet("train"), load_modelnet("test")
        names = list(parts["train"].base.class_names)
        rule = "modelnet: official train/ and test/ folders"
    if "all" in parts:
        everything = parts.pop("all")
        labels = [names.index(_category(g)) if _category(g) in names else 0
                  for g in everything.groups]
        parts["train"], parts["test"] = _carve(everything, names, labels, TEST_FRACTION,
                                               TEST_SALT)
    if cats is not None and spec.kind == "r2n2":
        for key, part in list(parts.items()):
            keep = [i for i, g in enumerate(part.groups) if _category(g) in cats]
            parts[key] = ShapeSplit(part.base, [part.indices[i] for i in keep],
                                    [part.groups[i] for i in keep])
        names = [n for n in names if n in cats]
    if carve_val:
        train = parts["train"]
        labels = [names.index(_category(g)) if _category(g) in names else 0
                  for g in train.groups]
        parts["train"], parts["val"] = _carve(train, names, labels, val_fraction, seed)
        rule += f"; val = {val_fraction:.0%} of each category's training models (seed {seed})"
    if not len(parts["train"]):
        raise MissingFileError(f"data: {spec}: no training items")
    return ShapeSplits(spec, names, {k: parts[k] for k in ("train", "val", "test")}, rule)
