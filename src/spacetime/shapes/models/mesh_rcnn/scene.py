"""Mesh R-CNN in scene mode (Gkioxari et al., "Mesh R-CNN", ICCV 2019): torchvision's Mask R-CNN
detects objects (boxes, classes, masks); RoIAlign features of each object's box feed the voxel
branch (a ``G³`` grid in the object's K-space, :mod:`.kspace`), a depth head (the object centre's
camera depth, which fixes the grid's depth range), :func:`~spacetime.shapes.cubify` and the mesh
refinement branch. Meshes come out in the **camera frame** (OpenCV axes).

Training runs the detector on its own proposals (its usual losses) and the shape heads on the
ground-truth boxes; evaluation runs the shape heads on the detections. Mesh losses are computed
per object after centring on ``(0, 0, z_c)`` and dividing by the grid's depth half-range, so near
and far objects weigh alike (Mesh R-CNN computes them in the normalised box space).

Labels are 0-based class indices here (torchvision's detector reserves 0 for the background;
the shift is internal).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_positive, check_tensor
from spacetime.errors import InputError, MissingFileError
from spacetime.shapes.models.mesh_rcnn.heads import DepthHead, MeshRefinementHead, VoxelHead, ZHead
from spacetime.shapes.models.mesh_rcnn.kspace import (
    box_intrinsics,
    box_to_camera,
    cubify_kspace,
    depth_range_from_box,
    intrinsics_params,
    kspace_voxels,
)
from spacetime.shapes.models.mesh_rcnn.losses import loss_weights, mesh_rcnn_loss

__all__ = [
    "TinyBackbone",
    "MeshRCNN",
    "mesh_rcnn",
    "load_detector_weights",
    "scene_targets",
    "collate_scenes",
    "MeshRCNNSceneStep",
    "predict_scenes",
    "evaluate_scenes",
]


class TinyBackbone(nn.Module):
    """A small CNN for CPU tests and experiments: RGB → ``{"0": stride 4, "1": stride 8}`` maps
    of ``out_channels`` channels (a 2-level pyramid with a top-down sum, FPN-like)."""

    def __init__(self, out_channels: int = 32, width: int = 16) -> None:
        super().__init__()
        self.out_channels = out_channels

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(4, cout),
                                 nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1),
                                 nn.GroupNorm(4, cout), nn.ReLU(inplace=True))

        self.c1, self.c2, self.c3 = block(3, width), block(width, 2 * width), block(2 * width,
                                                                                    4 * width)
        self.l2, self.l3 = nn.Conv2d(2 * width, out_channels, 1), nn.Conv2d(4 * width,
                                                                            out_channels, 1)
        self.o2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        c2 = self.c2(self.c1(x))
        c3 = self.c3(c2)
        p3 = self.l3(c3)
        p2 = self.o2(self.l2(c2) + F.interpolate(p3, size=c2.shape[-2:], mode="nearest"))
        return OrderedDict([("0", p2), ("1", p3)])


def load_detector_weights(detector: nn.Module, path: str) -> list[str]:
    """Load a local Mask R-CNN checkpoint (a state dict, or a dict with ``"model"`` /
    ``"state_dict"``) into ``detector``, skipping tensors whose shape differs (e.g. the class
    predictors of a COCO checkpoint). Returns the skipped / missing keys."""
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingFileError(f"detector checkpoint: {p} does not exist")
    state = torch.load(p, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    own = detector.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    detector.load_state_dict(keep, strict=False)
    return sorted(set(own) - set(keep))


class MeshRCNN(nn.Module):
    """Mask R-CNN + voxel branch + mesh refinement branch.

    Args:
        detector: a ``torchvision.models.detection.MaskRCNN`` with ``num_classes + 1`` classes.
        voxel_head, mesh_head, depth_head: the shape heads (``mesh_head`` may be None: voxels
            only); their ``in_channels`` are the backbone's ``out_channels``.
        featmap_names: backbone maps pooled for the shape heads.
        roi_size: ``R`` of the RoIAlign features of the shape heads.
        cubify_thresh: Mesh R-CNN's 0.2.
        depth_margin: :func:`~.kspace.depth_range_from_box`'s margin.
        max_train_objects: at most this many GT objects per batch train the shape heads.
        mesh_roi_size: RoIAlign size of the mesh head's features (default ``roi_size``;
            Mesh R-CNN pools 12 for voxels, 14 for meshes).
        z_head: optional :class:`ZHead` (Mesh R-CNN's depth-extent head, for released
            weights): evaluation then also returns ``dz`` (the object's depth extent, scene
            units, from the z head's relative extent and the centre depth) per detection and
            uses ``depth ± dz / 2`` as the depth range; not trained here.
        depth_mode, cubify_align: :func:`~.kspace.cubify_kspace`'s ``depth_mode`` / ``align``
            (Mesh R-CNN: ``"inverse"``, ``"topleft"``; defaults ``"linear"``, ``"corner"``).
        mesh_frame: ``"camera"`` (default: the mesh head refines camera-frame meshes, its
            ``vert_align`` projecting with the box's intrinsics) or ``"box"`` (Mesh R-CNN's Pix3D
            head: meshes in the box's normalised space, refinement stages with
            ``align="grid"``; outputs mapped to the camera frame by :func:`~.kspace.
            box_to_camera`).

    Shapes: ``forward(images (N, 3, H, W) or a list of (3, H_i, W_i), K (N, 3, 3), targets=None)``;
    targets per image (:func:`scene_targets`): ``boxes (M, 4)``, ``labels (M,)``, ``masks (M, H,
    W)``, ``meshes`` (camera frame), ``depths (M,)``. Training returns a dict of losses (the
    detector's ``loss_*`` and ``loss_voxel``, ``loss_depth``, ``loss_chamfer``, ``loss_normal``,
    ``loss_edge``, unweighted); evaluation a list of per-image dicts with ``boxes``, ``labels``,
    ``scores``, ``masks`` (bool), ``voxels`` ``(M, G, G, G)`` probabilities, ``depths``,
    ``depth_ranges`` and ``meshes`` (camera frame, or None with no detection).
    """

    def __init__(self, detector: nn.Module, voxel_head: VoxelHead, mesh_head: nn.Module | None,
                 depth_head: DepthHead, *, featmap_names: Sequence[str] = ("0",),
                 roi_size: int = 12, cubify_thresh: float = 0.2, depth_margin: float = 1.3,
                 max_train_objects: int = 16, num_samples: int = 1000,
                 mesh_roi_size: int | None = None, z_head: ZHead | None = None,
                 depth_mode: str = "linear", cubify_align: str = "corner",
                 mesh_frame: str = "camera") -> None:
        super().__init__()
        from torchvision.ops import MultiScaleRoIAlign

        check_int(roi_size, "roi_size", min_value=1)
        check_positive(depth_margin, "depth_margin")
        check_int(max_train_objects, "max_train_objects", min_value=1)
        check_in(depth_mode, "depth_mode", ("linear", "inverse"))
        check_in(cubify_align, "cubify_align", ("corner", "topleft"))
        check_in(mesh_frame, "mesh_frame", ("camera", "box"))
        self.depth_mode, self.cubify_align, self.mesh_frame = depth_mode, cubify_align, mesh_frame
        self.detector = detector
        self.voxel_head, self.mesh_head, self.depth_head = voxel_head, mesh_head, depth_head
        self.shape_pool = MultiScaleRoIAlign(list(featmap_names), roi_size, sampling_ratio=2)
        self.roi_size = roi_size
        self.mesh_roi_size = roi_size if mesh_roi_size is None else check_int(
            mesh_roi_size, "mesh_roi_size", min_value=1)
        self.mesh_pool = None if self.mesh_roi_size == roi_size else MultiScaleRoIAlign(
            list(featmap_names), self.mesh_roi_size, sampling_ratio=2)
        self.z_head = z_head
        self.z_pool = None if z_head is None else MultiScaleRoIAlign(
            list(featmap_names), z_head.roi_size, sampling_ratio=2)
        self.cubify_thresh = float(cubify_thresh)
        self.depth_margin = float(depth_margin)
        self.max_train_objects = max_train_objects
        self.num_samples = num_samples

    @property
    def grid_size(self) -> int:
        return self.voxel_head.grid_size

    def _shape_branch(self, features: Mapping[str, torch.Tensor], boxes: list[torch.Tensor],
                      K: torch.Tensor, scales: list[tuple[float, float]],
                      image_sizes: list[tuple[int, int]], gt_depths: torch.Tensor | None,
                      labels: torch.Tensor | None = None) -> dict[str, Any]:
        """Shape heads on ``boxes`` (original image coordinates) of every image; ``labels``
        (0-based, concatenated) select the z head's class column at evaluation."""
        owner = torch.cat([torch.full((len(b),), i, dtype=torch.long, device=K.device)
                           for i, b in enumerate(boxes)])
        flat = torch.cat(boxes)
        scaled = [b * b.new_tensor([sx, sy, sx, sy]) for b, (sx, sy) in zip(boxes, scales)]
        feats = self.shape_pool(features, scaled, image_sizes)
        Kr = K[owner]
        logits = self.voxel_head(feats)
        p = intrinsics_params(Kr, flat.shape[0])
        apparent = torch.maximum((flat[:, 2] - flat[:, 0]) / p[:, 0],
                                 (flat[:, 3] - flat[:, 1]) / p[:, 1])
        depth = self.depth_head(feats, apparent)
        z = depth.detach() if gt_depths is None else gt_depths
        ranges = depth_range_from_box(flat, z, Kr, margin=self.depth_margin)
        dz = None
        if self.z_head is not None and gt_depths is None and labels is not None:
            z_out = self.z_head(self.z_pool(features, scaled, image_sizes))
            dz = self.z_head.depth_extent(z_out, labels, flat) / p[:, 1] * z  # f dz / z_c → dz
            ranges = torch.stack([torch.maximum(z - dz / 2, 0.05 * z), z + dz / 2], 1)
        box = self.mesh_frame == "box"
        initial = cubify_kspace(torch.sigmoid(logits.detach()), Kr, flat, ranges,
                                thresh=self.cubify_thresh, depth_mode=self.depth_mode,
                                align=self.cubify_align, frame="box" if box else "camera")
        meshes = []
        if self.mesh_head is not None:
            mfeats = feats if self.mesh_pool is None else self.mesh_pool(features, scaled,
                                                                         image_sizes)
            if box:
                meshes = self.mesh_head([mfeats], initial, None, self.mesh_roi_size)
            else:
                Kb = box_intrinsics(Kr, flat, self.mesh_roi_size)
                meshes = self.mesh_head([mfeats], initial, Kb, self.mesh_roi_size)
        if box:
            def cam(m: Any) -> Any:
                return box_to_camera(m, Kr, flat, ranges, depth_mode=self.depth_mode)

            initial, meshes = cam(initial), [cam(m) for m in meshes]
        return {"owner": owner, "boxes": flat, "K": Kr, "logits": logits, "depth": depth,
                "ranges": ranges, "initial": initial, "meshes": meshes, "dz": dz}

    def forward(self, images: Any, K: torch.Tensor, targets: Sequence[Mapping[str, Any]] | None
                = None) -> Any:
        imgs = list(images) if not isinstance(images, torch.Tensor) else list(images.unbind(0))
        n = len(imgs)
        if n == 0:
            raise InputError("images: expected at least one image, got none")
        for i, im in enumerate(imgs):
            check_tensor(im, f"images[{i}]", (3, "H", "W"), dtype="float")
        Kt = K if K.dim() == 3 else K[None]
        check_tensor(Kt, "K", (n, 3, 3), dtype="float")
        if self.training and targets is None:
            raise InputError("targets: expected per-image targets in training mode, got None")
        orig = [tuple(im.shape[-2:]) for im in imgs]
        det_targets = None
        if targets is not None:
            if len(targets) != n:
                raise InputError(f"targets: expected {n} (one per image), got {len(targets)}")
            det_targets = [{"boxes": t["boxes"].float(), "labels": t["labels"].long() + 1,
                            "masks": t["masks"].to(torch.uint8)} for t in targets]
        det = self.detector
        il, tl = det.transform(imgs, det_targets)
        scales = [(w2 / w1, h2 / h1) for (h1, w1), (h2, w2) in zip(orig, il.image_sizes)]
        features = det.backbone(il.tensors)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        proposals, rpn_losses = det.rpn(il, features, tl)
        detections, det_losses = det.roi_heads(features, proposals, il.image_sizes, tl)
        if self.training:
            return {**rpn_losses, **det_losses, **self._shape_losses(features, targets, Kt,
                                                                     scales, il.image_sizes)}
        detections = det.transform.postprocess(detections, il.image_sizes, orig)
        boxes = [d["boxes"] for d in detections]
        out = [{"boxes": d["boxes"], "labels": d["labels"] - 1, "scores": d["scores"],
                "masks": (d["masks"][:, 0] > 0.5) if "masks" in d else None}
               for d in detections]
        if sum(len(b) for b in boxes) == 0:
            for o in out:
                o.update(voxels=None, depths=o["scores"].new_zeros(0), meshes=None,
                         depth_ranges=o["scores"].new_zeros(0, 2))
            return out
        sb = self._shape_branch(features, boxes, Kt, scales, il.image_sizes, None,
                                labels=torch.cat([o["labels"] for o in out]))
        final = sb["meshes"][-1] if sb["meshes"] else sb["initial"]
        probs = torch.sigmoid(sb["logits"])
        for i, o in enumerate(out):
            idx = (sb["owner"] == i).nonzero().squeeze(1)
            o["voxels"], o["depths"], o["depth_ranges"] = probs[idx], sb["depth"][idx], \
                sb["ranges"][idx]
            o["meshes"] = final[idx.tolist()] if idx.numel() else None
            if sb["dz"] is not None:
                o["dz"] = sb["dz"][idx]
        return out

    def _shape_losses(self, features, targets, K, scales, image_sizes) -> dict[str, torch.Tensor]:
        from spacetime.shapes.convert import sample_points_from_meshes
        from spacetime.shapes.structures import Meshes

        boxes = [t["boxes"].float() for t in targets]
        counts = [len(b) for b in boxes]
        total = sum(counts)
        if total == 0:  # no object in the batch: zero shape losses, still in the graph
            z = sum(p.sum() for p in self.voxel_head.parameters()) * 0.0
            return {k: z for k in ("loss_voxel", "loss_depth", "loss_chamfer", "loss_normal",
                                   "loss_edge")}
        keep = None
        if total > self.max_train_objects:
            keep = torch.randperm(total)[: self.max_train_objects].sort().values
            owner = torch.repeat_interleave(torch.arange(len(boxes)), torch.tensor(counts))
            flat = torch.cat(boxes)
            boxes = [flat[keep[owner[keep] == i]] for i in range(len(counts))]
        verts = [v for t in targets for v in t["meshes"].verts_list()]
        faces = [f for t in targets for f in t["meshes"].faces_list()]
        depths = torch.cat([t["depths"].float() for t in targets])
        if keep is not None:
            verts, faces = [verts[i] for i in keep.tolist()], [faces[i] for i in keep.tolist()]
            depths = depths[keep]
        gt = Meshes(verts, faces, validate=False)
        sb = self._shape_branch(features, boxes, K, scales, image_sizes, depths)
        vox_t = kspace_voxels(gt, sb["K"], sb["boxes"], sb["ranges"], self.grid_size,
                              depth_mode=self.depth_mode)
        loss_depth = (sb["depth"].log() - depths.log()).abs().mean()
        # normalise each object: centre (0, 0, z_c), unit depth half-range
        centre = torch.zeros(len(gt), 3, dtype=depths.dtype, device=depths.device)
        centre[:, 2] = depths
        half = (sb["ranges"][:, 1] - sb["ranges"][:, 0]) / 2

        def norm(m: Any) -> Any:
            i = m.verts_packed_to_mesh_idx()
            return m.update_packed((m.verts_packed() - centre[i]) / half[i, None])

        gp, gn = sample_points_from_meshes(norm(gt), self.num_samples, return_normals=True)
        lm = mesh_rcnn_loss(sb["logits"], vox_t, [norm(m) for m in sb["meshes"]], gp, gn,
                            num_samples=self.num_samples)
        return {"loss_voxel": lm.voxel, "loss_depth": loss_depth, "loss_chamfer": lm.chamfer,
                "loss_normal": lm.normal, "loss_edge": lm.edge}


def mesh_rcnn(
    *,
    num_classes: int,
    backbone: str = "tiny",
    image_size: int = 128,
    grid_size: int = 24,
    roi_size: int = 12,
    voxel_hidden: int = 64,
    voxel_convs: int = 2,
    hidden_dim: int = 64,
    num_stages: int = 3,
    num_convs: int = 3,
    cubify_thresh: float = 0.2,
    tiny_channels: int = 32,
    detections_per_img: int = 10,
    score_thresh: float = 0.05,
    detector_checkpoint: str | None = None,
    trainable_backbone_layers: int | None = None,
    num_samples: int = 1000,
    max_size: int | None = None,
    mesh_roi_size: int | None = None,
    mesh_stage_options: Mapping[str, Any] | None = None,
    frozen_bn: bool = False,
    stride_in_1x1: bool = False,
    round_anchors: bool = True,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
    z_head: bool = False,
    z_roi_size: int = 7,
    z_fc_dim: int = 1024,
    z_class_agnostic: bool = False,
    depth_mode: str = "linear",
    cubify_align: str = "corner",
    mesh_frame: str = "camera",
) -> MeshRCNN:
    """Scene-mode Mesh R-CNN around torchvision's Mask R-CNN (random init, or a local checkpoint
    via ``detector_checkpoint``; nothing is downloaded).

    ``backbone``: ``"resnet50-fpn"`` (``maskrcnn_resnet50_fpn(weights=None,
    weights_backbone=None)``, Mesh R-CNN's detector; ``trainable_backbone_layers`` only matters
    with a checkpoint, torchvision trains every layer of a random backbone) or ``"tiny"``
    (:class:`TinyBackbone`, the same MaskRCNN class with small heads, for CPU). Images are used
    at ``image_size`` (the detector's ``min_size``; ``max_size`` defaults to the same).

    Options that let ``"resnet50-fpn"`` host detectron2 / Mesh R-CNN weights exactly
    (:func:`spacetime.weights.meshrcnn.convert_meshrcnn_detectron2` returns their values; all
    default to torchvision's behaviour): ``frozen_bn`` (``FrozenBatchNorm2d`` in the ResNet),
    ``stride_in_1x1`` (MSRA ResNets stride in the first 1×1 convolution of a stage, torchvision
    in the 3×3), ``round_anchors=False`` (detectron2's cell anchors are not rounded),
    ``image_mean`` / ``image_std`` (of RGB images in [0, 1]), ``mesh_roi_size``,
    ``mesh_stage_options`` (:class:`MeshRefinementHead`'s), ``z_head`` (+ ``z_roi_size``,
    ``z_fc_dim``, ``z_class_agnostic``: Mesh R-CNN's :class:`ZHead`), and the shape geometry
    of :class:`MeshRCNN` (``depth_mode``, ``cubify_align``, ``mesh_frame``).
    """
    from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    check_int(num_classes, "num_classes", min_value=1)
    check_in(backbone, "backbone", ("tiny", "resnet50-fpn"))
    check_int(image_size, "image_size", min_value=16)
    common: dict[str, Any] = dict(
        min_size=image_size, max_size=image_size if max_size is None else max_size,
        box_detections_per_img=detections_per_img, box_score_thresh=score_thresh)
    if image_mean is not None or image_std is not None:
        if image_mean is None or image_std is None or len(image_mean) != 3 or len(image_std) != 3:
            raise InputError(f"image_mean, image_std: expected both, 3 values each, got "
                             f"{image_mean!r}, {image_std!r}")
        common.update(image_mean=[float(x) for x in image_mean],
                      image_std=[float(x) for x in image_std])
    custom = frozen_bn or stride_in_1x1 or not round_anchors
    if custom and backbone != "resnet50-fpn":
        raise InputError("frozen_bn / stride_in_1x1 / round_anchors: only for backbone "
                         f"'resnet50-fpn', got backbone {backbone!r}")
    if backbone == "resnet50-fpn" and not custom:
        det = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                    num_classes=num_classes + 1,
                                    trainable_backbone_layers=trainable_backbone_layers,
                                    **common)
        names, channels = ("0", "1", "2", "3"), 256
    elif backbone == "resnet50-fpn":
        det = _detectron2_style_maskrcnn(num_classes + 1, frozen_bn=frozen_bn,
                                         stride_in_1x1=stride_in_1x1,
                                         round_anchors=round_anchors,
                                         trainable_layers=trainable_backbone_layers, **common)
        names, channels = ("0", "1", "2", "3"), 256
    else:
        bb = TinyBackbone(tiny_channels)
        c = tiny_channels
        s = image_size / 128
        sizes = tuple(tuple(max(4, int(round(x * s))) for x in pair)
                      for pair in ((12, 24), (40, 72)))
        det = MaskRCNN(
            bb, num_classes=None,
            rpn_anchor_generator=AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 2),
            box_roi_pool=MultiScaleRoIAlign(["0", "1"], 7, 2),
            mask_roi_pool=MultiScaleRoIAlign(["0", "1"], 14, 2),
            box_head=TwoMLPHead(c * 49, 128),
            box_predictor=FastRCNNPredictor(128, num_classes + 1),
            mask_head=MaskRCNNHeads(c, (c, c), 1),
            mask_predictor=MaskRCNNPredictor(c, c, num_classes + 1),
            rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100,
            rpn_pre_nms_top_n_test=150, rpn_post_nms_top_n_test=50,
            box_batch_size_per_image=64, **common)
        names, channels = ("0", "1"), c
    if detector_checkpoint is not None:
        load_detector_weights(det, detector_checkpoint)
    vox = VoxelHead(channels, grid_size, hidden=voxel_hidden, num_convs=voxel_convs)
    mesh = None if num_stages == 0 else MeshRefinementHead(
        channels, hidden_dim=hidden_dim, num_stages=num_stages, num_convs=num_convs,
        **dict(mesh_stage_options or {}))
    zh = None if not z_head else ZHead(channels, z_roi_size, fc_dim=z_fc_dim,
                                       num_outputs=1 if z_class_agnostic else num_classes)
    model = MeshRCNN(det, vox, mesh, DepthHead(channels, hidden=voxel_hidden),
                     featmap_names=names, roi_size=roi_size, cubify_thresh=cubify_thresh,
                     num_samples=num_samples, mesh_roi_size=mesh_roi_size, z_head=zh,
                     depth_mode=depth_mode, cubify_align=cubify_align, mesh_frame=mesh_frame)
    model.image_size = image_size
    model.num_classes = num_classes
    return model


