"""Benchmark-folder evaluation (Middlebury and KITTI layouts) and fixture export.

Layouts understood by :func:`evaluate_flow_folder` (``layout=None`` detects them):

- ``middlebury``: ``<root>/<sequence>/frame10.png``, ``frame11.png``, ``flow10.flo``
  (Middlebury "other" training set layout; unknown flow > 1e9 is ignored).
- ``kitti``: ``<root>/image_2/<id>_10.png``, ``<id>_11.png`` and ``<root>/flow_occ/<id>_10.png``
  (16-bit flow PNG with its valid mask, KITTI 2012/2015 training layout).

Per pair we report EPE, Fl-all (percent), angular error and the estimator's wall time; the
``mean`` row averages the per-pair values (Middlebury / KITTI convention: mean of per-image
means). :func:`export_flow_folder` writes :class:`~spacetime.video.flow.SyntheticFlow` samples
in either layout, for tests, benchmarks and trying the CLI without downloading a benchmark.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_in, check_int
from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.fileio import decode_image, read_file_bytes, write_image_atomic
from spacetime.video.flow.estimate import FLOW_METHODS, estimate_flow
from spacetime.video.flow.io import read_flo, read_kitti_flow, write_flo, write_kitti_flow
from spacetime.video.flow.ops import flow_metrics

__all__ = [
    "LAYOUTS",
    "read_image",
    "write_image",
    "list_flow_pairs",
    "evaluate_flow_folder",
    "format_flow_table",
    "export_flow_folder",
]

LAYOUTS = ("middlebury", "kitti")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit image file as RGB ``(H, W, 3)`` uint8 (raises on a missing/corrupt file)."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"image not found: {p}")
    img = decode_image(read_file_bytes(p), p, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[:, :, ::-1])


def write_image(path: str | os.PathLike, image: np.ndarray | torch.Tensor) -> Path:
    """Write RGB ``(H, W, 3)`` uint8 or a ``(3, H, W)`` tensor (uint8 / [0, 1]) atomically
    (encoded in memory, format from the extension; never ``cv2.imwrite``)."""
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.is_floating_point():
            t = (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        image = t.permute(1, 2, 0).numpy() if t.ndim == 3 and t.shape[0] in (1, 3) else t.numpy()
    arr = np.ascontiguousarray(image)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = np.ascontiguousarray(arr[:, :, ::-1])
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or arr.size == 0:
        raise InputError(f"image: expected a non-empty uint8 (H, W, 3) or (H, W) image, got "
                         f"{arr.dtype} {arr.shape}")
    p = Path(path)
    try:
        return write_image_atomic(p, arr)
    except OSError as exc:
        if "encode" in str(exc):
            raise InputError(f"{p}: cannot encode an image with extension {p.suffix!r} "
                             f"({exc})") from None
        raise


def _detect(root: Path) -> str:
    if (root / "image_2").is_dir() and (root / "flow_occ").is_dir():
        return "kitti"
    if any((d / "flow10.flo").is_file() for d in root.iterdir() if d.is_dir()):
        return "middlebury"
    raise InputError(
        f"root: {root} is neither a Middlebury folder (<seq>/frame10.png, frame11.png, "
        "flow10.flo) nor a KITTI folder (image_2/, flow_occ/)"
    )


def list_flow_pairs(
    root: str | os.PathLike, layout: str | None = None
) -> tuple[str, list[tuple[str, Path, Path, Path]]]:
    """``(layout, [(name, frame1, frame2, gt_flow), ...])`` for a benchmark folder (sorted)."""
    r = Path(root)
    if not r.is_dir():
        raise MissingFileError(f"root: no such folder {r}")
    layout = _detect(r) if layout is None else layout
    check_in(layout, "layout", LAYOUTS)
    pairs: list[tuple[str, Path, Path, Path]] = []
    if layout == "middlebury":
        for d in sorted(p for p in r.iterdir() if p.is_dir()):
            gt = d / "flow10.flo"
            if gt.is_file():
                pairs.append((d.name, d / "frame10.png", d / "frame11.png", gt))
    else:
        for gt in sorted((r / "flow_occ").glob("*_10.png")):
            stem = gt.name[: -len("_10.png")]
            img = r / "image_2"
            pairs.append((stem, img / f"{stem}_10.png", img / f"{stem}_11.png", gt))
    if not pairs:
        raise InputError(f"root: no frame pairs with ground truth found in {r} ({layout})")
    return layout, pairs


def evaluate_flow_folder(
    root: str | os.PathLike,
    method: str = "dis",
    *,
    layout: str | None = None,
    limit: int | None = None,
    device: torch.device | str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Run ``method`` on every pair of a benchmark folder and score it against the ground truth.

    Args:
        root: a Middlebury- or KITTI-layout folder (see module docstring).
        method: one of :data:`~spacetime.video.flow.FLOW_METHODS`.
        layout: ``"middlebury"`` | ``"kitti"`` | None (detect).
        limit: evaluate only the first ``limit`` pairs.
        device, **kw: passed to :func:`~spacetime.video.flow.estimate_flow`.

    Returns:
        ``{"layout", "method", "rows": [{"name", "epe", "fl_all", "ae", "time_s"}, ...],
        "mean": {"epe", "fl_all", "ae", "time_s"}}`` (``fl_all`` in percent, ``ae`` in degrees).
    """
    check_in(method, "method", FLOW_METHODS)
    layout, pairs = list_flow_pairs(root, layout)
    if limit is not None:
        check_int(limit, "limit", min_value=1)
        pairs = pairs[:limit]
    rows = []
    for name, p1, p2, pg in pairs:
        a, b = read_image(p1), read_image(p2)
        if layout == "kitti":
            gt, valid = read_kitti_flow(pg)
        else:
            gt, valid = read_flo(pg), None
        if tuple(gt.shape[-2:]) != a.shape[:2]:
            raise FileFormatError(
                f"{pg}: flow size {tuple(gt.shape[-2:])} differs from frame size {a.shape[:2]}"
            )
        t0 = time.perf_counter()
        fl = estimate_flow(a, b, method, device=device, **kw)
        if fl.device.type == "cuda":
            torch.cuda.synchronize(fl.device)
        dt = time.perf_counter() - t0
        m = flow_metrics(fl.cpu(), gt, valid)
        rows.append({"name": name, "epe": m["epe"], "fl_all": m["fl_all"], "ae": m["ae"],
                     "time_s": dt})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("epe", "fl_all", "ae", "time_s")}
    return {"layout": layout, "method": method, "rows": rows, "mean": mean}


