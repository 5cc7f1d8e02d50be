"""Worker of test_api_distributed.py, started by ``python -m torch.distributed.run``.

Usage: python -m torch.distributed.run --nproc_per_node 2 _api_ddp_worker.py OUT_DIR FAMILY...

Each rank trains every FAMILY through ``spacetime.api`` (tiny models, tiny data) and saves, per
family, its final parameters and the indices of the training items it loaded to
OUT_DIR/rank{RANK}.pt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch


class Recording(torch.utils.data.Dataset):
    """A dataset that records the indices it is asked for (everything else is forwarded)."""

    def __init__(self, base, log: list[int]) -> None:
        self.base, self.log = base, log

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        self.log.append(int(index))
        return self.base[index]

    def __getattr__(self, name: str):
        return getattr(self.base, name)


def _record_training_items(log: list[int]) -> None:
    """Make every shuffled (training) loader built by spacetime record its items."""
    import spacetime.engine as engine

    original = engine.build_loader.__wrapped__ if hasattr(engine.build_loader, "__wrapped__") \
        else engine.build_loader

    def build_loader(dataset, batch_size, **kw):
        if kw.get("shuffle"):
            dataset = Recording(dataset, log)
        return original(dataset, batch_size, **kw)

    build_loader.__wrapped__ = original
    engine.build_loader = build_loader


def _train(family: str, out: Path):
    from spacetime import api

    # device "auto": the CLI's default (CPU here; CUDA + nccl on a GPU machine)
    common = {"out": out / family, "epochs": 1, "batch_size": 2, "device": "auto",
              "progress": False, "tensorboard": False, "log": None, "seed": 0}
    if family == "video":
        return api.video.train("toy-slow-fusion", "synthetic-motion", classes="motion",
                               videos_per_class=2, frames=8, size=16,
                               model_kwargs={"width": 4}, **common)
    if family == "two-stream":
        return api.two_stream.train("synthetic-motion", classes="motion", videos_per_class=2,
                                    frames=4, size=16, num_flows=2,
                                    model_kwargs={"channels": [4, 4], "dropout": 0.0},
                                    **common)
    if family == "flow":
        return api.flow.train("raft-small", size=(32, 32), train_samples=8, val_samples=2,
                              num_flow_updates=1, corr_levels=2, **common)
    if family == "shapes":
        return api.shapes.train("voxel-gen", "synthetic", categories=["chair", "mug"],
                                objects_per_category=2, views=2, image_size=32,
                                voxel_resolution=16, mesh_resolution=24,
                                model_kwargs={"encoder_widths": [4, 8], "latent_dim": 8,
                                              "widths": [8, 4]}, **common)
    if family == "meshrcnn-scene":
        return api.meshrcnn.train("synthetic-scenes", categories=["chair", "mug"], scenes=4,
                                  image_size=64, mesh_resolution=24, grid_size=8, num_stages=1,
                                  hidden_dim=8,
                                  model_kwargs={"roi_size": 4, "voxel_hidden": 4,
                                                "num_convs": 1, "tiny_channels": 4,
                                                "num_samples": 50}, **common)
    if family == "meshrcnn-single":
        return api.meshrcnn.train("synthetic", categories=["mug"], objects_per_category=2,
                                  views=2, image_size=32, mesh_resolution=24, grid_size=8,
                                  num_stages=1, hidden_dim=8,
                                  model_kwargs={"widths": [4, 4, 4, 4], "voxel_hidden": 4,
                                                "num_convs": 1}, **common)
    raise ValueError(family)


def main(out: str, families: list[str]) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    results = {}
    for family in families:
        log: list[int] = []
        _record_training_items(log)
        run = _train(family, Path(out))
        results[family] = {
            "params": [p.detach().cpu().clone() for p in run.model.parameters()],
            "seen": list(log),
            "num_train": run.num_train,
        }
    torch.save(results, Path(out) / f"rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
