"""Mesh R-CNN's shape losses and the single-object engine step (Gkioxari et al., ICCV 2019).

``L = w_vox L_voxel + Σ_stages (w_cham L_cham + w_norm L_norm + w_edge L_edge)`` with ``L_voxel``
the per-voxel binary cross-entropy of the K-space occupancy, ``L_cham`` Chamfer-L2 (mean of
squared nearest distances each way, summed), ``L_norm`` the normal loss ``−mean |cos|`` and
``L_edge`` the mean squared edge length, all on points sampled from the predicted and the GT
surfaces. Two presets, as in the paper and the lecture:

- ``"best"``: no edge regulariser; better Chamfer / F1 but degenerate, overlapping faces;
- ``"pretty"``: edge weight 0.2 (Mesh R-CNN's ShapeNet value): slightly worse metrics, clean
  meshes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = ["LOSS_PRESETS", "MeshRCNNLoss", "mesh_rcnn_loss", "MeshRCNNStep", "loss_weights"]

#: preset name → loss weights (Mesh R-CNN's ShapeNet weights; "pretty" adds the edge term)
LOSS_PRESETS: dict[str, dict[str, float]] = {
    "best": {"voxel_weight": 1.0, "chamfer_weight": 1.0, "normal_weight": 0.0,
             "edge_weight": 0.0},
    "pretty": {"voxel_weight": 1.0, "chamfer_weight": 1.0, "normal_weight": 0.0,
               "edge_weight": 0.2},
}


def loss_weights(preset: str = "best", **overrides: float) -> dict[str, float]:
    """The weights of ``preset`` with some replaced (``voxel_weight``, ``chamfer_weight``,
    ``normal_weight``, ``edge_weight``)."""
    check_in(preset, "preset", tuple(LOSS_PRESETS))
    w = dict(LOSS_PRESETS[preset])
    for k, v in overrides.items():
        if k not in w:
            raise InputError(f"loss weight: unknown {k!r}, expected one of {sorted(w)}")
        w[k] = float(v)
    return w


class MeshRCNNLoss(NamedTuple):
    """``total`` and the unweighted terms (mesh terms summed over stages)."""

    total: torch.Tensor
    voxel: torch.Tensor
    chamfer: torch.Tensor
    normal: torch.Tensor
    edge: torch.Tensor


def mesh_rcnn_loss(
    voxel_logits: torch.Tensor | None,
    voxel_targets: torch.Tensor | None,
    meshes: Sequence[Any],
    gt_points: torch.Tensor | None,
    gt_normals: torch.Tensor | None,
    *,
    preset: str = "best",
    num_samples: int = 2000,
    voxel_pos_weight: float | None = None,
    generator: torch.Generator | None = None,
    **weights: float,
) -> MeshRCNNLoss:
    """Voxel BCE plus per-stage Chamfer / normal / edge losses.

    Args:
        voxel_logits, voxel_targets: ``(N, G, G, G)`` K-space logits and occupancy (or None).
        meshes: the refinement stages' ``Meshes`` (N meshes each; may be empty).
        gt_points, gt_normals: ``(N, P, 3)`` GT surface samples in the meshes' frame.
        preset: ``"best"`` or ``"pretty"`` (:data:`LOSS_PRESETS`); ``weights`` override it.
        num_samples: points sampled on each predicted mesh per stage.
    """
    from spacetime.shapes.convert import sample_points_from_meshes
    from spacetime.shapes.losses import chamfer_normal_loss, mesh_edge_loss, voxel_bce_loss

    w = loss_weights(preset, **weights)
    check_int(num_samples, "num_samples", min_value=1)
    ref = voxel_logits if voxel_logits is not None else gt_points
    if ref is None:
        raise InputError("voxel_logits / gt_points: expected at least one of them, got None")
    zero = ref.new_zeros(())
    vox = zero
    if voxel_logits is not None:
        if voxel_targets is None:
            raise InputError("voxel_targets: expected (N, G, G, G) occupancy, got None")
        vox = voxel_bce_loss(voxel_logits, voxel_targets, pos_weight=voxel_pos_weight)
    cham, norm, edge = zero, zero, zero
    if meshes:
        if gt_points is None or gt_normals is None:
            raise InputError("gt_points / gt_normals: expected (N, P, 3) samples for the mesh "
                             "losses, got None")
        sizes = check_tensor(gt_points, "gt_points", ("N", "P", 3), dtype="float")
        check_tensor(gt_normals, "gt_normals", (sizes["N"], sizes["P"], 3), dtype="float")
        for m in meshes:
            if len(m) != sizes["N"]:
                raise InputError(f"meshes: expected {sizes['N']} meshes per stage, got {len(m)}")
            p, nrm = sample_points_from_meshes(m, num_samples, return_normals=True,
                                               generator=generator)
            cn = chamfer_normal_loss(p, gt_points, nrm, gt_normals)
            cham, norm = cham + cn.chamfer, norm + cn.normals
            edge = edge + mesh_edge_loss(m)
    total = (w["voxel_weight"] * vox + w["chamfer_weight"] * cham
             + w["normal_weight"] * norm + w["edge_weight"] * edge)
    return MeshRCNNLoss(total, vox, cham, norm, edge)


def _get(batch: Mapping[str, Any], key: str) -> Any:
    if not isinstance(batch, Mapping) or key not in batch:
        got = sorted(map(str, batch)) if isinstance(batch, Mapping) else type(batch).__name__
        raise InputError(f"batch: expected key {key!r}, got {got}")
    return batch[key]


class MeshRCNNStep:
    """Engine step ``(model, batch) -> (loss, metrics)`` for :class:`MeshRCNNSingle` on
    :class:`~spacetime.shapes.datasets.SyntheticShapes` batches with ``image``, ``K``, ``R``,
    ``t``, ``points`` (+ ``normals``), ``voxels_cam`` and ``depth_range``. GT surface samples
    go to the camera frame (:func:`~spacetime.shapes.models.pixel2mesh.camera_frame_targets`);
    the voxel targets are the camera-aligned ``voxels_cam`` (resized to the model's grid when
    the sizes differ). Metrics: the loss terms and ``chamfer`` of the last stage.

    Args:
        preset: :data:`LOSS_PRESETS` name; ``weights`` override single weights.
        use_gt_depth_range: use the batch's ``depth_range`` (else the model's default).
        num_samples: points per predicted mesh for the losses.
    """

    def __init__(self, *, preset: str = "best", use_gt_depth_range: bool = True,
                 num_samples: int = 2000, voxel_pos_weight: float | None = None,
                 **weights: float) -> None:
        loss_weights(preset, **weights)  # validate
        check_int(num_samples, "num_samples", min_value=1)
        self.preset, self.weights = preset, dict(weights)
        self.use_gt_depth_range = bool(use_gt_depth_range)
        self.num_samples = num_samples
        self.voxel_pos_weight = voxel_pos_weight

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        from spacetime.shapes.losses import chamfer_loss
        from spacetime.shapes.models.pixel2mesh import camera_frame_targets
        from spacetime.shapes.models.tasks import resize_voxels

        mode = getattr(getattr(model, "module", model), "depth_mode", "linear")
        if mode != "linear":
            raise InputError(f"model: expected depth_mode 'linear' (the targets voxels_cam are "
                             f"evenly spaced in depth), got {mode!r}")
        tg = camera_frame_targets(batch)
        if "points" not in tg or "normals" not in tg:
            raise InputError("batch: expected 'points' and 'normals' (returns=('points', ...))")
        vox = _get(batch, "voxels_cam")
        g = getattr(model, "grid_size", None) or model.module.grid_size
        if vox.shape[-1] != g:
            vox = resize_voxels(vox, g)
        dr = _get(batch, "depth_range") if self.use_gt_depth_range else None
        out = model(_get(batch, "image"), _get(batch, "K"), dr)
        loss = mesh_rcnn_loss(out.voxel_logits, vox, out.meshes, tg["points"], tg["normals"],
                              preset=self.preset, num_samples=self.num_samples,
                              voxel_pos_weight=self.voxel_pos_weight, **self.weights)
        with torch.no_grad():
            from spacetime.shapes.convert import sample_points_from_meshes

            last = out.meshes[-1] if out.meshes else out.initial
            cham = chamfer_loss(sample_points_from_meshes(last, self.num_samples), tg["points"])
        return loss.total, {"chamfer": cham, "voxel": loss.voxel.detach(),
                            "chamfer_all": loss.chamfer.detach(),
                            "normal": loss.normal.detach(), "edge": loss.edge.detach()}
