"""Video files: metadata, clip decoding with PyAV, mp4 writing and raw-size arithmetic.

Time model (used by :mod:`spacetime.video.clips` too): a video stream is treated as constant
frame rate. Native frame ``i`` is shown on the half-open interval ``[i / fps, (i + 1) / fps)``
seconds after the first frame, with ``fps`` an exact :class:`fractions.Fraction` (30000/1001 for
NTSC). Times are Fractions or integer frame indices, never accumulated floats, so resampling a
30 fps video to 5 fps picks exactly every 6th frame. If a file has variable frame rate or dropped
frames, the frame requested for time ``t`` is the last decoded frame whose presentation time is
``<= t`` (the frame a player would show).

Decoding is seek-based: :func:`read_video` seeks to the key frame before the first requested frame,
decodes forward, converts (and resizes, on the YUV planes with OpenCV: :mod:`spacetime.video.yuv`)
only the requested frames straight into the output buffer, and seeks again across large gaps. A
16-frame clip from a long video never decodes the whole file (unlike ``torchvision.io.read_video``,
which loaded every frame of the requested range into memory first).
AVI files with B-frames are the exception: their timestamps are unreliable (off by the reorder
delay, with gaps after a seek), so they are decoded from the start and frames are numbered by
counting (UCF101 / HMDB51 clips are short); AVI files without B-frames seek like the others.

Pixel layout: ``"TCHW"`` (frames first, as image models and :mod:`spacetime.video.transforms`
expect) or ``"CTHW"`` (channels first, as 3D CNNs such as C3D expect). ``uint8`` values are in
[0, 255]; float values in [0, 1]. Channels are RGB.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.fileio import atomic_path
from spacetime.limits import check_image_size, check_limit
from spacetime.video.yuv import FrameConverter, check_crop

__all__ = [
    "VideoInfo",
    "VideoDecodeWarning",
    "video_info",
    "read_video",
    "write_video",
    "raw_video_bytes",
    "raw_bytes_per_minute",
    "to_fraction",
    "default_video_codec",
]

_LAYOUTS = ("TCHW", "CTHW")


class VideoDecodeWarning(UserWarning):
    """A video could only be partly decoded (e.g. a truncated file); the prefix was returned."""


class VideoInfo(NamedTuple):
    """Metadata of a file's first video stream.

    Attributes:
        fps: native frame rate as an exact Fraction (frames per second).
        num_frames: number of frames (from the container header, else counted from packets).
        duration: ``num_frames / fps`` in seconds, an exact Fraction (constant-frame-rate model).
        width: frame width in pixels.
        height: frame height in pixels.
        codec: decoder name, e.g. ``"h264"``.
    """

    fps: Fraction
    num_frames: int
    duration: Fraction
    width: int
    height: int
    codec: str


def to_fraction(value: Fraction | int | float | str, name: str = "value") -> Fraction:
    """Convert seconds or a frame rate to an exact Fraction.

    Floats are rounded to the nearest fraction with denominator <= 1,000,000, so ``0.1`` becomes
    exactly ``1/10`` and ``29.97`` becomes ``2997/100``.
    """
    if isinstance(value, bool):
        raise InputError(f"{name}: expected a number, got bool {value!r}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{name}: expected a finite number, got {value!r}")
        return Fraction(value).limit_denominator(1_000_000)
    if isinstance(value, str):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError) as e:
            raise InputError(f"{name}: expected a number, got {value!r}") from e
    raise InputError(f"{name}: expected a number, got {type(value).__name__} {value!r}")


def raw_video_bytes(
    T: int, H: int, W: int, channels: int = 3, bytes_per_value: int = 1
) -> int:
    """Size in bytes of an uncompressed video of ``T`` frames of ``H x W x channels`` values.

    ``raw_video_bytes(16, 112, 112)`` is 602,112 B = 588 KiB, the lecture's "588 KB" clip
    (16 frames, 3.2 s at 5 fps, 112 x 112 RGB, one byte per value).
    """
    for v, n in ((T, "T"), (H, "H"), (W, "W"), (channels, "channels"),
                 (bytes_per_value, "bytes_per_value")):
        check_int(v, n, min_value=0)
    return T * H * W * channels * bytes_per_value


def raw_bytes_per_minute(
    H: int, W: int, fps: int | Fraction = 30, channels: int = 3, bytes_per_value: int = 1
) -> int:
    """Bytes of one minute of uncompressed video (8-bit RGB by default).

    The lecture's figures are binary units: SD 640 x 480 at 30 fps is 1,658,880,000 B = 1.55 GiB
    ("~1.5 GB per minute"); HD 1920 x 1080 is 11,197,440,000 B = 10.4 GiB ("~10 GB per minute").
    """
    frames = Fraction(60) * to_fraction(fps, "fps")
    if frames.denominator != 1:
        frames = Fraction(math.floor(frames))
    return raw_video_bytes(int(frames), H, W, channels, bytes_per_value)


# ---------------------------------------------------------------------------------------------
# opening and metadata


def _import_av() -> Any:
    import av  # core dependency; imported lazily to keep `import spacetime` light

    return av


def _open(path: str | os.PathLike) -> Any:
    av = _import_av()
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"video file not found: {p}")
    if p.is_dir():
        raise InputError(f"path: expected a video file, got a directory {p}")
    if p.stat().st_size == 0:
        raise FileFormatError(f"{p}: empty file (0 bytes), not a video")
    try:
        return av.open(str(p), mode="r")
    except av.FFmpegError as e:
        raise FileFormatError(f"{p}: cannot open as a video ({e.__class__.__name__}: {e})") from e


def _video_stream(container: Any, path: str | os.PathLike) -> Any:
    if not container.streams.video:
        raise FileFormatError(f"{path}: no video stream")
    return container.streams.video[0]


def _stream_fps(stream: Any, path: str | os.PathLike) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    raise FileFormatError(f"{path}: video stream has no frame rate")


def _info_from_stream(container: Any, stream: Any, path: str | os.PathLike) -> VideoInfo:
    av = _import_av()
    fps = _stream_fps(stream, path)
    n = int(stream.frames or 0)
    if n <= 0:
        if stream.duration is not None and stream.time_base is not None:
            n = int(round(Fraction(stream.duration) * Fraction(stream.time_base) * fps))
        elif container.duration is not None:
            n = int(round(Fraction(container.duration, av.time_base) * fps))
    if n <= 0:  # last resort: count packets (demux only, no decoding)
        try:
            n = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        except av.FFmpegError:
            n = 0
    if n <= 0:
        raise FileFormatError(f"{path}: video stream has zero frames")
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width <= 0 or height <= 0:
        raise FileFormatError(f"{path}: video stream has invalid size {width}x{height}")
    return VideoInfo(fps, n, Fraction(n) / fps, width, height, stream.codec_context.name)


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Read the metadata of the first video stream of ``path`` without decoding frames.

    Raises:
        MissingFileError: the file does not exist.
        FileFormatError: the file is not a readable video, has no video stream or zero frames.
    """
    container = _open(path)
    try:
        return _info_from_stream(container, _video_stream(container, path), path)
    finally:
        container.close()


