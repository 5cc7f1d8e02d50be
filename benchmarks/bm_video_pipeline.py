"""Does clip loading keep up with training? Loader clips/s vs training-step clips/s per model.

For each of the lecture's video models at its default width (3×16×112×112 clips, C3D as in the
lecture), one training step (forward + backward + SGD) on a batch of clips is timed on the CPU,
and compared with how fast ``spacetime.video.read_video`` delivers the same clips from a
320×240, 30 fps H.264 mp4 (setup shared with ``bm_video_loading.py``). A ratio > 1 means one
loader process delivers clips faster than the model consumes them, so DataLoader workers can
hide decoding entirely; < 1 means the GPU/CPU would wait for data with a single worker.

Run: ``python benchmarks/bm_video_pipeline.py [--batch 4] [--models single-frame c3d ...]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bm_video_loading import load_ours, make_video  # noqa: E402
from spacetime.video.io import video_info  # noqa: E402
from spacetime.video.models import MODEL_BUILDERS  # noqa: E402

DEFAULT_MODELS = ["single-frame", "late-fusion-pool", "early-fusion", "slow-fusion", "c3d"]


def loader_clips_per_s(path: Path, n: int = 12) -> float:
    info = video_info(path)
    g = torch.Generator().manual_seed(0)
    starts = torch.randint(0, info.num_frames - 16, (n,), generator=g).tolist()
    clips = [list(range(s, s + 16)) for s in starts]
    load_ours(path, clips[0])  # warm-up (metadata)
    t0 = time.perf_counter()
    for idx in clips:
        load_ours(path, idx)
    return n / (time.perf_counter() - t0)


def train_clips_per_s(name: str, batch: int, steps: int = 2) -> tuple[float, int]:
    model = MODEL_BUILDERS[name](num_classes=101)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, 16, 112, 112)
    y = torch.randint(0, 101, (batch,))

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    params = sum(p.numel() for p in model.parameters())
    return batch * steps / (time.perf_counter() - t0), params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    args = ap.parse_args()
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch}, clips 3x16x112x112")
    with tempfile.TemporaryDirectory() as tmp:
        path = make_video(Path(tmp) / "v.mp4", seconds=10, gop=30)
        load = loader_clips_per_s(path)
    print(f"loader (one process, read_video seek + decode + resize + crop): {load:.1f} clips/s")
    print(f"{'model':18s} {'params':>12s} {'train clips/s':>14s} {'loader/train':>13s}")
    for name in args.models:
        rate, params = train_clips_per_s(name, args.batch, args.steps)
        verdict = "keeps up" if load >= rate else "needs workers"
        print(f"{name:18s} {params:12,d} {rate:14.2f} {load / rate:12.1f}x  {verdict}")


if __name__ == "__main__":
    main()
