"""Depth maps, normal maps and RGB images as files.

Depth: ``(H, W)`` float tensors in metres (or any unit), 0 = no measurement. 16-bit PNG stores
``round(depth * scale)`` (``scale=1000``: millimetres, as TUM RGB-D and NYU Depth v2; TUM's
``depth`` PNGs use ``scale=5000``); NPY stores the floats. Normal maps: ``(3, H, W)`` unit
vectors; 8-bit PNG stores the lecture's colouring ``(n + 1) / 2`` as RGB; NPY the floats.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from spacetime.checks import check_positive, check_tensor
from spacetime.errors import InputError
from spacetime.fileio import (
    atomic_write,
    decode_image,
    encode_image,
    load_npy_bytes,
    write_bytes_atomic,
)
from spacetime.limits import check_image_size
from spacetime.shapes.io._common import fail, read_bytes, suffix

__all__ = ["load_depth", "save_depth", "load_normals", "save_normals", "read_rgb_image"]


def _imread(path: Path) -> np.ndarray:
    """Decode an image file; its declared size is checked against
    ``limits.MAX_IMAGE_PIXELS`` before decoding."""
    return decode_image(read_bytes(path), path)


def _imwrite(path: Path, img: np.ndarray) -> None:
    """PNG encoded in memory, written atomically (never ``cv2.imwrite``)."""
    write_bytes_atomic(path, encode_image(img, ".png"))


def _npy(path: Path) -> np.ndarray:
    """An ``.npy`` array whose pixels (product of the last two sizes) are within
    ``limits.MAX_IMAGE_PIXELS`` (checked on the header, before loading)."""
    arr_data = read_bytes(path)
    arr = load_npy_bytes(arr_data, path, limit="MAX_ARRAY_BYTES")
    return arr


def load_depth(path: str | os.PathLike, *, scale: float = 1000.0) -> torch.Tensor:
    """Read a depth map ``(H, W)`` float32: a 16-bit (or 8-bit) single-channel PNG divided by
    ``scale``, or a ``.npy`` array."""
    check_positive(scale, "scale")
    path = Path(path)
    ext = suffix(path)
    if ext == ".png":
        img = _imread(path)
        if img.ndim != 2:
            raise fail(path, f"expected a single-channel depth PNG, got shape {img.shape}")
        return torch.from_numpy(img.astype(np.float32) / scale)
    if ext == ".npy":
        arr = _npy(path)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise fail(path, f"expected a (H, W) numeric array, got {arr.shape} {arr.dtype}")
        check_image_size(arr.shape[0], arr.shape[1], path, "depth map")
        return torch.from_numpy(arr.astype(np.float32))
    raise fail(path, f"unknown depth extension {ext!r} (expected .png or .npy)")


def save_depth(depth: torch.Tensor, path: str | os.PathLike, *, scale: float = 1000.0) -> None:
    """Write ``(H, W)`` (or ``(1, H, W)``) depth atomically. PNG: ``uint16(round(d * scale))``,
    NaN / inf / non-positive depths become 0 (invalid); depths beyond ``65535 / scale`` raise
    ``InputError``."""
    check_positive(scale, "scale")
    check_tensor(depth, "depth", dtype="float")
    if depth.ndim == 3 and depth.shape[0] == 1:
        depth = depth[0]
    check_tensor(depth, "depth", ("H", "W"))
    path = Path(path)
    ext = suffix(path)
    d = depth.detach().cpu().numpy().astype(np.float64)
    if ext == ".png":
        valid = np.isfinite(d) & (d > 0)
        q = np.where(valid, np.round(np.where(valid, d, 0) * scale), 0)
        if q.size and q.max() > 65535:
            raise InputError(
                f"depth: max {d[valid].max():.4g} exceeds the 16-bit range 65535 / scale = "
                f"{65535 / scale:.4g}; use a smaller scale or .npy"
            )
        _imwrite(path, q.astype(np.uint16))
    elif ext == ".npy":
        with atomic_write(path, "wb") as fh:
            np.save(fh, d.astype(np.float32))
    else:
        raise InputError(f"path: expected a .png or .npy depth file, got {ext!r}")


def load_normals(path: str | os.PathLike) -> torch.Tensor:
    """Read a normal map ``(3, H, W)``: an RGB PNG decoded as ``2 * rgb / 255 - 1`` (then
    normalised; black pixels stay 0), or a ``.npy`` of shape ``(3, H, W)`` or ``(H, W, 3)``."""
    path = Path(path)
    ext = suffix(path)
    if ext == ".png":
        img = _imread(path)
        if img.ndim != 3 or img.shape[2] < 3:
            raise fail(path, f"expected an RGB normal-map PNG, got shape {img.shape}")
        rgb = img[..., 2::-1].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
        n = torch.from_numpy(np.ascontiguousarray(rgb * 2 - 1)).permute(2, 0, 1)
        blank = torch.from_numpy((img[..., :3] == 0).all(-1))
        n = torch.nn.functional.normalize(n, dim=0)
        n[:, blank] = 0
        return n
    if ext == ".npy":
        arr = _npy(path)
        if arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3:
            arr = arr.transpose(2, 0, 1)
        if arr.ndim != 3 or arr.shape[0] != 3 or arr.dtype.kind not in "biuf":
            raise fail(path, f"expected a (3, H, W) numeric array, got {arr.shape} {arr.dtype}")
        check_image_size(arr.shape[1], arr.shape[2], path, "normal map")
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    raise fail(path, f"unknown normal-map extension {ext!r} (expected .png or .npy)")


def save_normals(
    normals: torch.Tensor, path: str | os.PathLike, *, mask: torch.Tensor | None = None
) -> None:
    """Write a ``(3, H, W)`` normal map atomically; PNG: ``(n + 1) / 2`` as 8-bit RGB, pixels
    outside ``mask`` ``(H, W)`` black."""
    check_tensor(normals, "normals", (3, "H", "W"), dtype="float")
    path = Path(path)
    ext = suffix(path)
    n = normals.detach().cpu().numpy().astype(np.float32)
    if ext == ".png":
        rgb = (np.clip((n + 1) / 2, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
        if mask is not None:
            rgb[~mask.detach().cpu().numpy().astype(bool)] = 0
        _imwrite(path, np.ascontiguousarray(rgb[..., ::-1]))
    elif ext == ".npy":
        with atomic_write(path, "wb") as fh:
            np.save(fh, n)
    else:
        raise InputError(f"path: expected a .png or .npy normal-map file, got {ext!r}")




def read_rgb_image(path: str | os.PathLike, size: int | None = None) -> torch.Tensor:
    """An image file (PNG, JPEG, ...; gray, RGB or RGBA) as float RGB ``(3, H, W)`` in [0, 1];
    with ``size``, resized to ``(3, size, size)`` (bilinear, ``align_corners=False``), the input
    of the image-to-shape models.

    Raises:
        MissingFileError: no such file. FileFormatError: not a readable image.
    """
    import cv2
    import torch.nn.functional as F

    p = Path(path)
    img = _imread(p)
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) / np.iinfo(img.dtype).max * 255).round().astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0
    if size is None:
        return x
    check_positive(size, "size")
    return F.interpolate(x[None], size=(int(size),) * 2, mode="bilinear",
                         align_corners=False)[0].clamp(0, 1)