# ---------------------------------------------------------------------------------------------
# reading


def _output_size(size: int | Sequence[int] | None, height: int, width: int) -> tuple[int, int]:
    if size is None:
        return height, width
    if isinstance(size, int) and not isinstance(size, bool):
        check_int(size, "size", min_value=1)
        if height <= width:
            return size, max(1, round(width * size / height))
        return max(1, round(height * size / width)), size
    if isinstance(size, Sequence) and len(size) == 2:
        h, w = (check_int(int(s) if isinstance(s, np.integer) else s, "size", min_value=1)
                for s in size)
        return h, w
    raise InputError(f"size: expected None, an int (short side) or (height, width), got {size!r}")


def _select_indices(
    info: VideoInfo,
    start_sec: Any,
    end_sec: Any,
    fps: Any,
    num_frames: int | None,
) -> list[int]:
    """Native frame indices for the window ``[start_sec, end_sec)`` resampled to ``fps``."""
    start = Fraction(0) if start_sec is None else to_fraction(start_sec, "start_sec")
    end = info.duration if end_sec is None else to_fraction(end_sec, "end_sec")
    if start < 0:
        raise InputError(f"start_sec: expected a value >= 0, got {float(start)}")
    if start >= info.duration:
        raise InputError(
            f"start_sec: expected a time before the end of the video "
            f"({float(info.duration):.6g} s), got {float(start):.6g}"
        )
    if end <= start:
        raise InputError(
            f"end_sec: expected a time after start_sec ({float(start):.6g} s), got {float(end):.6g}"
        )
    end = min(end, info.duration)
    limit = math.inf if num_frames is None else num_frames
    native = info.fps
    out: list[int] = []
    if fps is None:
        i = math.ceil(start * native)
        while i < info.num_frames and Fraction(i) / native < end and len(out) < limit:
            out.append(i)
            i += 1
        return out
    target = to_fraction(fps, "fps")
    if target <= 0:
        raise InputError(f"fps: expected a value > 0, got {float(target)}")
    k = 0
    while len(out) < limit:
        t = start + Fraction(k) / target
        if t >= end:
            break
        idx = math.floor(t * native)
        if idx >= info.num_frames:
            break
        out.append(idx)
        k += 1
    return out


