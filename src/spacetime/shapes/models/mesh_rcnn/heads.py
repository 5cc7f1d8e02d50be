"""Mesh R-CNN's shape heads (Gkioxari et al., ICCV 2019): the voxel branch, the mesh refinement
branch and a small depth head, all working on one feature map per object (RoIAlign features in
scene mode, the image's feature maps in single-object mode).

Shapes: ``R`` the RoI feature size, ``C`` channels, ``G`` the voxel grid size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.ops import MeshRefinementStage

__all__ = ["VoxelHead", "MeshRefinementHead", "DepthHead", "ZHead"]


class VoxelHead(nn.Module):
    """Voxel branch: ``(N, C, R, R)`` features → ``(N, G, G, G)`` occupancy logits in K-space
    (``[d, h, w]``, see :mod:`.kspace`).

    As Mesh R-CNN: the input is resized to ``G / 2``, ``num_convs`` × (conv 3×3 + ReLU), a 2×
    transposed convolution to ``G × G``, and a 1×1 convolution with ``G`` outputs, one per depth
    slice (the grid's depth axis lives in the channels, so the head stays 2D).
    """

    def __init__(self, in_channels: int, grid_size: int = 24, *, hidden: int = 64,
                 num_convs: int = 2) -> None:
        super().__init__()
        check_int(in_channels, "in_channels", min_value=1)
        check_int(grid_size, "grid_size", min_value=2)
        check_int(hidden, "hidden", min_value=1)
        check_int(num_convs, "num_convs", min_value=0)
        if grid_size % 2:
            raise InputError(f"grid_size: expected an even G (2× upsampling), got {grid_size}")
        self.in_channels, self.grid_size = in_channels, grid_size
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU(inplace=True)]
            c = hidden
        self.convs = nn.Sequential(*layers)
        self.up = nn.ConvTranspose2d(c, hidden, 2, stride=2)
        self.predictor = nn.Conv2d(hidden, grid_size, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.predictor.weight, std=0.001)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        check_tensor(feats, "feats", ("N", self.in_channels, "h", "w"), dtype="float")
        half = self.grid_size // 2
        x = feats
        if x.shape[-2:] != (half, half):
            x = F.interpolate(x, size=(half, half), mode="bilinear", align_corners=False)
        x = torch.relu(self.up(self.convs(x)))
        return self.predictor(x)  # (N, G, G, G): channels = depth slices


class MeshRefinementHead(nn.Module):
    """Mesh refinement branch: ``num_stages`` × :class:`~spacetime.shapes.ops.
    MeshRefinementStage` (vert align → graph convolutions → vertex refinement), each stage
    receiving the previous one's vertex features. No subdivision (the cubified mesh is already
    fine), as in Mesh R-CNN.

    Shapes: ``forward(feature_maps [(N, C_k, h_k, w_k)], meshes (N meshes, camera frame), K
    (N, 3, 3) of the ``image_size`` image the maps cover) -> list of Meshes, one per stage``.

    ``stage_options`` go to every :class:`~spacetime.shapes.ops.MeshRefinementStage`
    (``padding_mode``, ``align``, ``align_corners``, ``neighbor_bias``; the defaults are ours,
    :mod:`spacetime.weights.meshrcnn` gives the released checkpoints' values).
    """

    def __init__(self, image_feat_dim: int, *, hidden_dim: int = 64, num_stages: int = 3,
                 num_convs: int = 3, **stage_options: Any) -> None:
        super().__init__()
        check_int(num_stages, "num_stages", min_value=1)
        self.stages = nn.ModuleList(
            MeshRefinementStage(image_feat_dim, 0 if k == 0 else hidden_dim, hidden_dim,
                                num_convs=num_convs, **stage_options)
            for k in range(num_stages))

    def forward(self, feature_maps: Sequence[torch.Tensor], meshes: Any, K: Any,
                image_size: int | Sequence[int]) -> list[Any]:
        out, feats = [], None
        for stage in self.stages:
            meshes, feats = stage(feature_maps, meshes, K, image_size, feats)
            out.append(meshes)
        return out


class DepthHead(nn.Module):
    """Object depth (scene mode): ``(N, C, R, R)`` RoI features and the box's apparent size
    ``(N,)`` (``max(w / fx, h / fy)``) → the object centre's camera depth ``(N,)`` in scene units.

    Predicts ``log(Z · size)`` (the object's metric size, which a fixed-size RoI feature sees)
    so that depth follows the box: ``Z = exp(out) / size``.
    """

    def __init__(self, in_channels: int, *, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1),
                                 nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.constant_(self.net[-1].bias, -0.7)

    def forward(self, feats: torch.Tensor, apparent_size: torch.Tensor) -> torch.Tensor:
        return self.net(feats).squeeze(1).exp() / apparent_size.clamp_min(1e-6)


class ZHead(nn.Module):
    """Mesh R-CNN's z head (``FastRCNNFCHead`` of its Pix3D model): ``(N, C, R, R)`` RoI
    features → ``num_fc`` × (Linear + ReLU) of width ``fc_dim`` → ``(N, num_outputs)``, one
    output per class (or 1, class-agnostic): ``log(f · dz / (z_c · h))`` — the object's depth
    **extent** ``dz`` relative to its centre depth ``z_c``, times the focal length ``f`` over
    the box height ``h`` (pixels; Mesh R-CNN's ``_process_dz`` target). Hosts released weights;
    it is not our :class:`DepthHead` (which predicts the centre depth).

    :meth:`depth_extent` gives ``exp(min(out, log(1000 / 16))) · h = f · dz / z_c`` (pixels)
    for given classes, as Mesh R-CNN's inference (``z_rcnn_inference`` clamp, then the box
    height product); divide by ``f`` and multiply by ``z_c`` for ``dz``.
    """

    def __init__(self, in_channels: int, roi_size: int = 7, *, num_fc: int = 2,
                 fc_dim: int = 1024, num_outputs: int = 1) -> None:
        super().__init__()
        check_int(in_channels, "in_channels", min_value=1)
        check_int(roi_size, "roi_size", min_value=1)
        check_int(num_fc, "num_fc", min_value=0)
        check_int(fc_dim, "fc_dim", min_value=1)
        check_int(num_outputs, "num_outputs", min_value=1)
        self.in_channels, self.roi_size = in_channels, roi_size
        d = in_channels * roi_size * roi_size
        self.fcs = nn.ModuleList()
        for _ in range(num_fc):
            self.fcs.append(nn.Linear(d, fc_dim))
            d = fc_dim
        self.pred = nn.Linear(d, num_outputs)
        nn.init.normal_(self.pred.weight, std=0.001)
        nn.init.zeros_(self.pred.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        check_tensor(feats, "feats", ("N", self.in_channels, self.roi_size, self.roi_size),
                     dtype="float")
        x = feats.flatten(1)
        for fc in self.fcs:
            x = torch.relu(fc(x))
        return self.pred(x)

    def depth_extent(self, out: torch.Tensor, labels: torch.Tensor,
                     boxes: torch.Tensor) -> torch.Tensor:
        """``(N,)`` ``f · dz / z_c`` (pixels) from :meth:`forward`'s ``(N, K)`` (the ``labels``
        ``(N,)`` 0-based column, or column 0 if class-agnostic) and ``boxes`` ``(N, 4)``
        (pixels)."""
        col = labels.long() if out.shape[1] > 1 else torch.zeros_like(labels, dtype=torch.long)
        z = out.gather(1, col[:, None]).squeeze(1).clamp(max=math.log(1000.0 / 16))
        return z.exp() * (boxes[:, 3] - boxes[:, 1])
