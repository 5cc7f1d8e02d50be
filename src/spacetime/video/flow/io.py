"""Optical-flow files: Middlebury ``.flo``, KITTI 16-bit PNG and NumPy ``.npy``.

All readers return flows in the package convention, a float32 tensor ``(2, H, W)`` holding
``(dx, dy)`` in pixels (see :mod:`spacetime.video.flow`). Unknown / invalid flow is NaN:

- ``.flo`` (Baker et al., Middlebury): little-endian float32 magic ``202021.25`` (the bytes
  ``PIEH``), int32 width, int32 height, then ``H * W`` interleaved ``(u, v)`` float32 pairs in row
  order. Middlebury marks unknown flow with ``|u|`` or ``|v|`` > 1e9; :func:`read_flo` turns those
  into NaN and :func:`write_flo` writes NaN as ``1e10``.
- KITTI PNG: 16-bit, 3 channels R, G, B = ``u * 64 + 2**15``, ``v * 64 + 2**15``, valid (0/1).
  :func:`read_kitti_flow` returns the flow and the valid mask; OpenCV loads channels as BGR, which
  is handled here. The representable range is about ±512 px with a 1/64 px step.
- ``.npy``: an array ``(2, H, W)`` float32 (NaN allowed).

Every writer is atomic (:func:`spacetime.fileio.atomic_write` / :func:`atomic_path`): an error
never leaves a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from spacetime.checks import check_tensor
from spacetime.errors import DependencyError, FileFormatError, InputError, MissingFileError
from spacetime.fileio import (
    atomic_write,
    decode_image,
    encode_image,
    load_npy_bytes,
    read_file_bytes,
    write_bytes_atomic,
)
from spacetime.limits import check_image_size

__all__ = [
    "FLO_MAGIC",
    "FLO_UNKNOWN",
    "read_flo",
    "write_flo",
    "read_kitti_flow",
    "write_kitti_flow",
    "read_flow",
    "write_flow",
]

FLO_MAGIC = 202021.25
"""The float32 tag at the start of every Middlebury ``.flo`` file."""

FLO_UNKNOWN = 1e10
"""Value written for unknown (NaN) flow in ``.flo`` files; values > 1e9 read back as NaN."""

_FLO_UNKNOWN_THRESH = 1e9
_KITTI_SCALE = 64.0
_KITTI_OFFSET = 2.0**15


def _exists(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"flow file not found: {p}")
    return p


def _flow_numpy(flow: torch.Tensor | np.ndarray, name: str = "flow") -> np.ndarray:
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(flow)
    check_tensor(flow, name, (2, "H", "W"), dtype="float")
    return flow.detach().cpu().float().numpy()


def read_flo(path: str | os.PathLike) -> torch.Tensor:
    """Read a Middlebury ``.flo`` file into a float32 ``(2, H, W)`` tensor (unknown flow = NaN).

    Raises:
        MissingFileError: the file does not exist.
        FileFormatError: wrong magic number, implausible size, or truncated / oversized data.
    """
    p = _exists(path)
    data = read_file_bytes(p)
    if len(data) < 12:
        raise FileFormatError(f"{p}: truncated .flo header ({len(data)} bytes, expected >= 12)")
    magic = float(np.frombuffer(data[:4], "<f4")[0])
    if magic != FLO_MAGIC:
        raise FileFormatError(f"{p}: not a .flo file (magic {magic!r}, expected {FLO_MAGIC})")
    w, h = (int(v) for v in np.frombuffer(data[4:12], "<i4"))
    check_image_size(h, w, p, "flow")
    expected = 12 + 8 * w * h
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing data"
        raise FileFormatError(
            f"{p}: {what}: {len(data)} bytes, expected {expected} for {w}x{h} flow"
        )
    arr = np.frombuffer(data[12:], "<f4").reshape(h, w, 2).astype(np.float32)
    arr = np.where(np.abs(arr) > _FLO_UNKNOWN_THRESH, np.nan, arr).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def write_flo(path: str | os.PathLike, flow: torch.Tensor | np.ndarray) -> Path:
    """Write a ``(2, H, W)`` flow as a Middlebury ``.flo`` file (NaN written as ``1e10``)."""
    arr = _flow_numpy(flow)
    _, h, w = arr.shape
    hw2 = np.where(np.isnan(arr), FLO_UNKNOWN, arr).transpose(1, 2, 0).astype("<f4")
    with atomic_write(path, "wb") as f:
        f.write(np.array([FLO_MAGIC], "<f4").tobytes())
        f.write(np.array([w, h], "<i4").tobytes())
        f.write(np.ascontiguousarray(hw2).tobytes())
    return Path(path)


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - cv2 is a dependency
        raise DependencyError("KITTI flow PNGs need OpenCV (opencv-python-headless)") from exc
    return cv2


def read_kitti_flow(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a KITTI 16-bit flow PNG.

    Returns:
        ``(flow, valid)``: float32 ``(2, H, W)`` flow in pixels (NaN where invalid) and a bool
        ``(H, W)`` valid mask (the PNG's third channel).

    Raises:
        FileFormatError: not a readable PNG, or not 16-bit with 3 channels.
    """
    p = _exists(path)
    img = decode_image(read_file_bytes(p), p)
    if img.dtype != np.uint16 or img.ndim != 3 or img.shape[2] != 3:
        raise FileFormatError(
            f"{p}: expected a 16-bit 3-channel KITTI flow PNG, got dtype {img.dtype} "
            f"shape {img.shape}"
        )
    # OpenCV gives BGR: B = valid, G = v, R = u.
    valid = img[:, :, 0] > 0
    u = (img[:, :, 2].astype(np.float32) - _KITTI_OFFSET) / _KITTI_SCALE
    v = (img[:, :, 1].astype(np.float32) - _KITTI_OFFSET) / _KITTI_SCALE
    flow = np.stack([u, v]).astype(np.float32)
    flow[:, ~valid] = np.nan
    return torch.from_numpy(flow), torch.from_numpy(valid)