def _frame_index(frame: Any, start_pts: int, time_base: Fraction, fps: Fraction) -> int | None:
    if frame.pts is None:
        return None
    return round(Fraction(frame.pts - start_pts) * time_base * fps)


def _decode_frames(
    container: Any,
    stream: Any,
    info: VideoInfo,
    wanted: list[int],
    convert: Any,
    seek_gap: float,
    count: bool = False,
    eof_slack: int = 0,
) -> tuple[dict[int, Any], str | None]:
    """Decode the sorted unique native indices ``wanted``; return ``{index: convert(frame,
    index)}`` and an error.

    Seeks to the key frame before each run of wanted frames; re-seeks when the next wanted frame
    is more than ``seek_gap`` frames ahead. Decoding stops as soon as the last wanted frame is
    seen. A wanted index that has no frame of its own (variable frame rate, dropped frames) gets
    the last frame shown before it. ``count=True`` (AVI, whose timestamps are unreliable with
    B-frames) decodes from the start and numbers frames by counting. At the end of the stream,
    wanted frames at most ``eof_slack`` past the last decoded one get the last frame (for frame
    counts estimated from the duration).
    """
    av = _import_av()
    time_base = Fraction(stream.time_base)
    start_pts = int(stream.start_time or 0)
    out: dict[int, np.ndarray] = {}
    error: str | None = None
    pos = 0
    tried_from_start = count
    if count:
        seek_gap = math.inf
    while pos < len(wanted):
        target = wanted[pos]
        seek_pts = start_pts + math.floor(Fraction(target) / info.fps / time_base)
        try:
            container.seek(seek_pts if not tried_from_start else start_pts, backward=True,
                           any_frame=False, stream=stream)
        except av.FFmpegError:
            if tried_from_start:
                error = "seek failed"
                break
            tried_from_start = True
            continue
        prev: Any = None
        prev_idx = -1
        first = True
        reseek = False
        overshoot = False
        last_idx = -1
        try:
            for frame in container.decode(stream):
                idx = None if count else _frame_index(frame, start_pts, time_base, info.fps)
                idx = last_idx + 1 if idx is None else idx
                last_idx = idx
                if first:
                    first = False
                    if idx > wanted[pos] and not tried_from_start:
                        overshoot = True  # the seek landed after the wanted frame
                        break
                while pos < len(wanted) and wanted[pos] < idx:
                    if prev is not None and prev_idx <= wanted[pos]:
                        out[wanted[pos]] = convert(prev, wanted[pos])
                    pos += 1  # a missing frame with no predecessor stays missing
                if pos < len(wanted) and wanted[pos] == idx:
                    out[idx] = convert(frame, idx)
                    pos += 1
                prev, prev_idx = frame, idx
                if pos >= len(wanted):
                    break
                if idx >= target and wanted[pos] - idx > seek_gap:
                    reseek = True  # past this seek's target and facing a long gap
                    break
        except av.FFmpegError as e:
            error = f"decoding failed after frame {last_idx} ({e.__class__.__name__}: {e})"
            break
        if overshoot:
            tried_from_start = True
            continue
        tried_from_start = count
        if reseek:
            continue
        if pos < len(wanted):  # end of stream before the remaining wanted frames
            if prev is not None:
                while pos < len(wanted) and wanted[pos] <= prev_idx + eof_slack:
                    out[wanted[pos]] = convert(prev, wanted[pos])
                    pos += 1
            if pos < len(wanted):
                error = (f"stream ended after frame {last_idx} but frame {wanted[pos]} was "
                         f"requested (header says {info.num_frames} frames; truncated file?)")
            break
    return out, error


