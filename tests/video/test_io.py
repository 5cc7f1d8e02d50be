"""spacetime.video.io: metadata, seek-based clip decoding, writing, corrupt files, raw sizes."""

from __future__ import annotations

import concurrent.futures
import math
import os
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.video import io as vio
from spacetime.video.io import (
    VideoDecodeWarning,
    raw_bytes_per_minute,
    raw_video_bytes,
    read_video,
    to_fraction,
    video_info,
    write_video,
)

from .conftest import frame_ids, make_frames


def _reference_indices(num_frames, native_fps, start, end, fps):
    """Obviously-correct resampling: frame shown at t_k = start + k / fps, exact arithmetic."""
    out, k = [], 0
    while True:
        t = Fraction(start) + Fraction(k) / Fraction(fps)
        if t >= end or math.floor(t * native_fps) >= num_frames:
            return out
        out.append(math.floor(t * native_fps))
        k += 1


def test_raw_size_figures_match_lecture():
    sd = raw_bytes_per_minute(480, 640, fps=30)
    hd = raw_bytes_per_minute(1080, 1920, fps=30)
    clip = raw_video_bytes(16, 112, 112)
    assert sd == 1_658_880_000 and round(sd / 2**30, 2) == 1.54  # "~1.5 GB/min" (GiB)
    assert hd == 11_197_440_000 and round(hd / 2**30, 1) == 10.4  # "~10 GB/min" (GiB)
    assert clip == 602_112 and clip / 2**10 == 588  # "588 KB" (KiB)
    assert raw_video_bytes(1, 2, 3, channels=1, bytes_per_value=4) == 24
    with pytest.raises(InputError, match="T: expected an int >= 0"):
        raw_video_bytes(-1, 2, 2)


def test_to_fraction():
    assert to_fraction(0.1) == Fraction(1, 10)
    assert to_fraction(29.97) == Fraction(2997, 100)
    assert to_fraction("30000/1001") == Fraction(30000, 1001)
    with pytest.raises(InputError, match="start: expected a finite number"):
        to_fraction(float("nan"), "start")
    with pytest.raises(InputError, match="expected a number"):
        to_fraction(True)


def test_info_and_full_read(video_factory):
    path = video_factory(num_frames=20, fps=Fraction(30000, 1001), width=48)
    info = video_info(path)
    assert info.fps == Fraction(30000, 1001) and isinstance(info.fps, Fraction)
    assert (info.num_frames, info.width, info.height) == (20, 48, 32)
    assert info.duration == Fraction(20) / Fraction(30000, 1001)
    assert info.codec in ("h264", "mpeg4")
    video = read_video(path)
    assert video.shape == (20, 3, 32, 48) and video.dtype == torch.uint8
    assert frame_ids(video) == list(range(20))
    err = (video.float() - make_frames(20, 32, 48).float()).abs()[..., :16].mean()
    assert err < 3  # near-lossless round trip on the flat blocks


def test_frame_indices_any_order_with_repeats(video_factory):
    path = video_factory(num_frames=40, fps=10)
    idx = [33, 2, 2, 17, 39, 0]
    assert frame_ids(read_video(path, frame_indices=idx)) == idx
    assert frame_ids(read_video(path, frame_indices=torch.tensor([5, 4]))) == [5, 4]


@pytest.mark.parametrize(
    "native,target,start,end",
    [(30, 5, Fraction(1, 2), None), (Fraction(30000, 1001), 7, 0, Fraction(3)),
     (25, Fraction(25, 3), Fraction(1, 3), Fraction(7, 3)), (10, 10, 0, None), (8, 20, 0, None)],
)
def test_resampling_is_exact(video_factory, native, target, start, end):
    path = video_factory(num_frames=90, fps=native)
    info = video_info(path)
    want = _reference_indices(90, info.fps, start, end or info.duration, target)
    got = frame_ids(read_video(path, start, end, fps=target))
    assert got == want


def test_time_window_and_num_frames(video_factory):
    path = video_factory(num_frames=30, fps=10)
    assert frame_ids(read_video(path, 1.0, 1.5)) == [10, 11, 12, 13, 14]
    assert frame_ids(read_video(path, 0.25, num_frames=3)) == [3, 4, 5]
    assert frame_ids(read_video(path, 2.9)) == [29]
    assert frame_ids(read_video(path, 0, 100)) == list(range(30))  # end clipped to duration


def test_decodes_only_what_the_clip_needs(video_factory, monkeypatch):
    path = video_factory(num_frames=240, fps=30, options={"g": "30"})  # key frame every second
    calls = []
    orig = vio._frame_index
    monkeypatch.setattr(vio, "_frame_index", lambda *a: calls.append(1) or orig(*a))
    video = read_video(path, frame_indices=list(range(200, 216)))
    assert frame_ids(video) == list(range(200, 216))
    assert len(calls) <= 16 + 30  # from the key frame at 180 onwards, stopping at 215
    calls.clear()
    read_video(path, frame_indices=[5, 230])  # far apart: two seeks, not a full decode
    assert len(calls) <= 2 * 30 + 2


