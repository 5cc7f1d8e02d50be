"""One entry point for every flow estimator: :func:`estimate_flow`.

=================  ==========================================================================
method             implementation
=================  ==========================================================================
``farneback``      OpenCV ``calcOpticalFlowFarneback`` (Farnebäck, SCIA 2003)
``dis``            OpenCV DIS, medium preset (Kroeger et al., ECCV 2016); also
``dis-ultrafast``, ``dis-fast``, ``dis-medium``
``tvl1``           OpenCV-contrib ``cv2.optflow.DualTVL1OpticalFlow_create`` (Zach et al. 2007)
``horn-schunck``   our batched, differentiable PyTorch version (:mod:`.horn_schunck`)
``raft-small``     torchvision RAFT architecture (:mod:`.raft`), random init unless
``raft-large``     ``checkpoint=`` or ``model=`` is given
=================  ==========================================================================

Frames: ``(H, W, 3)`` / ``(H, W)`` numpy arrays (uint8, or float in [0, 1]) or ``(3, H, W)`` /
``(1, H, W)`` tensors (uint8, or float in [0, 1]), RGB. OpenCV methods work on luma
(0.299 R + 0.587 G + 0.114 B). Result: float32 ``(2, H, W)`` flow in pixels, on the CPU for
OpenCV methods and on ``device`` for torch methods, with ``I_2(x + F(x)) = I_1(x)``.
:func:`estimate_flow_batch` takes ``(N, C, H, W)`` batches (one torch call for Horn–Schunck and
RAFT; a loop for OpenCV methods).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in
from spacetime.errors import DependencyError, InputError
from spacetime.video.flow._common import frames_to_batch

__all__ = ["FLOW_METHODS", "estimate_flow", "estimate_flow_batch"]

FLOW_METHODS = (
    "farneback",
    "dis",
    "dis-ultrafast",
    "dis-fast",
    "dis-medium",
    "tvl1",
    "horn-schunck",
    "raft-small",
    "raft-large",
)

_LUMA = (0.299, 0.587, 0.114)
_DIS_MIN_SIZE = 12  # OpenCV DIS: "width or height >= 12"
_FARNEBACK_PARAMS = ("pyr_scale", "levels", "winsize", "iterations", "poly_n", "poly_sigma",
                     "flags")
_RAFT_CACHE: dict[tuple[str, str], Any] = {}


def _gray_u8(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` float [0, 1] -> ``(H, W)`` uint8 luma."""
    x = x.detach().cpu()
    if x.shape[0] == 3:
        w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(3, 1, 1)
        x = (x * w).sum(dim=0)
    else:
        x = x[0]
    return np.ascontiguousarray((x * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy())


def _opencv_flow(g1: np.ndarray, g2: np.ndarray, method: str, kw: dict[str, Any]) -> np.ndarray:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover
        raise DependencyError(f"method {method!r} needs OpenCV") from exc
    if method == "farneback":
        params = dict(
            pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
        )
        params.update(kw)
        return cv2.calcOpticalFlowFarneback(g1, g2, None, **params)
    if method.startswith("dis"):
        preset = {
            "dis": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        }[method]
        dis = cv2.DISOpticalFlow_create(preset)
        for key, value in kw.items():
            setter = getattr(dis, "set" + key[:1].upper() + key[1:], None)
            if setter is None:
                raise InputError(f"{key}: not a DIS parameter")
            setter(value)
        return dis.calc(g1, g2, None)
    if method == "tvl1":
        optflow = getattr(cv2, "optflow", None)
        if optflow is None or not hasattr(optflow, "DualTVL1OpticalFlow_create"):
            raise DependencyError("method 'tvl1' needs opencv-contrib (cv2.optflow)")
        tvl1 = optflow.DualTVL1OpticalFlow_create(**kw)
        return tvl1.calc(g1, g2, None)
    raise InputError(f"method: unknown OpenCV method {method!r}")  # pragma: no cover


def _opencv_flow_checked(g1: np.ndarray, g2: np.ndarray, method: str,
                         kw: dict[str, Any]) -> np.ndarray:
    """:func:`_opencv_flow` with OpenCV's own errors (wrong option types, sizes the method
    cannot handle) turned into :class:`~spacetime.errors.InputError`."""
    import cv2

    try:
        return _opencv_flow(g1, g2, method, kw)
    except (cv2.error, TypeError) as exc:
        msg = " ".join(str(exc).split())
        raise InputError(f"{method}: OpenCV refused frames {g1.shape[0]}x{g1.shape[1]} with "
                         f"options {kw or '{}'} ({msg[-160:]})") from None


def _raft_model(method: str, kw: dict[str, Any], device: torch.device) -> Any:
    model = kw.pop("model", None)
    if model is not None:
        return model.to(device)
    ckpt = kw.pop("checkpoint", None)
    from spacetime.video.flow.raft import build_raft

    if ckpt is None:
        key = (method, str(device))
        if key not in _RAFT_CACHE:
            # deterministic random init (seed 0) without touching the caller's RNG state
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                _RAFT_CACHE[key] = build_raft(method).eval().to(device)
        return _RAFT_CACHE[key]
    return build_raft(method, checkpoint=ckpt, device=device).eval()


def estimate_flow_batch(
    frame1: torch.Tensor,
    frame2: torch.Tensor,
    method: str = "farneback",
    *,
    device: torch.device | str | None = None,
    **kw: Any,
) -> torch.Tensor:
    """Flow for a batch of pairs: ``(N, C, H, W)`` frames -> float32 ``(N, 2, H, W)``.

    See :func:`estimate_flow` for methods and keyword arguments.
    """
    check_in(method, "method", FLOW_METHODS)
    a, b = frames_to_batch(frame1, frame2)
    return _estimate(a, b, method, device, dict(kw))


def _estimate(
    a: torch.Tensor, b: torch.Tensor, method: str, device: Any, kw: dict[str, Any]
) -> torch.Tensor:
    if method == "horn-schunck":
        from spacetime.video.flow.horn_schunck import horn_schunck

        dev = torch.device(device) if device is not None else a.device
        known = inspect.signature(horn_schunck).parameters
        unknown = sorted(k for k in kw if k not in known or k in ("frame1", "frame2"))
        if unknown:
            raise InputError(f"{unknown[0]}: unexpected keyword argument for 'horn-schunck'")
        return horn_schunck(a.to(dev), b.to(dev), **kw).float()
    if method.startswith("raft"):
        dev = torch.device(device) if device is not None else a.device
        iters = kw.pop("num_flow_updates", kw.pop("iters", 12))
        model = _raft_model(method, kw, dev)
        if kw:
            raise InputError(f"{sorted(kw)[0]}: unexpected keyword argument for {method!r}")
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        with torch.no_grad():
            return model(a.to(dev), b.to(dev), num_flow_updates=iters)[-1].float()
    h, w = a.shape[-2:]
    if method.startswith("dis") and max(h, w) < _DIS_MIN_SIZE:
        raise InputError(f"frames: method {method!r} needs width or height >= {_DIS_MIN_SIZE} "
                         f"px (OpenCV DIS), got {h}x{w}; use 'farneback' or 'horn-schunck'")
    if method == "farneback":
        unknown = sorted(set(kw) - set(_FARNEBACK_PARAMS))
        if unknown:
            raise InputError(f"{unknown[0]}: unexpected keyword argument for 'farneback'; it "
                             f"takes {', '.join(_FARNEBACK_PARAMS)}")
    out = []
    for x, y in zip(a, b):
        fl = _opencv_flow_checked(_gray_u8(x), _gray_u8(y), method, dict(kw))
        out.append(torch.from_numpy(np.ascontiguousarray(fl.transpose(2, 0, 1), np.float32)))
    res = torch.stack(out)
    return res.to(device) if device is not None else res


def estimate_flow(
    frame1: Any,
    frame2: Any,
    method: str = "farneback",
    *,
    device: torch.device | str | None = None,
    **kw: Any,
) -> torch.Tensor:
    """Estimate the flow from ``frame1`` to ``frame2``.

    Args:
        frame1, frame2: one frame each (see the module docstring for accepted types); same
            size, and both colour or both grayscale (mixes raise
            :class:`~spacetime.errors.InputError`).
        method: one of :data:`FLOW_METHODS`.
        device: device for ``horn-schunck`` / ``raft-*`` (OpenCV methods run on the CPU and the
            result is moved there).
        **kw: method options: OpenCV parameters (Farneback ``levels``, ``winsize`` ...; DIS
            setters such as ``finestScale``; TV-L1 create arguments such as ``tau``,
            ``lambda_``), :func:`~spacetime.video.flow.horn_schunck.horn_schunck` arguments, or
            for RAFT ``checkpoint=PATH`` / ``model=RAFTFlow`` / ``num_flow_updates=12``.

    Returns:
        float32 flow ``(2, H, W)`` in pixels.
    """
    check_in(method, "method", FLOW_METHODS)
    if isinstance(frame1, torch.Tensor) and frame1.ndim == 4:
        raise InputError(
            f"frame1: expected one frame, got a batch {tuple(frame1.shape)}; "
            "use estimate_flow_batch"
        )
    a, b = frames_to_batch(frame1, frame2)
    return _estimate(a, b, method, device, dict(kw))[0]
