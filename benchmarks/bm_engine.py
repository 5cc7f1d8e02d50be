"""Trainer overhead versus a hand-written training loop, and checkpoint save/load time.

Run: ``python benchmarks/bm_engine.py [--device cpu|cuda]``. Prints one table; ratios are
measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from spacetime.engine import (
    TrainConfig,
    Trainer,
    build_loader,
    load_checkpoint,
    seed_everything,
)
from spacetime.video.models import toy_slow_fusion


def _data(n: int, t: int, s: int):
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(
        torch.randn(n, 3, t, s, s, generator=g), torch.randint(0, 5, (n,), generator=g)
    )


def plain_loop(model, loader, epochs, device):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    ds = _data(128, 8, 32)
    rows = []
    seed_everything(0)
    model = toy_slow_fusion(num_classes=5).to(args.device)
    loader = build_loader(ds, 16, shuffle=True)
    plain_loop(model, loader, 1, args.device)  # warm-up
    t0 = time.perf_counter()
    plain_loop(model, loader, args.epochs, args.device)
    t_plain = time.perf_counter() - t0
    rows.append(("plain loop", t_plain, 1.0))
    with tempfile.TemporaryDirectory() as tmp:
        for name, out in (("Trainer, no run dir", None), ("Trainer + run dir", tmp)):
            seed_everything(0)
            model = toy_slow_fusion(num_classes=5)
            cfg = TrainConfig(epochs=args.epochs, lr=0.01, device=args.device, progress=False,
                              out_dir=out, plot=False, scheduler="none")
            trainer = Trainer(model, build_loader(ds, 16, shuffle=True), None, cfg)
            t0 = time.perf_counter()
            trainer.fit()
            dt = time.perf_counter() - t0
            rows.append((name, dt, dt / t_plain))
        t0 = time.perf_counter()
        for _ in range(5):
            trainer.save_checkpoint(Path(tmp) / "c.pt")
        t_save = (time.perf_counter() - t0) / 5
        t0 = time.perf_counter()
        for _ in range(5):
            load_checkpoint(Path(tmp) / "c.pt")
        t_load = (time.perf_counter() - t0) / 5
    steps = args.epochs * len(loader)
    print(f"toy_slow_fusion, 128 clips 3x8x32x32, batch 16, {steps} steps, device {args.device}")
    print(f"{'variant':<22}{'time s':>10}{'ms/step':>10}{'ratio':>8}")
    for name, dt, ratio in rows:
        print(f"{name:<22}{dt:>10.3f}{1000 * dt / steps:>10.2f}{ratio:>8.2f}")
    print(f"checkpoint save {1000 * t_save:.1f} ms, load {1000 * t_load:.1f} ms")


if __name__ == "__main__":
    main()
