"""Octree generation from an image (coarse to fine; after Tatarchenko et al. 2017, "Octree
Generating Networks: Efficient Convolutional Architectures for High-resolution 3D Outputs").

The network predicts, for every cell of a dense ``B³`` base grid, one of three states
``EMPTY`` / ``FULL`` / ``MIXED`` (the states of :mod:`spacetime.shapes.structures.octree`).
Only ``MIXED`` cells are refined: their features go through a *sparse* transposed convolution
(kernel 2, stride 2: one ``Linear(C → 8 C')``, a separate weight slice per child) that produces
the 8 children's features, and each child gets a state again — down to the finest resolution
``R = B · 2**L``, where the cells are ``EMPTY`` / ``FULL`` only. Activations therefore grow with
the number of boundary cells (≈ surface area, ``O(R²)``) instead of the volume (``O(R³)``).

Training propagates the *ground-truth* ``MIXED`` cells (OGN's "Prop: known"), so every predicted
child has a target; the loss is the mean cross-entropy of the states at each level, summed over
levels. Inference propagates the predicted ``MIXED`` cells. Targets come from the dense GT grid by
min / max pooling (:func:`octree_targets`); the output converts to a dense grid
(:meth:`OctreeOutput.to_dense`) or to an :class:`~spacetime.shapes.structures.Octree`.

Cell coordinates are ``[n, z, y, x]`` at each level's resolution; grids are ``(N, D, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import build_image_encoder, group_norm
from spacetime.shapes.structures.octree import EMPTY, FULL, MIXED

__all__ = ["OctreeGenerator", "OctreeOutput", "octree_gen", "octree_targets", "octree_loss"]

_CHILD = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=torch.int64,
                      device="cpu")


@dataclass
class OctreeOutput:
    """Per level ``l`` (resolution ``B · 2**l``): ``coords[l]`` ``(M_l, 4)`` [n, z, y, x] of the
    cells that exist and ``logits[l]`` ``(M_l, 3)`` (``(M_L, 2)`` at the finest level) state
    logits, classes ordered ``EMPTY, FULL, MIXED``. Level 0 is the dense base grid."""

    coords: list[torch.Tensor]
    logits: list[torch.Tensor]
    batch_size: int
    base_resolution: int

    @property
    def resolution(self) -> int:
        return self.base_resolution * 2 ** (len(self.coords) - 1)

    def states(self) -> list[torch.Tensor]:
        """Predicted states per level (argmax), uint8."""
        return [lg.argmax(1).to(torch.uint8) for lg in self.logits]

    def to_dense(self, states: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Occupancy ``(N, R, R, R)`` float in {0, 1}: every ``FULL`` cell painted at its size
        (cells refined at the finest level count as ``FULL`` when predicted ``MIXED`` nowhere)."""
        states = self.states() if states is None else states
        n, r = self.batch_size, self.resolution
        dev = self.coords[0].device
        out = torch.zeros(n, r, r, r, dtype=torch.float32, device=dev)
        for level, (c, st) in enumerate(zip(self.coords, states)):
            res = self.base_resolution * 2 ** level
            full = torch.zeros(n, res, res, res, dtype=torch.float32, device=dev)
            sel = c[st == FULL]
            full[sel[:, 0], sel[:, 1], sel[:, 2], sel[:, 3]] = 1.0
            k = r // res
            if k > 1:
                full = full.repeat_interleave(k, 1).repeat_interleave(k, 2).repeat_interleave(k, 3)
            out = torch.maximum(out, full)
        return out

    def to_octree(self):
        """The predicted shape as an :class:`~spacetime.shapes.structures.Octree`."""
        from spacetime.shapes.structures import Octree

        return Octree.from_dense(self.to_dense() > 0.5)


def octree_targets(voxels: torch.Tensor, base_resolution: int) -> list[torch.Tensor]:
    """Dense state grids per level from a GT occupancy ``(N, R, R, R)``: ``targets[l]`` is
    ``(N, r, r, r)`` int64 with ``r = base_resolution · 2**l`` and values ``EMPTY`` (no occupied
    voxel inside), ``FULL`` (all occupied) or ``MIXED``."""
    check_tensor(voxels, "voxels", ("N", "R", "R", "R"))
    r = int(voxels.shape[1])
    v = voxels.float()[:, None]
    out = []
    res = r
    mx, mn = v, v
    while True:
        st = torch.full(mx.shape[:1] + mx.shape[2:], MIXED, dtype=torch.int64, device=v.device)
        st[mx[:, 0] < 0.5] = EMPTY
        st[mn[:, 0] >= 0.5] = FULL
        out.append(st)
        if res == base_resolution:
            break
        if res % 2 or res < base_resolution:
            raise InputError(
                f"voxels: expected a side base_resolution * 2**k = {base_resolution} * 2**k, "
                f"got {r}"
            )
        mx, mn = F.max_pool3d(mx, 2), -F.max_pool3d(-mn, 2)
        res //= 2
    return out[::-1]


