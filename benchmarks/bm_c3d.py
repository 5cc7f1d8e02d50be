"""Benchmark: spacetime's C3D vs the same network written as one plain ``nn.Sequential``.

Times forward (no grad) and forward + backward (cross-entropy) for:

- ``plain``: a straightforward ``nn.Sequential`` C3D written in this file (the reference);
- ``ours``: :func:`spacetime.video.models.c3d` (same layers, same weights);
- ``ours channels_last_3d``: ours with model and input in ``torch.channels_last_3d`` memory
  format (NDHWC), the one layout change PyTorch offers for 3D convs on CPU (oneDNN) and GPU.

All variants run interleaved in one process on the same input (the order rotates every
iteration), median over ``--iters`` runs after one warm-up, and their outputs are checked to
agree. On a 2-core CPU the full-width
network (38.5 GMACs per clip) is slow, so the default is half width (``--width 0.5``, about a
quarter of the MACs); ``--width 1`` runs the paper's network.

    python benchmarks/bm_c3d.py [--width 0.5] [--batch 1] [--iters 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.analysis import layer_table
from spacetime.video.models import c3d

__all__: list[str] = []


def plain_c3d(channels: tuple[int, ...], fc_dim: int, num_classes: int) -> nn.Sequential:
    """C3D as one Sequential, the obvious way (pool5 padded like the released model)."""
    c1, c2, c3, c4, c5 = channels

    def conv(a: int, b: int) -> list[nn.Module]:
        return [nn.Conv3d(a, b, 3, padding=1), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *conv(3, c1), nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
        *conv(c1, c2), nn.MaxPool3d(2, 2),
        *conv(c2, c3), *conv(c3, c3), nn.MaxPool3d(2, 2),
        *conv(c3, c4), *conv(c4, c4), nn.MaxPool3d(2, 2),
        *conv(c4, c5), *conv(c5, c5), nn.MaxPool3d(2, 2, padding=(0, 1, 1)),
        nn.Flatten(),
        nn.Linear(c5 * 16, fc_dim), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(fc_dim, num_classes),
    )  # fmt: skip


def copy_weights(ours: nn.Module, plain: nn.Sequential) -> None:
    src = [m for m in ours.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    dst = [m for m in plain.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    with torch.no_grad():
        for a, b in zip(src, dst, strict=True):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(model: nn.Module, x: torch.Tensor) -> float:
    model.eval()
    _sync(x.device)
    t0 = time.perf_counter()
    with torch.no_grad():
        model(x)
    _sync(x.device)
    return time.perf_counter() - t0


def time_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    model.zero_grad(set_to_none=True)
    _sync(x.device)
    t0 = time.perf_counter()
    F.cross_entropy(model(x), y).backward()
    _sync(x.device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=0.5, help="channel multiplier (1 = paper)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    channels = tuple(max(1, round(c * args.width)) for c in (64, 128, 256, 512, 512))
    fc_dim = max(1, round(4096 * args.width))
    num_classes = 101

    torch.manual_seed(0)
    ours = c3d(num_classes=num_classes, channels=channels, fc_dim=fc_dim).to(device)
    plain = plain_c3d(channels, fc_dim, num_classes).to(device)
    copy_weights(ours, plain)
    ours_cl = c3d(num_classes=num_classes, channels=channels, fc_dim=fc_dim)
    ours_cl.load_state_dict(ours.state_dict())
    ours_cl = ours_cl.to(device, memory_format=torch.channels_last_3d)

    x = torch.randn(args.batch, 3, 16, 112, 112, device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    y = torch.randint(0, num_classes, (args.batch,), device=device)
    variants = OrderedDict(
        [("plain", (plain, x)), ("ours", (ours, x)), ("ours channels_last_3d", (ours_cl, x_cl))]
    )

    with torch.no_grad():  # same weights -> same logits
        ref = plain.eval()(x)
        for name, (m, inp) in variants.items():
            out = m.eval()(inp)
            err = (out - ref).abs().max().item()
            if err > 1e-3 * (1 + ref.abs().max().item()):
                raise SystemExit(f"{name}: output differs from plain by {err:.3g}")

    macs = layer_table(ours, (3, 16, 112, 112)).total_macs * args.batch
    fwd: dict[str, list[float]] = {k: [] for k in variants}
    step: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for it in range(args.iters + 1):  # iteration 0 is the warm-up; order rotates each time
        for name in names[it % len(names) :] + names[: it % len(names)]:
            m, inp = variants[name]
            f, s = time_forward(m, inp), time_train_step(m, inp, y)
            if it > 0:
                fwd[name].append(f)
                step[name].append(s)

    print(
        f"C3D width {args.width} (channels {channels}, fc {fc_dim}), input "
        f"{args.batch}x3x16x112x112, {macs / 1e9:.2f} GMACs/forward, device {device}, "
        f"{torch.get_num_threads()} threads, median of {args.iters}"
    )
    base_f = statistics.median(fwd["plain"])
    base_s = statistics.median(step["plain"])
    print(f"{'variant':<24}{'forward s':>11}{'vs plain':>10}{'fwd+bwd s':>11}{'vs plain':>10}")
    for name in variants:
        mf, ms = statistics.median(fwd[name]), statistics.median(step[name])
        print(f"{name:<24}{mf:>11.3f}{base_f / mf:>9.2f}x{ms:>11.3f}{base_s / ms:>9.2f}x")


if __name__ == "__main__":
    main()
