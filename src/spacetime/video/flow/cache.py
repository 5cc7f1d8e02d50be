"""Precompute and cache optical flow for video data sets (two-stream practice).

:func:`compute_dataset_flow` computes the flow of every consecutive frame pair ``(t, t + 1)`` of
every video and stores it under ``out_dir/<video name>/``:

- ``format="png"`` (default, lossless) or ``"jpg"`` (smaller, lossy; quality 95): ``dx`` and
  ``dy`` clipped to ``±bound`` px (default 20, as in Simonyan & Zisserman's two-stream nets) and
  quantised to 8-bit grayscale ``q = round((clip(d) + bound) * 255 / (2 bound))``, files
  ``flow_x_00000.png`` / ``flow_y_00000.png``. Dequantised ``d = q * 2 bound / 255 - bound``;
  the step is ``2 bound / 255`` so the largest error for ``|d| <= bound`` is half a step,
  ``bound / 255`` (0.078 px for bound 20; :func:`quantization_error`). Larger motions are clipped.
- ``format="npy"``: float32 ``flow_00000.npy`` of shape ``(2, H, W)`` (exact, ~10 x larger).
- ``meta.json`` (method, bound, format, number of pairs, size) and a ``.done`` marker.

Resumable: a video whose ``.done`` marker exists is skipped. Each video is computed into a
temporary ``out_dir/.partial-<name>-<pid>`` folder that is renamed into place only when complete
(and removed on any error), so an interrupted run never leaves a half-written video folder;
leftover ``.partial-*`` folders from a killed run are deleted at the next start.
Sharded: ``rank`` / ``world_size`` (default: the ``RANK`` / ``WORLD_SIZE`` variables torchrun
sets) give this process every ``world_size``-th video of the name-sorted list, so that many
processes on many machines fill one shared cache without two computing the same video; each
process deletes only the leftover ``.partial-*`` folders of its own videos.
Parallel: ``workers`` processes (``spawn``: forking after OpenCV / torch started threads can
deadlock; each worker limited to one thread), progress with tqdm.
A video that fails to decode is reported in the summary and skipped (``on_error="skip"``) or
stops the run (``"raise"``).

:func:`load_cached_flow` reads a cached video back as float ``(T, 2, H, W)``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.fileio import (
    atomic_write,
    decode_image,
    load_npy_bytes,
    read_file_bytes,
    write_image_atomic,
)
from spacetime.limits import check_image_size, check_limit
from spacetime.video.flow.estimate import FLOW_METHODS, estimate_flow_batch

__all__ = [
    "CACHE_FORMATS",
    "quantize_flow",
    "dequantize_flow",
    "quantization_error",
    "compute_video_flow",
    "compute_dataset_flow",
    "load_cached_flow",
    "cached_flow_info",
]

CACHE_FORMATS = ("png", "jpg", "npy")
_DONE = ".done"
_META = "meta.json"
_CHUNK = 32


def quantize_flow(flow: torch.Tensor, bound: float = 20.0) -> torch.Tensor:
    """``(..., H, W)`` float flow -> uint8, ``round((clip(f, -bound, bound) + bound) * 255 / 2b)``.

    NaN maps to 128 (about zero motion)."""
    check_positive(bound, "bound")
    f = torch.nan_to_num(flow.float(), nan=0.0).clamp(-bound, bound)
    return torch.round((f + bound) * (255.0 / (2.0 * bound))).to(torch.uint8)


def dequantize_flow(q: torch.Tensor, bound: float = 20.0) -> torch.Tensor:
    """Inverse of :func:`quantize_flow`: ``q * 2 bound / 255 - bound`` (float32)."""
    check_positive(bound, "bound")
    return q.float() * (2.0 * bound / 255.0) - bound


def quantization_error(bound: float = 20.0) -> float:
    """Largest dequantisation error for ``|flow| <= bound``: half a step, ``bound / 255`` px."""
    check_positive(bound, "bound")
    return bound / 255.0


def _safe_name(name: str) -> str:
    bad = set('/\\:*?"<>|') | {"\0"}
    out = "".join("_" if c in bad else c for c in str(name)).strip()
    if not out or out.startswith("."):
        raise InputError(f"videos: invalid video name {name!r}")
    return out


def _jobs_from(videos: Any) -> list[tuple[str, Any]]:
    """Normalise the accepted inputs to ``[(name, path or (T, 3, H, W) frames), ...]``."""
    if isinstance(videos, (str, os.PathLike)):
        videos = [videos]
    if isinstance(videos, Mapping):
        items = [(str(k), Path(v) if isinstance(v, (str, os.PathLike)) else v)
                 for k, v in videos.items()]
    else:
        src = videos
        if not isinstance(videos, (list, tuple)):
            for attr in ("video_paths", "paths", "samples", "videos"):
                if hasattr(videos, attr):
                    src = getattr(videos, attr)
                    break
        if isinstance(src, torch.Tensor):  # in-memory (N, T, 3, H, W) videos: names "0", "1"..
            if src.ndim != 5:
                raise InputError(f"videos: expected (N, T, 3, H, W) frames, got {tuple(src.shape)}")
            return [(str(i), src[i]) for i in range(src.shape[0])]
        if not isinstance(src, Iterable):
            raise InputError(f"videos: cannot iterate over {type(videos).__name__}")
        items = []
        for v in src:
            if isinstance(v, (tuple, list)):
                if len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], torch.Tensor):
                    items.append((v[0], v[1]))
                    continue
                if len(v) >= 1 and isinstance(v[0], (str, os.PathLike)):
                    v = v[0]
            if isinstance(v, (str, os.PathLike)):
                items.append((Path(v).stem, Path(v)))
            else:
                raise InputError(
                    "videos: expected paths, (name, frames) pairs, a {name: path|frames} dict or "
                    f"a dataset with .video_paths/.samples, got an item of type {type(v).__name__}"
                )
    jobs = [(_safe_name(n), s) for n, s in items]
    names = [n for n, _ in jobs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InputError(f"videos: duplicate video names {sorted(dup)} (names are file stems)")
    return jobs


def _frame_chunks(source: Any, size: Any, max_frames: int | None) -> Iterable[torch.Tensor]:
    """Yield overlapping ``(T, 3, H, W)`` uint8 chunks (last frame repeated at the next start)."""
    if isinstance(source, torch.Tensor):
        if source.ndim != 4 or source.shape[1] not in (1, 3):
            raise InputError(f"frames: expected (T, 3, H, W), got {tuple(source.shape)}")
        frames = source if max_frames is None else source[:max_frames]
        for s in range(0, max(frames.shape[0] - 1, 1), _CHUNK):
            yield frames[s : s + _CHUNK + 1]
        return
    from spacetime.video.io import read_video, video_info

    n = video_info(source).num_frames
    if max_frames is not None:
        n = min(n, max_frames)
    for s in range(0, max(n - 1, 1), _CHUNK):
        idx = list(range(s, min(s + _CHUNK + 1, n)))
        yield read_video(source, frame_indices=idx, size=size, strict=True)


def _write_gray(path: Path, img: np.ndarray, fmt: str) -> None:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == "jpg" else []
    write_image_atomic(path, img, params)


def compute_video_flow(
    source: Any,
    out: str | os.PathLike,
    *,
    method: str = "dis",
    bound: float = 20.0,
    format: str = "png",
    size: int | tuple[int, int] | None = None,
    max_frames: int | None = None,
    **kw: Any,
) -> int:
    """Compute and store the flow of one video (path or ``(T, 3, H, W)`` frames) in ``out``.

    Writes into ``out`` directly (callers wanting atomicity use :func:`compute_dataset_flow`).
    Returns the number of frame pairs.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = 0
    h = w = 0
    for chunk in _frame_chunks(source, size, max_frames):
        if chunk.shape[0] < 2:
            break
        flows = estimate_flow_batch(chunk[:-1], chunk[1:], method, **kw).cpu()
        h, w = flows.shape[-2:]
        for fl in flows:
            if format == "npy":
                with atomic_write(out / f"flow_{k:05d}.npy") as f:
                    np.save(f, fl.numpy().astype(np.float32))
            else:
                q = quantize_flow(fl, bound).numpy()
                _write_gray(out / f"flow_x_{k:05d}.{format}", q[0], format)
                _write_gray(out / f"flow_y_{k:05d}.{format}", q[1], format)
            k += 1
    if k == 0:
        raise InputError(f"{source if not isinstance(source, torch.Tensor) else 'frames'}: "
                         "a video needs at least 2 frames for flow")
    meta = {"method": method, "bound": bound, "format": format, "num_pairs": k,
            "height": int(h), "width": int(w), "max_quantization_error":
            0.0 if format == "npy" else quantization_error(bound)}
    (out / _META).write_text(json.dumps(meta, indent=1))
    return k


