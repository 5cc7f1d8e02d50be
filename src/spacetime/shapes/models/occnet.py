"""Occupancy Networks (Mescheder et al. 2019, "Occupancy Networks: Learning 3D Reconstruction in
Function Space"): an image encoder gives a code ``c``; a conditional MLP maps any 3D point ``x``
(object frame) to an occupancy probability ``o(x) = σ(f(x, c)) ∈ [0, 1]``.

- :class:`OccupancyNetwork` (``occnet``): the paper's decoder — ``fc(x)`` then ResNet blocks of
  fully connected layers with **conditional batch norm** (the normalisation's scale and shift
  are linear functions of ``c``), or ``conditioning="concat"`` (``c`` concatenated to ``x``).
  Trained on occupancy samples with binary cross-entropy.
- :func:`extract_mesh`: the ``o = ½`` level set by :func:`~spacetime.shapes.marching_cubes`,
  evaluated coarse to fine (after ONet's Multiresolution IsoSurface Extraction, MISE): the field
  is evaluated on a coarse grid, only cells whose corners disagree about inside / outside are
  subdivided and evaluated again, and the others are filled by trilinear interpolation of their
  corners (on the same side of ½, so the level set does not move). Returns the number of network
  evaluations next to the ``(R + 1)³`` of dense evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError
from spacetime.shapes.models._blocks import build_image_encoder

__all__ = [
    "ConditionalBatchNorm1d",
    "OccupancyNetwork",
    "occnet",
    "MeshExtraction",
    "extract_mesh",
    "OCC_BOX",
]

#: half-side of the box in which meshes are extracted (the synthetic data's sample box)
OCC_BOX = 0.55


class ConditionalBatchNorm1d(nn.Module):
    """BatchNorm over ``(N, C, T)`` without own affine; ``γ(c)``, ``β(c)`` from the code
    ``c (N, D)`` (``γ`` initialised to 1, ``β`` to 0)."""

    def __init__(self, code_dim: int, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels, affine=False)
        self.gamma = nn.Linear(code_dim, channels)
        self.beta = nn.Linear(code_dim, channels)
        nn.init.zeros_(self.gamma.weight)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.weight)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.gamma(c)[:, :, None] * self.bn(x) + self.beta(c)[:, :, None]


class _CBNBlock(nn.Module):
    def __init__(self, code_dim: int, hidden: int) -> None:
        super().__init__()
        self.bn0 = ConditionalBatchNorm1d(code_dim, hidden)
        self.fc0 = nn.Conv1d(hidden, hidden, 1)
        self.bn1 = ConditionalBatchNorm1d(code_dim, hidden)
        self.fc1 = nn.Conv1d(hidden, hidden, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.fc0(torch.relu(self.bn0(x, c)))
        return x + self.fc1(torch.relu(self.bn1(h, c)))


class _PlainBlock(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.fc0 = nn.Conv1d(hidden, hidden, 1)
        self.fc1 = nn.Conv1d(hidden, hidden, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.fc1(torch.relu(self.fc0(torch.relu(x))))


class OccupancyNetwork(nn.Module):
    """Image-conditioned occupancy function.

    ``forward(images (N, 3, S, S), points (N, T, 3)) → logits (N, T)``; ``σ(logits)`` is the
    occupancy probability. Use :meth:`encode` once and :meth:`decode` many times to evaluate
    many points of the same shapes.

    Args:
        image_size: ``S``.
        encoder_widths, latent_dim: image encoder (paper: ResNet-18, ``c`` of size 256).
        hidden: decoder width (paper 256); num_blocks: ResNet blocks (paper 5).
        conditioning: ``"cbn"`` (conditional batch norm, paper) or ``"concat"``.
    """

    def __init__(self, image_size: int = 64, encoder_widths: Sequence[int] = (32, 64, 128, 256),
                 latent_dim: int = 256, hidden: int = 256, num_blocks: int = 5,
                 conditioning: str = "cbn", encoder: str = "conv-stack") -> None:
        super().__init__()
        check_in(conditioning, "conditioning", ("cbn", "concat"))
        check_int(num_blocks, "num_blocks", min_value=1)
        self.encoder = build_image_encoder(image_size, encoder_widths, latent_dim, encoder)
        self.conditioning = conditioning
        cin = 3 + (latent_dim if conditioning == "concat" else 0)
        self.fc_p = nn.Conv1d(cin, hidden, 1)
        if conditioning == "cbn":
            self.blocks = nn.ModuleList([_CBNBlock(latent_dim, hidden)
                                         for _ in range(num_blocks)])
            self.bn_out: nn.Module | None = ConditionalBatchNorm1d(latent_dim, hidden)
        else:
            self.blocks = nn.ModuleList([_PlainBlock(hidden) for _ in range(num_blocks)])
            self.bn_out = None
        self.fc_out = nn.Conv1d(hidden, 1, 1)
        self.latent_dim = int(latent_dim)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)``."""
        return self.encoder(images)

    def decode(self, points: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, T)`` of points ``(N, T, 3)`` given codes ``(N, latent_dim)``."""
        sizes = check_tensor(code, "code", ("N", self.latent_dim), dtype="float")
        check_tensor(points, "points", ("N", "T", 3), dtype="float", sizes=sizes, finite=True)
        x = points.transpose(1, 2)
        if self.conditioning == "concat":
            x = torch.cat([x, code[:, :, None].expand(-1, -1, x.shape[2])], 1)
        h = self.fc_p(x)
        for block in self.blocks:
            h = block(h, code)
        if self.bn_out is not None:
            h = self.bn_out(h, code)
        return self.fc_out(torch.relu(h))[:, 0]

    def forward(self, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.decode(points, self.encode(images))


def occnet(*, image_size: int = 64, encoder_widths: Sequence[int] = (32, 64, 128, 256),
           latent_dim: int = 256, hidden: int = 256, num_blocks: int = 5,
           conditioning: str = "cbn", encoder: str = "conv-stack") -> OccupancyNetwork:
    """Occupancy network with the paper's decoder (CBN, 5 blocks of width 256); ``encoder``:
    ``conv-stack`` (our small CNN) or the paper's ``resnet18`` (any torchvision ResNet,
    :class:`~spacetime.shapes.models.ResNetImageEncoder`, ImageNet normalisation inside)."""
    return OccupancyNetwork(image_size, tuple(encoder_widths), latent_dim, hidden, num_blocks,
                            conditioning, encoder)


@dataclass
class MeshExtraction:
    """Result of :func:`extract_mesh`: ``meshes`` (a ``Meshes`` batch, empty meshes where the
    field never crosses ½), ``probs`` ``(N, R+1, R+1, R+1)`` the (partly interpolated) field on
    the final grid of vertices, ``num_evaluations`` (points given to the network, all shapes)
    and ``dense_evaluations`` (``N · (R+1)³``)."""

    meshes: object
    probs: torch.Tensor
    num_evaluations: int
    dense_evaluations: int


def _grid_points(n: int, lo: float, step: float, device) -> torch.Tensor:
    """``(n, n, n, 3)`` xyz of the vertices ``[d, h, w] = [z, y, x]``."""
    a = lo + step * torch.arange(n, dtype=torch.float32, device=device)
    z, y, x = torch.meshgrid(a, a, a, indexing="ij")
    return torch.stack([x, y, z], -1)


@torch.no_grad()
def extract_mesh(
    model: OccupancyNetwork,
    images: torch.Tensor,
    *,
    resolution: int = 64,
    coarse_resolution: int = 16,
    threshold: float = 0.5,
    box: float = OCC_BOX,
    batch_points: int = 65536,
    refine: bool = True,
) -> MeshExtraction:
    """Mesh the ``o = threshold`` level set of the occupancy field of each image.

    Args:
        model: an :class:`OccupancyNetwork` (put it in ``eval()`` mode first).
        images: ``(N, 3, S, S)``.
        resolution: final cells per side ``R = coarse_resolution · 2**k``; the field is known at
            the ``(R + 1)³`` cell corners spanning ``[-box, box]³``.
        coarse_resolution: cells per side of the first, dense evaluation.
        threshold: the level set (probability) to mesh.
        refine: ``False`` evaluates all ``(R + 1)³`` points (the dense reference).

    Returns:
        :class:`MeshExtraction`. The mesh is in the object frame.
    """
    from spacetime.shapes.convert import marching_cubes

    check_int(resolution, "resolution", min_value=1)
    check_int(coarse_resolution, "coarse_resolution", min_value=1)
    k = 0
    while coarse_resolution * 2 ** k < resolution:
        k += 1
    if coarse_resolution * 2 ** k != resolution:
        raise InputError(f"resolution: expected coarse_resolution * 2**k = "
                         f"{coarse_resolution} * 2**k, got {resolution}")
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold: expected a value in (0, 1), got {threshold}")
    code = model.encode(images)
    n = code.shape[0]
    dev = code.device
    nf = resolution + 1
    step = 2 * box / resolution
    pts_all = _grid_points(nf, -box, step, dev)
    logit_t = float(torch.logit(torch.tensor(threshold)))
    evals = 0

    def evaluate(b: int, idx: torch.Tensor) -> torch.Tensor:
        nonlocal evals
        p = pts_all[idx[:, 0], idx[:, 1], idx[:, 2]]
        out = []
        for s in range(0, p.shape[0], batch_points):
            out.append(model.decode(p[None, s:s + batch_points], code[b:b + 1])[0])
        evals += int(p.shape[0])
        return torch.cat(out) if out else p.new_zeros(0)

    values = torch.full((n, nf, nf, nf), float("nan"), device=dev)
    if not refine:
        k, stride = 0, 1
    else:
        stride = 2 ** k
    for b in range(n):
        coarse = torch.arange(0, nf, stride, device=dev)
        idx = torch.stack(torch.meshgrid(coarse, coarse, coarse, indexing="ij"), -1).reshape(-1, 3)
        values[b, idx[:, 0], idx[:, 1], idx[:, 2]] = evaluate(b, idx)
        s = stride
        while s > 1:
            sub = values[b, ::s, ::s, ::s]  # all known
            inside = sub > logit_t
            any_in = F.max_pool3d(inside[None, None].float(), 2, stride=1)[0, 0]
            any_out = F.max_pool3d((~inside)[None, None].float(), 2, stride=1)[0, 0]
            active = (any_in > 0) & (any_out > 0)  # (m-1)³ cells with corners on both sides
            # fill every point of the next level from the coarse values (trilinear)
            half = s // 2
            m = sub.shape[0]
            up = F.interpolate(sub[None, None], size=(2 * m - 1,) * 3, mode="trilinear",
                               align_corners=True)[0, 0]
            fine = values[b, ::half, ::half, ::half]
            cells = active.nonzero()
            if cells.shape[0]:
                offs = torch.stack(torch.meshgrid(*[torch.arange(3, device=dev)] * 3,
                                                  indexing="ij"), -1).reshape(-1, 3)
                fidx = (cells[:, None, :] * 2 + offs[None]).reshape(-1, 3).unique(dim=0)
                unknown = torch.isnan(fine[fidx[:, 0], fidx[:, 1], fidx[:, 2]])
                fidx = fidx[unknown]
                fine[fidx[:, 0], fidx[:, 1], fidx[:, 2]] = evaluate(b, fidx * half)
            fine = torch.where(torch.isnan(fine), up, fine)
            values[b, ::half, ::half, ::half] = fine
            s = half
    probs = torch.sigmoid(values)
    # marching cubes puts grid index i at origin + size * (i + 0.5): shift the origin by half
    meshes = marching_cubes(probs, threshold, inside="high", voxel_size=step,
                            origin=(-box - 0.5 * step,) * 3)
    return MeshExtraction(meshes, probs, evals, n * nf ** 3)
