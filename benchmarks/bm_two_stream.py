"""Two-stream benchmark: training steps/s of each stream, and flow-stack loading throughput.

Part 1 trains the default-width spatial and temporal streams (``spatial_stream`` /
``temporal_stream``, channels 64-128-256-512, ``L = 10``) on random inputs with SGD and reports
steps/s and clips/s per stream (the temporal stream's first conv sees ``2L = 20`` channels
instead of 3; the rest is identical).

Part 2 builds :class:`~spacetime.video.datasets.FlowClips` over ``SyntheticMotion`` videos and
times loading every item (one RGB frame + one ``(2L, H, W)`` flow stack) with the flow computed
on the fly (OpenCV DIS presets, batched Horn–Schunck) or read from a
:func:`~spacetime.video.flow.compute_dataset_flow` cache (8-bit PNG, float32 npy); the one-off
cache computation time is printed too. Ratios are to on-the-fly DIS (medium), measured in the
same run.

Run: ``python benchmarks/bm_two_stream.py [--size 112] [--batch 8] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from spacetime.video.datasets import FlowClips, SyntheticMotion, flow_cache_sources
from spacetime.video.flow import compute_dataset_flow
from spacetime.video.models import spatial_stream, temporal_stream


def _train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def bench_training(size: int, batch: int, steps: int, num_flows: int) -> list[tuple]:
    rows = []
    for name, build, channels in (("spatial", spatial_stream, 3),
                                  ("temporal", temporal_stream, 2 * num_flows)):
        torch.manual_seed(0)
        kw = {"num_flows": num_flows} if name == "temporal" else {}
        model = build(num_classes=101, **kw).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(batch, channels, size, size)
        y = torch.randint(101, (batch,))

        _train_step(model, opt, x, y)  # warm-up
        t0 = time.perf_counter()
        for _ in range(steps):
            _train_step(model, opt, x, y)
        dt = (time.perf_counter() - t0) / steps
        params = sum(p.numel() for p in model.parameters())
        rows.append((name, f"{channels} x {size} x {size}", params, 1 / dt, batch / dt))
    return rows


def bench_loading(size: int, num_flows: int, videos: int) -> list[tuple]:
    frames = num_flows + 1 + 5  # a few windows per video
    ds = SyntheticMotion("test", classes="motion", videos_per_class=max(1, videos // 8),
                         num_frames=frames, size=size, cache=False)
    n = len(ds)

    def time_items(fc: FlowClips) -> float:
        t0 = time.perf_counter()
        for i in range(len(fc)):
            fc[i]
        return len(fc) / (time.perf_counter() - t0)

    rows = []
    for method in ("dis", "dis-fast", "dis-ultrafast", "horn-schunck"):
        fc = FlowClips(ds, num_flows=num_flows, method=method, seed=0)
        if method == "horn-schunck":  # frames must be float for the torch estimator
            fc = FlowClips(_FloatFrames(ds), num_flows=num_flows, method=method, seed=0)
        rows.append((f"on the fly ({method})", time_items(fc), None))
    for fmt in ("png", "npy"):
        with tempfile.TemporaryDirectory() as tmp:
            res = compute_dataset_flow(flow_cache_sources(ds), tmp, method="dis", format=fmt,
                                       workers=0, progress=False)
            fc = FlowClips(ds, num_flows=num_flows, flow_dir=tmp, seed=0)
            rows.append((f"cached ({fmt}, DIS)", time_items(fc), res["pairs_per_s"]))
    return [(name, n, rate, pps) for name, rate, pps in rows]


class _FloatFrames:
    """A dataset view with frames as float in [0, 1] (for the torch Horn–Schunck estimator)."""

    def __init__(self, base: SyntheticMotion) -> None:
        self.base, self.class_names = base, base.class_names

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        item["video"] = item["video"].float() / 255
        return item


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=112, help="frame height = width")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per stream")
    ap.add_argument("--num-flows", type=int, default=10, help="L")
    ap.add_argument("--videos", type=int, default=16, help="videos for the loading benchmark")
    ap.add_argument("--threads", type=int, default=1, help="torch / OpenCV threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import cv2

        cv2.setNumThreads(args.threads)
    except ImportError:  # pragma: no cover
        pass
    print(f"CPU, {args.threads} thread(s), torch {torch.__version__}")
    print(f"\n== training steps (SGD, batch {args.batch}, 101 classes, default widths) ==")
    print(f"{'stream':<10} {'input':>16} {'params':>12} {'steps/s':>9} {'clips/s':>9}")
    train_rows = bench_training(args.size, args.batch, args.steps, args.num_flows)
    for name, shape, params, sps, cps in train_rows:
        print(f"{name:<10} {shape:>16} {params:>12,} {sps:>9.3f} {cps:>9.2f}")
    print(f"  temporal / spatial time per step: {train_rows[0][3] / train_rows[1][3]:.2f}x")
    print(f"\n== flow-stack loading (L = {args.num_flows}, {args.size} x {args.size}, one "
          "RGB frame + (2L, H, W) flow per item, 1 process) ==")
    rows = bench_loading(args.size, args.num_flows, args.videos)
    base = rows[0][2]
    print(f"{'source':<26} {'items':>6} {'items/s':>9} {'vs DIS':>8} {'cache build pairs/s':>20}")
    for name, n, rate, pps in rows:
        extra = f"{pps:>20.1f}" if pps is not None else f"{'':>20}"
        print(f"{name:<26} {n:>6} {rate:>9.1f} {rate / base:>7.2f}x {extra}")


if __name__ == "__main__":
    main()