class OctreeGenerator(nn.Module):
    """Image ``(N, 3, S, S)`` → :class:`OctreeOutput` up to ``resolution³``.

    Args:
        image_size: ``S``.
        resolution: finest side ``R = base_resolution · 2**L``.
        base_resolution: side ``B`` of the dense base grid (OGN: 4 to 8).
        encoder_widths, latent_dim: the image encoder.
        channels: features per cell at the base and at every refinement level
            (``len = L + 1``; default halving from 64, at least 8).
    """

    def __init__(self, image_size: int = 64, resolution: int = 64, base_resolution: int = 8,
                 encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
                 channels: Sequence[int] | None = None, encoder: str = "conv-stack") -> None:
        super().__init__()
        levels = 0
        while base_resolution * 2 ** levels < resolution:
            levels += 1
        if base_resolution * 2 ** levels != resolution or base_resolution < 1:
            raise InputError(
                f"resolution: expected base_resolution * 2**k = {base_resolution} * 2**k, "
                f"got {resolution}"
            )
        if channels is None:
            channels = tuple(max(8, 64 >> i) for i in range(levels + 1))
        if len(channels) != levels + 1:
            raise InputError(f"channels: expected {levels + 1} values, got {len(channels)}")
        self.encoder = build_image_encoder(image_size, encoder_widths, latent_dim, encoder)
        b, c0 = int(base_resolution), int(channels[0])
        self.fc = nn.Linear(latent_dim, c0 * b ** 3)
        self.base = nn.Sequential(nn.Conv3d(c0, c0, 3, padding=1), group_norm(c0),
                                  nn.ReLU(inplace=True))
        self.heads = nn.ModuleList([nn.Linear(c0, 3 if levels else 2)])
        self.up = nn.ModuleList()
        for lv in range(1, levels + 1):
            cin, cout = int(channels[lv - 1]), int(channels[lv])
            self.up.append(nn.Linear(cin, 8 * cout))
            self.heads.append(nn.Sequential(nn.ReLU(), nn.Linear(cout, 3 if lv < levels else 2)))
        self.channels = tuple(int(c) for c in channels)
        self.base_resolution, self.resolution, self.levels = b, int(resolution), levels

    def forward(self, images: torch.Tensor,
                targets: Sequence[torch.Tensor] | None = None) -> OctreeOutput:
        """``targets`` (from :func:`octree_targets`): refine the ground-truth ``MIXED`` cells
        (training); ``None``: refine the predicted ones (inference)."""
        n = int(images.shape[0]) if isinstance(images, torch.Tensor) else 0
        z = self.encoder(images)
        b = self.base_resolution
        f = self.base(torch.relu(self.fc(z)).view(n, self.channels[0], b, b, b))
        feats = f.permute(0, 2, 3, 4, 1).reshape(-1, self.channels[0])  # (N b³, C) raster order
        dev = images.device
        grid = torch.stack(torch.meshgrid(
            torch.arange(n, device=dev), torch.arange(b, device=dev), torch.arange(b, device=dev),
            torch.arange(b, device=dev), indexing="ij"), -1).reshape(-1, 4)
        coords, logits = [grid], [self.heads[0](feats)]
        child = _CHILD.to(images.device)
        for lv in range(1, self.levels + 1):
            c = coords[-1]
            if targets is not None:
                t = targets[lv - 1]
                mixed = t[c[:, 0], c[:, 1], c[:, 2], c[:, 3]] == MIXED
            else:
                mixed = logits[-1].detach().argmax(1) == MIXED
            pf = feats[mixed]
            cout = self.channels[lv]
            feats = torch.relu(self.up[lv - 1](pf)).view(-1, cout)  # (8 M, C'), child-major
            kids = c[mixed][:, None, :].repeat(1, 8, 1)
            kids[:, :, 1:] = kids[:, :, 1:] * 2 + child[None]
            coords.append(kids.reshape(-1, 4))
            logits.append(self.heads[lv](feats))
        return OctreeOutput(coords, logits, n, b)


def octree_loss(out: OctreeOutput, targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over levels of the mean state cross-entropy of the cells that exist (a level without
    cells adds 0). At the finest level the targets are ``EMPTY`` / ``FULL``."""
    loss = out.logits[0].sum() * 0.0
    for c, lg, t in zip(out.coords, out.logits, targets):
        if c.shape[0] == 0:
            continue
        y = t[c[:, 0], c[:, 1], c[:, 2], c[:, 3]]
        if lg.shape[1] == 2:
            y = y.clamp(max=FULL)
        loss = loss + F.cross_entropy(lg.float(), y)
    return loss


def octree_gen(*, image_size: int = 64, resolution: int = 64, base_resolution: int = 8,
               encoder_widths: Sequence[int] = (32, 64, 128, 256), latent_dim: int = 256,
               channels: Sequence[int] | None = None,
               encoder: str = "conv-stack") -> OctreeGenerator:
    """Octree generating network (defaults: 8³ base, 64³ output, 3 refinement levels);
    ``encoder``: ``conv-stack`` or a torchvision ResNet trunk (``resnet18`` …,
    :class:`~spacetime.shapes.models.ResNetImageEncoder`, ImageNet normalisation inside)."""
    return OctreeGenerator(image_size, resolution, base_resolution, tuple(encoder_widths),
                           latent_dim, None if channels is None else tuple(channels), encoder)