def format_flow_table(result: dict[str, Any]) -> str:
    """A plain-text table of an :func:`evaluate_flow_folder` result."""
    lines = [
        f"method={result['method']} layout={result['layout']} pairs={len(result['rows'])}",
        f"{'sequence':<20} {'EPE':>8} {'Fl-all%':>8} {'AE deg':>8} {'time ms':>9}",
    ]
    for r in [*result["rows"], {"name": "mean", **result["mean"]}]:
        lines.append(
            f"{r['name']:<20} {r['epe']:>8.3f} {r['fl_all']:>8.2f} {r['ae']:>8.2f} "
            f"{1000 * r['time_s']:>9.1f}"
        )
    return "\n".join(lines)


def export_flow_folder(
    root: str | os.PathLike,
    dataset: Any = None,
    *,
    layout: str = "middlebury",
    count: int | None = None,
) -> Path:
    """Write samples of a flow dataset (default: 4 :class:`SyntheticFlow` val pairs, 64 x 96)
    as a Middlebury- or KITTI-layout folder that :func:`evaluate_flow_folder` reads.

    KITTI export marks occluded pixels invalid (like KITTI's ``flow_noc``); Middlebury keeps
    them (its ground truth covers occlusions too).
    """
    check_in(layout, "layout", LAYOUTS)
    if dataset is None:
        from spacetime.video.flow.synthetic import SyntheticFlow

        dataset = SyntheticFlow(4 if count is None else count, (64, 96), split="val", seed=0)
    n = len(dataset) if count is None else min(check_int(count, "count", min_value=0),
                                                len(dataset))
    r = Path(root)
    for i in range(n):
        s = dataset[i]
        if layout == "middlebury":
            d = r / f"seq{i:03d}"
            write_image(d / "frame10.png", s["frame1"])
            write_image(d / "frame11.png", s["frame2"])
            write_flo(d / "flow10.flo", s["flow"])
        else:
            write_image(r / "image_2" / f"{i:06d}_10.png", s["frame1"])
            write_image(r / "image_2" / f"{i:06d}_11.png", s["frame2"])
            valid = s.get("valid", torch.ones(s["flow"].shape[-2:], dtype=torch.bool))
            if "occlusion" in s:
                valid = valid & ~s["occlusion"]
            write_kitti_flow(r / "flow_occ" / f"{i:06d}_10.png", s["flow"], valid)
    return r