def _worker_init() -> None:
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _process(job: tuple[str, Any, str, dict[str, Any]]) -> tuple[str, int]:
    name, source, out_dir, opts = job
    final = Path(out_dir) / name
    tmp = Path(out_dir) / f".partial-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        n = compute_video_flow(source, tmp, **opts)
        (tmp / _DONE).write_text("ok\n")
        if final.exists():  # an incomplete folder without marker (older tool): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name, n


def compute_dataset_flow(
    videos: Any,
    out_dir: str | os.PathLike,
    *,
    method: str = "dis",
    workers: int = 2,
    bound: float = 20.0,
    format: str = "png",
    size: int | tuple[int, int] | None = None,
    max_frames: int | None = None,
    on_error: str = "skip",
    progress: bool = True,
    rank: int | None = None,
    world_size: int | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Compute and cache the flow of every video (resumable, parallel; see module docstring).

    Args:
        videos: video paths; ``(name, frames)`` pairs with ``(T, 3, H, W)`` uint8 frames; a
            ``{name: path | frames}`` dict (e.g. from
            :func:`spacetime.video.datasets.flow_cache_sources`); a ``(N, T, 3, H, W)`` tensor
            (names ``"0"``, ``"1"``, ...); or a dataset exposing ``video_paths`` / ``paths`` /
            ``samples`` / ``videos`` (entries ``path`` or ``(path, label, ...)``, or a tensor).
            Names are file stems and must be unique.
        out_dir: cache root; video ``v`` goes to ``out_dir/<name>/``.
        method: a :data:`~spacetime.video.flow.FLOW_METHODS` name.
        workers: processes (0 = in this process).
        bound: clip range in px for the 8-bit formats.
        format: ``"png"`` | ``"jpg"`` | ``"npy"``.
        size: resize frames while decoding (``read_video``'s ``size``).
        max_frames: use at most this many frames per video.
        on_error: ``"skip"`` (record and continue) or ``"raise"``.
        progress: show a tqdm bar.
        rank, world_size: this process's share of the videos: those whose position in the
            name-sorted list is ``rank`` modulo ``world_size`` (default: the ``RANK`` /
            ``WORLD_SIZE`` environment variables, else ``0`` / ``1``: every video).
        **kw: estimator options (:func:`~spacetime.video.flow.estimate_flow`), e.g.
            ``device="cuda"`` for ``horn-schunck`` / ``raft-*`` (every worker uses it; pass a
            resolved device, not ``"auto"``).

    Returns:
        ``{"computed": [names], "skipped": [names already done], "failed": {name: message},
        "pairs": frame pairs computed, "seconds": wall time, "pairs_per_s": throughput,
        "rank": rank, "world_size": world_size, "shard": videos of this process}``.
    """
    check_in(method, "method", FLOW_METHODS)
    check_in(format, "format", CACHE_FORMATS)
    check_in(on_error, "on_error", ("skip", "raise"))
    check_int(workers, "workers", min_value=0)
    check_positive(bound, "bound")
    if max_frames is not None:
        check_int(max_frames, "max_frames", min_value=2)
    rank, world_size = _shard_of(rank, world_size)
    all_jobs = _jobs_from(videos)
    jobs = sorted(all_jobs, key=lambda job: job[0])[rank::world_size]
    mine = {name for name, _ in jobs}
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".partial-*"):  # .partial-<name>-<pid>: only this shard's
        if world_size == 1 or stale.name[len(".partial-"):].rpartition("-")[0] in mine:
            shutil.rmtree(stale, ignore_errors=True)
    todo, skipped = [], []
    for name, src in jobs:
        if (root / name / _DONE).is_file():
            skipped.append(name)
        else:
            todo.append((name, src))
    opts = dict(method=method, bound=bound, format=format, size=size, max_frames=max_frames,
                **kw)
    payload = [(name, str(src) if isinstance(src, Path) else src, str(root), opts)
               for name, src in todo]
    computed: list[str] = []
    failed: dict[str, str] = {}
    pairs = 0
    t0 = time.perf_counter()
    bar = None
    if progress and payload:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(payload), desc=f"flow ({method})", unit="video")

    def _done(name: str, result: Any, exc: BaseException | None) -> None:
        nonlocal pairs
        if exc is None:
            computed.append(name)
            pairs += result[1]
        elif on_error == "raise" or not isinstance(exc, Exception):  # Ctrl-C always stops
            raise exc
        else:
            failed[name] = f"{type(exc).__name__}: {exc}"
        if bar is not None:
            bar.update(1)

    try:
        if workers == 0 or len(payload) <= 1:
            for job in payload:
                try:
                    res = _process(job)
                except Exception as exc:  # noqa: BLE001 - policy decided in _done
                    _done(job[0], None, exc)
                else:
                    _done(job[0], res, None)
        else:
            import multiprocessing as mp

            # spawn, not fork: forking after OpenCV / torch started their thread pools can
            # deadlock the children (seen with cv2 in this test suite)
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init) as pool:
                futures = {pool.submit(_process, job): job[0] for job in payload}
                try:
                    for fut in as_completed(futures):
                        exc = fut.exception()
                        _done(futures[fut], None if exc else fut.result(), exc)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        if bar is not None:
            bar.close()
    dt = time.perf_counter() - t0
    return {"computed": computed, "skipped": skipped, "failed": failed, "pairs": pairs,
            "seconds": dt, "pairs_per_s": pairs / dt if dt > 0 else 0.0, "rank": rank,
            "world_size": world_size, "shard": len(jobs)}


def _env_int(var: str, default: int) -> int:
    text = os.environ.get(var)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{var}: expected an integer, got {text!r}") from None


def _shard_of(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)`` from the arguments or torchrun's ``RANK`` / ``WORLD_SIZE``."""
    r = _env_int("RANK", 0) if rank is None else rank
    w = _env_int("WORLD_SIZE", 1) if world_size is None else world_size
    check_int(w, "world_size", min_value=1)
    check_int(r, "rank", min_value=0)
    if r >= w:
        raise InputError(f"rank: expected a value below world_size {w}, got {r}")
    return r, w


def cached_flow_info(video_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``meta.json`` of a finished cached video (raises if the video is not complete)."""
    d = Path(video_dir)
    if not (d / _DONE).is_file():
        raise MissingFileError(f"{d}: no finished flow cache here (missing {_DONE} marker)")
    try:
        return json.loads((d / _META).read_text())
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{d / _META}: unreadable flow cache metadata ({exc})") from exc


def load_cached_flow(
    video_dir: str | os.PathLike, frame_indices: Sequence[int] | torch.Tensor | None = None
) -> torch.Tensor:
    """Load cached flows as float32 ``(T, 2, H, W)`` px (dequantised for png/jpg).

    ``frame_indices`` selects pairs: index ``t`` is the flow from frame ``t`` to ``t + 1``
    (default: all pairs). For two-stream input stack ``L`` consecutive indices.
    """
    import cv2

    d = Path(video_dir)
    meta = cached_flow_info(d)
    n = int(meta["num_pairs"])
    if frame_indices is None:
        idx = list(range(n))
    else:
        idx = [int(i) for i in (frame_indices.tolist() if isinstance(frame_indices, torch.Tensor)
                                else frame_indices)]
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise InputError(f"frame_indices: expected indices in [0, {n - 1}], got {bad[:5]}")
    try:
        fmt, bound = meta["format"], float(meta["bound"])
        h, w = check_image_size(meta["height"], meta["width"], d / _META, "cached flow")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{d / _META}: malformed flow cache metadata ({exc!r})") from None
    check_limit(len(idx) * h * w, "cached flow pixels requested", "MAX_IMAGE_PIXELS", d)
    out = torch.empty(len(idx), 2, h, w)
    for j, i in enumerate(idx):
        if fmt == "npy":
            p = d / f"flow_{i:05d}.npy"
            arr = load_npy_bytes(read_file_bytes(p), p)
            if arr.shape != (2, h, w) or arr.dtype.kind != "f":
                raise FileFormatError(f"{p}: expected a float (2, {h}, {w}) array, got "
                                      f"{arr.dtype} {arr.shape}")
            out[j] = torch.from_numpy(arr.astype(np.float32))
            continue
        for c, axis in enumerate("xy"):
            p = d / f"flow_{axis}_{i:05d}.{fmt}"
            img = decode_image(read_file_bytes(p), p, cv2.IMREAD_GRAYSCALE)
            if img.shape != (h, w):
                raise FileFormatError(f"{p}: expected a {h}x{w} image, got {img.shape}")
            out[j, c] = dequantize_flow(torch.from_numpy(img), bound)
    return out
