"""Mesh R-CNN in single-object mode (ShapeNet-style data, no detector): image → K-space voxels
→ :func:`~spacetime.shapes.cubify` → mesh refinement stages (Gkioxari et al., "Mesh R-CNN",
ICCV 2019, Sec. 4.1 "ShapeNet").

The object's box is the whole image and its depth range is given per image (the synthetic data's
``depth_range``; R2N2's renderings have a known distance) or defaults to
``init_depth ± depth_radius``. Everything is in the **camera frame** (OpenCV axes), the frame of
:func:`~spacetime.shapes.models.pixel2mesh.camera_frame_targets`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from spacetime.checks import check_in, check_int, check_positive, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import check_image
from spacetime.shapes.models.mesh_rcnn.heads import MeshRefinementHead, VoxelHead
from spacetime.shapes.models.mesh_rcnn.kspace import cubify_kspace, full_image_boxes
from spacetime.shapes.models.pixel2mesh import PyramidEncoder, synthetic_object_depth

__all__ = ["MeshRCNNOutput", "MeshRCNNSingle", "ResNet50Encoder", "mesh_rcnn_single"]

#: ImageNet RGB mean / std (images in [0, 1]), the normalisation of torchvision's ResNets
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class ResNet50Encoder(nn.Module):
    """torchvision's ResNet-50 trunk (random init; no download) as a feature pyramid: RGB
    ``(N, 3, H, W)`` in [0, 1] → normalised with ``mean`` / ``std`` → ``[res2, res3, res4,
    res5]`` maps of 256, 512, 1024, 2048 channels at strides 4, 8, 16, 32 (Mesh R-CNN's ShapeNet
    backbone, ``shapenet/modeling/backbone.py``). Keys: ``body.conv1``, ``body.bn1``,
    ``body.layer1`` … ``body.layer4`` (no ``fc``)."""

    def __init__(self, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        from torchvision.models import resnet50

        body = resnet50(weights=None)
        del body.fc, body.avgpool
        self.body = body
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise InputError(f"mean, std: expected 3 values each (std > 0), got {mean}, {std}")
        self.mean, self.std = tuple(float(x) for x in mean), tuple(float(x) for x in std)
        self.out_channels = (256, 512, 1024, 2048)
        self.stride = 32

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        check_image(images, "images")
        b = self.body
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        x = (images - mean) / std
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        out = []
        for layer in (b.layer1, b.layer2, b.layer3, b.layer4):
            x = layer(x)
            out.append(x)
        return out


class MeshRCNNOutput(NamedTuple):
    """``voxel_logits`` ``(N, G, G, G)`` (K-space, ``[d, h, w]``); ``initial``: the cubified
    voxel prediction (camera frame, ``Meshes``); ``meshes``: the mesh after each refinement
    stage (last = the prediction)."""

    voxel_logits: torch.Tensor
    initial: Any
    meshes: list[Any]


class MeshRCNNSingle(nn.Module):
    """Image ``(N, 3, S, S)`` → voxel logits → cubified mesh → refined meshes.

    Args:
        encoder: images → list of feature maps (e.g. :class:`~spacetime.shapes.models.
            PyramidEncoder`); the first map feeds the voxel head, all feed ``vert_align``.
        voxel_head: :class:`VoxelHead` with ``in_channels`` = the first map's channels.
        mesh_head: :class:`MeshRefinementHead` with ``image_feat_dim`` = all maps' channels.
        cubify_thresh: occupancy probability above which a voxel is cubified (Mesh R-CNN: 0.2).
        init_depth, depth_radius: default depth range ``init_depth ± depth_radius``.
        voxel_feature: index of the encoder map fed to the voxel head (default 0, the first;
            Mesh R-CNN's ShapeNet model: -1, the last).
        depth_mode, cubify_align: :func:`~.kspace.cubify_kspace`'s (Mesh R-CNN's ShapeNet
            voxels: ``"inverse"`` — uniform in Blender's NDC z — and ``"topleft"``).

    Shapes: ``forward(images, K (N, 3, 3) or CameraIntrinsics, depth_range (N, 2) or None,
    init_voxels=None) -> MeshRCNNOutput``; ``init_voxels`` ``(N, G, G, G)`` replaces the
    predicted occupancy as the refinement's starting point (e.g. ground truth, for ablations).
    """

    def __init__(self, encoder: nn.Module, voxel_head: VoxelHead, mesh_head: nn.Module | None,
                 *, cubify_thresh: float = 0.2, init_depth: float = 2.37,
                 depth_radius: float = 0.9, voxel_feature: int = 0,
                 depth_mode: str = "linear", cubify_align: str = "corner") -> None:
        super().__init__()
        check_positive(init_depth, "init_depth")
        check_positive(depth_radius, "depth_radius")
        if depth_radius >= init_depth:
            raise InputError(f"depth_radius: expected < init_depth = {init_depth}, "
                             f"got {depth_radius}")
        self.encoder, self.voxel_head, self.mesh_head = encoder, voxel_head, mesh_head
        self.cubify_thresh = float(cubify_thresh)
        self.init_depth, self.depth_radius = float(init_depth), float(depth_radius)
        self.voxel_feature = int(voxel_feature)
        check_in(depth_mode, "depth_mode", ("linear", "inverse"))
        check_in(cubify_align, "cubify_align", ("corner", "topleft"))
        self.depth_mode, self.cubify_align = depth_mode, cubify_align

    @property
    def grid_size(self) -> int:
        return self.voxel_head.grid_size

    def forward(self, images: torch.Tensor, K: Any, depth_range: torch.Tensor | None = None,
                init_voxels: torch.Tensor | None = None) -> MeshRCNNOutput:
        h, w = check_image(images, "images")
        n = images.shape[0]
        if depth_range is None:
            depth_range = images.new_tensor([self.init_depth - self.depth_radius,
                                             self.init_depth + self.depth_radius]).expand(n, 2)
        check_tensor(depth_range, "depth_range", (n, 2), dtype="float", finite=True)
        maps = self.encoder(images)
        logits = self.voxel_head(maps[self.voxel_feature])
        probs = torch.sigmoid(logits.detach())
        if init_voxels is not None:
            g = self.grid_size
            check_tensor(init_voxels, "init_voxels", (n, g, g, g))
            probs = init_voxels.to(probs.dtype)
        boxes = full_image_boxes(n, (h, w), device=images.device, dtype=images.dtype)
        initial = cubify_kspace(probs, K, boxes, depth_range.to(images.dtype),
                                thresh=self.cubify_thresh, depth_mode=self.depth_mode,
                                align=self.cubify_align)
        meshes = [] if self.mesh_head is None else self.mesh_head(maps, initial, K, (h, w))
        return MeshRCNNOutput(logits, initial, meshes)


def mesh_rcnn_single(
    *,
    image_size: int = 64,
    widths: Sequence[int] = (16, 32, 64, 128),
    num_feature_maps: int = 3,
    grid_size: int = 24,
    voxel_hidden: int = 64,
    voxel_convs: int = 2,
    hidden_dim: int = 64,
    num_stages: int = 3,
    num_convs: int = 3,
    cubify_thresh: float = 0.2,
    focal: float = 1.0,
    init_depth: float | None = None,
    depth_radius: float | None = None,
    encoder: str = "pyramid",
    voxel_feature: int = 0,
    mesh_stage_options: Mapping[str, Any] | None = None,
    depth_mode: str = "linear",
    cubify_align: str = "corner",
) -> MeshRCNNSingle:
    """Single-object Mesh R-CNN ("voxel-init") for ``image_size²`` images.

    CPU-sized defaults: a 4-stage :class:`~spacetime.shapes.models.PyramidEncoder`, 24³ voxels
    (Mesh R-CNN: 48³ on ShapeNet), 3 refinement stages of 3 graph convolutions of width 64
    (Mesh R-CNN: width 128). ``num_stages=0`` gives the voxel-only model ("Voxel-only" row of
    the paper). The default depth range is :func:`synthetic_object_depth` ``(focal) ± 0.9``.

    ``encoder="resnet50"`` uses :class:`ResNet50Encoder` (``widths`` / ``num_feature_maps``
    ignored; any ``image_size`` >= 32), as Mesh R-CNN's ShapeNet model, whose released weights
    :func:`spacetime.weights.meshrcnn.convert_meshrcnn_detectron2` converts together with the
    other arguments (``voxel_feature=-1``, ``mesh_stage_options``: see
    :class:`MeshRefinementHead`).
    """
    check_int(image_size, "image_size", min_value=1)
    check_int(num_stages, "num_stages", min_value=0)
    check_in(encoder, "encoder", ("pyramid", "resnet50"))
    enc: nn.Module
    if encoder == "resnet50":
        enc = ResNet50Encoder()
        if image_size < enc.stride:
            raise InputError(f"image_size: expected >= {enc.stride} with encoder 'resnet50', "
                             f"got {image_size}")
    else:
        enc = PyramidEncoder(widths, num_feature_maps)
        if image_size % enc.stride:
            raise InputError(f"image_size: expected a multiple of {enc.stride} "
                             f"(2^len(widths)), got {image_size}")
    chans = list(enc.out_channels)
    if not -len(chans) <= voxel_feature < len(chans):
        raise InputError(f"voxel_feature: expected an index into the {len(chans)} encoder maps, "
                         f"got {voxel_feature}")
    vox = VoxelHead(chans[voxel_feature], grid_size, hidden=voxel_hidden, num_convs=voxel_convs)
    mesh = None if num_stages == 0 else MeshRefinementHead(
        sum(chans), hidden_dim=hidden_dim, num_stages=num_stages, num_convs=num_convs,
        **dict(mesh_stage_options or {}))
    depth = synthetic_object_depth(focal) if init_depth is None else init_depth
    model = MeshRCNNSingle(enc, vox, mesh, cubify_thresh=cubify_thresh, init_depth=depth,
                           depth_radius=0.9 if depth_radius is None else depth_radius,
                           voxel_feature=voxel_feature, depth_mode=depth_mode,
                           cubify_align=cubify_align)
    model.image_size = image_size
    return model