def read_video(
    path: str | os.PathLike,
    start_sec: Fraction | float | None = None,
    end_sec: Fraction | float | None = None,
    *,
    fps: Fraction | float | None = None,
    num_frames: int | None = None,
    frame_indices: Sequence[int] | torch.Tensor | None = None,
    size: int | tuple[int, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    layout: str = "TCHW",
    dtype: torch.dtype = torch.uint8,
    strict: bool = False,
    interpolation: str = "BILINEAR",
    seek_gap: int | None = None,
    threads: int | None = None,
) -> torch.Tensor:
    """Decode the frames of a clip of ``path``, seeking so that only what is needed is decoded.

    Select frames either by time or by native frame index:

    - by time: the window ``[start_sec, end_sec)`` (defaults: start and end of the video),
      optionally resampled to ``fps`` (frame ``k`` is native frame ``floor((start_sec + k / fps)
      * native_fps)``, computed with exact Fractions) and cut to at most ``num_frames`` frames;
    - by index: ``frame_indices``, any order, repeats allowed (clip samplers produce these).

    Args:
        path: video file (any container/codec FFmpeg reads: mp4, avi, mkv, webm ...).
        start_sec, end_sec: window in seconds from the first frame (Fraction or float).
        fps: target frame rate; None keeps every native frame of the window.
        num_frames: keep at most this many frames.
        frame_indices: native frame indices; exclusive with the four arguments above.
        size: resize while converting: an int resizes the short side to ``size`` keeping the
            aspect ratio; ``(height, width)`` resizes to exactly that.
        crop: ``(top, left, height, width)`` in the (resized) output frame.
        layout: ``"TCHW"`` -> ``(T, 3, H, W)``, or ``"CTHW"`` -> ``(3, T, H, W)``.
        dtype: ``torch.uint8`` (values 0..255) or a float dtype (values in [0, 1]).
        strict: if True, a requested frame that cannot be decoded (truncated or corrupt file)
            raises :class:`FileFormatError`; if False the frames decoded so far are returned with
            a :class:`VideoDecodeWarning` (requested indices that could not be decoded are
            dropped, so ``T`` can be smaller than requested).
        interpolation: resampling used by ``size``: ``"BILINEAR"``, ``"AREA"``, ``"BICUBIC"``,
            ``"POINT"`` / ``"NEAREST"``, ``"LANCZOS"`` (OpenCV on the YUV planes, the fast
            path), or another swscale name (``"FAST_BILINEAR"``, ``"GAUSS"``, ...: swscale).
        seek_gap: re-seek instead of decoding through a gap of more than this many frames
            between wanted frames (default: two seconds of frames).
        threads: decoding threads (0: FFmpeg's choice); default 1 inside a DataLoader worker
            (the workers are the parallelism there), FFmpeg's choice elsewhere. Always 1 while
            PyAV forwards FFmpeg's log to Python (``av.logging.set_level(level)``, which
            torchvision 0.19-0.25 call when imported): a frame-threaded decoder then
            deadlocks now and then when it is freed (see :func:`_decoder_threads_safe`).

    Returns:
        ``(T, 3, H, W)`` or ``(3, T, H, W)`` tensor of RGB frames, converted with the stream's
        colour matrix and range (:mod:`spacetime.video.yuv`). For uint8 it is a permuted view
        of one ``(T, H, W, 3)`` buffer, as torchcodec returns frames (call ``.contiguous()``
        for a channels-first memory layout).

    Raises:
        MissingFileError: no such file.
        FileFormatError: not a video, no video stream, zero frames, or (``strict``) truncated.
        InputError: bad arguments (message names the argument).
    """
    check_in(layout, "layout", _LAYOUTS)
    if not (dtype == torch.uint8 or dtype.is_floating_point):
        raise InputError(f"dtype: expected torch.uint8 or a float dtype, got {dtype}")
    if num_frames is not None:
        check_int(num_frames, "num_frames", min_value=1)
    if frame_indices is not None and any(
        v is not None for v in (start_sec, end_sec, fps, num_frames)
    ):
        raise InputError(
            "frame_indices: cannot be combined with start_sec, end_sec, fps or num_frames"
        )
    FrameConverter(None, None, interpolation)  # checks the name before the file is opened
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        info = _info_from_stream(container, stream, path)
        check_image_size(info.height, info.width, path, "video frame")
        if frame_indices is not None:
            if isinstance(frame_indices, torch.Tensor):
                check_tensor(frame_indices, "frame_indices", ("T",), dtype="int")
                indices = [int(v) for v in frame_indices.tolist()]
            else:
                indices = [int(v) for v in frame_indices]
            if not indices:
                raise InputError("frame_indices: expected at least one index, got none")
            bad = [i for i in indices if i < 0 or i >= info.num_frames]
            if bad:
                raise InputError(
                    f"frame_indices: expected indices in [0, {info.num_frames - 1}] "
                    f"({path} has {info.num_frames} frames), got {bad[:5]}"
                )
        else:
            indices = _select_indices(info, start_sec, end_sec, fps, num_frames)
        out_h, out_w = _output_size(size, info.height, info.width)
        check_image_size(out_h, out_w, None, "size")
        check_limit(len(indices), "frames to decode", "MAX_VIDEO_FRAMES")
        crop_box = check_crop(crop, out_h, out_w)
        resize = (out_h, out_w) != (info.height, info.width)
        converter = FrameConverter((out_h, out_w) if resize else None, crop_box, interpolation)
        n_threads = _decoder_threads_safe(_decoder_threads(threads), _import_av())
        stream.codec_context.thread_count = n_threads
        if n_threads != 1:
            stream.thread_type = "AUTO"
        wanted = sorted(set(indices))
        slot = {idx: k for k, idx in enumerate(wanted)}
        oh, ow = converter.output_shape(out_h, out_w)
        buffer = np.empty((len(wanted), oh, ow, 3), np.uint8)

        def convert(frame: Any, idx: int) -> int:
            converter(frame, out=buffer[slot[idx]])
            return slot[idx]

        gap = max(1, int(2 * info.fps)) if seek_gap is None else check_int(seek_gap, "seek_gap",
                                                                          min_value=0)
        frames, error = _decode_frames(
            container, stream, info, wanted, convert, gap,
            # AVI with B-frames: timestamps are unreliable (off by the reorder delay, with gaps
            # after a seek): decode from the start and count; without B-frames they are exact
            count=container.format.name == "avi" and bool(stream.codec_context.has_b_frames),
            eof_slack=0 if stream.frames else 2,
        )
    finally:
        container.close()
    if error is not None or len(frames) < len(wanted):
        reason = error or "some requested frames could not be decoded"
        if strict or not frames:
            raise FileFormatError(f"{path}: {reason}")
        warnings.warn(f"{path}: {reason}; returning the {len(frames)} decodable frames",
                      VideoDecodeWarning, stacklevel=2)
        indices = [i for i in indices if i in frames]
    order = [frames[i] for i in indices]
    arr = buffer if order == list(range(len(buffer))) else buffer[order]  # (T, H, W, 3)
    video = torch.from_numpy(arr)
    video = video.permute(0, 3, 1, 2) if layout == "TCHW" else video.permute(3, 0, 1, 2)
    if dtype != torch.uint8:
        video = video.to(dtype) / 255.0
    return video


def _decoder_threads(threads: int | None) -> int:
    """Decoding threads: ``threads`` as given, else 1 in a DataLoader worker, else 0 (auto).

    In a worker, OpenCV (the resize of the planes) is also set to one thread, once: its pool
    costs more than it gains on small frames, and the workers are the parallelism there. Not in
    a *forked* worker: there ``cv2.setNumThreads`` deadlocks when the parent had started
    OpenCV's thread pool (DIS / TV-L1 flow, a large resize) before the fork."""
    from torch.utils.data import get_worker_info

    global _WORKER_CV2_SET
    in_worker = get_worker_info() is not None
    if in_worker and not _WORKER_CV2_SET:
        if not _FORKED:
            import cv2

            cv2.setNumThreads(1)
        _WORKER_CV2_SET = True
    if threads is not None:
        return check_int(threads, "threads", min_value=0)
    return 1 if in_worker else 0


def _decoder_threads_safe(n_threads: int, av: Any) -> int:
    """``n_threads``, or 1 while PyAV forwards FFmpeg's log messages to Python.

    With a log level set (``av.logging.set_level(av.logging.ERROR)``: ``torchvision.io`` of
    torchvision 0.19 to 0.25, torch 2.4 to 2.10, does it on import; 0.26 no longer does),
    FFmpeg's decoder threads call PyAV's log callback, which takes the GIL; freeing a
    frame-threaded decoder joins those threads while holding the GIL, so a thread that logs at
    that moment deadlocks the process (PyAV issues 1849 / 1861, torchvision issue 9010; seen
    here with av 17.1.0 and torchvision 0.19.1: ``tests/video`` hung in each of three runs).
    One decoding thread has no such threads to join. ``av.logging.set_level(None)`` (PyAV's
    default) restores threaded decoding."""
    get_level = getattr(getattr(av, "logging", None), "get_level", None)
    if n_threads != 1 and get_level is not None and get_level() is not None:
        return 1
    return n_threads


_WORKER_CV2_SET = False
_FORKED = False  # set in a child process made by fork (DataLoader workers on Linux)


def _after_fork_in_child() -> None:
    global _FORKED
    _FORKED = True


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------------------------
# writing


def default_video_codec() -> str:
    """``"libx264"`` (H.264) if PyAV's FFmpeg has the encoder, else ``"mpeg4"``."""
    av = _import_av()
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # noqa: BLE001 - any failure means the encoder is unusable
        return "mpeg4"


def write_video(
    path: str | os.PathLike,
    frames: torch.Tensor,
    fps: Fraction | float | int,
    *,
    layout: str = "TCHW",
    codec: str | None = None,
    crf: int | None = None,
    bit_rate: int | None = None,
    pix_fmt: str | None = None,
    faststart: bool = False,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` as a video file (mp4 with H.264 by default), written atomically.

    Args:
        path: destination; the container is chosen from the suffix (``.mp4``, ``.avi``, ``.mkv``).
        frames: ``(T, 3, H, W)`` (``layout="TCHW"``), ``(3, T, H, W)`` (``"CTHW"``) or
            ``(T, H, W, 3)`` (``"THWC"``); uint8 in [0, 255] or float in [0, 1] (clamped).
            One channel is repeated to RGB.
        fps: frame rate (a Fraction such as ``Fraction(30000, 1001)`` is kept exactly).
        codec: encoder; default :func:`default_video_codec` (libx264, else mpeg4).
        crf: libx264 constant rate factor (0 = lossless luma, default 18 = visually lossless).
        bit_rate: bits per second (used by mpeg4; default ~ 0.5 bit per pixel per frame).
        pix_fmt: default ``"yuv420p"`` (plays everywhere; needs even H and W), ``"yuv444p"`` for
            odd sizes with libx264.
        faststart: put the mp4 index ("moov") at the front of the file (for streaming).
        options: extra encoder options passed to FFmpeg.

    Returns:
        The destination path. Nothing is left at ``path`` if encoding fails.
    """
    av = _import_av()
    check_in(layout, "layout", (*_LAYOUTS, "THWC"))
    if layout == "TCHW":
        check_tensor(frames, "frames", ("T", "C", "H", "W"))
        thwc = frames.permute(0, 2, 3, 1)
    elif layout == "CTHW":
        check_tensor(frames, "frames", ("C", "T", "H", "W"))
        thwc = frames.permute(1, 2, 3, 0)
    else:
        check_tensor(frames, "frames", ("T", "H", "W", "C"))
        thwc = frames
    T, H, W, C = thwc.shape
    if C not in (1, 3):
        raise InputError(f"frames: expected 1 or 3 channels, got {C} (shape {tuple(frames.shape)})")
    if T == 0 or H == 0 or W == 0:
        raise InputError(
            f"frames: expected at least one non-empty frame, got {tuple(frames.shape)}"
        )
    rate = to_fraction(fps, "fps")
    if rate <= 0:
        raise InputError(f"fps: expected a value > 0, got {float(rate)}")
    if thwc.dtype == torch.uint8:
        data = thwc.detach().cpu()
    elif thwc.is_floating_point():
        check_tensor(thwc, "frames", finite=True)
        data = (thwc.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
    else:
        raise InputError(f"frames: expected uint8 or a float dtype, got {thwc.dtype}")
    if C == 1:
        data = data.expand(T, H, W, 3)
    array = np.ascontiguousarray(data.numpy())
    codec = default_video_codec() if codec is None else codec
    if pix_fmt is None:
        pix_fmt = "yuv420p"
        if H % 2 or W % 2:
            if codec != "libx264":
                raise InputError(
                    f"frames: codec {codec} with yuv420p needs even height and width, got {H}x{W}"
                )
            pix_fmt = "yuv444p"
    container_opts = {"movflags": "+faststart"} if faststart else {}
    with atomic_path(path) as tmp:
        try:
            with av.open(str(tmp), mode="w", options=container_opts) as out:
                stream = out.add_stream(codec, rate=rate)
                stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
                opts = dict(options or {})
                if codec == "libx264":
                    opts.setdefault("crf", str(18 if crf is None else crf))
                else:
                    stream.bit_rate = bit_rate or max(200_000, int(0.5 * H * W * float(rate)))
                if bit_rate is not None:
                    stream.bit_rate = bit_rate
                stream.options = opts
                for t in range(T):
                    frame = av.VideoFrame.from_ndarray(array[t], format="rgb24")
                    frame.pts = t
                    for packet in stream.encode(frame):
                        out.mux(packet)
                for packet in stream.encode():
                    out.mux(packet)
        except av.FFmpegError as e:
            raise FileFormatError(f"{path}: encoding with {codec} failed ({e})") from e
    return Path(path)
