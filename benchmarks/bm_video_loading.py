"""Video loading speed: spacetime's ``read_video`` against torchcodec, decord, a PyAV loop and
OpenCV, on a UCF101-like and a Kinetics-like file, interleaved in one run.

Files (generated, realistic to encode: a textured background sliding with a moving object):

- UCF101-like: 320 x 240, 25 fps, MPEG-4 part 2 in AVI, 12-frame GOP, 7 s;
- Kinetics-like: 340 x 256, 30 fps, H.264 in mp4, 250-frame GOP (libx264's default), 10 s.

Workloads (one decoding thread everywhere: ``threads=1``, ``num_ffmpeg_threads=1``,
``num_threads=1``, PyAV ``thread_count=1``, ``cv2.setNumThreads(1)``):

1. full decode to uint8 RGB, frames/s;
2. 8 random 16-frame clips at stride 2 with the short side resized to 128, clips/s: a fresh
   decoder per clip (as a dataset item opens its file), and the 8 clips from one decoder /
   one ``read_video`` call (as multi-clip evaluation reads them); torchcodec resizes in FFmpeg
   with its decoder ``Resize`` transform, decord while decoding, ours on the YUV planes;
3. clips/s of one DataLoader worker (``num_workers=1``) over a folder of 8 such files, through
   :class:`spacetime.video.datasets.LabeledVideoDataset` (random 16-frame clip at stride 2,
   short side 128, random 112 crop + flip) — the UCF101 and Kinetics training input.

The order of the methods rotates every round (decord's decoder threads outlive its readers for
a moment and would slow whichever method always ran next). Also: the mean / max absolute
difference between our frames and torchcodec's (both convert with the stream's BT.601
limited-range matrix through swscale at full size).

Peers are optional: each is skipped with a note when it does not import (torchcodec needs the
system's FFmpeg libraries: ``apt-get install ffmpeg`` then ``pip install torchcodec decord``).

Run: ``python benchmarks/bm_video_loading.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from spacetime.video.io import read_video, video_info

SHORT, CLIP, STRIDE, CLIPS = 128, 16, 2, 8
#: one decoding thread (spacetime before 0.2 had no ``threads`` argument: run against an older
#: checkout for before / after figures)
_THREADS = {"threads": 1} if "threads" in inspect.signature(read_video).parameters else {}


def _frames(T: int, H: int, W: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (2 * H, 2 * W, 3), dtype=np.uint8), (5, 5),
                               1.5)
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.empty((T, H, W, 3), np.uint8)
    for t in range(T):
        out[t] = texture[(yy + t) % (2 * H), (xx + 2 * t) % (2 * W)]
        cy, cx = int(H / 2 + H / 3 * np.sin(t / 15)), int(W / 2 + W / 3 * np.cos(t / 20))
        out[t, max(0, cy - 20):cy + 20, max(0, cx - 20):cx + 20] = (255, 64, 0)
    return out


def make_video(path: Path, kind: str, seed: int = 0) -> Path:
    """A UCF101-like AVI (``kind="ucf"``) or a Kinetics-like mp4 (``"kinetics"``)."""
    if kind == "ucf":
        T, H, W, fps, codec, gop = 175, 240, 320, 25, "mpeg4", 12
    else:
        T, H, W, fps, codec, gop = 300, 256, 340, 30, "libx264", 250
    frames = _frames(T, H, W, seed)
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.gop_size = gop
        if codec == "mpeg4":
            s.bit_rate = 1_500_000
        else:
            s.options = {"crf": "20", "g": str(gop)}
        for t in range(T):
            frame = av.VideoFrame.from_ndarray(frames[t], format="rgb24")
            frame.pts = t
            for pk in s.encode(frame):
                out.mux(pk)
        for pk in s.encode():
            out.mux(pk)
    return path


# ------------------------------------------------------------------------------- full decode
def full_ours(path: Path) -> torch.Tensor:
    return read_video(path, **_THREADS)


def full_torchcodec(path: Path) -> torch.Tensor:
    from torchcodec.decoders import VideoDecoder

    d = VideoDecoder(str(path), num_ffmpeg_threads=1, device="cpu")
    return d.get_frames_in_range(0, len(d)).data


def full_decord(path: Path) -> torch.Tensor:
    import decord

    vr = decord.VideoReader(str(path), num_threads=1)
    return torch.from_numpy(vr.get_batch(list(range(len(vr)))).asnumpy())


def full_pyav(path: Path) -> torch.Tensor:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(s)]))


def full_opencv(path: Path) -> torch.Tensor:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return torch.from_numpy(np.stack(out))


# ------------------------------------------------------------------------------- clips
def _short_side(h: int, w: int) -> tuple[int, int]:
    return (SHORT, round(w * SHORT / h)) if h <= w else (round(h * SHORT / w), SHORT)


def clips_ours(path: Path, clips: list[list[int]]) -> list[torch.Tensor]:
    """One ``read_video`` per clip (a file opened per dataset item)."""
    return [read_video(path, frame_indices=idx, size=SHORT, **_THREADS) for idx in clips]


def clips_ours_one_call(path: Path, clips: list[list[int]]) -> list[torch.Tensor]:
    """The 8 clips in one call (what multi-clip datasets do), split afterwards."""
    flat = [i for idx in clips for i in idx]
    return list(read_video(path, frame_indices=flat, size=SHORT, **_THREADS).split(CLIP))


def _torchcodec_decoder(path: Path):
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    info = _INFO[path]
    return VideoDecoder(str(path), num_ffmpeg_threads=1, device="cpu",
                        transforms=[Resize(_short_side(info.height, info.width))])


def clips_torchcodec(path: Path, clips: list[list[int]]) -> list[torch.Tensor]:
    """A decoder per clip (as a dataset item opens its file), resizing in FFmpeg."""
    return [_torchcodec_decoder(path).get_frames_at(idx).data for idx in clips]


def clips_torchcodec_one_decoder(path: Path, clips: list[list[int]]) -> list[torch.Tensor]:
    """One decoder for the 8 clips (its index scan paid once)."""
    d = _torchcodec_decoder(path)
    return [d.get_frames_at(idx).data for idx in clips]


def clips_decord(path: Path, clips: list[list[int]]) -> list[torch.Tensor]:
    import decord

    info = _INFO[path]
    h, w = _short_side(info.height, info.width)
    out = []
    for idx in clips:
        vr = decord.VideoReader(str(path), num_threads=1, width=w, height=h)
        out.append(torch.from_numpy(vr.get_batch(idx).asnumpy()))
    return out


_INFO: dict[Path, object] = {}


def _clip_sets(paths: list[Path], rounds: int) -> dict[Path, list[list[list[int]]]]:
    rng = np.random.default_rng(0)
    sets = {}
    for p in paths:
        n = video_info(p).num_frames
        _INFO[p] = video_info(p)
        span = (CLIP - 1) * STRIDE + 1
        sets[p] = [[[int(s) + STRIDE * k for k in range(CLIP)]
                    for s in rng.integers(0, n - span, CLIPS)] for _ in range(rounds)]
    return sets


# ------------------------------------------------------------------------------- DataLoader
def loader_clips_per_s(root: Path, batches: int = 8) -> float:
    from spacetime.engine import build_loader
    from spacetime.video import transforms as tr
    from spacetime.video.clips import RandomClipSampler
    from spacetime.video.datasets import VideoFolder, collate_clips

    ds = VideoFolder(root, clip_sampler=RandomClipSampler(CLIP, frame_step=STRIDE),
                     decode_size=SHORT, seed=0,
                     transform=tr.Compose([tr.RandomCrop(112), tr.RandomHorizontalFlip(),
                                           tr.ToFloat()]))
    loader = build_loader(ds, 4, shuffle=True, num_workers=1, collate_fn=collate_clips,
                          persistent_workers=True)
    it = iter(loader)
    next(it)  # start the worker
    t0, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        n += b["batch_size"]
    return n / (time.perf_counter() - t0)


def _rotated(methods: dict, r: int) -> list:
    items = list(methods.items())
    return items[r % len(items):] + items[:r % len(items)]


def _available(fn: Callable, path: Path, *args) -> str | None:
    try:
        fn(path, *args)
        return None
    except ImportError as e:
        return f"not installed ({e.name})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-loader", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        files = {"UCF101-like AVI": make_video(tmp / "ucf.avi", "ucf"),
                 "Kinetics-like mp4": make_video(tmp / "kinetics.mp4", "kinetics")}
        full = {"spacetime": full_ours, "torchcodec": full_torchcodec, "decord": full_decord,
                "PyAV loop": full_pyav, "OpenCV": full_opencv}
        clips = {"spacetime": clips_ours, "torchcodec": clips_torchcodec,
                 "ours 1 call": clips_ours_one_call, "tc 1 decoder": clips_torchcodec_one_decoder,
                 "decord": clips_decord}
        skip = {name: _available(fn, next(iter(files.values()))) for name, fn in full.items()}
        skip["tc 1 decoder"], skip["ours 1 call"] = skip["torchcodec"], None
        for name, why in skip.items():
            if why:
                print(f"{name}: {why}; skipped")
        sets = _clip_sets(list(files.values()), args.rounds)
        fps: dict[tuple[str, str], list[float]] = {}
        cps: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):  # interleaved: every method once per round
            for label, path in files.items():
                n = video_info(path).num_frames
                # rotate the order every round: decord's decoder threads outlive its readers
                # for a moment and slow whatever runs next on a 2-core machine
                for name, fn in _rotated(full, r):
                    if skip[name]:
                        continue
                    gc.collect()
                    t0 = time.perf_counter()
                    fn(path)
                    fps.setdefault((label, name), []).append(n / (time.perf_counter() - t0))
                for name, fn in _rotated(clips, r):
                    if skip[name]:
                        continue
                    gc.collect()
                    t0 = time.perf_counter()
                    fn(path, sets[path][r])
                    cps.setdefault((label, name), []).append(
                        CLIPS / (time.perf_counter() - t0))
        print(f"\n## Full decode to uint8 RGB, frames/s (median of {args.rounds} interleaved "
              "rounds, 1 thread each)")
        _table(fps, files, full, skip)
        print(f"\n## {CLIPS} random {CLIP}-frame clips at stride {STRIDE}, short side "
              f"{SHORT}, clips/s")
        _table(cps, files, clips, skip)
        if not skip["torchcodec"]:
            print("\n## Same pixels: ours vs torchcodec (full decode)")
            for label, path in files.items():
                a, b = full_ours(path).int(), full_torchcodec(path).int()
                diff = (a - b).abs().float()
                print(f"{label}: mean |diff| {float(diff.mean()):.3f}, max {int(diff.max())} "
                      "(levels of 255)")
        if not args.skip_loader:
            print("\n## One DataLoader worker, clips/s (16 x 112 x 112 training clips)")
            for label, path in files.items():
                root = tmp / label.split()[0]
                for c in range(2):
                    for k in range(4):
                        dst = root / f"class{c}" / f"v{k}{path.suffix}"
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        dst.write_bytes(path.read_bytes())
                print(f"{label}: {loader_clips_per_s(root):.1f} clips/s")


def _table(res, files, methods, skip) -> None:
    names = [m for m in methods if not skip[m]]
    pairs = [("spacetime", "torchcodec")]
    if "ours 1 call" in names and "tc 1 decoder" in names:
        pairs.append(("ours 1 call", "tc 1 decoder"))
    head = f"{'file':<20}" + "".join(f"{n:>13}" for n in names) + "".join(
        f"{'ours/tc' + (' (1)' if k else ''):>12}" for k in range(len(pairs)))
    print(head)
    for label in files:
        med = {n: statistics.median(res[(label, n)]) for n in names}
        ratios = [med[a] / med[b] if b in med else float("nan") for a, b in pairs]
        print(f"{label:<20}" + "".join(f"{med[n]:>13.1f}" for n in names)
              + "".join(f"{r:>11.2f}x" for r in ratios))


if __name__ == "__main__":
    main()
