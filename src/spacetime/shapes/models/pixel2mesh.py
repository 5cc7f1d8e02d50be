"""Pixel2Mesh (Wang et al., "Pixel2Mesh: Generating 3D Mesh Models from Single RGB Images",
ECCV 2018): an ico-sphere placed in front of the camera is deformed by a cascade of refinement
stages, each pooling image features at the projected vertices (:func:`~spacetime.shapes.ops.
vert_align`), propagating them along mesh edges (:class:`~spacetime.shapes.ops.GraphConv`) and
moving the vertices (:class:`~spacetime.shapes.ops.VertexRefine`); the mesh is subdivided between
stages (graph unpooling, features interpolated to the new vertices). It is also the
*sphere-init* baseline of Mesh R-CNN's comparison (Gkioxari et al. 2019).

Frames: everything is in the **camera frame** (OpenCV axes, x right, y down, z forward, the
units of the ground truth). The initial sphere of radius ``init_radius`` is centred on the
optical axis at depth ``init_depth`` (the object's expected distance; with
:class:`~spacetime.shapes.datasets.SyntheticShapes` the mean camera distance,
:func:`synthetic_object_depth`), or at per-image depths passed to ``forward`` (e.g. the known
object distance ``‖t‖``, as R2N2's rendering metadata gives). Ground truth in the object frame is
moved to the camera frame with ``X_cam = R X + t`` (:func:`camera_frame_targets`).

Losses (per stage, summed over stages, on points sampled from the predicted surface): Chamfer-L2
and normal loss against GT surface samples (:func:`~spacetime.shapes.losses.chamfer_normal_loss`),
edge-length (:func:`~spacetime.shapes.losses.mesh_edge_loss`) and Laplacian smoothing
(:func:`~spacetime.shapes.losses.mesh_laplacian_smoothing`) regularisers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from spacetime.checks import check_int, check_positive, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import check_image, conv2d_block
from spacetime.shapes.ops import MeshRefinementStage, subdivide_meshes_and_features

__all__ = [
    "PyramidEncoder",
    "Pixel2Mesh",
    "Pixel2MeshOutput",
    "Pixel2MeshLoss",
    "Pixel2MeshStep",
    "pixel2mesh",
    "pixel2mesh_loss",
    "camera_frame_targets",
    "evaluate_pixel2mesh",
    "synthetic_object_depth",
]


def synthetic_object_depth(focal: float = 1.0) -> float:
    """Mean camera-to-object-centre distance of :class:`~spacetime.shapes.datasets.SyntheticShapes`
    with this ``focal``: ``1.225 · (√3 / 2) / sin(atan(0.5 / focal))`` (distance factors
    uniform in ``[1.05, 1.4]``; 2.37 for ``focal = 1``)."""
    check_positive(focal, "focal")
    return 1.225 * (math.sqrt(3.0) / 2.0) / math.sin(math.atan(0.5 / focal))


class PyramidEncoder(nn.Module):
    """A small VGG-like CNN returning a feature pyramid (Pixel2Mesh pools VGG-16's conv3_3,
    conv4_3 and conv5_3; here scaled down).

    Each stage is ``conv 3×3 stride 2 → conv 3×3`` (normalisation, ReLU); the maps of the last
    ``num_outputs`` stages are returned: RGB ``(N, 3, S, S)`` → ``[(N, widths[k], S / 2^(k+1),
    S / 2^(k+1))]`` for the last ``num_outputs`` values of ``k``.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 128), num_outputs: int = 3) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise InputError(f"widths: expected positive stage widths, got {widths}")
        check_int(num_outputs, "num_outputs", min_value=1)
        if num_outputs > len(widths):
            raise InputError(
                f"num_outputs: expected at most {len(widths)} (one per stage), got {num_outputs}"
            )
        self.stages = nn.ModuleList()
        cin = 3
        for w in widths:
            self.stages.append(nn.Sequential(conv2d_block(cin, w, 2), conv2d_block(w, w, 1)))
            cin = w
        self.num_outputs = num_outputs
        self.out_channels = widths[-num_outputs:]
        self.stride = 2 ** len(widths)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        check_image(images, "images", multiple_of=self.stride)
        x, out = images, []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= len(self.stages) - self.num_outputs:
                out.append(x)
        return out


class Pixel2MeshOutput(NamedTuple):
    """``meshes``: the refined mesh batch after each stage (last = the prediction);
    ``initial``: the ico-sphere batch the first stage started from."""

    meshes: list[Any]
    initial: Any


