"""Tiny fake datasets in the on-disk layouts the recipes document (their ``prepare`` text), so
that every recipe runs end to end without the real data: the R2N2 / Pix3D / ModelNet writers
of ``tests/shapes/_dataset_fixtures.py``, a UCF101 tree of short videos, a KITTI-2015 folder
and a RAFT state dict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.shapes._dataset_fixtures import make_modelnet, make_pix3d, make_r2n2, write_pix3d_splits

__all__ = ["make_dataset", "DATASETS"]

UCF_CLASSES = ["ApplyEyeMakeup", "Archery"]


def _r2n2(root: Path) -> Path:
    paths = make_r2n2(root)
    paths["split"].rename(root / "pix2mesh_splits_val05.json")
    return root


def _pix3d(root: Path) -> Path:
    make_pix3d(root)
    imgs = ["img/chair/0001.png", "img/sofa/0007.jpg"]
    for split in ("s1", "s2"):
        write_pix3d_splits(root, imgs, imgs, name=split)
    return root


def _modelnet(root: Path) -> Path:
    return make_modelnet(root)


def _ucf101(root: Path) -> Path:
    """``UCF-101/<Class>/v_<Class>_gXX_c01.avi`` (20 frames, 32 x 40, moving squares), groups
    1 (test) and 8, 9, 10 (train), and the split lists."""
    import torch

    from spacetime.video.io import write_video

    videos, splits = root / "UCF-101", root / "ucfTrainTestlist"
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_text(
        "".join(f"{i + 1} {c}\r\n" for i, c in enumerate(UCF_CLASSES)))
    train, test = [], []
    rng = np.random.default_rng(0)
    for i, c in enumerate(UCF_CLASSES):
        for g in (1, 8, 9, 10):
            rel = f"{c}/v_{c}_g{g:02d}_c01.avi"
            frames = np.zeros((20, 32, 40, 3), dtype=np.uint8)
            frames[...] = rng.integers(0, 60, 3, dtype=np.uint8)
            for t in range(20):
                x = (t + 3 * g) % 28 if i == 0 else 27 - (t + 3 * g) % 28
                frames[t, 10:22, x:x + 12] = 220
            write_video(videos / rel, torch.from_numpy(frames).permute(0, 3, 1, 2), 10,
                        codec="mpeg4")
            (test if g == 1 else train).append(rel)
    (splits / "trainlist01.txt").write_text(
        "".join(f"{r} {UCF_CLASSES.index(r.split('/')[0]) + 1}\n" for r in train))
    (splits / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    return root


def _raft(root: Path) -> Path:
    """A (random) raft-large state dict where the C+T weights go, and a one-pair KITTI-2015
    ``training`` folder."""
    import torch
    from torchvision.models.optical_flow import raft_large

    from spacetime.video.flow import SyntheticFlow
    from spacetime.video.flow.evaluate import export_flow_folder

    root.mkdir(parents=True, exist_ok=True)
    torch.save(raft_large(weights=None).state_dict(), root / "raft_large_C_T_V2-1bb1363a.pth")
    export_flow_folder(root / "KITTI2015" / "training", SyntheticFlow(1, (64, 96), split="val"),
                       layout="kitti")
    return root


#: recipe name → the fake dataset it reads
DATASETS = {
    "c3d-ucf101": _ucf101,
    "early-fusion-ucf101": _ucf101,
    "late-fusion-ucf101": _ucf101,
    "single-frame-ucf101": _ucf101,
    "slow-fusion-ucf101": _ucf101,
    "two-stream-ucf101": _ucf101,
    "meshrcnn-r2n2": _r2n2,
    "pixel2mesh-r2n2": _r2n2,
    "voxel-r2n2": _r2n2,
    "pointgen-r2n2": _r2n2,
    "occnet-r2n2": _r2n2,
    "meshrcnn-pix3d-s1": _pix3d,
    "meshrcnn-pix3d-s2": _pix3d,
    "pointnet-modelnet40": _modelnet,
    "raft-finetune": _raft,
}


def make_dataset(name: str, root: Path) -> Path:
    """The fake dataset of recipe ``name`` under ``root`` (created)."""
    return DATASETS[name](root)
