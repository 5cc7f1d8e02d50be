"""YUV → RGB conversion of decoded video frames, with the stream's colour matrix and range.

A decoder hands out frames as planes of luma ``Y`` and chroma ``U`` (Cb), ``V`` (Cr) — for
almost every H.264 / MPEG-4 file, 8-bit 4:2:0 (``yuv420p``: the chroma planes at half the
width and height). RGB is an affine function of ``(Y, U, V)`` fixed by two properties of the
stream:

- the **matrix** (ITU-R BT.601 for SD video and files that do not say, BT.709 for HD, BT.2020):
  with luma weights ``Kr``, ``Kb`` (``Kg = 1 − Kr − Kb``) and ``E_Y``, ``E_U``, ``E_V`` the
  normalised signals, ``R = E_Y + 2(1 − Kr) E_V``, ``G = E_Y − 2(1 − Kb) Kb/Kg E_U − 2(1 − Kr)
  Kr/Kg E_V``, ``B = E_Y + 2(1 − Kb) E_U``;
- the **range**: *limited* (``Y`` in 16..235, chroma in 16..240 around 128: ``E_Y = (Y − 16) /
  219``, ``E_U = (U − 128) / 224``) or *full* (``yuvj420p`` / JPEG range: ``E_Y = Y / 255``,
  ``E_U = (U − 128) / 255``).

:func:`yuv_to_rgb_affine` gives that map as a ``3 × 4`` matrix on 0..255 values and
:func:`yuv420_to_rgb` applies it to three planes with OpenCV (SIMD): BT.601 limited at full
size through ``cvtColor(COLOR_YUV2RGB_I420)`` (which implements exactly that conversion), every
other case, and every resize, through ``cv2.resize`` of the planes (linear filters commute
with the affine map, so resizing the planes equals resizing the RGB frame, up to rounding and
out-of-gamut clipping) and one ``cv2.transform``. At full size, chroma is replicated over each
2 × 2 block (what FFmpeg's unscaled converters and OpenCV do). This is the fast path of
:func:`spacetime.video.read_video`: it skips FFmpeg's per-frame swscale set-up and the extra
full-size RGB copy, and is 2–3× faster than PyAV's ``to_ndarray(format="rgb24")`` per frame
(``benchmarks/bm_video_loading.py``). Other pixel formats (4:2:2, 4:4:4, 10-bit, gray,
paletted, NV12) go through swscale (:class:`FrameConverter`), with the same matrix and range.

:func:`yuv420_to_rgb` equals the reference formula (float64, rounded) within 1 level at full
size; swscale's fast unscaled path, used by :class:`FrameConverter` at full size, within 3
levels (mean 0.8) (``tests/video/test_yuv.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spacetime.checks import check_in
from spacetime.errors import InputError

__all__ = [
    "YUV_STANDARDS",
    "INTERPOLATIONS",
    "yuv_to_rgb_affine",
    "yuv420_to_rgb",
    "frame_color",
    "FrameConverter",
    "check_crop",
]

#: luma weights (Kr, Kb) of the supported matrices
YUV_STANDARDS: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}

#: interpolation names (swscale's, as ``read_video`` takes them) → OpenCV flags; names missing
#: here (``FAST_BILINEAR``, ``GAUSS``, ``SPLINE``, ...) take the swscale path
INTERPOLATIONS: dict[str, int] = {
    "BILINEAR": 1,  # cv2.INTER_LINEAR
    "AREA": 3,  # cv2.INTER_AREA
    "BICUBIC": 2,  # cv2.INTER_CUBIC
    "POINT": 0,  # cv2.INTER_NEAREST
    "NEAREST": 0,
    "LANCZOS": 4,  # cv2.INTER_LANCZOS4
}
_SWSCALE_ONLY = ("FAST_BILINEAR", "X", "GAUSS", "SINC", "SPLINE", "BICUBLIN")

# FFmpeg's AVColorSpace codes → our matrices (unspecified and the rest: BT.601, as swscale)
_AVCOL_SPC = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}


def yuv_to_rgb_affine(standard: str = "bt601", full_range: bool = False) -> np.ndarray:
    """The ``(3, 4)`` float64 matrix ``A`` with ``[R, G, B] = A @ [Y, U, V, 1]`` on 0..255
    values (see the module docstring for the formula)."""
    check_in(standard, "standard", tuple(YUV_STANDARDS))
    kr, kb = YUV_STANDARDS[standard]
    kg = 1.0 - kr - kb
    ys, cs = (1.0, 1.0) if full_range else (255.0 / 219.0, 255.0 / 224.0)
    y0 = 0.0 if full_range else 16.0
    m = np.array([[ys, 0.0, 2 * (1 - kr) * cs],
                  [ys, -2 * (1 - kb) * kb / kg * cs, -2 * (1 - kr) * kr / kg * cs],
                  [ys, 2 * (1 - kb) * cs, 0.0]])
    offset = -m @ np.array([y0, 128.0, 128.0])
    return np.concatenate([m, offset[:, None]], axis=1)


def _cv2() -> Any:
    import cv2

    return cv2


def yuv420_to_rgb(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    *,
    standard: str = "bt601",
    full_range: bool = False,
    size: tuple[int, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    interpolation: str = "BILINEAR",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """8-bit 4:2:0 planes → uint8 RGB ``(H', W', 3)``, resized and cropped in the same pass.

    Args:
        y: luma ``(H, W)`` uint8 (any row stride); u, v: chroma ``(ceil(H/2), ceil(W/2))``.
        standard, full_range: the colour matrix and range (:func:`yuv_to_rgb_affine`).
        size: ``(height, width)`` of the output before cropping (default ``(H, W)``).
        crop: ``(top, left, height, width)`` window of the (resized) frame.
        interpolation: a key of :data:`INTERPOLATIONS`.
        out: write into this ``(H', W', 3)`` uint8 array (e.g. a slot of a clip buffer).

    Returns:
        The RGB frame (``out`` when given).
    """
    cv2 = _cv2()
    h, w = y.shape
    if u.shape != ((h + 1) // 2, (w + 1) // 2) or v.shape != u.shape:
        raise InputError(f"u, v: expected chroma planes of shape {((h + 1) // 2, (w + 1) // 2)} "
                         f"for a {h}x{w} luma plane, got {u.shape} and {v.shape}")
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation: expected one of {', '.join(INTERPOLATIONS)}, got "
                         f"{interpolation!r}")
    oh, ow = (h, w) if size is None else (int(size[0]), int(size[1]))
    top, left, ch, cw = (0, 0, oh, ow) if crop is None else (int(c) for c in crop)
    if out is None:
        out = np.empty((ch, cw, 3), np.uint8)
    if (oh, ow) == (h, w) and standard == "bt601" and not full_range and h % 2 == 0 \
            and w % 2 == 0:
        i420 = np.empty((h * 3 // 2, w), np.uint8)
        i420[:h] = y
        i420[h:].reshape(2, -1)[0] = u.reshape(-1) if u.flags.c_contiguous else u.ravel()
        i420[h:].reshape(2, -1)[1] = v.reshape(-1) if v.flags.c_contiguous else v.ravel()
        if crop is None:
            cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420, dst=out)
        else:
            out[...] = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)[top:top + ch, left:left + cw]
        return out
    if (oh, ow) == (h, w):  # chroma replicated over 2 x 2 blocks
        planes = [y, np.repeat(np.repeat(u, 2, 0), 2, 1)[:h, :w],
                  np.repeat(np.repeat(v, 2, 0), 2, 1)[:h, :w]]
    else:
        flag = INTERPOLATIONS[interpolation]
        planes = [cv2.resize(p, (ow, oh), interpolation=flag) for p in (y, u, v)]
    if crop is not None:
        planes = [p[top:top + ch, left:left + cw] for p in planes]
    merged = cv2.merge([np.ascontiguousarray(p) for p in planes])
    cv2.transform(merged, yuv_to_rgb_affine(standard, full_range).astype(np.float32), dst=out)
    return out


def frame_color(frame: Any) -> tuple[str, bool]:
    """``(standard, full_range)`` of a decoded PyAV frame: its tagged matrix (BT.601 when
    untagged, as FFmpeg's swscale assumes) and range (full for ``yuvj*`` formats and frames
    tagged JPEG range)."""
    try:
        space = int(frame.colorspace)
    except (TypeError, ValueError):
        space = 2
    try:
        rng = int(frame.color_range)
    except (TypeError, ValueError):
        rng = 0
    return _AVCOL_SPC.get(space, "bt601"), rng == 2 or frame.format.name.startswith("yuvj")


def _plane(p: Any, height: int, width: int) -> np.ndarray:
    """A zero-copy ``(height, width)`` uint8 view of a frame plane (rows padded to line_size)."""
    return np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:height, :width]


class FrameConverter:
    """Turns decoded PyAV frames into uint8 RGB ``(H', W', 3)`` arrays at one output geometry.

    At the frame's own size, FFmpeg's swscale converts (its SIMD unscaled YUV → RGB path,
    about 0.04 ms for a 340 × 256 frame) through one ``VideoReformatter`` kept for all frames
    — PyAV's ``frame.to_ndarray(format="rgb24")`` sets up a new swscale context for every frame,
    which costs ten times the conversion —, told the frame's matrix and range. Resized 8-bit
    4:2:0 frames (``yuv420p``, ``yuvj420p``) take :func:`yuv420_to_rgb` on zero-copy views of
    their planes (the planes are resized, then converted: one pass at the output size); other
    formats (4:2:2, 4:4:4, 10-bit, gray, paletted, NV12) and swscale-only interpolations are
    resized by swscale too.

    Args:
        size: ``(height, width)`` after resizing, or None (the frame's size).
        crop: ``(top, left, height, width)`` window of the resized frame, or None.
        interpolation: a swscale interpolation name (``BILINEAR``, ``AREA``, ``BICUBIC``,
            ``POINT``, ``LANCZOS``, ``FAST_BILINEAR``, ``GAUSS``, ...).
    """

    def __init__(self, size: tuple[int, int] | None = None,
                 crop: tuple[int, int, int, int] | None = None,
                 interpolation: str = "BILINEAR") -> None:
        name = str(interpolation).upper()
        if name not in INTERPOLATIONS and name not in _SWSCALE_ONLY:
            raise InputError(f"interpolation: expected one of "
                             f"{', '.join([*INTERPOLATIONS, *_SWSCALE_ONLY])}, got "
                             f"{interpolation!r}")
        self.size, self.crop, self.interpolation = size, crop, name
        self._reformatter: Any = None

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(H', W')`` of the converted frame of a ``height × width`` frame."""
        if self.crop is not None:
            return int(self.crop[2]), int(self.crop[3])
        return (height, width) if self.size is None else (int(self.size[0]), int(self.size[1]))

    def __call__(self, frame: Any, out: np.ndarray | None = None) -> np.ndarray:
        standard, full = frame_color(frame)
        if self.size is not None and self.interpolation in INTERPOLATIONS \
                and frame.format.name in ("yuv420p", "yuvj420p"):
            h, w = int(frame.height), int(frame.width)
            ch, cw = (h + 1) // 2, (w + 1) // 2
            y, u, v = (_plane(p, ph, pw) for p, (ph, pw) in
                       zip(frame.planes, ((h, w), (ch, cw), (ch, cw))))
            return yuv420_to_rgb(y, u, v, standard=standard, full_range=full, size=self.size,
                                 crop=self.crop, interpolation=self.interpolation, out=out)
        return self._swscale(frame, standard, full, out)

    def _swscale(self, frame: Any, standard: str, full: bool, out: np.ndarray | None
                 ) -> np.ndarray:
        from av.video.reformatter import VideoReformatter

        if self._reformatter is None:
            self._reformatter = VideoReformatter()
        oh, ow = (int(frame.height), int(frame.width)) if self.size is None else self.size
        spaces = {"bt601": "ITU601", "bt709": "ITU709", "bt2020": "BT2020"}
        rgb = self._reformatter.reformat(
            frame, width=ow, height=oh, format="rgb24", src_colorspace=spaces[standard],
            dst_colorspace=spaces[standard],
            interpolation="POINT" if self.interpolation == "NEAREST" else self.interpolation,
            src_color_range="JPEG" if full else "MPEG", dst_color_range="JPEG", threads=1,
        ).to_ndarray()
        if self.crop is not None:
            t, left, ch, cw = self.crop
            rgb = rgb[t:t + ch, left:left + cw]
        if out is None:
            return np.ascontiguousarray(rgb)
        out[...] = rgb
        return out


def check_crop(crop: Sequence[int] | None, height: int, width: int
               ) -> tuple[int, int, int, int] | None:
    """Validate ``(top, left, height, width)`` inside a ``height × width`` frame."""
    if crop is None:
        return None
    if len(crop) != 4:
        raise InputError(f"crop: expected (top, left, height, width), got {crop!r}")
    top, left, ch, cw = (int(c) for c in crop)
    if top < 0 or left < 0 or ch < 1 or cw < 1 or top + ch > height or left + cw > width:
        raise InputError(f"crop: expected a window inside the {height}x{width} frame, got "
                         f"{tuple(crop)!r}")
    return top, left, ch, cw