def test_resize_crop_layout_dtype(video_factory):
    path = video_factory(num_frames=4, height=32, width=64)
    assert read_video(path, size=16).shape == (4, 3, 16, 32)
    assert read_video(path, size=(20, 24)).shape == (4, 3, 20, 24)
    v = read_video(path, size=16, crop=(2, 4, 8, 10), layout="CTHW", dtype=torch.float32)
    assert v.shape == (3, 4, 8, 10) and v.dtype == torch.float32
    assert 0 <= float(v.min()) and float(v.max()) <= 1
    full = read_video(path, dtype=torch.float64)
    assert torch.allclose(full, read_video(path).double() / 255)
    cropped = read_video(path, crop=(0, 16, 16, 16))
    assert torch.equal(cropped, read_video(path)[:, :, 0:16, 16:32])


def test_bad_arguments(video_factory, tmp_path):
    path = video_factory(num_frames=8, fps=8)
    with pytest.raises(InputError, match=r"frame_indices: expected indices in \[0, 7\]"):
        read_video(path, frame_indices=[3, 8])
    with pytest.raises(InputError, match="frame_indices: cannot be combined"):
        read_video(path, frame_indices=[1], fps=4)
    with pytest.raises(InputError, match="start_sec: expected a time before the end"):
        read_video(path, start_sec=1.0)
    with pytest.raises(InputError, match="end_sec: expected a time after start_sec"):
        read_video(path, 0.5, 0.25)
    with pytest.raises(InputError, match="layout: expected one of"):
        read_video(path, layout="THWC")
    with pytest.raises(InputError, match="fps: expected a value > 0"):
        read_video(path, fps=0)
    with pytest.raises(InputError, match="crop: expected a window inside the 32x32 frame"):
        read_video(path, crop=(0, 0, 40, 8))
    with pytest.raises(InputError, match="dtype"):
        read_video(path, dtype=torch.int64)
    with pytest.raises(InputError, match="expected a video file, got a directory"):
        read_video(tmp_path)


