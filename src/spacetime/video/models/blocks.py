"""Shared parts of the video classifiers: plain VGG-style conv stacks, weight init, input checks.

Every builder here returns a plain ``nn.Sequential`` with named children (``conv1``, ``bn1``,
``relu1``, ``pool1``, ...) so that :func:`spacetime.analysis.layer_table` prints readable rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError

__all__ = [
    "Conv3d",
    "conv_stack_2d",
    "conv_stack_3d",
    "init_weights",
    "infer_output_shape",
    "check_clip",
]


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that sends float32 CPU inputs straight to oneDNN (mkldnn).

    Same parameters, state dict and results (up to float rounding) as ``nn.Conv3d``. PyTorch's
    CPU backend choice uses a 2D-conv rule (oneDNN only if ``N * C * D * H > 20480`` for batch
    1 and 3x3 kernels), so for single clips several of C3D's 3D convs (conv1, conv4a, conv5a,
    conv5b at full width) fall back to the slow vol2col + GEMM kernel. Calling oneDNN directly
    measured up to 4.8x faster per layer (conv1) and 1.35x for C3D's whole forward pass on one
    clip (``benchmarks/bm_c3d.py``, CPU, 1 thread). Every other case (GPU, meta, other dtypes,
    autocast, non-zero padding modes, oneDNN off) uses ``nn.Conv3d`` unchanged.
    """

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if (
            input.device.type == "cpu"
            and input.dtype == torch.float32
            and weight.dtype == torch.float32
            and input.dim() == 5
            and self.padding_mode == "zeros"
            and isinstance(self.padding, tuple)
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and not torch.is_autocast_enabled("cpu")
        ):
            return torch.ops.aten.mkldnn_convolution(
                input,
                weight,
                bias,
                list(self.padding),
                list(self.stride),
                list(self.dilation),
                self.groups,
            )
        return super()._conv_forward(input, weight, bias)


def _channels(channels: Sequence[int], name: str) -> tuple[int, ...]:
    chans = tuple(channels)
    if len(chans) == 0:
        raise InputError(f"{name}: expected at least one channel count, got {chans!r}")
    for i, c in enumerate(chans):
        check_int(c, f"{name}[{i}]", min_value=1)
    return chans


def conv_stack_2d(
    channels: Sequence[int] = (64, 128, 256, 512),
    *,
    in_channels: int = 3,
    pool: int = 2,
    norm: bool = True,
) -> nn.Sequential:
    """A VGG-style 2D CNN: per stage ``Conv2d(3x3, pad 1) [-> BatchNorm2d] -> ReLU -> MaxPool2d``.

    Maps ``(B, in_channels, H, W)`` to ``(B, channels[-1], H // pool**S, W // pool**S)`` for
    ``S = len(channels)`` stages (floor division at every stage).
    """
    chans = _channels(channels, "channels")
    check_int(in_channels, "in_channels", min_value=1)
    check_int(pool, "pool", min_value=1)
    layers: list[tuple[str, nn.Module]] = []
    c_in = in_channels
    for i, c in enumerate(chans, start=1):
        layers.append((f"conv{i}", nn.Conv2d(c_in, c, 3, padding=1, bias=not norm)))
        if norm:
            layers.append((f"bn{i}", nn.BatchNorm2d(c)))
        layers.append((f"relu{i}", nn.ReLU(inplace=True)))
        if pool > 1:
            layers.append((f"pool{i}", nn.MaxPool2d(pool)))
        c_in = c
    return nn.Sequential(OrderedDict(layers))


def conv_stack_3d(
    channels: Sequence[int] = (64, 128, 256, 256),
    *,
    in_channels: int = 3,
    pools: Sequence[tuple[int, int, int]] | None = None,
    norm: bool = True,
) -> nn.Sequential:
    """A 3D CNN: per stage ``Conv3d(3x3x3, pad 1) [-> BatchNorm3d] -> ReLU -> MaxPool3d``.

    Maps ``(N, in_channels, T, H, W)`` to ``(N, channels[-1], T', H', W')``. ``pools`` gives one
    ``(kT, kH, kW)`` pooling kernel (= stride) per stage; the default is C3D's rule: ``1x2x2``
    for the first stage (keep early temporal information), ``2x2x2`` afterwards.
    """
    chans = _channels(channels, "channels")
    check_int(in_channels, "in_channels", min_value=1)
    if pools is None:
        pools = [(1, 2, 2)] + [(2, 2, 2)] * (len(chans) - 1)
    pools = [tuple(p) for p in pools]
    if len(pools) != len(chans):
        raise InputError(
            f"pools: expected {len(chans)} pooling kernels (one per stage), got {len(pools)}"
        )
    layers: list[tuple[str, nn.Module]] = []
    c_in = in_channels
    for i, (c, k) in enumerate(zip(chans, pools), start=1):
        layers.append((f"conv{i}", Conv3d(c_in, c, 3, padding=1, bias=not norm)))
        if norm:
            layers.append((f"bn{i}", nn.BatchNorm3d(c)))
        layers.append((f"relu{i}", nn.ReLU(inplace=True)))
        if any(kk > 1 for kk in k):
            layers.append((f"pool{i}", nn.MaxPool3d(k)))
        c_in = c
    return nn.Sequential(OrderedDict(layers))


def init_weights(module: nn.Module) -> None:
    """Deterministic init used by every spacetime video model (torchvision's video ResNet rule).

    Convolutions: Kaiming normal (fan_out, ReLU), zero bias. Batch norm: weight 1, bias 0.
    Linear: normal(0, 0.01), zero bias.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def infer_output_shape(module: nn.Module, input_shape: Sequence[int]) -> tuple[int, ...]:
    """Output shape of ``module`` for an input of ``input_shape``, computed on the meta device.

    Nothing is allocated or computed: parameters and buffers are swapped for meta tensors with
    :func:`torch.func.functional_call`.
    """
    meta = {
        name: torch.empty_like(t, device="meta")
        for name, t in list(module.named_parameters()) + list(module.named_buffers())
    }
    x = torch.empty(tuple(input_shape), device="meta")
    modes = [(m, m.training) for m in module.modules()]  # restored one by one afterwards
    module.eval()
    try:
        with torch.no_grad():
            out = torch.func.functional_call(module, meta, (x,))
    except RuntimeError as exc:
        raise InputError(
            f"input of shape {tuple(input_shape)} is too small for this network: {exc}"
        ) from exc
    finally:
        for m, mode in modes:
            m.training = mode
    return tuple(out.shape)


def check_clip(
    x: torch.Tensor,
    *,
    num_frames: int | None = None,
    frame_size: tuple[int, int] | None = None,
    model: str = "model",
) -> dict[str, int]:
    """Check a clip batch ``(N, 3, T, H, W)``; optionally require the T and (H, W) of the model."""
    sizes = check_tensor(x, "x", ("N", 3, "T", "H", "W"), dtype="float")
    if num_frames is not None and sizes["T"] != num_frames:
        raise InputError(
            f"x: {model} was built for T={num_frames} frames (num_frames={num_frames}), "
            f"got shape {tuple(x.shape)} with T={sizes['T']}"
        )
    if frame_size is not None and (sizes["H"], sizes["W"]) != tuple(frame_size):
        raise InputError(
            f"x: {model} was built for frames of H x W = {frame_size[0]} x {frame_size[1]} "
            f"(frame_size={tuple(frame_size)}), got shape {tuple(x.shape)}"
        )
    return sizes
