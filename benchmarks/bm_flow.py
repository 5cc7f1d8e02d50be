"""Optical-flow benchmark: accuracy and speed of every estimator, and flow-cache throughput.

    python benchmarks/bm_flow.py [--pairs 8] [--raft-checkpoint RUN/checkpoints/best.pt]
                                 [--skip-cache]

1. A generated Middlebury-layout folder (SyntheticFlow val pairs, 96 x 128) evaluated with
   :func:`spacetime.video.flow.evaluate_flow_folder`: EPE, Fl-all, ms per pair per method.
2. The synthetic flow set in memory (64 x 64, the RAFT training size): EPE on all pixels and on
   non-occluded pixels.
3. Flow precompute throughput (frame pairs/s) of :func:`compute_dataset_flow` on a small
   generated video set with 0 (in-process), 1 and 2 workers, and the measured quantisation error.

Everything is measured in one run on this machine; ratios are relative to DIS (accuracy tables)
or to 1 worker (throughput).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from spacetime.video.flow import (
    SyntheticFlow,
    end_point_error,
    estimate_flow,
    evaluate_flow_folder,
    export_flow_folder,
)
from spacetime.video.flow.cache import (
    compute_dataset_flow,
    dequantize_flow,
    load_cached_flow,
    quantization_error,
    quantize_flow,
)

METHODS = ["farneback", "dis-ultrafast", "dis-fast", "dis", "tvl1", "horn-schunck", "raft-small"]


def _method_list(args):
    methods = [(m, m, {}) for m in METHODS]
    if args.raft_checkpoint:  # a `spacetime flow train` checkpoint rebuilds its own RAFT
        from spacetime.api import load_model

        loaded = load_model(args.raft_checkpoint, device="cpu", families=("flow",))
        methods.append((f"{loaded.spec.model} (trained)", loaded.spec.model,
                        {"model": loaded.model}))
    return methods


def bench_folder(root: Path, methods) -> None:
    print(f"\n## Middlebury-layout folder ({root}), mean over pairs")
    print(f"{'method':<22} {'EPE px':>8} {'Fl-all %':>9} {'AE deg':>8} {'ms/pair':>9} "
          f"{'EPE/DIS':>8}")
    rows = []
    warm = torch.rand(3, 96, 128)
    for label, method, kw in methods:
        estimate_flow(warm, warm, method, **kw)  # warm-up (model build, first-call costs)
        res = evaluate_flow_folder(root, method, **kw)
        rows.append((label, res["mean"]))
    ref = next(m for lbl, m in rows if lbl == "dis")["epe"]
    for label, m in rows:
        print(f"{label:<22} {m['epe']:>8.3f} {m['fl_all']:>9.2f} {m['ae']:>8.2f} "
              f"{1000 * m['time_s']:>9.1f} {m['epe'] / ref:>8.2f}")


def bench_synthetic(n: int, methods) -> None:
    ds = SyntheticFlow(n, (64, 64), split="val", seed=0)
    print(f"\n## SyntheticFlow val, {n} pairs at 64 x 64")
    print(f"{'method':<22} {'EPE all':>8} {'EPE noc':>8} {'ms/pair':>9}")
    samples = [ds[i] for i in range(n)]
    for label, method, kw in methods:
        tot = noc = tt = 0.0
        for s in samples:
            t0 = time.perf_counter()
            fl = estimate_flow(s["frame1"], s["frame2"], method, **kw)
            tt += time.perf_counter() - t0
            tot += float(end_point_error(fl, s["flow"]))
            noc += float(end_point_error(fl, s["flow"], ~s["occlusion"]))
        zero = sum(float(s["flow"].norm(dim=0).mean()) for s in samples) / n
        print(f"{label:<22} {tot / n:>8.3f} {noc / n:>8.3f} {1000 * tt / n:>9.1f}")
    print(f"{'(zero flow)':<22} {zero:>8.3f}")


def bench_cache(tmp: Path, method: str = "dis", n_videos: int = 8, n_frames: int = 25) -> None:
    from spacetime.video.io import write_video

    print(f"\n## Flow precompute (compute_dataset_flow, {method}, png, bound 20)")
    tmp = tmp / method
    videos = []
    h, w = 128, 171  # UCF101 frames resized to 128 x 171
    for i in range(n_videos):
        s = SyntheticFlow(1, (h, w + n_frames), seed=100 + i)[0]["frame1"]
        frames = torch.stack([s[:, :, n_frames - k : n_frames - k + w] for k in range(n_frames)])
        frames = torch.nn.functional.pad(frames, (0, 1))  # even width for yuv420p
        p = write_video(tmp / "videos" / f"v{i}.mp4", (frames * 255).to(torch.uint8), fps=25)
        videos.append(p)
    n_pairs = n_videos * (n_frames - 1)
    print(f"{n_videos} videos x {n_frames - 1} pairs at {h} x {w + 1}; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'workers':>8} {'seconds':>8} {'pairs/s':>8} {'vs 1 worker':>12}")
    base = None
    for workers in (1, 0, 2):
        out = tmp / f"cache{workers}"
        res = compute_dataset_flow(videos, out, method=method, workers=workers, progress=False)
        assert res["pairs"] == n_pairs, res
        rate = res["pairs_per_s"]
        base = rate if workers == 1 else base
        label = f"{workers}" + (" (in-process)" if workers == 0 else "")
        print(f"{label:>8} {res['seconds']:>8.2f} {rate:>8.1f} {rate / base:>12.2f}")
    t0 = time.perf_counter()
    res = compute_dataset_flow(videos, tmp / "cache2", method=method, workers=2, progress=False)
    print(f"rerun with everything cached: {time.perf_counter() - t0:.3f} s, "
          f"skipped {len(res['skipped'])} videos")
    t0 = time.perf_counter()
    fl = load_cached_flow(tmp / "cache2" / "v0", range(min(10, n_frames - 1)))
    print(f"load_cached_flow {fl.shape[0]} pairs: {1000 * (time.perf_counter() - t0):.1f} ms -> "
          f"{tuple(fl.shape)}")
    f = torch.linspace(-20, 20, 200001)
    err = float((dequantize_flow(quantize_flow(f, 20.0), 20.0) - f).abs().max())
    print(f"quantisation error (bound 20): measured max {err:.4f} px, "
          f"theory bound/255 = {quantization_error(20.0):.4f} px")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--raft-checkpoint", default=None)
    ap.add_argument("--skip-cache", action="store_true")
    ap.add_argument("--only-cache", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    methods = _method_list(args)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only_cache:
            bench_cache(tmp)
            bench_cache(tmp, "tvl1", n_videos=4, n_frames=9)
            return
        root = export_flow_folder(
            tmp / "middlebury", SyntheticFlow(args.pairs, (96, 128), split="val", seed=1)
        )
        bench_folder(root, methods)
        bench_synthetic(args.pairs, methods)
        if not args.skip_cache:
            bench_cache(tmp)
            bench_cache(tmp, "tvl1", n_videos=4, n_frames=9)


if __name__ == "__main__":
    main()
