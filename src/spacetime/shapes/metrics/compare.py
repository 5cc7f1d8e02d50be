"""Compare predicted and ground-truth meshes by sampling their surfaces (Mesh R-CNN's protocol).

``compare_meshes`` samples ``num_samples`` points (with face normals) on every surface, optionally
rescales, runs ONE nearest-neighbour pass per direction and reports, per batch element:

==========================  =================================================================
key                         value
==========================  =================================================================
``Chamfer-L2``              squared-L2 Chamfer, mean form (Mesh R-CNN; see ``chamfer_distance``)
``NormalConsistency``       signed normal consistency (see ``normal_consistency``)
``AbsNormalConsistency``    absolute normal consistency (Mesh R-CNN's "normal" column)
``Precision@t``             fraction in [0, 1], unsquared distance ``< t`` (see ``f1_score``)
``Recall@t``                idem
``F1@t``                    idem; ``t`` is formatted with ``f"{t:g}"``, e.g. ``F1@0.3``
==========================  =================================================================

Scale protocols (the scale factor multiplies the vertices about the origin; nothing is centred):

- ``"gt-10"`` (Mesh R-CNN, ShapeNet): per batch element ``s = 10 / longest edge of the GT mesh's
  axis-aligned bounding box``; the same ``s`` is applied to the prediction and the GT. Default
  thresholds 0.1, 0.3, 0.5.
- ``"pixel2mesh"`` (Wang et al. 2018, as evaluated by Mesh R-CNN): both meshes scaled by 0.57;
  default thresholds ``1e-2`` and ``√2·1e-2`` (i.e. the squared thresholds 1e-4 and 2e-4 of
  Pixel2Mesh's paper).
- ``"none"``: no rescaling; default thresholds 0.1, 0.3, 0.5.

An empty predicted (or GT) mesh (no faces, or zero area) gives an empty sample: Chamfer-L2 is
``inf``, the normal consistencies ``nan``, precision / recall / F1 ``0``. If both are empty,
Chamfer is 0 and precision / recall / F1 are 1.

``surface_errors`` returns the sampled points themselves with each one's distance to the other
surface (the same samples and nearest-neighbour pass as ``compare_meshes`` for the same
arguments), so that an error map can colour exactly the points that F1@t counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from spacetime.checks import check_int
from spacetime.errors import InputError
from spacetime.shapes.metrics.chamfer import reduce_chamfer
from spacetime.shapes.metrics.f1 import _thresholds, f1_from_nn
from spacetime.shapes.metrics.knn import nn_both_ways
from spacetime.shapes.metrics.normals import normal_consistency_from_nn

__all__ = [
    "compare_meshes",
    "surface_errors",
    "SurfaceErrors",
    "PIXEL2MESH_SCALE",
    "PIXEL2MESH_THRESHOLDS",
    "MESHRCNN_THRESHOLDS",
]

PIXEL2MESH_SCALE = 0.57
PIXEL2MESH_THRESHOLDS = (1e-2, math.sqrt(2.0) * 1e-2)
MESHRCNN_THRESHOLDS = (0.1, 0.3, 0.5)


def _areas(v: torch.Tensor, f: torch.Tensor) -> float:
    if f.shape[0] == 0:
        return 0.0
    tri = v[f]
    cross = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    return float(cross.norm(dim=-1).sum()) / 2


def _sample(
    meshes: Any, num_samples: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points ``(N, S, 3)``, normals ``(N, S, 3)`` and lengths ``(N,)`` (0 for empty meshes)."""
    from spacetime.shapes.convert.sampling import sample_points_from_meshes

    verts, faces = meshes.verts_list(), meshes.faces_list()
    n = len(verts)
    dtype, device = meshes.dtype, meshes.device
    ok = [i for i in range(n) if _areas(verts[i], faces[i]) > 0]
    pts = torch.zeros(n, num_samples, 3, dtype=dtype, device=device)
    nrm = torch.zeros(n, num_samples, 3, dtype=dtype, device=device)
    lengths = torch.zeros(n, dtype=torch.int64, device=device)
    if ok:
        sub = meshes if len(ok) == n else meshes[ok]
        p, q = sample_points_from_meshes(sub, num_samples, return_normals=True, generator=generator)
        sel = torch.tensor(ok, device=device)
        pts[sel], nrm[sel] = p, q
        lengths[sel] = num_samples
    return pts, nrm, lengths


def _scale_factors(gt: Any, scale: str | float) -> torch.Tensor | float:
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        if not math.isfinite(scale) or scale <= 0:
            raise InputError(f"scale: expected a finite value > 0, got {scale!r}")
        return float(scale)
    if scale == "none":
        return 1.0
    if scale == "pixel2mesh":
        return PIXEL2MESH_SCALE
    if scale == "gt-10":
        bbox = gt.get_bounding_boxes()  # (N, 3, 2), NaN for meshes without vertices
        long_edge = (bbox[:, :, 1] - bbox[:, :, 0]).max(dim=1).values
        good = torch.isfinite(long_edge) & (long_edge > 0)
        return torch.where(good, 10.0 / long_edge.clamp(min=1e-30), torch.ones_like(long_edge))
    raise InputError(
        f"scale: expected one of 'gt-10', 'pixel2mesh', 'none' or a float > 0, got {scale!r}"
    )