def write_kitti_flow(
    path: str | os.PathLike,
    flow: torch.Tensor | np.ndarray,
    valid: torch.Tensor | np.ndarray | None = None,
) -> Path:
    """Write a ``(2, H, W)`` flow as a KITTI 16-bit PNG.

    Pixels where ``valid`` is False or the flow is NaN are stored as invalid (zeros). Valid flow
    must lie in about ±511.98 px (the 16-bit range); larger values raise
    :class:`~spacetime.errors.InputError` rather than being clipped silently.
    """
    arr = _flow_numpy(flow)
    _, h, w = arr.shape
    ok = np.isfinite(arr).all(axis=0)
    if valid is not None:
        if isinstance(valid, np.ndarray):
            valid = torch.from_numpy(valid)
        check_tensor(valid, "valid", (h, w))
        ok &= valid.detach().cpu().numpy().astype(bool)
    enc = np.zeros((h, w, 3), np.uint16)
    if ok.any():
        vals = np.round(arr[:, ok] * _KITTI_SCALE + _KITTI_OFFSET)
        if vals.min() < 0 or vals.max() > 65535:
            bad = float(np.abs(arr[:, ok]).max())
            raise InputError(
                f"flow: KITTI PNG stores |flow| <= "
                f"{(65535 - _KITTI_OFFSET) / _KITTI_SCALE:.2f} px, got {bad:.2f}"
            )
        enc[ok, 2] = vals[0].astype(np.uint16)
        enc[ok, 1] = vals[1].astype(np.uint16)
        enc[ok, 0] = 1
    _cv2()
    write_bytes_atomic(path, encode_image(enc, ".png"))
    return Path(path)


def read_flow(path: str | os.PathLike) -> torch.Tensor:
    """Read ``.flo``, KITTI ``.png`` or ``.npy`` by extension into ``(2, H, W)`` (invalid = NaN)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".flo":
        return read_flo(p)
    if ext == ".png":
        return read_kitti_flow(p)[0]
    if ext == ".npy":
        _exists(p)
        arr = load_npy_bytes(read_file_bytes(p), p)
        if arr.ndim != 3 or arr.shape[0] != 2 or arr.dtype.kind != "f":
            raise FileFormatError(
                f"{p}: expected a float array of shape (2, H, W), got {arr.dtype} {arr.shape}"
            )
        check_image_size(arr.shape[1], arr.shape[2], p, "flow")
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    raise InputError(f"path: expected a .flo, .png or .npy flow file, got {p.name!r}")


def write_flow(path: str | os.PathLike, flow: torch.Tensor | np.ndarray) -> Path:
    """Write a ``(2, H, W)`` flow as ``.flo``, KITTI ``.png`` or ``.npy`` chosen by extension."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".flo":
        return write_flo(p, flow)
    if ext == ".png":
        return write_kitti_flow(p, flow)
    if ext == ".npy":
        arr = _flow_numpy(flow)
        with atomic_write(p, "wb") as f:
            np.save(f, arr.astype(np.float32))
        return p
    raise InputError(f"path: expected a .flo, .png or .npy flow file, got {p.name!r}")
