"""Honest splits: for every data kind of every family, train / val / test share no id (video
group, 3D model, generated item), validation comes from the training data only, and the fixed
test hold-outs do not depend on the run's seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from spacetime.errors import InputError
from spacetime.splits import TEST_SALT, check_disjoint, holdout_groups

from .shapes import _dataset_fixtures as fx


def _disjoint(groups: dict[str, list[str]]) -> None:
    check_disjoint({k: v for k, v in groups.items() if k in ("train", "val", "test")})


# ----------------------------------------------------------------------------- the helper


def test_holdout_groups_keeps_groups_whole_and_is_stratified():
    groups = [f"c{i % 3}/g{i // 2}" for i in range(60)]  # pairs of items share a group
    strata = [g.split("/")[0] for g in groups]
    kept, held = holdout_groups(groups, 0.25, salt=7, strata=strata)
    assert sorted(kept + held) == list(range(60))
    assert not {groups[i] for i in kept} & {groups[i] for i in held}
    for c in ("c0", "c1", "c2"):  # every class on both sides, about a quarter held out
        n_c = len({g for g in groups if g.startswith(c)})
        n_held = len({groups[i] for i in held if groups[i].startswith(c)})
        assert n_held == round(0.25 * n_c)
    assert (kept, held) == holdout_groups(groups, 0.25, salt=7, strata=strata)  # reproducible
    assert held != holdout_groups(groups, 0.25, salt=8, strata=strata)[1]  # seeded
    # one group per class: nothing held out; two: at least one; never all of a class
    assert holdout_groups(["a", "b"], 0.1, salt=0, strata=[0, 1])[1] == []
    assert len(holdout_groups(["a", "b"], 0.1, salt=0)[1]) == 1
    assert len(holdout_groups(["a", "b"], 0.9, salt=0)[0]) == 1
    assert holdout_groups(["a", "b"], 0.0, salt=0)[1] == []
    with pytest.raises(InputError, match="fraction"):
        holdout_groups(["a"], 1.0, salt=0)
    with pytest.raises(InputError, match="strata"):
        holdout_groups(["a", "b"], 0.5, salt=0, strata=[0])
    with pytest.raises(InputError, match="'train' and 'test' share 1 id"):
        check_disjoint({"train": ["x", "y"], "test": ["y"]})


# ----------------------------------------------------------------------------- video


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _video_sets(data: str, seed: int = 0, val_fraction: float = 0.25):
    from spacetime.video.datasets import video_splits

    return video_splits(data, seed=seed, val_fraction=val_fraction)


def test_video_synthetic_motion_splits_are_disjoint(tmp_path, monkeypatch):
    from spacetime.api._video_common import video_datasets

    monkeypatch.setenv("SPACETIME_CACHE", str(tmp_path / "cache"))
    sets = video_datasets("synthetic-motion", {"frames": 4, "size": 16, "classes": "motion",
                                               "videos_per_class": 4, "seed": 0},
                          ("train", "val", "test"), train_transform=None, eval_transform=None)
    _disjoint(sets.groups)
    # generated from disjoint seed streams: no video appears in two splits
    videos = {s: getattr(ds, "base", ds).videos for s, ds in sets.datasets.items()}
    digests = {s: {hashlib.sha1(v[i].numpy().tobytes()).hexdigest() for i in range(len(v))}
               for s, v in videos.items()}
    assert not digests["train"] & digests["val"] and not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_video_folder_without_test_folder(tmp_path):
    root = tmp_path / "videos"
    for c in ("jump", "run"):
        for g in range(5):
            for clip in range(2):  # two clips of one source video (UCF-style names)
                _touch(root / c / f"v_{c}_g{g:02d}_c{clip:02d}.mp4")
    a = _video_sets(f"folder:{root}", seed=0)
    _disjoint(a.groups)
    assert a.test and a.val and len(a.train) + len(a.val) + len(a.test) == 20
    # clips of one group stay together; every class is in every split
    for split in ("train", "val", "test"):
        assert {y for _, y in a.split(split)} == {0, 1}
    b = _video_sets(f"folder:{root}", seed=1)
    assert a.test == b.test  # the test hold-out does not depend on the seed
    assert a.val != b.val or a.train != b.train or len(a.val) == 0


def test_video_folder_with_train_and_test_folders(tmp_path):
    root = tmp_path / "videos"
    for split, n in (("train", 4), ("test", 2)):
        for c in ("a", "b"):
            for i in range(n):
                _touch(root / split / c / f"{split}_{c}_{i}.mp4")
    s = _video_sets(f"folder:{root}")
    _disjoint(s.groups)
    assert len(s.test) == 4 and len(s.train) + len(s.val) == 8
    assert all("/test/" in p for p, _ in s.test) and all("/train/" in p for p, _ in s.val)


def _ucf(tmp_path: Path) -> tuple[Path, Path]:
    root, splits = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    classes = ["Archery", "Biking"]
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    train, test = [], []
    for i, c in enumerate(classes):
        for g in range(1, 9):
            for clip in range(1, 4):
                rel = f"{c}/v_{c}_g{g:02d}_c{clip:02d}.avi"
                _touch(root / rel)
                (test if g <= 2 else train).append((rel, i + 1))
    (splits / "trainlist01.txt").write_text("".join(f"{r} {y}\n" for r, y in train))
    (splits / "testlist01.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return root, splits


def test_video_ucf101_val_is_carved_from_train_by_group(tmp_path):
    root, splits = _ucf(tmp_path)
    s = _video_sets(f"ucf101:{root}:{splits}")
    _disjoint(s.groups)
    assert len(s.test) == 12  # the official test list: groups 1-2
    assert {g.split("/")[1] for g in s.groups["test"]} == {"g01", "g02"}
    assert s.val and {g.split("/")[1] for g in s.groups["val"]} <= {f"g{g:02d}" for g in
                                                                    range(3, 9)}
    assert len(s.val) % 3 == 0  # whole groups of three clips


def test_video_hmdb51_and_kinetics(tmp_path):
    root, splits = tmp_path / "hmdb51", tmp_path / "hmdb_splits"
    splits.mkdir()
    for c in ("brush_hair", "cartwheel"):
        lines = []
        for title in range(6):
            for k in range(2):
                name = f"Movie{title}_{c}_f_nm_np1_ba_goo_{k}.avi"
                _touch(root / c / name)
                lines.append(f"{name} {2 if title < 2 else 1}")
        (splits / f"{c}_test_split1.txt").write_text("\n".join(lines) + "\n")
    s = _video_sets(f"hmdb51:{root}:{splits}")
    _disjoint(s.groups)
    assert len(s.test) == 8 and s.val and len(s.val) % 2 == 0

    kroot = tmp_path / "kinetics"
    rows = {"train": [], "val": []}
    for split, ids in (("train", range(8)), ("val", range(8, 10))):
        for i in ids:
            label = "abseiling" if i % 2 else "air drumming"
            _touch(kroot / split / label / f"yt{i:03d}_000010_000020.mp4")
            rows[split].append(f"{label},yt{i:03d},10,20,{split}")
    csvs = []
    for split in ("train", "val"):
        p = tmp_path / f"{split}.csv"
        p.write_text("label,youtube_id,time_start,time_end,split\n" + "\n".join(rows[split]))
        csvs.append(p)
    s = _video_sets(f"kinetics:{kroot}:{csvs[0]}:{csvs[1]}")
    _disjoint(s.groups)
    assert len(s.test) == 2 and len(s.train) + len(s.val) == 8 and s.val


# ----------------------------------------------------------------------------- 3D


def _shape_sets(data: str, **kw):
    from spacetime.shapes.datasets import shape_splits

    return shape_splits(data, **kw)


def _groups(sets) -> dict[str, list[str]]:
    return {k: list(v.groups) for k, v in sets.splits.items()}


def test_shapes_synthetic_splits_are_disjoint(tmp_path):
    from spacetime.api.shapes import shape_datasets

    opts = {"categories": ["chair", "mug"], "objects_per_category": 4, "views": 2,
            "image_size": 16, "voxel_resolution": 8, "num_points": 16, "occ_samples": 16,
            "mesh_resolution": 16, "cache": str(tmp_path / "c"), "seed": 0}
    sets = shape_datasets("synthetic", opts, ("train", "val", "test"), ("image",))
    _disjoint(sets.groups)
    import torch

    digests = {s: {hashlib.sha1(ds[i]["image"].numpy().tobytes()).hexdigest()
                   for i in range(len(ds))} for s, ds in sets.datasets.items()}
    assert not digests["train"] & digests["test"] and not digests["train"] & digests["val"]
    del torch


@pytest.mark.parametrize("version", [1, 2])
def test_shapenet_v1_v2_with_and_without_split_csv(tmp_path, version):
    from spacetime.shapes.datasets import shapenet_version

    root = fx.make_shapenet(tmp_path / f"sn{version}", version=version)
    assert shapenet_version(root) == version
    s = _shape_sets(f"shapenet:{root}")
    _disjoint(_groups(s))
    assert len(s["test"]) == 2 and len(s["train"]) + len(s["val"]) == 2  # one model per class
    assert s.rule.startswith(f"shapenet v{version}")
    csv = fx.write_split_csv(tmp_path / "split.csv")
    s = _shape_sets(f"shapenet:{root}:{csv}")
    _disjoint(_groups(s))
    ids = {k: sorted(g.split("/", 1)[1] for g in v) for k, v in _groups(s).items()}
    assert ids == {"train": ["02691156/a1", "03001627/c1"], "val": ["02691156/a2"],
                   "test": ["03001627/c2"]}  # the CSV's own val and test rows


def test_r2n2_pix3d_modelnet_splits(tmp_path):
    p = fx.make_r2n2(tmp_path / "r2n2", size=16)
    s = _shape_sets(f"r2n2:{p['shapenet']}:{p['renderings']}:{p['voxels']}:{p['split']}")
    _disjoint(_groups(s))
    assert [g.rsplit("/", 1)[1] for g in s["test"].groups] == ["a2"]  # the file's test model
    assert len(s["val"]) == 1 and s["val"].groups[0].startswith("chair/")  # carved: no val list

    root = fx.make_pix3d(tmp_path / "pix3d")
    tr, te = fx.write_pix3d_splits(root, ["img/chair/0001.png"], ["img/sofa/0007.jpg"])
    s = _shape_sets(f"pix3d:{root}:{tr}:{te}")
    _disjoint(_groups(s))
    assert len(s["train"]) == 1 and len(s["test"]) == 1
    _disjoint(_groups(_shape_sets(f"pix3d:{root}")))  # the fixed model hold-out

    mroot = fx.make_modelnet(tmp_path / "ModelNet10")
    s = _shape_sets(f"modelnet:{mroot}", val_fraction=0.5)
    _disjoint(_groups(s))
    assert len(s["test"]) == 2 and len(s["val"]) == 2 and len(s["train"]) == 2


def test_pix3d_photos_of_one_model_never_straddle_train_and_val(tmp_path):
    """Pix3D has several photos per 3D model: the hold-out takes models, not photos."""
    root = fx.make_pix3d(tmp_path / "pix3d")
    records = json.loads((root / "pix3d.json").read_text())
    extra = []
    for k in range(2, 8):  # six more chair photos, of three models
        rec = dict(records[0], img=f"img/chair/{k:04d}.png",
                   model=f"model/chair/IKEA_CHAIR_{k % 3}/model.obj")
        extra.append(rec)
        src = root / records[0]["img"]
        (root / rec["img"]).write_bytes(src.read_bytes())
        (root / rec["model"]).parent.mkdir(parents=True, exist_ok=True)
        (root / rec["model"]).write_bytes((root / records[0]["model"]).read_bytes())
    (root / "pix3d.json").write_text(json.dumps(records + extra))
    s = _shape_sets(f"pix3d:{root}", val_fraction=0.34)
    g = _groups(s)
    _disjoint(g)
    models = {k: {x.split("/", 1)[1] for x in v} for k, v in g.items()}
    assert not models["train"] & models["val"] and not models["train"] & models["test"]


def test_meshrcnn_data_splits(tmp_path):
    from spacetime.api.meshrcnn import meshrcnn_datasets

    opts = {"categories": ["chair", "mug"], "image_size": 32, "scenes": 4,
            "objects_per_category": 2, "views": 2, "mesh_resolution": 16,
            "voxel_resolution": 8, "cache": str(tmp_path / "c"), "seed": 0}
    for data in ("synthetic-scenes", "synthetic"):
        sets = meshrcnn_datasets(data, opts, ("train", "val", "test"))
        _disjoint(sets.groups)
    p = fx.make_r2n2(tmp_path / "r2n2", size=16)
    sets = meshrcnn_datasets(f"r2n2:{p['shapenet']}:{p['renderings']}:{p['voxels']}:"
                             f"{p['split']}", {**opts, "categories": None},
                             ("train", "val", "test"))
    _disjoint(sets.groups)
    assert len(sets.datasets["test"]) == 3  # the three views of the one test model
    root = fx.make_pix3d(tmp_path / "pix3d")
    tr, te = fx.write_pix3d_splits(root, ["img/chair/0001.png"], ["img/sofa/0007.jpg"])
    sets = meshrcnn_datasets(f"pix3d:{root}:{tr}:{te}", {**opts, "categories": None},
                             ("train", "val", "test"))
    _disjoint(sets.groups)


def test_flow_synthetic_splits_differ():
    from spacetime.video.flow import SyntheticFlow

    digests = {}
    for split in ("train", "val", "test"):
        ds = SyntheticFlow(4, (16, 16), split=split, seed=0)
        digests[split] = {hashlib.sha1(ds[i]["frame1"].numpy().tobytes()).hexdigest()
                          for i in range(len(ds))}
    check_disjoint(digests)


def test_test_salt_is_fixed():
    assert TEST_SALT == "spacetime-test-v1"  # changing it would move every fixed test set