def _unrounded_anchor_generator(sizes: Sequence[Sequence[int]],
                                ratios: Sequence[Sequence[float]]) -> nn.Module:
    """torchvision's ``AnchorGenerator`` with detectron2's cell anchors: ``(-w/2, -h/2, w/2,
    h/2)`` with ``w = s / sqrt(a)``, ``h = s sqrt(a)`` **not rounded** (torchvision rounds)."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    class Unrounded(AnchorGenerator):
        def generate_anchors(self, scales: Any, aspect_ratios: Any,
                             dtype: torch.dtype = torch.float32,
                             device: Any = "cpu") -> torch.Tensor:
            s = torch.as_tensor(scales, dtype=dtype, device=device)
            a = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
            h = torch.sqrt(a)
            ws = (s[None, :] / h[:, None]).reshape(-1)
            hs = (h[:, None] * s[None, :]).reshape(-1)
            return torch.stack([-ws, -hs, ws, hs], dim=1) / 2

    return Unrounded(tuple(tuple(x) for x in sizes), tuple(tuple(r) for r in ratios))


def _detectron2_style_maskrcnn(num_classes: int, *, frozen_bn: bool, stride_in_1x1: bool,
                               round_anchors: bool, trainable_layers: int | None,
                               **kwargs: Any) -> nn.Module:
    """torchvision's Mask R-CNN ResNet-50-FPN with detectron2's variants (see
    :func:`mesh_rcnn`): ``FrozenBatchNorm2d``, stride in the 1×1 convolution, unrounded
    anchors. ``trainable_layers`` default: 3 (detectron2's ``FREEZE_AT=2``) with frozen BN,
    else 5."""
    from torchvision.models import resnet50
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d

    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d)
    if stride_in_1x1:
        for layer in (body.layer2, body.layer3, body.layer4):
            layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
    tl = (3 if frozen_bn else 5) if trainable_layers is None else check_int(
        trainable_layers, "trainable_backbone_layers", min_value=0)
    backbone = _resnet_fpn_extractor(body, min(tl, 5))
    anchors = None
    if not round_anchors:
        anchors = _unrounded_anchor_generator(((32,), (64,), (128,), (256,), (512,)),
                                              ((0.5, 1.0, 2.0),) * 5)
    return MaskRCNN(backbone, num_classes=num_classes, rpn_anchor_generator=anchors, **kwargs)


# ============================================================================ data, step, eval


def scene_targets(item: Mapping[str, Any]) -> dict[str, Any]:
    """Per-image targets for :class:`MeshRCNN` from a
    :class:`~spacetime.shapes.datasets.SyntheticScenes` item (``boxes``, ``labels``, ``masks``,
    ``object_*``, ``R``, ``t``) or a :class:`~spacetime.shapes.datasets.Pix3D` item (one object:
    ``bbox``, ``label_index``, ``mask``, ``verts``/``faces``, ``R``, ``t``): ``boxes``
    ``(M, 4)``, ``labels`` ``(M,)``, ``masks`` ``(M, H, W)`` bool, ``meshes`` (camera frame,
    ``X_cam = R X_world + t``) and ``depths`` ``(M,)`` (camera Z of each mesh's bounding-box
    centre)."""
    from spacetime.shapes.structures import Meshes

    R, t = item["R"].float(), item["t"].float()
    if "object_verts" in item:
        verts = [(s * v.float() @ Ro.T.float() + to.float()) @ R.T + t for v, s, Ro, to in zip(
            item["object_verts"], item["object_scale"], item["object_R"], item["object_t"])]
        faces = list(item["object_faces"])
        boxes, labels, masks = item["boxes"].float(), item["labels"].long(), item["masks"].bool()
    elif "bbox" in item and "verts" in item:
        verts, faces = [item["verts"].float() @ R.T + t], [item["faces"]]
        boxes = item["bbox"].float().reshape(1, 4)
        labels = torch.tensor([int(item["label_index"])])
        masks = (item["mask"] > 0.5)[None]
    else:
        raise InputError("item: expected a SyntheticScenes item (object_verts, boxes, ...) or a "
                         f"Pix3D item with its mesh, got keys {sorted(item)}")
    meshes = Meshes(verts, faces, validate=False)
    bb = meshes.get_bounding_boxes()  # (M, 3, 2)
    depths = bb[:, 2].mean(1)
    return {"boxes": boxes, "labels": labels, "masks": masks, "meshes": meshes,
            "depths": depths}


def collate_scenes(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch scene items: ``images`` (a list of ``(3, H, W)``), ``K`` ``(N, 3, 3)`` and
    ``targets`` (a list of :func:`scene_targets`)."""
    if not items:
        raise InputError("items: expected a non-empty list of scene items")
    return {"images": [it["image"] for it in items],
            "K": torch.stack([it["K"].float() for it in items]),
            "targets": [scene_targets(it) for it in items]}


def _move_scene_batch(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    tg = [{k: (v.to(device) if hasattr(v, "to") else v) for k, v in t.items()}
          for t in batch["targets"]]
    return {"images": [im.to(device) for im in batch["images"]], "K": batch["K"].to(device),
            "targets": tg}


class MeshRCNNSceneStep:
    """Engine step for :class:`MeshRCNN` on :func:`collate_scenes` batches: the sum of the
    detector's losses and the weighted shape losses (:data:`~.losses.LOSS_PRESETS` ``preset``
    for voxel / Chamfer / normal / edge, ``depth_weight`` for the depth head)."""

    def __init__(self, *, preset: str = "best", depth_weight: float = 1.0,
                 **weights: float) -> None:
        self.weights = loss_weights(preset, **weights)
        self.depth_weight = float(depth_weight)

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        if not isinstance(batch, Mapping) or "targets" not in batch:
            raise InputError("batch: expected a collate_scenes batch (images, K, targets)")
        dev = next(model.parameters()).device
        batch = _move_scene_batch(batch, dev)
        losses = model(batch["images"], batch["K"], batch["targets"])
        w = {"loss_voxel": self.weights["voxel_weight"],
             "loss_chamfer": self.weights["chamfer_weight"],
             "loss_normal": self.weights["normal_weight"],
             "loss_edge": self.weights["edge_weight"], "loss_depth": self.depth_weight}
        total = sum(w.get(k, 1.0) * v for k, v in losses.items())
        return total, {k.removeprefix("loss_"): v.detach() for k, v in losses.items()}


@torch.no_grad()
def predict_scenes(model: nn.Module, loader: Any, *, device: str | torch.device = "cpu"
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``model`` (eval mode) over a loader of :func:`collate_scenes` batches; returns the
    per-image predictions and targets (on the CPU)."""
    model = model.to(device).eval()
    preds, tgts = [], []
    for batch in loader:
        b = _move_scene_batch(batch, torch.device(device))
        out = model(b["images"], b["K"])
        for o, t in zip(out, batch["targets"]):
            preds.append({k: (v.cpu() if hasattr(v, "cpu") else v) for k, v in o.items()})
            tgts.append(t)
    return preds, tgts


def evaluate_scenes(model: nn.Module, loader: Any, *, device: str | torch.device = "cpu",
                    num_samples: int = 10000, class_names: Sequence[str] | None = None,
                    kinds: Sequence[str] = ("box", "mask", "mesh")) -> dict[str, float]:
    """Pix3D-style evaluation (:func:`~.evaluation.detection_ap`): box, mask and mesh AP (IoU
    0.5; F1@0.3 > 0.5) per category and mean, plus ``num_images``."""
    from spacetime.shapes.models.mesh_rcnn.evaluation import detection_ap

    preds, tgts = predict_scenes(model, loader, device=device)
    for p in preds:  # images without detections: empty predictions
        if p["meshes"] is None:
            p["meshes"] = _EmptyMeshes()
        if p["masks"] is None:
            p["masks"] = torch.zeros(0, 1, 1, dtype=torch.bool)
    res = detection_ap(preds, tgts, kinds=kinds, num_samples=num_samples,
                       class_names=class_names)
    res["num_images"] = len(preds)
    res["num_detections"] = sum(len(p["scores"]) for p in preds)
    if not math.isfinite(res.get("box_AP", 0.0)):
        res["box_AP"] = 0.0
    return res


class _EmptyMeshes:
    """Stands for a batch of zero meshes in :func:`evaluate_scenes`."""

    def __len__(self) -> int:
        return 0

    def cpu(self) -> _EmptyMeshes:
        return self
