"""YUV → RGB: the fast paths against a float64 reference of the standard formula, the stream's
matrix and range honoured, and the pixel formats without a fast path still right."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch

from spacetime.errors import InputError
from spacetime.video.io import read_video
from spacetime.video.yuv import (
    YUV_STANDARDS,
    FrameConverter,
    yuv420_to_rgb,
    yuv_to_rgb_affine,
)

H, W = 32, 48


def _reference(y, u, v, standard, full_range):
    """The standard's formula in float64 on 0..255 values, chroma replicated over its block."""
    h, w = y.shape
    ry, rx = -(-h // u.shape[0]), -(-w // u.shape[1])
    up = [np.repeat(np.repeat(c.astype(np.float64), ry, 0), rx, 1)[:h, :w] for c in (u, v)]
    kr, kb = YUV_STANDARDS[standard]
    kg = 1 - kr - kb
    if full_range:
        ey, eu, ev = y / 255.0, (up[0] - 128) / 255.0, (up[1] - 128) / 255.0
    else:
        ey, eu, ev = (y - 16) / 219.0, (up[0] - 128) / 224.0, (up[1] - 128) / 224.0
    r = ey + 2 * (1 - kr) * ev
    g = ey - 2 * (1 - kb) * kb / kg * eu - 2 * (1 - kr) * kr / kg * ev
    b = ey + 2 * (1 - kb) * eu
    return np.clip(np.rint(np.stack([r, g, b], -1) * 255), 0, 255)


def _random_planes(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(16, 236, (h, w), dtype=np.uint8),
            rng.integers(16, 241, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8),
            rng.integers(16, 241, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8))


def test_affine_matrix_known_values():
    for standard in YUV_STANDARDS:
        a = yuv_to_rgb_affine(standard)  # limited: 16 is black, 235 white, chroma 128 grey
        np.testing.assert_allclose(a @ [16, 128, 128, 1], 0, atol=1e-9)
        np.testing.assert_allclose(a @ [235, 128, 128, 1], 255, atol=1e-9)
        f = yuv_to_rgb_affine(standard, full_range=True)
        np.testing.assert_allclose(f @ [255, 128, 128, 1], 255, atol=1e-9)
    # BT.601 limited red: the textbook coefficient 1.596 for V
    assert yuv_to_rgb_affine("bt601")[0, 2] == pytest.approx(1.596, abs=1e-3)
    assert yuv_to_rgb_affine("bt709")[0, 2] == pytest.approx(1.793, abs=1e-3)
    with pytest.raises(InputError, match="standard"):
        yuv_to_rgb_affine("bt2100")


@pytest.mark.parametrize("standard", sorted(YUV_STANDARDS))
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("shape", [(32, 48), (33, 47), (2, 2), (1, 1)])
def test_yuv420_to_rgb_matches_the_reference(standard, full_range, shape):
    y, u, v = _random_planes(*shape)
    out = yuv420_to_rgb(y, u, v, standard=standard, full_range=full_range)
    diff = np.abs(out.astype(float) - _reference(y, u, v, standard, full_range))
    assert out.shape == (*shape, 3) and out.dtype == np.uint8
    assert diff.max() <= 1, f"max diff {diff.max()}"


def test_yuv420_to_rgb_strided_planes_crop_and_out():
    y, u, v = _random_planes(32, 48, seed=3)
    wide = np.zeros((32, 64), np.uint8)  # rows padded, as decoders hand planes out
    wide[:, :48] = y
    out = np.zeros((10, 20, 3), np.uint8)
    got = yuv420_to_rgb(wide[:, :48], u, v, crop=(4, 6, 10, 20), out=out)
    assert got is out
    ref = yuv420_to_rgb(y, u, v)[4:14, 6:26]
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(InputError, match="chroma planes"):
        yuv420_to_rgb(y, u[:-1], v)
    with pytest.raises(InputError, match="interpolation"):
        yuv420_to_rgb(y, u, v, size=(16, 24), interpolation="NONSENSE")


def test_resize_on_the_planes_equals_resizing_the_frame():
    """Linear resampling commutes with the affine map: resizing the planes then converting is
    resizing the RGB frame (smooth content; up to rounding and chroma siting)."""
    yy, xx = np.mgrid[0:64, 0:96] / 64.0
    y = np.rint(16 + 219 * (0.5 + 0.5 * np.sin(2 * xx + yy))).astype(np.uint8)
    cy, cx = np.mgrid[0:32, 0:48] / 32.0
    u = np.rint(128 + 90 * np.sin(cx + 2 * cy)).astype(np.uint8)
    v = np.rint(128 + 90 * np.cos(2 * cx - cy)).astype(np.uint8)
    full = _reference(y, u, v, "bt709", False).astype(np.float32)
    for size, interp, flag in (((32, 48), "AREA", cv2.INTER_AREA),
                               ((40, 60), "BILINEAR", cv2.INTER_LINEAR)):
        got = yuv420_to_rgb(y, u, v, standard="bt709", size=size, interpolation=interp)
        want = cv2.resize(full, size[::-1], interpolation=flag)
        d = np.abs(got.astype(float) - want)
        assert d.mean() < 1.0 and d.max() <= 6, (interp, d.mean(), d.max())  # chroma siting


# ----------------------------------------------------------------------------- decoded files

def _smooth(h, w, lo, hi, phase):
    yy, xx = np.mgrid[0:h, 0:w]
    return lo + (hi - lo) * (0.5 + 0.5 * np.sin(xx / w * 1.5 + yy / h + phase))


_SUB = {"yuv420p": (2, 2), "yuvj420p": (2, 2), "yuv422p": (1, 2), "yuv444p": (1, 1),
        "yuv420p10le": (2, 2)}


def _write(path, fmt, codec, tags=None):
    """Two frames of smooth planes written as they are (lossless ffv1 / mjpeg's own)."""
    full = fmt == "yuvj420p"
    sy, sx = _SUB[fmt]
    planes = [_smooth(H, W, 0 if full else 16, 255 if full else 235, 0)]
    planes += [_smooth(H // sy, W // sx, 0 if full else 16, 255 if full else 240, k)
               for k in (1, 2)]
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = W, H, fmt
        for k, val in (tags or {}).items():
            setattr(s.codec_context, k, val)
        for t in range(2):
            f = av.VideoFrame(W, H, fmt)
            for p, a in zip(f.planes, planes):
                a = np.rint(a * 4).astype("<u2") if fmt.endswith("10le") else np.rint(a)
                b = a.astype(np.uint8).view(np.uint8) if a.dtype != "<u2" else a.view(np.uint8)
                rows = np.zeros((a.shape[0], p.line_size), np.uint8)
                rows[:, :b.shape[1]] = b
                p.update(rows.tobytes())
            f.pts = t
            for pk in s.encode(f):
                out.mux(pk)
        for pk in s.encode():
            out.mux(pk)
    return path


def _decoded_reference(path):
    """The reference RGB of the first frame from the file's own decoded planes and tags."""
    with av.open(str(path)) as c:
        f = next(c.decode(video=0))
        wide = "10" in f.format.name
        dt = np.dtype("<u2") if wide else np.dtype(np.uint8)
        ps = [np.frombuffer(p, dt).reshape(-1, p.line_size // dt.itemsize) for p in f.planes]
        sy, sx = _SUB[f.format.name]
        y = ps[0][:H, :W].astype(float)
        u, v = (p[:H // sy, :W // sx].astype(float) for p in ps[1:3])
        if wide:
            y, u, v = y / 4, u / 4, v / 4
        standard = "bt709" if f.colorspace == 1 else "bt601"
        full = f.format.name.startswith("yuvj") or f.color_range == 2
        return _reference(y, u, v, standard, full), standard, full


@pytest.mark.parametrize("fmt,codec,tags,standard,full,tol", [
    ("yuv420p", "ffv1", None, "bt601", False, 3),
    ("yuv420p", "ffv1", {"colorspace": 1}, "bt709", False, 3),  # HD matrix, tagged
    ("yuv420p", "ffv1", {"color_range": 2}, "bt601", True, 3),  # full range, tagged
    ("yuvj420p", "mjpeg", None, "bt601", True, 3),
    ("yuv422p", "ffv1", None, "bt601", False, 3),
    ("yuv444p", "ffv1", None, "bt601", False, 1),
    ("yuv420p10le", "ffv1", None, "bt601", False, 8),  # swscale interpolates 10-bit chroma
])
def test_read_video_honours_format_matrix_and_range(tmp_path, fmt, codec, tags, standard, full,
                                                    tol):
    path = _write(tmp_path / f"v.{'avi' if codec == 'mjpeg' else 'mkv'}", fmt, codec, tags)
    ref, got_standard, got_full = _decoded_reference(path)
    assert (got_standard, got_full) == (standard, full)  # the tags survived the file
    frame = read_video(path)[0].permute(1, 2, 0).numpy().astype(float)
    d = np.abs(frame - ref)
    assert d.max() <= tol and d.mean() < 1.0, (d.max(), d.mean())
    small = read_video(path, size=(24, 36), crop=(2, 3, 20, 30))
    assert small.shape == (2, 3, 20, 30)
    want = cv2.resize(ref.astype(np.float32), (36, 24), interpolation=cv2.INTER_LINEAR)
    d = np.abs(small[0].permute(1, 2, 0).numpy().astype(float) - want[2:22, 3:33])
    assert d.mean() < 3.0, d.mean()


def test_gray_and_paletted_files(tmp_path):
    gray = np.rint(_smooth(H, W, 0, 255, 0)).astype(np.uint8)
    path = tmp_path / "g.mkv"
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "gray"
        f = av.VideoFrame.from_ndarray(gray, format="gray")
        f.pts = 0
        for pk in [*s.encode(f), *s.encode()]:
            out.mux(pk)
    got = read_video(path)[0]
    for c in range(3):  # gray is full range: R = G = B = Y
        np.testing.assert_array_equal(got[c].numpy(), gray)
    # a GIF: 7 palette colours (FFmpeg decodes it to BGRA)
    rng = np.random.default_rng(0)
    pal = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    idx = (np.arange(H * W).reshape(H, W) % 7).astype(np.uint8)
    gif = tmp_path / "p.gif"
    with av.open(str(gif), "w") as out:
        s = out.add_stream("gif", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "pal8"
        f = av.VideoFrame(W, H, "pal8")
        rows = np.zeros((H, f.planes[0].line_size), np.uint8)
        rows[:, :W] = idx
        f.planes[0].update(rows.tobytes())
        f.planes[1].update(np.concatenate([pal[:, ::-1], np.full((256, 1), 255, np.uint8)],
                                          1).tobytes())
        f.pts = 0
        for pk in [*s.encode(f), *s.encode()]:
            out.mux(pk)
    np.testing.assert_array_equal(read_video(gif)[0].permute(1, 2, 0).numpy(), pal[idx])


def test_read_video_arguments(tmp_path):
    from spacetime.video.io import write_video

    from .conftest import make_frames

    path = write_video(tmp_path / "v.mp4", make_frames(8), 8)
    a = read_video(path, threads=1)
    b = read_video(path, threads=2)
    assert torch.equal(a, b) and a.shape == (8, 3, 32, 32)
    assert read_video(path, layout="CTHW").shape == (3, 8, 32, 32)
    with pytest.raises(InputError, match="threads"):
        read_video(path, threads=-1)
    with pytest.raises(InputError, match="interpolation"):
        read_video(path, size=16, interpolation="NONSENSE")
    with pytest.raises(InputError, match="crop"):
        read_video(path, crop=(0, 0, 40, 8))
    # swscale-only interpolations still resize
    assert read_video(path, size=16, interpolation="GAUSS").shape == (8, 3, 16, 16)
    with pytest.raises(InputError, match="interpolation"):
        FrameConverter(interpolation="SIDEWAYS")