@torch.no_grad()
def compare_meshes(
    pred: Any,
    gt: Any,
    *,
    num_samples: int = 10000,
    thresholds: Sequence[float] | None = None,
    scale: str | float = "gt-10",
    seed: int = 0,
    backend: str = "auto",
) -> dict[str, torch.Tensor]:
    """Mesh R-CNN's shape metrics between two equal-length batches of meshes.

    Args:
        pred: predicted ``Meshes`` (N meshes).
        gt: ground-truth ``Meshes`` (N meshes).
        num_samples: points sampled per surface (Mesh R-CNN: 10,000).
        thresholds: F1 distance thresholds in the *rescaled* units; default depends on ``scale``
            (0.1, 0.3, 0.5 for "gt-10" / "none"; 1e-2, √2·1e-2 for "pixel2mesh").
        scale: ``"gt-10"``, ``"pixel2mesh"``, ``"none"`` or a positive float; see module docstring.
        seed: seed of the sampling generator (results are reproducible for a given seed).
        backend: nearest-neighbour backend, see :func:`~spacetime.shapes.metrics.knn_points`.

    Returns:
        dict metric name → ``(N,)`` tensor; keys listed in the module docstring.
    """
    if len(pred) != len(gt):
        raise InputError(f"gt: expected {len(pred)} meshes (same as pred), got {len(gt)}")
    check_int(num_samples, "num_samples", min_value=1)
    check_int(seed, "seed")
    if thresholds is None:
        thresholds = PIXEL2MESH_THRESHOLDS if scale == "pixel2mesh" else MESHRCNN_THRESHOLDS
    ts, _ = _thresholds(list(thresholds))
    s = _scale_factors(gt, scale)
    if not (isinstance(s, float) and s == 1.0):
        pred, gt = pred.scale_verts(s), gt.scale_verts(s)
    gen = torch.Generator(device=pred.device).manual_seed(seed)
    pp, pn, pl = _sample(pred, num_samples, gen)
    gp, gn, gl = _sample(gt, num_samples, gen)
    nn, _, _ = nn_both_ways(pp, gp, pl, gl, backend)
    out: dict[str, torch.Tensor] = {"Chamfer-L2": reduce_chamfer(nn, "mean")}
    nc = normal_consistency_from_nn(nn, pn, gn)
    out["NormalConsistency"] = nc.signed
    out["AbsNormalConsistency"] = nc.absolute
    prf = f1_from_nn(nn, ts)
    for j, t in enumerate(ts):
        out[f"Precision@{t:g}"] = prf.precision[:, j]
        out[f"Recall@{t:g}"] = prf.recall[:, j]
        out[f"F1@{t:g}"] = prf.f1[:, j]
    return out


class SurfaceErrors(NamedTuple):
    """Sampled surface points and their distances to the other surface (see
    :func:`surface_errors`). Points are in the meshes' own units; distances are unsquared and in
    the *rescaled* units of the F1 thresholds."""

    pred_points: torch.Tensor  # (N, S, 3) samples on pred (rows >= pred_lengths[n] are padding)
    pred_to_gt: torch.Tensor  # (N, S) distance of each pred sample to the nearest GT sample
    gt_points: torch.Tensor  # (N, S, 3) samples on GT
    gt_to_pred: torch.Tensor  # (N, S) distance of each GT sample to the nearest pred sample
    pred_lengths: torch.Tensor  # (N,) S, or 0 for an empty mesh
    gt_lengths: torch.Tensor  # (N,)
    scale: torch.Tensor  # (N,) the factor applied before measuring (gt-10: 10 / GT long edge)


@torch.no_grad()
def surface_errors(
    pred: Any,
    gt: Any,
    *,
    num_samples: int = 10000,
    scale: str | float = "gt-10",
    seed: int = 0,
    backend: str = "auto",
) -> SurfaceErrors:
    """Per-point errors behind :func:`compare_meshes`: the points it samples on each surface and
    each point's unsquared distance to the nearest sample of the other surface.

    With the same ``num_samples``, ``scale`` and ``seed`` the samples are those of
    ``compare_meshes``, so the share of ``pred_to_gt < t`` is its ``Precision@t`` and the share
    of ``gt_to_pred < t`` its ``Recall@t``.

    Args:
        pred, gt: ``Meshes`` of equal length N.
        num_samples, scale, seed, backend: as in :func:`compare_meshes`.

    Returns:
        :class:`SurfaceErrors`; points ``(N, S, 3)`` in the input units, distances ``(N, S)`` in
        the rescaled units (NaN in padding rows of empty meshes).
    """
    if len(pred) != len(gt):
        raise InputError(f"gt: expected {len(pred)} meshes (same as pred), got {len(gt)}")
    check_int(num_samples, "num_samples", min_value=1)
    check_int(seed, "seed")
    s = _scale_factors(gt, scale)
    n = len(pred)
    s_t = torch.as_tensor(s, dtype=pred.dtype, device=pred.device).reshape(-1).expand(n).clone()
    if not (isinstance(s, float) and s == 1.0):
        pred, gt = pred.scale_verts(s), gt.scale_verts(s)
    gen = torch.Generator(device=pred.device).manual_seed(seed)
    pp, _, pl = _sample(pred, num_samples, gen)
    gp, _, gl = _sample(gt, num_samples, gen)
    nn, _, _ = nn_both_ways(pp, gp, pl, gl, backend)
    rows = torch.arange(num_samples, device=pp.device)[None, :]
    d_pg = torch.where(rows < pl[:, None], nn.d_xy.sqrt(), torch.full_like(nn.d_xy, math.nan))
    d_gp = torch.where(rows < gl[:, None], nn.d_yx.sqrt(), torch.full_like(nn.d_yx, math.nan))
    inv = (1.0 / s_t)[:, None, None]
    return SurfaceErrors(pp * inv, d_pg, gp * inv, d_gp, pl, gl, s_t)
