"""spacetime.video.datasets: folder/UCF101/HMDB51/Kinetics layouts, bad files, DataLoader workers,
multi-clip mode, seeding, and the synthetic motion dataset (determinism, cache, no single-frame
leak)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.video.clips import RandomClipSampler, UniformClipSampler
from spacetime.video.datasets import (
    HMDB51,
    MOTION_CLASSES,
    UCF101,
    BadVideoWarning,
    Kinetics,
    SkippedItem,
    SyntheticMotion,
    VideoFolder,
    collate_clips,
    generate_synthetic_motion,
    kinetics_filename,
)
from spacetime.video.datasets import synthetic as syn
from spacetime.video.io import write_video
from spacetime.video.transforms import CenterCrop, Compose, ConvertLayout, RandomCrop, ToFloat

from .conftest import frame_ids, make_frames

UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "Basketball"]


def _write(path: Path, num_frames: int = 8, seed: int = 0, codec: str | None = None) -> Path:
    write_video(path, make_frames(num_frames, seed=seed), 8, codec=codec)
    return path


def _corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    return path


@pytest.fixture
def folder(tmp_path):
    """root/<class>/*.mp4 with 3 classes x 2 videos of 8 frames, 32 x 32."""
    root = tmp_path / "folder"
    for c, name in enumerate(["jump", "run", "walk"]):
        for k in range(2):
            _write(root / name / f"{name}_{k}.mp4", num_frames=8 + 4 * k, seed=c * 2 + k)
    (root / "run" / "notes.txt").write_text("not a video")
    return root


@pytest.fixture
def ucf(tmp_path):
    root, splits = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text(
        "".join(f"{i + 1} {c}\r\n" for i, c in enumerate(UCF_CLASSES)))
    train, test = [], []
    for i, c in enumerate(UCF_CLASSES):
        for g in (1, 8):
            rel = f"{c}/v_{c}_g{g:02d}_c01.avi"
            _write(root / rel, seed=i * 10 + g, codec="mpeg4")
            (train if g == 8 else test).append(rel)
    (splits / "trainlist01.txt").write_text(
        "\n".join(f"{r} {UCF_CLASSES.index(r.split('/')[0]) + 1}" for r in train) + "\n")
    (splits / "testlist01.txt").write_text("\n".join(test) + "\n")
    return root, splits


def test_video_folder_items_and_shapes(folder):
    ds = VideoFolder(folder, clip_sampler=RandomClipSampler(4, frame_step=2), seed=0)
    assert ds.class_names == ["jump", "run", "walk"] and len(ds) == 6 and ds.labels == [0, 0, 1,
                                                                                         1, 2, 2]
    item = ds[3]
    assert set(item) == {"video", "label", "video_index", "clip_index", "frame_indices", "path"}
    assert item["video"].shape == (4, 3, 32, 32) and item["video"].dtype == torch.uint8
    assert item["label"] == 1 and item["video_index"] == 3 and item["clip_index"] == 0
    assert item["path"].endswith("run_1.mp4")
    assert frame_ids(item["video"]) == item["frame_indices"].tolist()
    assert torch.all(item["frame_indices"].diff() == 2)
    assert "VideoFolder(6 videos, 3 classes" in repr(ds)
    with pytest.raises(IndexError):
        ds[6]
    assert ds[-1]["video_index"] == 5


def test_multi_clip_test_mode_and_transform(folder):
    tf = Compose([ToFloat(), CenterCrop(16), ConvertLayout()])
    ds = VideoFolder(folder, clip_sampler=UniformClipSampler(4, num_clips=3), transform=tf)
    assert ds.multi_clip
    item = ds[1]  # 12 frames: starts 0, 4, 8
    assert item["video"].shape == (3, 3, 4, 16, 16) and item["video"].dtype == torch.float32
    assert item["clip_index"].tolist() == [0, 1, 2]
    assert item["frame_indices"][:, 0].tolist() == [0, 4, 8]
    batch = collate_clips([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 3, 4, 16, 16) and batch["batch_size"] == 2
    with pytest.raises(InputError, match="multi_clip: False needs a one-clip sampler"):
        VideoFolder(folder, clip_sampler=UniformClipSampler(4, num_clips=3), multi_clip=False)


def test_seeded_items_are_reproducible(folder):
    tf = RandomCrop(16)
    a = VideoFolder(folder, clip_sampler=RandomClipSampler(4), transform=tf, seed=5)
    b = VideoFolder(folder, clip_sampler=RandomClipSampler(4), transform=tf, seed=5)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert torch.equal(x["video"], y["video"]) and torch.equal(x["frame_indices"],
                                                                   y["frame_indices"])
    draws = set()
    for e in range(8):
        a.set_epoch(e)
        draws.add(tuple(a[1]["frame_indices"].tolist()))
    assert len(draws) > 1


def test_folder_errors(tmp_path):
    with pytest.raises(MissingFileError, match="video folder not found"):
        VideoFolder(tmp_path / "nope")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(MissingFileError, match="no video files"):
        VideoFolder(tmp_path / "empty")


def test_bad_file_policies(folder):
    bad = _corrupt(folder / "run" / "broken.mp4")
    sampler = RandomClipSampler(4)
    ds = VideoFolder(folder, clip_sampler=sampler, on_error="skip", seed=0)
    i = [p for p, _ in ds.videos].index(str(bad))
    with pytest.warns(BadVideoWarning, match="broken.mp4.*FileFormatError"):
        item = ds[i]
    assert isinstance(item, SkippedItem) and item.path == str(bad)
    assert str(bad) in ds.bad_files and "cannot open" in ds.bad_files[str(bad)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once per file, then skipped quietly
        assert isinstance(ds[i], SkippedItem)
    retry = VideoFolder(folder, clip_sampler=sampler, on_error="retry_other", seed=0)
    with pytest.warns(BadVideoWarning, match="replaced by another video"):
        item = retry[i]
    assert isinstance(item, dict) and item["video_index"] != i and item["path"] != str(bad)
    strict = VideoFolder(folder, clip_sampler=sampler, on_error="raise")
    with pytest.raises(FileFormatError, match="broken.mp4"):
        strict[i]
    with pytest.raises(InputError, match="on_error: expected one of"):
        VideoFolder(folder, on_error="ignore")


def test_truncated_and_deleted_files_are_skipped(folder):
    p = folder / "walk" / "walk_1.mp4"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    ds = VideoFolder(folder, clip_sampler=RandomClipSampler(12))
    (folder / "jump" / "jump_0.mp4").unlink()
    with pytest.warns(BadVideoWarning):
        items = [ds[i] for i in range(len(ds))]
    skipped = {it.path for it in items if isinstance(it, SkippedItem)}
    assert skipped == {str(p), str(folder / "jump" / "jump_0.mp4")}


def test_dataloader_workers_survive_a_corrupt_file(folder):
    bad = _corrupt(folder / "jump" / "zz_corrupt.mp4")
    tf = Compose([ToFloat(), ConvertLayout()])
    ds = VideoFolder(folder, clip_sampler=RandomClipSampler(4), transform=tf, on_error="skip")
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_clips)
    seen, skipped = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadVideoWarning)
        for batch in loader:
            if batch["batch_size"]:
                assert batch["video"].shape[1:] == (3, 4, 32, 32)
                seen += batch["path"]
            skipped += batch["skipped"]
    assert len(seen) == len(ds) - 1 and str(bad) not in seen
    assert [s[1] for s in skipped] == [str(bad)] and "FileFormatError" in skipped[0][2]
    retry = VideoFolder(folder, clip_sampler=RandomClipSampler(4), on_error="retry_other", seed=1)
    sizes = [b["batch_size"] for b in DataLoader(retry, batch_size=4, num_workers=2,
                                                 collate_fn=collate_clips)]
    assert sizes == [4, 3]  # full batches: the corrupt file was replaced


def test_collate_all_skipped():
    out = collate_clips([SkippedItem(0, "a.mp4", "bad")])
    assert out == {"skipped": [(0, "a.mp4", "bad")], "batch_size": 0}


def test_ucf101_splits(ucf):
    root, splits = ucf
    train = UCF101(root, splits, fold=1, train=True, clip_sampler=RandomClipSampler(4))
    assert train.class_names == UCF_CLASSES and len(train) == 3
    assert train.labels == [0, 1, 2] and all("_g08_" in p for p, _ in train.videos)
    assert train[2]["video"].shape == (4, 3, 32, 32)
    test = UCF101(root, splits, fold=1, train=False)
    assert len(test) == 3 and test.multi_clip and test.clip_sampler.num_clips == 10
    item = test[0]  # 8-frame videos, 16-frame clips: looped
    assert item["video"].shape == (10, 16, 3, 32, 32) and item["frame_indices"].max() < 8
    with pytest.raises(InputError, match="fold: expected one of 1, 2, 3"):
        UCF101(root, splits, fold=4)
    with pytest.raises(MissingFileError, match="trainlist02.txt"):
        UCF101(root, splits, fold=2)
    (root / "Archery" / "v_Archery_g08_c01.avi").unlink()
    with pytest.raises(MissingFileError, match="1 of 3 listed videos are missing"):
        UCF101(root, splits)
    with pytest.warns(UserWarning, match="missing"):
        assert len(UCF101(root, splits, missing="skip")) == 2
    (splits / "trainlist01.txt").write_text("Archery/v_Archery_g08_c01.avi 3\n")
    with pytest.raises(FileFormatError, match=r"trainlist01.txt:1: label '3' disagrees"):
        UCF101(root, splits)


def test_hmdb51_splits(tmp_path):
    root, splits = tmp_path / "hmdb51", tmp_path / "splits"
    splits.mkdir()
    for c, name in enumerate(["brush_hair", "cartwheel"]):
        lines = []
        for k, tag in enumerate((1, 2, 0, 1)):
            fname = f"{name}_video_{k}.avi"
            _write(root / name / fname, seed=c * 4 + k, codec="mpeg4")
            lines.append(f"{fname} {tag} ")
        (splits / f"{name}_test_split1.txt").write_text("\n".join(lines) + "\n")
    (splits / "brush_hair_test_split2.txt").write_text("x.avi 1\n")
    train = HMDB51(root, splits, fold=1, train=True, clip_sampler=RandomClipSampler(4))
    test = HMDB51(root, splits, fold=1, train=False, clip_sampler=RandomClipSampler(4))
    assert train.class_names == ["brush_hair", "cartwheel"] and len(train) == 4
    assert len(test) == 2 and test.labels == [0, 1]
    assert train[1]["path"].endswith("brush_hair_video_3.avi")
    with pytest.raises(MissingFileError, match="test_split3"):
        HMDB51(root, splits, fold=3)
    (splits / "cartwheel_test_split1.txt").write_text("a.avi 7\n")
    with pytest.raises(FileFormatError, match="cartwheel_test_split1.txt:1"):
        HMDB51(root, splits)


def test_kinetics_csv_layouts(tmp_path):
    root = tmp_path / "kinetics"
    rows = [("abseiling", "aaa", 14, 24, "train"), ("air drumming", "bbb", 0, 10, "train"),
            ("abseiling", "ccc", 5, 15, "train"), ("air drumming", "gone", 1, 11, "train")]
    _write(root / "train" / "abseiling" / kinetics_filename("aaa", 14, 24))
    _write(root / "air_drumming" / kinetics_filename("bbb", 0.0, 10.0))  # no split folder
    _write(root / "train" / "abseiling" / kinetics_filename("ccc", 5, 15, ".mkv"))
    csv = tmp_path / "train.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split,is_cc\n"
                   + "".join(f"{a},{b},{c},{d},{e},0\n" for a, b, c, d, e in rows))
    assert kinetics_filename("aaa", 14, 24) == "aaa_000014_000024.mp4"
    with pytest.warns(UserWarning, match="1 of 4 listed videos are missing"):
        ds = Kinetics(root, csv, clip_sampler=RandomClipSampler(4))
    assert ds.class_names == ["abseiling", "air drumming"] and len(ds) == 3
    assert ds.labels == [0, 1, 0] and ds.videos[2][0].endswith(".mkv")
    assert ds[1]["video"].shape == (4, 3, 32, 32)
    with pytest.raises(MissingFileError, match="missing"):
        Kinetics(root, csv, missing="raise")
    bad = tmp_path / "bad.csv"
    bad.write_text("youtube_id,label\nx,y\n")
    with pytest.raises(FileFormatError, match="expected CSV columns"):
        Kinetics(root, bad)


# ---------------------------------------------------------------------------------------------
# synthetic motion dataset


def _frame_features(videos: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-frame features of the saturated object: area, toroidal centre, 4-fold orientation
    and mean hue; ``(N, T)`` arrays."""
    v = videos.double().numpy() / 255
    S = v.shape[-1]
    m = ((v.max(2) - v.min(2)) > 0.3).astype(float)
    ang = np.exp(2j * np.pi * np.arange(S) / S)
    w = m.sum((2, 3)) + 1e-9
    cx = np.angle((m * ang[None, None, None, :]).sum((2, 3))) % (2 * np.pi) * S / (2 * np.pi)
    cy = np.angle((m * ang[None, None, :, None]).sum((2, 3))) % (2 * np.pi) * S / (2 * np.pi)
    yy, xx = np.mgrid[0:S, 0:S]
    dx = (xx[None, None] - cx[..., None, None] + S / 2) % S - S / 2
    dy = (yy[None, None] - cy[..., None, None] + S / 2) % S - S / 2
    orient = np.angle((m * (dx + 1j * dy) ** 4).sum((2, 3)))
    r, g, b = v[:, :, 0], v[:, :, 1], v[:, :, 2]
    hue = (m * np.exp(1j * np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b))).sum((2, 3)) / w
    return {"area": w / S**2, "cx": cx, "cy": cy, "orient": orient, "hue": hue, "S": S}


def _single_frame(f):
    S = f["S"]
    cols = [f["area"], np.cos(2 * np.pi * f["cx"] / S), np.sin(2 * np.pi * f["cx"] / S),
            np.cos(2 * np.pi * f["cy"] / S), np.sin(2 * np.pi * f["cy"] / S),
            np.cos(f["orient"]), np.sin(f["orient"]), f["hue"].real, f["hue"].imag]
    return np.stack(cols, -1)  # (N, T, F)


def _frame_difference(f):
    S = f["S"]

    def wrap(d, p):
        return (d + p / 2) % p - p / 2

    d = [wrap(np.diff(f["cx"], axis=1), S), wrap(np.diff(f["cy"], axis=1), S),
         np.diff(np.log(f["area"] + 1e-6), axis=1), wrap(np.diff(f["orient"], axis=1), 2 * np.pi)]
    return np.median(np.stack(d, -1), axis=1)  # (N, 4)


def _nearest_centroid_accuracy(xtr, ytr, xte, yte):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-9
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    cent = np.stack([xtr[ytr == c].mean(0) for c in range(int(ytr.max()) + 1)])
    return float((((xte[:, None] - cent[None]) ** 2).sum(-1).argmin(1) == yte).mean())


def test_synthetic_single_frames_carry_no_motion_class():
    tr = generate_synthetic_motion(12, 8, 32, "motion", "train", seed=0)
    te = generate_synthetic_motion(12, 8, 32, "motion", "val", seed=0)
    ftr, fte = _frame_features(tr["videos"]), _frame_features(te["videos"])
    ytr, yte = tr["labels"].numpy(), te["labels"].numpy()
    s_tr, s_te = _single_frame(ftr), _single_frame(fte)
    T, F = s_tr.shape[1:]
    single = _nearest_centroid_accuracy(s_tr.reshape(-1, F), np.repeat(ytr, T),
                                        s_te.reshape(-1, F), np.repeat(yte, T))
    motion = _nearest_centroid_accuracy(_frame_difference(ftr), ytr, _frame_difference(fte), yte)
    assert single < 0.25, f"single-frame features classify motion classes: {single:.2f}"
    assert motion > 0.9, f"frame-difference features fail on motion classes: {motion:.2f}"
    areas = [ftr["area"][ytr == c].mean() for c in range(8)]
    assert max(areas) / min(areas) < 1.35 and 0.15 < np.mean(areas) < 0.25  # ~20 % of the frame
    # the control: appearance classes are solvable from single frames
    ap_tr = generate_synthetic_motion(8, 4, 32, "appearance", "train", seed=0)
    ap_te = generate_synthetic_motion(8, 4, 32, "appearance", "val", seed=0)
    a_tr, a_te = _single_frame(_frame_features(ap_tr["videos"])), _single_frame(
        _frame_features(ap_te["videos"]))
    acc = _nearest_centroid_accuracy(a_tr.reshape(-1, F), np.repeat(ap_tr["labels"].numpy(), 4),
                                     a_te.reshape(-1, F), np.repeat(ap_te["labels"].numpy(), 4))
    assert acc > 0.7


def test_synthetic_parameter_marginals_identical_across_classes():
    """Every frame's (x, y, angle, log-scale) has the same distribution in every motion class.

    One frame per video (frame ``k % 8`` of video ``k``) keeps the samples independent."""
    rng = np.random.default_rng(0)
    per_class = {c: np.stack([syn._trajectory(rng, c, 8, 32)[k % 8] for k in range(800)])
                 for c in MOTION_CLASSES}
    pooled = np.concatenate(list(per_class.values()))
    lo = [0, 0, 0, syn._LOG_S[0]]
    hi = [32, 32, 2 * np.pi, syn._LOG_S[1]]
    for c, p in per_class.items():
        for j in range(4):
            uniform = stats.kstest(p[:, j], stats.uniform(lo[j], hi[j] - lo[j]).cdf)
            assert uniform.pvalue > 1e-4, (c, j, uniform)
            assert stats.ks_2samp(p[:, j], pooled[:, j]).pvalue > 1e-4, (c, j)


def test_synthetic_dataset_deterministic_cached_and_exportable(tmp_path, monkeypatch):
    kw = dict(classes="all", videos_per_class=1, num_frames=4, size=32, seed=3)
    a = SyntheticMotion("train", cache_dir=tmp_path, **kw)
    assert a.cache_path.is_file() and a.cache_path.parent == tmp_path / "synthetic_motion"
    assert len(a) == 12 and a.class_names[:2] == ["move_left", "move_right"]
    assert a.videos.shape == (12, 4, 3, 32, 32) and a.videos.dtype == torch.uint8
    assert a.labels.tolist() == list(range(12)) and a.params.shape == (12, 4, 4)
    fresh = generate_synthetic_motion(1, 4, 32, "all", "train", seed=3)
    assert torch.equal(fresh["videos"], a.videos)  # bit-identical regeneration

    def boom(*args, **kwargs):
        raise AssertionError("regenerated instead of loading the cache")

    monkeypatch.setattr(syn, "generate_synthetic_motion", boom)
    b = SyntheticMotion("train", cache_dir=tmp_path, **kw)
    assert torch.equal(a.videos, b.videos)
    monkeypatch.undo()
    val = SyntheticMotion("val", cache_dir=tmp_path, **kw)
    assert not torch.equal(val.videos, a.videos)
    monkeypatch.setenv("SPACETIME_CACHE", str(tmp_path / "env"))
    c = SyntheticMotion("test", classes="motion", videos_per_class=1, num_frames=2, size=16)
    assert str(c.cache_path).startswith(str(tmp_path / "env")) and len(c) == 8
    c.cache_path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="regenerating unreadable cache"):
        d = SyntheticMotion("test", classes="motion", videos_per_class=1, num_frames=2, size=16)
    assert torch.equal(c.videos, d.videos)
    item = a[5]
    assert item["label"] == 5 and item["path"] == "synthetic://train/5"
    tf = Compose([ToFloat(), RandomCrop(24), ConvertLayout()])
    e = SyntheticMotion("train", cache_dir=tmp_path, transform=tf, transform_seed=0, **kw)
    assert e[0]["video"].shape == (3, 4, 24, 24) and torch.equal(e[0]["video"], e[0]["video"])
    root = a.export(tmp_path / "export")
    folder = VideoFolder(root, clip_sampler=UniformClipSampler(4, num_clips=1))
    assert sorted(folder.class_names) == sorted(a.class_names) and len(folder) == 12
    got = folder[folder.class_names.index("grow")]["video"].float()
    want = a.videos[a.class_names.index("grow")].float()
    assert (got - want).abs().mean() < 2
    with pytest.raises(InputError, match="classes: expected one of"):
        SyntheticMotion(classes="colour", cache=False)
    with pytest.raises(InputError, match="split: expected one of"):
        SyntheticMotion("dev", cache=False)
    assert os.listdir(tmp_path / "synthetic_motion")