def test_missing_corrupt_empty_and_audio_only(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    rnd = tmp_path / "random.mp4"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(FileFormatError, match="random.mp4: cannot open as a video"):
        video_info(rnd)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(FileFormatError, match="empty file"):
        read_video(tmp_path / "empty.mp4")
    zero = tmp_path / "zero.mp4"  # a container with a video track but no frames
    with av.open(str(zero), "w") as c:
        s = c.add_stream("mpeg4", rate=8)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
    with pytest.raises(FileFormatError, match="zero.mp4"):
        read_video(zero)
    audio = tmp_path / "audio.mp4"
    with av.open(str(audio), "w") as c:
        s = c.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        for p in [*s.encode(frame), *s.encode()]:
            c.mux(p)
    with pytest.raises(FileFormatError, match="no video stream"):
        read_video(audio)


def _read_in_thread(fn, timeout=30):
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(fn).result(timeout=timeout)  # raises TimeoutError on a hang


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_file_never_hangs(video_factory, faststart):
    path = video_factory(num_frames=48, fps=12, faststart=faststart)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    def read(strict):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return read_video(path, strict=strict), caught
            except FileFormatError as e:
                return e, caught

    result, caught = _read_in_thread(lambda: read(False))
    if isinstance(result, FileFormatError):  # index at the end of the file: nothing to decode
        assert not faststart and str(path) in str(result)
    else:  # index at the front: the decodable prefix, with a warning naming the file
        assert 0 < result.shape[0] < 48
        assert frame_ids(result) == list(range(result.shape[0]))
        assert any(issubclass(w.category, VideoDecodeWarning) and str(path) in str(w.message)
                   for w in caught)
        strict_result, _ = _read_in_thread(lambda: read(True))
        assert isinstance(strict_result, FileFormatError)


def test_write_atomic_and_validation(tmp_path):
    frames = make_frames(4)
    with pytest.raises(FileFormatError):
        write_video(tmp_path / "x.mp4", frames, 8, codec="mjpeg", pix_fmt="bgr48le")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    with pytest.raises(InputError, match=r"frames: expected shape \(T, C, H, W\)"):
        write_video(tmp_path / "x.mp4", frames[0], 8)
    with pytest.raises(InputError, match="frames: expected 1 or 3 channels"):
        write_video(tmp_path / "x.mp4", frames[:, :2], 8)
    with pytest.raises(InputError, match="fps: expected a value > 0"):
        write_video(tmp_path / "x.mp4", frames, -1)
    with pytest.raises(InputError, match="finite"):
        write_video(tmp_path / "x.mp4", torch.full((2, 3, 8, 8), float("nan")), 8)
    assert list(tmp_path.iterdir()) == []


def test_write_layouts_float_gray_odd_and_mpeg4(tmp_path):
    frames = make_frames(5)
    p = write_video(tmp_path / "f.mp4", frames.permute(1, 0, 2, 3).float() / 255, 5,
                    layout="CTHW")
    assert frame_ids(read_video(p)) == list(range(5))
    write_video(tmp_path / "h.mp4", frames.permute(0, 2, 3, 1), 5, layout="THWC")
    assert frame_ids(read_video(tmp_path / "h.mp4")) == list(range(5))
    gray = write_video(tmp_path / "g.mp4", frames[:, :1], 5)
    assert read_video(gray).shape == (5, 3, 32, 32)
    odd = write_video(tmp_path / "odd.mp4", make_frames(3, 33, 35), 5)
    assert video_info(odd)[3:5] == (35, 33)
    avi = write_video(tmp_path / "m.avi", frames, 5, codec="mpeg4")
    assert video_info(avi).codec == "mpeg4" and frame_ids(read_video(avi)) == list(range(5))
    assert sorted(os.listdir(tmp_path)) == ["f.mp4", "g.mp4", "h.mp4", "m.avi", "odd.mp4"]


def _smooth_frames(n: int) -> torch.Tensor:
    """Frames of one texture sliding right (so an encoder makes P- and B-frames, not a key frame
    per frame), with the frame id blocks of ``make_frames``."""
    g = torch.Generator().manual_seed(0)
    texture = torch.randint(60, 200, (3, 64, 160), generator=g, dtype=torch.uint8)
    frames = torch.stack([texture[:, :, 2 * t: 2 * t + 64] for t in range(n)]).clone()
    ids = make_frames(n, 64, 64)
    frames[:, :, :32, :16] = ids[:, :, :32, :16]
    return frames


@pytest.mark.parametrize("bframes", [0, 2])
def test_avi_with_p_and_b_frames_seeks_or_counts_exactly(tmp_path, bframes):
    """mpeg4 AVI with a 12-frame GOP: without B-frames the timestamps are exact and clips are
    read by seeking; with B-frames (timestamps off by the reorder delay) by counting."""
    import av

    path = tmp_path / f"g12b{bframes}.avi"
    frames = _smooth_frames(48)
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.codec_context.gop_size, s.codec_context.max_b_frames = 12, bframes
        s.bit_rate = 4_000_000
        for t in range(48):
            f = av.VideoFrame.from_ndarray(frames[t].permute(1, 2, 0).numpy(), format="rgb24")
            f.pts = t
            for pk in s.encode(f):
                out.mux(pk)
        for pk in s.encode():
            out.mux(pk)
    with av.open(str(path)) as c:
        keys = [pk.is_keyframe for pk in c.demux(c.streams.video[0]) if pk.size]
        assert not all(keys)  # real inter frames
        assert bool(c.streams.video[0].codec_context.has_b_frames) == (bframes > 0)
    idx = [47, 0, 30, 31, 13, 25, 26, 40]
    assert frame_ids(read_video(path, frame_indices=idx, strict=True)) == idx


@pytest.mark.parametrize("name,codec", [("b.avi", None), ("c.mkv", None), ("d.mov", None),
                                        ("e.avi", "mpeg4")])
def test_containers_frame_exact(tmp_path, name, codec):
    """AVI with B-frames (unreliable timestamps) and MKV (no frame count in the header)."""
    p = write_video(tmp_path / name, make_frames(37), 30, codec=codec)
    assert video_info(p).num_frames == 37
    idx = [36, 0, 17, 18, 5, 36]
    assert frame_ids(read_video(p, frame_indices=idx, strict=True)) == idx
    assert frame_ids(read_video(p, 0.5, fps=10)) == [15, 18, 21, 24, 27, 30, 33, 36]


def test_one_decoding_thread_while_pyav_logs_to_python(video_factory):
    """torchvision 0.19-0.25 turn PyAV's Python logging on when imported; a frame-threaded
    decoder then deadlocks when it is freed mid-stream (without the guard the loop below hung
    within 30 reads, av 17.1 and 18.1), so decoding drops to one thread while it is on."""
    import subprocess
    import sys

    before = av.logging.get_level()  # ERROR after importing torchvision 0.19-0.25
    try:
        av.logging.set_level(None)
        assert vio._decoder_threads_safe(0, av) == 0 and vio._decoder_threads_safe(4, av) == 4
        av.logging.set_level(av.logging.ERROR)
        assert vio._decoder_threads_safe(0, av) == 1 and vio._decoder_threads_safe(4, av) == 1
    finally:
        av.logging.set_level(before)
    path = video_factory(num_frames=30, fps=10)
    code = (
        "import sys, av\n"
        "from spacetime.video.io import read_video\n"
        "av.logging.set_level(av.logging.ERROR)\n"
        "for i in range(30):\n"
        "    read_video(sys.argv[1], frame_indices=[3 + i % 20, 4 + i % 20], threads=0)\n"
        "print('done')\n"
    )
    here = str(Path(vio.__file__).resolve().parents[2])  # the spacetime these tests import
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=60, env=env)
    assert res.returncode == 0 and res.stdout.strip() == "done", res.stderr[-2000:]
