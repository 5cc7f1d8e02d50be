"""Clip loading speed: 16 x 112 x 112 clips from a generated 320 x 240, 30 fps mp4.

Compares, for the same random clip positions and the same swscale resize to short side 112 plus
centre crop 112 x 112:

1. ``spacetime.video.read_video(frame_indices=...)``: seek to the key frame before the clip,
   decode forward, convert only the clip's frames, stop after the last one;
2. a plain PyAV loop that decodes from the start of the file up to the clip's last frame;
3. whole-video decoding then slicing, the strategy of ``torchvision.io.read_video`` without
   a time range (torchvision 0.29 no longer ships ``torchvision.io.read_video``; it was
   deprecated in favour of TorchCodec, so the strategy is emulated with PyAV).

Run: ``python benchmarks/bm_video_loading.py [--seconds 10] [--clips 20] [--gop 250 30]``.
GOP is the key-frame interval: 250 is libx264's default, 30 (one per second) is common for
streaming encodes; seeking helps more the shorter the GOP.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from spacetime.video.clips import RandomClipSampler, clips_to_indices
from spacetime.video.io import read_video, video_info, write_video

SIZE, CLIP_LEN = 112, 16


def make_video(path: Path, seconds: int, gop: int, fps: int = 30) -> Path:
    """A textured 320 x 240 video with global and local motion (realistic to encode)."""
    T, H, W = seconds * fps, 240, 320
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (H * 2, W * 2, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    for t in range(T):
        frames[t] = texture[(yy + t) % (2 * H), (xx + 2 * t) % (2 * W)]
        cy, cx = int(120 + 80 * np.sin(t / 15)), int(160 + 120 * np.cos(t / 20))
        frames[t, max(0, cy - 20):cy + 20, max(0, cx - 20):cx + 20] = (255, 64, 0)
    return write_video(path, torch.from_numpy(frames), fps, layout="THWC",
                       options={"g": str(gop), "keyint_min": str(gop)})


def _out_size(h: int, w: int) -> tuple[int, int, int, int]:
    oh, ow = (SIZE, round(w * SIZE / h)) if h <= w else (round(h * SIZE / w), SIZE)
    return oh, ow, (oh - SIZE) // 2, (ow - SIZE) // 2


_INFO: dict[Path, tuple[int, int, int, int]] = {}


def load_ours(path: Path, idx: list[int]) -> torch.Tensor:
    if path not in _INFO:  # metadata read once per file, as the datasets cache it
        info = video_info(path)
        _INFO[path] = _out_size(info.height, info.width)
    oh, ow, top, left = _INFO[path]
    return read_video(path, frame_indices=idx, size=(oh, ow), crop=(top, left, SIZE, SIZE))


def load_loop_from_start(path: Path, idx: list[int]) -> torch.Tensor:
    wanted, last, out = set(idx), max(idx), {}
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        oh, ow, top, left = _out_size(s.codec_context.height, s.codec_context.width)
        for i, frame in enumerate(c.decode(s)):
            if i in wanted:
                arr = frame.to_ndarray(format="rgb24", width=ow, height=oh)
                out[i] = arr[top:top + SIZE, left:left + SIZE]
            if i >= last:
                break
    return torch.from_numpy(np.stack([out[i] for i in idx])).permute(0, 3, 1, 2)


def load_whole_then_slice(path: Path, idx: list[int]) -> torch.Tensor:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        oh, ow, top, left = _out_size(s.codec_context.height, s.codec_context.width)
        allf = [f.to_ndarray(format="rgb24", width=ow, height=oh) for f in c.decode(s)]
    video = np.stack(allf)[:, top:top + SIZE, left:left + SIZE]
    return torch.from_numpy(video[idx]).permute(0, 3, 1, 2)


def bench(fn, path: Path, clips: list[list[int]]) -> tuple[float, float]:
    """(clips per wall-clock second, clips per CPU second of this process, all threads)."""
    fn(path, clips[0])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for idx in clips:
        out = fn(path, idx)
        assert out.shape == (CLIP_LEN, 3, SIZE, SIZE)
    return len(clips) / (time.perf_counter() - t0), len(clips) / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--gop", type=int, nargs="+", default=[250, 30])
    args = ap.parse_args()
    torch.set_num_threads(1)
    methods = [("spacetime read_video (seek)", load_ours),
               ("PyAV loop from start", load_loop_from_start),
               ("whole video, then slice (torchvision-style)", load_whole_then_slice)]
    print(f"{args.clips} random {CLIP_LEN}x{SIZE}x{SIZE} clips (native 30 fps) from a "
          f"{args.seconds} s 320x240 H.264 mp4 "
          f"(FFmpeg default decoder threads, torch on one thread)")
    with tempfile.TemporaryDirectory() as tmp:
        for gop in args.gop:
            path = make_video(Path(tmp) / f"bench_g{gop}.mp4", args.seconds, gop)
            info = video_info(path)
            sampler = RandomClipSampler(CLIP_LEN)
            g = torch.Generator().manual_seed(0)
            clips = [list(clips_to_indices(sampler(info.num_frames, info.fps, g))[0].tolist())
                     for _ in range(args.clips)]
            ref = load_loop_from_start(path, clips[1])
            assert torch.equal(load_ours(path, clips[1]), ref), "readers disagree"
            rates = [(name, *bench(fn, path, clips)) for name, fn in methods]
            wall0, cpu0 = rates[0][1:]
            print(f"\nGOP {gop} ({info.num_frames} frames, {path.stat().st_size / 1e6:.1f} MB)")
            print(f"{'method':<44} {'clips/s':>8} {'speed-up':>9} {'clips/CPU-s':>12} "
                  f"{'speed-up':>9}")
            for name, wall, cpu in rates:
                print(f"{name:<44} {wall:8.2f} {wall0 / wall:8.2f}x {cpu:12.2f} "
                      f"{cpu0 / cpu:8.2f}x")
    print("\nspeed-up = ours / method (wall clock, then CPU time: CPU time is the steadier figure "
          "on a shared machine)")


if __name__ == "__main__":
    main()
