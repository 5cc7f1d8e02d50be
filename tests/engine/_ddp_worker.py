"""Worker for test_distributed.py, started by ``python -m torch.distributed.run``.

Usage: python -m torch.distributed.run --nproc_per_node 2 _ddp_worker.py OUT_DIR
Each rank trains the toy model for 2 epochs with a per-rank batch of 4 and saves its
parameters, history and an evaluation to OUT_DIR/rank{RANK}.pt.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests` importable

from spacetime.engine import (  # noqa: E402
    TrainConfig,
    Trainer,
    build_loader,
    cleanup_distributed,
    init_distributed,
    seed_everything,
)
from tests.engine._toy import toy_data, toy_model  # noqa: E402


def main(out: str) -> None:
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    seed_everything(0)
    model = toy_model()
    train = build_loader(toy_data(48), 4, shuffle=True, seed=0)
    val = build_loader(toy_data(21, seed=9), 4)
    cfg = TrainConfig(epochs=2, optimizer="sgd", lr=0.1, momentum=0.9, progress=False,
                      out_dir=str(Path(out) / "run"), tensorboard=False, plot=False)
    trainer = Trainer(model, train, val, cfg)
    history = trainer.fit()
    ev = trainer.evaluate()
    torch.save(
        {"params": [p.detach().clone() for p in trainer.model.parameters()],
         "history": history, "eval": ev, "world_size": info.world_size,
         "val_len": len(val.sampler)},
        Path(out) / f"rank{info.rank}.pt",
    )
    cleanup_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
