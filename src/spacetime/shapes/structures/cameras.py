"""Pinhole camera intrinsics and extrinsics (batched).

Conventions (used everywhere in spacetime):

- Camera frame: OpenCV — x right, y down, z forward; depth is the camera-frame Z (> 0 in front).
- Pixels: column ``u`` (x) and row ``v`` (y); integer ``(u, v)`` is the **centre** of pixel
  ``[v, u]``, so ``u = fx * X / Z + cx`` and ``v = fy * Y / Z + cy``.
- ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
- Extrinsics map world to camera: ``X_cam = R @ X_world + t``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError

__all__ = ["CameraIntrinsics", "CameraExtrinsics", "look_at"]

Number = float | int | torch.Tensor


def _batch_param(value: Number | Sequence[float], name: str, n: int | None, dtype, device):
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        t = t.reshape(1)
    check_tensor(t, name, ("N",), finite=True)
    if n is not None and t.shape[0] not in (1, n):
        raise InputError(f"{name}: expected 1 or {n} values, got {t.shape[0]}")
    return t


class CameraIntrinsics:
    """Batched pinhole intrinsics ``fx, fy, cx, cy`` (in pixels), optionally with image size.

    Args:
        fx, fy: focal lengths in pixels (floats or ``(N,)`` tensors).
        cx, cy: principal point in pixels (OpenCV convention: pixel centres at integers).
        width, height: optional image size in pixels.
    """

    def __init__(
        self,
        fx: Number,
        fy: Number,
        cx: Number,
        cy: Number,
        *,
        width: int | None = None,
        height: int | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        if isinstance(fx, torch.Tensor):
            dtype = fx.dtype if fx.is_floating_point() else dtype
            device = fx.device if device is None else device
        params = [
            _batch_param(v, name, None, dtype, device)
            for v, name in ((fx, "fx"), (fy, "fy"), (cx, "cx"), (cy, "cy"))
        ]
        n = max(p.shape[0] for p in params)
        for p, name in zip(params, ("fx", "fy", "cx", "cy")):
            if p.shape[0] not in (1, n):
                raise InputError(f"{name}: expected 1 or {n} values, got {p.shape[0]}")
        self.fx, self.fy, self.cx, self.cy = (p.expand(n).clone() for p in params)
        if bool((self.fx <= 0).any()) or bool((self.fy <= 0).any()):
            raise InputError(
                f"fx/fy: expected focal lengths > 0, got {self.fx.tolist()}/{self.fy.tolist()}"
            )
        self.width = width
        self.height = height

    @classmethod
    def from_K(cls, K: torch.Tensor, *, width: int | None = None, height: int | None = None):
        """Build from ``(3, 3)`` or ``(N, 3, 3)`` matrices."""
        if isinstance(K, torch.Tensor) and K.dim() == 2:
            K = K.unsqueeze(0)
        check_tensor(K, "K", ("N", 3, 3), dtype="float", finite=True)
        return cls(
            K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], width=width, height=height
        )

    @classmethod
    def from_fov(
        cls,
        fov_deg: float,
        width: int,
        height: int,
        *,
        axis: str = "x",
        dtype: torch.dtype = torch.float32,
        device=None,
    ) -> CameraIntrinsics:
        """Square pixels, principal point at the image centre, horizontal (``axis="x"``) or
        vertical (``"y"``) field of view in degrees."""
        if not 0 < fov_deg < 180:
            raise InputError(f"fov_deg: expected a value in (0, 180), got {fov_deg}")
        extent = width if axis == "x" else height
        f = 0.5 * extent / math.tan(math.radians(fov_deg) / 2)
        return cls(
            f, f, (width - 1) / 2, (height - 1) / 2,
            width=width, height=height, dtype=dtype, device=device,
        )

    @classmethod
    def from_focal_length_mm(
        cls, focal_mm: float, sensor_width_mm: float, width: int, height: int, **kw
    ) -> CameraIntrinsics:
        """From a focal length and sensor width in millimetres (as in Pix3D annotations)."""
        f = focal_mm / sensor_width_mm * width
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width=width, height=height, **kw)

    def __len__(self) -> int:
        return self.fx.shape[0]

    def __repr__(self) -> str:
        return (
            f"CameraIntrinsics(N={len(self)}, fx={self.fx.tolist()}, fy={self.fy.tolist()}, "
            f"cx={self.cx.tolist()}, cy={self.cy.tolist()}, size={self.width}x{self.height})"
        )

    def __getitem__(self, index) -> CameraIntrinsics:
        sel = torch.arange(len(self))[index].reshape(-1)
        return CameraIntrinsics(
            self.fx[sel], self.fy[sel], self.cx[sel], self.cy[sel],
            width=self.width, height=self.height,
        )

    @property
    def device(self) -> torch.device:
        return self.fx.device

    @property
    def dtype(self) -> torch.dtype:
        return self.fx.dtype

    @property
    def K(self) -> torch.Tensor:
        """``(N, 3, 3)`` intrinsic matrices."""
        K = torch.zeros(len(self), 3, 3, dtype=self.dtype, device=self.device)
        K[:, 0, 0] = self.fx
        K[:, 1, 1] = self.fy
        K[:, 0, 2] = self.cx
        K[:, 1, 2] = self.cy
        K[:, 2, 2] = 1
        return K

    def to(self, device=None, dtype=None) -> CameraIntrinsics:
        conv = [t.to(device=device, dtype=dtype) for t in (self.fx, self.fy, self.cx, self.cy)]
        return CameraIntrinsics(*conv, width=self.width, height=self.height)

    def expand(self, n: int) -> CameraIntrinsics:
        """Broadcast a single camera to a batch of ``n``."""
        if len(self) == n:
            return self
        if len(self) != 1:
            raise InputError(f"K: expected 1 or {n} cameras, got {len(self)}")
        return CameraIntrinsics(
            self.fx.expand(n), self.fy.expand(n), self.cx.expand(n), self.cy.expand(n),
            width=self.width, height=self.height,
        )

    def scale(self, sx: float, sy: float | None = None) -> CameraIntrinsics:
        """Intrinsics of the image resized by ``sx`` (and ``sy``), pixel centres preserved:
        ``u' + 0.5 = sx * (u + 0.5)``."""
        sy = sx if sy is None else sy
        return CameraIntrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
            width=None if self.width is None else round(self.width * sx),
            height=None if self.height is None else round(self.height * sy),
        )

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """Camera-frame points ``(N, P, 3)`` → pixel coordinates ``(N, P, 2)`` as ``(u, v)``.
        Points with Z <= 0 give inf/NaN; mask them by ``points[..., 2] > 0``."""
        sizes = check_tensor(points, "points", ("N", "P", 3), dtype="float")
        cam = self.expand(sizes["N"])
        z = points[..., 2]
        u = cam.fx[:, None] * points[..., 0] / z + cam.cx[:, None]
        v = cam.fy[:, None] * points[..., 1] / z + cam.cy[:, None]
        return torch.stack([u, v], -1)

    def unproject(self, uv: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Pixel coordinates ``(N, P, 2)`` and depths ``(N, P)`` → camera-frame points
        ``(N, P, 3)``."""
        sizes = check_tensor(uv, "uv", ("N", "P", 2), dtype="float")
        check_tensor(depth, "depth", ("N", "P"), sizes=sizes)
        cam = self.expand(sizes["N"])
        x = (uv[..., 0] - cam.cx[:, None]) / cam.fx[:, None] * depth
        y = (uv[..., 1] - cam.cy[:, None]) / cam.fy[:, None] * depth
        return torch.stack([x, y, depth], -1)

    def pixel_rays(self, height: int, width: int) -> torch.Tensor:
        """``(N, H, W, 3)`` camera-frame directions ``((u-cx)/fx, (v-cy)/fy, 1)`` of every
        pixel centre (multiply by depth to back-project)."""
        v, u = torch.meshgrid(
            torch.arange(height, dtype=self.dtype, device=self.device),
            torch.arange(width, dtype=self.dtype, device=self.device),
            indexing="ij",
        )
        x = (u[None] - self.cx[:, None, None]) / self.fx[:, None, None]
        y = (v[None] - self.cy[:, None, None]) / self.fy[:, None, None]
        return torch.stack([x, y, torch.ones_like(x)], -1)


class CameraExtrinsics:
    """Batched world-to-camera rigid transforms ``X_cam = R X_world + t``.

    Args:
        R: ``(N, 3, 3)`` or ``(3, 3)`` rotation matrices.
        t: ``(N, 3)`` or ``(3,)`` translations.
    """

    def __init__(self, R: torch.Tensor, t: torch.Tensor) -> None:
        if R.dim() == 2:
            R = R.unsqueeze(0)
        if t.dim() == 1:
            t = t.unsqueeze(0)
        sizes = check_tensor(R, "R", ("N", 3, 3), dtype="float", finite=True)
        check_tensor(t, "t", ("N", 3), dtype="float", finite=True, sizes=sizes)
        self.R = R
        self.t = t

    def __len__(self) -> int:
        return self.R.shape[0]

    def to(self, device=None, dtype=None) -> CameraExtrinsics:
        return CameraExtrinsics(
            self.R.to(device=device, dtype=dtype), self.t.to(device=device, dtype=dtype)
        )

    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """``(N, P, 3)`` world points → camera frame."""
        check_tensor(points, "points", (len(self), "P", 3), dtype="float")
        return points @ self.R.transpose(1, 2) + self.t[:, None]

    def camera_to_world(self, points: torch.Tensor) -> torch.Tensor:
        """``(N, P, 3)`` camera-frame points → world."""
        check_tensor(points, "points", (len(self), "P", 3), dtype="float")
        return (points - self.t[:, None]) @ self.R

    def inverse(self) -> CameraExtrinsics:
        Rt = self.R.transpose(1, 2)
        return CameraExtrinsics(Rt, -(Rt @ self.t[..., None])[..., 0])

    def camera_centers(self) -> torch.Tensor:
        """``(N, 3)`` camera centres in world coordinates."""
        return self.inverse().t


def look_at(
    eye: torch.Tensor | Sequence[float],
    target: torch.Tensor | Sequence[float] = (0.0, 0.0, 0.0),
    up: torch.Tensor | Sequence[float] = (0.0, 1.0, 0.0),
    *,
    dtype: torch.dtype = torch.float32,
) -> CameraExtrinsics:
    """World-to-camera extrinsics of OpenCV cameras at ``eye`` (``(3,)`` or ``(N, 3)``) looking
    at ``target``, with world ``up`` appearing upwards in the image (i.e. along -y)."""
    eye_t = torch.as_tensor(eye, dtype=dtype)
    if eye_t.dim() == 1:
        eye_t = eye_t[None]
    tgt = torch.as_tensor(target, dtype=dtype).expand_as(eye_t)
    up_t = torch.as_tensor(up, dtype=dtype).expand_as(eye_t)
    z = torch.nn.functional.normalize(tgt - eye_t, dim=-1)
    x = torch.linalg.cross(z, up_t, dim=-1)
    if bool((x.norm(dim=-1) < 1e-8).any()):
        raise InputError("up: expected a direction not parallel to the viewing direction")
    x = torch.nn.functional.normalize(x, dim=-1)
    y = torch.linalg.cross(z, x, dim=-1)
    R = torch.stack([x, y, z], dim=1)
    t = -(R @ eye_t[..., None])[..., 0]
    return CameraExtrinsics(R, t)
