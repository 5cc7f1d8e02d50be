"""Per-layer tables of output size, receptive field and multiply-adds, like the lecture's.

:func:`layer_table` runs one forward pass of a clip model ``(C, T, H, W)`` or of a 2D image model
``(C, H, W)`` (AlexNet, VGG, the image encoders of the 3D models) on the **meta device** (no memory,
no compute: parameters are swapped for meta tensors with :func:`torch.func.functional_call`)
and records, through forward hooks on the leaf modules, one row per call:

``output_shape``
    ``(C, T, H, W)`` for clip tensors ``(N, C, T, H, W)`` and for 2D layers applied frame by
    frame (``(N*T, C, H, W)``, T folded into the batch); ``(C, H, W)`` after early fusion
    (time folded into channels, as the lecture writes it); ``(D,)`` for vectors and
    ``(D, T)`` for per-frame vectors. The batch is always 1.
``receptive_field``
    ``(T, H, W)`` in input frames and pixels, with the standard recurrences per axis:
    ``RF += (k - 1) * dilation * jump`` and ``jump *= stride`` for convolutions and pooling
    (padding does not change the size). Per-frame 2D layers leave T alone; a 2D layer that
    sees time folded into channels (early fusion) covers every frame; global pooling, adaptive
    pooling to size 1 and linear layers on flattened maps cover the whole extent of the axes
    they reduce. Values are capped at the input size (so global pooling reads ``T x H x W``).
    Adaptive pooling to sizes > 1 uses ``kernel = ceil(in / out)``, ``stride = in // out``.
``macs``
    Multiply-adds for one clip: convolution ``out_elems * C_in / groups * prod(kernel)``,
    transposed convolution ``in_elems * C_out / groups * prod(kernel)``, linear
    ``out_elems * in_features``; bias adds, pooling, activations, dropout and
    normalisation (foldable into the conv at inference) count 0.

How layouts are recognised: every hooked output remembers its layout; a layer input that no
hook produced (the model reshaped it) is matched against the last recorded layout by its
batch size (``T`` -> per-frame, ``1`` -> time folded). Only ``nn.Module`` leaves are seen;
work done with functional calls inside ``forward`` (``F.conv3d``, ``x.mean()``) is missed, and a
branching network (residual blocks) gets the receptive field of the path through its hooked
layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

from spacetime.checks import check_in, check_int
from spacetime.errors import InputError

__all__ = ["LayerRow", "LayerTable", "layer_table", "format_layer_table"]


class LayerRow(NamedTuple):
    """One row of a :class:`LayerTable` (one call of a leaf module)."""

    name: str
    """Qualified module name (``"encoder.conv1"``), ``"input"`` for the first row."""
    layer: str
    """Short description, e.g. ``"Conv3d(3x3x3, 3->64)"``."""
    output_shape: tuple[int, ...]
    """Output size without the batch: ``(C, T, H, W)``, ``(C, H, W)``, ``(D,)`` or ``(D, T)``."""
    receptive_field: tuple[int, int, int]
    """``(T, H, W)`` in input frames / pixels, capped at the input size."""
    macs: int
    """Multiply-adds for one clip."""
    params: int
    """Parameters of the module (counted at its first call only)."""


class LayerTable(list[LayerRow]):
    """A list of :class:`LayerRow` plus totals over the whole model.

    ``total_macs`` sums every hooked call (also those left out of the rows); ``total_params``
    counts every parameter of the model once; ``input_shape`` is ``(C, T, H, W)`` (clip
    models) or ``(C, H, W)`` (image models, whose receptive fields are reported as ``(1, H, W)``
    and printed as ``H x W``).
    """

    def __init__(
        self,
        rows: Sequence[LayerRow],
        *,
        input_shape: tuple[int, ...],
        total_macs: int,
        total_params: int,
    ) -> None:
        super().__init__(rows)
        self.input_shape = input_shape
        self.total_macs = total_macs
        self.total_params = total_params


@dataclass(frozen=True)
class _Grid:
    layout: str  # "clip", "frames", "image", "vector", "frame_vectors", "other"
    ext: tuple[int, int, int]  # current T, H, W extents
    rf: tuple[int, int, int]
    jump: tuple[int, int, int]


_TRIVIAL = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Dropout,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
)


def _triple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    return tuple(int(a) for a in v)


class _Tracer:
    def __init__(self, input_shape: tuple[int, int, int, int], keep_all: bool) -> None:
        self.limit = input_shape[1:]
        self.keep_all = keep_all
        self.states: dict[int, tuple[torch.Tensor, _Grid]] = {}
        self.last: _Grid | None = None
        self.rows: list[LayerRow] = []
        self.total_macs = 0
        self.seen: set[str] = set()

    # -- state bookkeeping
    def remember(self, t: torch.Tensor, g: _Grid) -> None:
        self.states[id(t)] = (t, g)
        self.last = g

    def _cap(self, rf: list[int]) -> tuple[int, int, int]:
        return tuple(min(r, lim) for r, lim in zip(rf, self.limit))  # type: ignore[return-value]

    def fold(self, g: _Grid, axes: Sequence[int]) -> _Grid:
        rf, ext = list(g.rf), list(g.ext)
        for a in axes:
            rf[a] = rf[a] + (ext[a] - 1) * g.jump[a]
            ext[a] = 1
        return replace(g, rf=self._cap(rf), ext=tuple(ext))  # type: ignore[arg-type]

    def derive(self, t: torch.Tensor, prev: _Grid) -> _Grid:
        """State of a tensor no hook produced, from its shape and the last recorded state."""
        shape = tuple(t.shape)
        timed = prev.layout in ("clip", "frames", "frame_vectors")
        if t.dim() == 5:
            return replace(prev, layout="clip", ext=(shape[2], shape[3], shape[4]))
        if t.dim() == 4:
            if timed and shape[0] == prev.ext[0]:
                return replace(prev, layout="frames", ext=(prev.ext[0], shape[2], shape[3]))
            if shape[0] == 1 and timed and prev.ext[0] > 1:  # time folded into channels
                g = self.fold(prev, (0,))
                return replace(g, layout="image", ext=(1, shape[2], shape[3]))
            return replace(prev, layout="image", ext=(prev.ext[0], shape[2], shape[3]))
        if t.dim() == 2:
            if timed and prev.ext[0] > 1 and shape[0] == prev.ext[0]:
                return replace(self.fold(prev, (1, 2)), layout="frame_vectors")
            return replace(self.fold(prev, (0, 1, 2)), layout="vector")
        return replace(prev, layout="other")

    def state_of(self, t: torch.Tensor) -> _Grid:
        hit = self.states.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        if self.last is None:  # pragma: no cover - the input is always registered first
            raise InputError("layer_table: lost track of the input tensor")
        return self.derive(t, self.last)

    # -- the hook
    def hook(self, name: str, m: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        x = next((a for a in inputs if isinstance(a, torch.Tensor)), None)
        y = output if isinstance(output, torch.Tensor) else None
        if y is None and isinstance(output, (tuple, list)):
            y = next((a for a in output if isinstance(a, torch.Tensor)), None)
        if x is None or y is None:
            return
        g = self.state_of(x)
        g_out, desc, macs = self.apply(m, x, y, g)
        self.remember(y, g_out)
        self.total_macs += macs
        params = 0
        if name not in self.seen:
            params = sum(p.numel() for p in m.parameters(recurse=False))
            self.seen.add(name)
        if self.keep_all or not isinstance(m, _TRIVIAL):
            self.rows.append(
                LayerRow(name, desc, self.report_shape(y, g_out), g_out.rf, macs, params)
            )

    def spatial(self, g: _Grid, m: nn.Module, nd: int, y: torch.Tensor) -> _Grid:
        """Apply a windowed layer (conv / pool) on the last ``nd`` axes of ``g``."""
        k = _triple(m.kernel_size, nd)
        s = _triple(m.stride if m.stride is not None else m.kernel_size, nd)
        d = _triple(getattr(m, "dilation", 1), nd)
        axes = (0, 1, 2)[3 - nd :]
        rf, jump = list(g.rf), list(g.jump)
        for a, kk, ss, dd in zip(axes, k, s, d):
            rf[a] += (kk - 1) * dd * jump[a]
            jump[a] *= ss
        ext = list(g.ext)
        ext[3 - nd :] = y.shape[-nd:]
        return replace(g, rf=self._cap(rf), jump=tuple(jump), ext=tuple(ext))  # type: ignore[arg-type]

    def upsample(self, g: _Grid, m: nn.Module, nd: int, y: torch.Tensor) -> _Grid:
        """A transposed convolution: the grid gets ``stride`` times finer (``jump /= stride``)
        and each output sees ``ceil(k / stride)`` inputs along each axis."""
        k = _triple(m.kernel_size, nd)
        s = _triple(m.stride, nd)
        axes = (0, 1, 2)[3 - nd :]
        rf, jump = list(g.rf), list(g.jump)
        for a, kk, ss in zip(axes, k, s):
            rf[a] += (math.ceil(kk / ss) - 1) * jump[a]
            jump[a] = max(1, jump[a] // ss)
        ext = list(g.ext)
        ext[3 - nd :] = y.shape[-nd:]
        return replace(g, rf=self._cap(rf), jump=tuple(jump), ext=tuple(ext))  # type: ignore[arg-type]

    def adaptive(self, g: _Grid, x: torch.Tensor, y: torch.Tensor, nd: int) -> _Grid:
        axes = (0, 1, 2)[3 - nd :]
        rf, jump, ext = list(g.rf), list(g.jump), list(g.ext)
        for a, n_in, n_out in zip(axes, x.shape[-nd:], y.shape[-nd:]):
            if n_out == 1:
                rf[a] += (n_in - 1) * jump[a]
            else:
                rf[a] += (math.ceil(n_in / n_out) - 1) * jump[a]
                jump[a] *= max(n_in // n_out, 1)
            ext[a] = n_out
        return replace(g, rf=self._cap(rf), jump=tuple(jump), ext=tuple(ext))  # type: ignore[arg-type]

    def apply(
        self, m: nn.Module, x: torch.Tensor, y: torch.Tensor, g: _Grid
    ) -> tuple[_Grid, str, int]:
        kind = type(m).__name__
        if isinstance(m, _ConvNd) and m.transposed:
            nd = len(m.kernel_size)
            if nd not in (2, 3):
                raise InputError(f"layer_table: {kind} ({nd}D) is not supported")
            k = m.kernel_size
            # every input element feeds prod(k) outputs of each of out_channels / groups maps
            macs = x.numel() * (m.out_channels // m.groups) * math.prod(k)
            desc = f"{kind}({'x'.join(map(str, k))}, {m.in_channels}->{m.out_channels})"
            if any(s > 1 for s in _triple(m.stride, nd)):
                desc += f" x{'x'.join(map(str, _triple(m.stride, nd)))}"
            return self.upsample(g, m, nd, y), desc, macs
        if isinstance(m, _ConvNd):
            nd = len(m.kernel_size)
            if nd not in (2, 3):
                raise InputError(f"layer_table: {kind} ({nd}D) is not supported")
            kind = f"Conv{nd}d"  # also for subclasses such as spacetime's oneDNN Conv3d
            k = m.kernel_size
            macs = y.numel() * (m.in_channels // m.groups) * math.prod(k)
            desc = f"{kind}({'x'.join(map(str, k))}, {m.in_channels}->{m.out_channels})"
            if any(s > 1 for s in _triple(m.stride, nd)):
                desc += f" /{'x'.join(map(str, _triple(m.stride, nd)))}"
            return self.spatial(g, m, nd, y), desc, macs
        if isinstance(m, (_MaxPoolNd, _AvgPoolNd)):
            nd = x.dim() - 2
            if nd not in (2, 3):
                raise InputError(f"layer_table: {kind} on {x.dim()}D input is not supported")
            k = _triple(m.kernel_size, nd)
            return self.spatial(g, m, nd, y), f"{kind}({'x'.join(map(str, k))})", 0
        if isinstance(m, (_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)):
            nd = x.dim() - 2
            if nd not in (2, 3):
                raise InputError(f"layer_table: {kind} on {x.dim()}D input is not supported")
            size = tuple(y.shape[-nd:])
            glob = all(s == 1 for s in size)
            desc = ("GlobalAvgPool" if "Avg" in kind else "GlobalMaxPool") + f"{nd}d"
            if not glob:
                desc = f"{kind}({'x'.join(map(str, size))})"
            return self.adaptive(g, x, y, nd), desc, 0
        if isinstance(m, nn.Linear):
            macs = y.numel() * m.in_features
            return g, f"Linear({m.in_features}->{m.out_features})", macs
        if tuple(y.shape) == tuple(x.shape):
            return g, kind, 0
        return self.derive(y, g), kind, 0

    def report_shape(self, y: torch.Tensor, g: _Grid) -> tuple[int, ...]:
        shape = tuple(int(s) for s in y.shape)
        if g.layout == "frames" and y.dim() == 4:
            return (shape[1], shape[0], shape[2], shape[3])
        if g.layout == "frame_vectors" and y.dim() == 2:
            return (shape[1], shape[0])
        return shape[1:]


def layer_table(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    all_layers: bool = False,
) -> LayerTable:
    """Per-layer output size, receptive field and multiply-adds of ``model`` on one clip.

    Args:
        model: a clip model taking ``(N, C, T, H, W)`` or an image model taking
            ``(N, C, H, W)``; its parameters may live on any device, including ``meta`` (build
            big models under ``with torch.device("meta"):``).
        input_shape: ``(C, T, H, W)`` of one clip, e.g. ``(3, 16, 112, 112)``, or ``(C, H, W)``
            of one image, e.g. ``(3, 224, 224)``.
        all_layers: also list activations, dropout, normalisation, identity and flatten
            layers (they never change sizes or receptive fields and count 0 MACs).

    Returns:
        A :class:`LayerTable`: an ``input`` row, then one :class:`LayerRow` per leaf-module
        call in execution order; conventions in the module docstring.

    Example (the lecture's toy 3D CNN)::

        >>> rows = layer_table(toy_slow_fusion(num_classes=10), (3, 20, 64, 64))
        >>> [(r.name, r.output_shape, r.receptive_field) for r in rows][2]
        ('encoder.pool1', (12, 5, 16, 16), (6, 6, 6))
    """
    shape = tuple(input_shape)
    if len(shape) not in (3, 4):
        raise InputError(f"input_shape: expected (C, T, H, W) or (C, H, W), got {shape!r}")
    for i, s in enumerate(shape):
        check_int(s, f"input_shape[{i}]", min_value=1)
    if not isinstance(model, nn.Module):
        raise InputError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(all_layers, bool):
        raise InputError(f"all_layers: expected a bool, got {type(all_layers).__name__}")

    image = len(shape) == 3
    grid_shape = (shape[0], 1, shape[1], shape[2]) if image else shape
    tracer = _Tracer(grid_shape, all_layers)  # type: ignore[arg-type]
    handles = []
    for name, mod in model.named_modules():
        if next(mod.children(), None) is None:  # a leaf (the model itself if it has no children)
            label = name or type(mod).__name__
            handles.append(
                mod.register_forward_hook(
                    lambda m, i, o, _n=label: tracer.hook(_n, m, i, o)  # type: ignore[misc]
                )
            )
    meta = {
        n: torch.empty_like(t, device="meta")
        for n, t in list(model.named_parameters()) + list(model.named_buffers())
    }
    dtype = next(
        (t.dtype for t in model.parameters() if t.is_floating_point()), torch.get_default_dtype()
    )
    x = torch.zeros((1, *shape), device="meta", dtype=dtype)
    tracer.remember(x, _Grid("image" if image else "clip", grid_shape[1:],  # type: ignore[arg-type]
                             (1, 1, 1), (1, 1, 1)))
    modes = [(m, m.training) for m in model.modules()]  # restored one by one afterwards
    model.eval()
    try:
        with torch.no_grad():
            torch.func.functional_call(model, meta, (x,))
    except RuntimeError as exc:
        raise InputError(
            f"layer_table: the model's forward failed on a meta tensor of shape "
            f"{(1, *shape)} (wrong input_shape, or an op without meta support): {exc}"
        ) from exc
    finally:
        for m, mode in modes:
            m.training = mode
        for h in handles:
            h.remove()
    rows = [LayerRow("input", "", shape, (1, 1, 1), 0, 0), *tracer.rows]
    total_params = sum(p.numel() for p in model.parameters())
    return LayerTable(
        rows, input_shape=shape, total_macs=tracer.total_macs, total_params=total_params
    )


def _fmt_dims(dims: Sequence[int]) -> str:
    return " x ".join(str(d) for d in dims)


def format_layer_table(rows: Sequence[LayerRow], *, unit: str = "auto") -> str:
    """Render rows as a fixed-width text table with a MACs column and totals.

    Args:
        rows: a :class:`LayerTable` (or any sequence of :class:`LayerRow`).
        unit: ``"G"`` (GMACs, 2 decimals), ``"M"`` (MMACs, 2 decimals) or ``"auto"`` (G when
            the total is at least 1e9).

    Returns:
        The table as one string (``print`` it). Totals: MACs of the whole model and its
        parameter count (from the :class:`LayerTable`, else summed over the rows).
    """
    check_in(unit, "unit", ("auto", "G", "M"))
    total_macs = getattr(rows, "total_macs", sum(r.macs for r in rows))
    total_params = getattr(rows, "total_params", sum(r.params for r in rows))
    if unit == "auto":
        unit = "G" if total_macs >= 1e9 else "M"
    scale = 1e9 if unit == "G" else 1e6
    image = len(getattr(rows, "input_shape", ())) == 3 or (
        bool(rows) and rows[0].name == "input" and len(rows[0].output_shape) == 3)
    head = ("layer", "type", "size", "RF (H x W)" if image else "RF (T x H x W)",
            f"{unit}MACs", "params")
    body = [
        (
            r.name,
            r.layer,
            _fmt_dims(r.output_shape),
            _fmt_dims(r.receptive_field[1:] if image else r.receptive_field)
            if r.name != "input" else "",
            f"{r.macs / scale:.2f}" if r.macs else "",
            f"{r.params:,}" if r.params else "",
        )
        for r in rows
    ]
    foot = ("total", "", "", "", f"{total_macs / scale:.2f}", f"{total_params:,}")
    table = [head, *body, foot]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    right = {4, 5}

    def line(row: Sequence[str]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        return "  ".join(cells).rstrip()

    rule = "-" * len(line(head))
    return "\n".join([line(head), rule, *(line(r) for r in body), rule, line(foot)])