class Pixel2Mesh(nn.Module):
    """Ico-sphere → ``len(stages)`` refinement stages with a subdivision before every stage
    but the first (Pixel2Mesh's 156 → 618 → 2466 vertices become 162 → 642 → 2562 from a
    level-2 ico-sphere).

    Args:
        encoder: images ``(N, 3, S, S)`` → list of feature maps (e.g. :class:`PyramidEncoder`).
        stages: :class:`~spacetime.shapes.ops.MeshRefinementStage` modules; stage ``k > 0``
            receives stage ``k - 1``'s vertex features.
        init_level: ico-sphere level of the initial mesh.
        init_radius: initial sphere radius (camera-frame units).
        init_depth: default depth of the sphere centre on the optical axis.
        subdivide: subdivide between stages.
        image_size: if given, ``forward`` accepts only ``image_size × image_size`` images.

    Shapes: ``forward(images (N, 3, S, S), K ((N, 3, 3) or CameraIntrinsics, pixels of the
    S × S image), depths=None or (N,)) -> Pixel2MeshOutput``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        stages: Sequence[nn.Module],
        *,
        init_level: int = 2,
        init_radius: float = 0.35,
        init_depth: float = 2.37,
        subdivide: bool = True,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if not stages:
            raise InputError("stages: expected at least one refinement stage, got none")
        check_int(init_level, "init_level", min_value=0)
        check_positive(init_radius, "init_radius")
        check_positive(init_depth, "init_depth")
        self.encoder = encoder
        self.stages = nn.ModuleList(stages)
        self.init_level = init_level
        self.init_radius = float(init_radius)
        self.init_depth = float(init_depth)
        self.subdivide = bool(subdivide)
        if image_size is not None:
            check_int(image_size, "image_size", min_value=1)
        self.image_size = image_size

    def initial_meshes(
        self,
        n: int,
        depths: torch.Tensor | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Any:
        """``n`` ico-spheres of radius ``init_radius`` centred at ``(0, 0, depth)``."""
        from spacetime.shapes.convert import ico_sphere
        from spacetime.shapes.structures import Meshes

        s = ico_sphere(self.init_level, device=device, dtype=dtype)
        v, f = s.verts_list()[0] * self.init_radius, s.faces_list()[0]
        if depths is None:
            d = torch.full((n,), self.init_depth, dtype=dtype, device=v.device)
        else:
            check_tensor(depths, "depths", (n,), dtype="float", finite=True)
            d = depths.to(device=v.device, dtype=dtype)
            if bool((d <= self.init_radius).any()):
                raise InputError(
                    f"depths: expected depths > init_radius = {self.init_radius} (sphere in "
                    f"front of the camera), got min {float(d.min()):.3g}"
                )
        centres = torch.zeros(n, 3, dtype=dtype, device=v.device)
        centres[:, 2] = d
        return Meshes([v + c for c in centres], [f] * n, validate=False)

    def forward(
        self, images: torch.Tensor, K: Any, depths: torch.Tensor | None = None
    ) -> Pixel2MeshOutput:
        h, w = check_image(images, "images", self.image_size)
        n = images.shape[0]
        maps = self.encoder(images)
        mesh = self.initial_meshes(n, depths, device=images.device, dtype=images.dtype)
        initial, out, feats = mesh, [], None
        for k, stage in enumerate(self.stages):
            if k > 0 and self.subdivide:
                mesh, feats = subdivide_meshes_and_features(mesh, feats)
            mesh, feats = stage(maps, mesh, K, (h, w), feats)
            out.append(mesh)
        return Pixel2MeshOutput(out, initial)


def pixel2mesh(
    *,
    image_size: int = 64,
    widths: Sequence[int] = (16, 32, 64, 128),
    num_feature_maps: int = 3,
    hidden_dim: int = 128,
    num_stages: int = 3,
    num_convs: int = 3,
    init_level: int = 2,
    init_radius: float = 0.35,
    init_depth: float | None = None,
    focal: float = 1.0,
) -> Pixel2Mesh:
    """Pixel2Mesh for ``image_size × image_size`` images (a multiple of ``2^len(widths)``).

    ``init_depth`` defaults to :func:`synthetic_object_depth` of ``focal`` (the synthetic data's
    ``fx = focal · S``). The CPU-sized default: 3 stages of 3 graph convolutions, width 128,
    162 → 642 → 2562 vertices; Pixel2Mesh itself uses width 192 and 14 convolutions per stage.
    """
    check_int(image_size, "image_size", min_value=1)
    enc = PyramidEncoder(widths, num_feature_maps)
    if image_size % enc.stride:
        raise InputError(
            f"image_size: expected a multiple of {enc.stride} (2^len(widths)), got {image_size}"
        )
    check_int(num_stages, "num_stages", min_value=1)
    check_int(hidden_dim, "hidden_dim", min_value=1)
    c = sum(enc.out_channels)
    stages = [MeshRefinementStage(c, 0 if k == 0 else hidden_dim, hidden_dim, num_convs=num_convs)
              for k in range(num_stages)]
    depth = synthetic_object_depth(focal) if init_depth is None else init_depth
    return Pixel2Mesh(enc, stages, init_level=init_level, init_radius=init_radius,
                      init_depth=depth, image_size=image_size)


# ============================================================================ losses, training


class Pixel2MeshLoss(NamedTuple):
    """``total`` (weighted sum over stages) and the unweighted terms summed over stages."""

    total: torch.Tensor
    chamfer: torch.Tensor
    normal: torch.Tensor
    edge: torch.Tensor
    laplacian: torch.Tensor


def pixel2mesh_loss(
    meshes: Sequence[Any],
    gt_points: torch.Tensor,
    gt_normals: torch.Tensor,
    *,
    num_samples: int = 2000,
    chamfer_weight: float = 1.0,
    normal_weight: float = 0.1,
    edge_weight: float = 0.2,
    laplacian_weight: float = 0.1,
    generator: torch.Generator | None = None,
) -> Pixel2MeshLoss:
    """Sum over the stage meshes of ``w_c L_cham + w_n L_norm + w_e L_edge + w_l L_lap``.

    ``L_cham`` (Chamfer-L2: the two means of squared nearest distances, summed) and ``L_norm``
    (``-(mean |cos|)`` both ways) compare ``num_samples`` points sampled on each predicted mesh
    with ``gt_points`` / ``gt_normals`` ``(N, P, 3)`` (camera frame); ``L_edge`` is Mesh R-CNN's
    mean squared edge length, ``L_lap`` uniform Laplacian smoothing. Defaults follow Mesh R-CNN's
    ShapeNet weights (Chamfer 1, edge 0.2), with a small normal and Laplacian term as in
    Pixel2Mesh.
    """
    from spacetime.shapes.convert import sample_points_from_meshes
    from spacetime.shapes.losses import (
        chamfer_normal_loss,
        mesh_edge_loss,
        mesh_laplacian_smoothing,
    )

    if not meshes:
        raise InputError("meshes: expected at least one stage's meshes, got none")
    sizes = check_tensor(gt_points, "gt_points", ("N", "P", 3), dtype="float")
    check_tensor(gt_normals, "gt_normals", (sizes["N"], sizes["P"], 3), dtype="float")
    zero = gt_points.new_zeros(())
    terms = {"chamfer": zero, "normal": zero, "edge": zero, "laplacian": zero}
    for m in meshes:
        if len(m) != sizes["N"]:
            raise InputError(f"meshes: expected {sizes['N']} meshes per stage, got {len(m)}")
        p, nrm = sample_points_from_meshes(m, num_samples, return_normals=True,
                                           generator=generator)
        cn = chamfer_normal_loss(p, gt_points, nrm, gt_normals)
        terms["chamfer"] = terms["chamfer"] + cn.chamfer
        terms["normal"] = terms["normal"] + cn.normals
        terms["edge"] = terms["edge"] + mesh_edge_loss(m)
        terms["laplacian"] = terms["laplacian"] + mesh_laplacian_smoothing(m)
    total = (chamfer_weight * terms["chamfer"] + normal_weight * terms["normal"]
             + edge_weight * terms["edge"] + laplacian_weight * terms["laplacian"])
    return Pixel2MeshLoss(total, **terms)


def _get(batch: Mapping[str, Any], key: str) -> Any:
    if not isinstance(batch, Mapping) or key not in batch:
        got = sorted(map(str, batch)) if isinstance(batch, Mapping) else type(batch).__name__
        raise InputError(f"batch: expected key {key!r}, got {got}")
    return batch[key]


def camera_frame_targets(batch: Mapping[str, Any]) -> dict[str, Any]:
    """Move a :func:`~spacetime.shapes.datasets.collate_3d` batch's object-frame ground truth
    to the camera frame with its ``R`` ``(N, 3, 3)`` and ``t`` ``(N, 3)``: returns ``points``
    ``(N, P, 3)`` and ``normals`` (rotated) when the batch has points, ``meshes`` when it has
    meshes, and ``depths`` ``(N,)`` = ``‖t‖`` (the object-centre distance)."""
    R, t = _get(batch, "R"), _get(batch, "t")
    sizes = check_tensor(R, "R", ("N", 3, 3), dtype="float")
    check_tensor(t, "t", (sizes["N"], 3), dtype="float")
    out: dict[str, Any] = {"depths": t.norm(dim=1)}
    if batch.get("points") is not None:
        out["points"] = batch["points"] @ R.transpose(1, 2) + t[:, None]
        if batch.get("normals") is not None:
            out["normals"] = batch["normals"] @ R.transpose(1, 2)
    meshes = batch.get("meshes")
    if meshes is not None:
        from spacetime.shapes.structures import Meshes

        out["meshes"] = Meshes(
            [v.to(R.device) @ R[i].t() + t[i] for i, v in enumerate(meshes.verts_list())],
            [f.to(R.device) for f in meshes.faces_list()], validate=False,
        )
    return out


class Pixel2MeshStep:
    """Engine step ``(model, batch) -> (loss, metrics)`` for :class:`Pixel2Mesh` on
    :class:`~spacetime.shapes.datasets.SyntheticShapes` batches with ``image``, ``K``, ``R``,
    ``t`` and ``points`` (+ ``normals``). Ground truth goes to the camera frame
    (:func:`camera_frame_targets`); the initial sphere sits at the known object distance
    ``‖t‖`` when ``use_gt_depth`` (else at the model's ``init_depth``). Metrics: the loss terms
    and ``chamfer`` of the last stage.
    """

    def __init__(self, *, use_gt_depth: bool = True, num_samples: int = 2000,
                 **loss_weights: float) -> None:
        check_int(num_samples, "num_samples", min_value=1)
        allowed = {"chamfer_weight", "normal_weight", "edge_weight", "laplacian_weight"}
        for k in loss_weights:
            if k not in allowed:
                raise InputError(f"loss_weights: unknown {k!r}, expected one of {sorted(allowed)}")
        self.use_gt_depth = bool(use_gt_depth)
        self.num_samples = num_samples
        self.loss_weights = dict(loss_weights)

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        from spacetime.shapes.convert import sample_points_from_meshes
        from spacetime.shapes.losses import chamfer_loss

        tg = camera_frame_targets(batch)
        if "points" not in tg or "normals" not in tg:
            raise InputError("batch: expected 'points' and 'normals' (returns=('points', ...))")
        out = model(_get(batch, "image"), _get(batch, "K"),
                    tg["depths"] if self.use_gt_depth else None)
        loss = pixel2mesh_loss(out.meshes, tg["points"], tg["normals"],
                               num_samples=self.num_samples, **self.loss_weights)
        with torch.no_grad():
            last = sample_points_from_meshes(out.meshes[-1], self.num_samples)
            cham = chamfer_loss(last, tg["points"])
        return loss.total, {"chamfer": cham, "chamfer_all": loss.chamfer.detach(),
                            "normal": loss.normal.detach(), "edge": loss.edge.detach(),
                            "laplacian": loss.laplacian.detach()}


@torch.no_grad()
def evaluate_pixel2mesh(
    model: nn.Module,
    loader: Any,
    *,
    device: str | torch.device = "cpu",
    use_gt_depth: bool = True,
    num_samples: int = 2000,
    thresholds: Sequence[float] = (0.1, 0.3, 0.5),
    stage: int = -1,
    seed: int = 0,
) -> dict[str, float]:
    """Mean :func:`~spacetime.shapes.compare_meshes` metrics (Mesh R-CNN protocol: GT longest
    bounding-box edge scaled to 10; ``Chamfer-L2``, ``AbsNormalConsistency``, ``F1@t``) of the
    meshes of ``stage`` over a loader of batches with ``image``, ``K``, ``R``, ``t`` and
    ``meshes``, compared in the camera frame. ``stage=None`` scores the initial spheres (the
    untrained baseline). Also returns ``num_images``."""
    from spacetime.engine import move_to_device
    from spacetime.shapes.metrics import compare_meshes

    model = model.to(device).eval()
    sums: dict[str, float] = {}
    count = 0
    for batch in loader:
        batch = move_to_device(batch, torch.device(device))
        if batch.get("meshes") is not None:
            batch = dict(batch, meshes=batch["meshes"].to(device))
        tg = camera_frame_targets(batch)
        if "meshes" not in tg:
            raise InputError("batch: expected GT meshes ('verts'/'faces') for mesh metrics")
        out = model(batch["image"], batch["K"], tg["depths"] if use_gt_depth else None)
        pred = out.initial if stage is None else out.meshes[stage]
        cm = compare_meshes(pred, tg["meshes"], num_samples=num_samples,
                            thresholds=thresholds, seed=seed)
        for k, v in cm.items():
            sums[k] = sums.get(k, 0.0) + float(v.double().sum())
        count += len(pred)
    res = {k: v / max(count, 1) for k, v in sums.items()}
    res["num_images"] = count
    return res
