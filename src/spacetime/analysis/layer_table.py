"""Per-layer tables of output size, receptive field and multiply-adds, like the lecture's.

:func:`layer_table` runs one forward pass of a model on the **meta device** (no memory, no
compute: parameters are swapped for meta tensors with :func:`torch.func.functional_call`) and
records, through forward hooks on the leaf modules, one row per call. Inputs are clips
``(C, T, H, W)``, images ``(C, H, W)`` (AlexNet, VGG, the image encoders of the 3D models) or point
sets ``(P, D)`` (PointNet), and a model may take several (two-stream: an RGB frame and a flow
stack; an occupancy network: an image and query points), given as a dict in the order of the
forward's arguments. Each row has:

``output_shape``
    ``(C, T, H, W)`` for clip tensors ``(N, C, T, H, W)`` and for 2D layers applied frame by
    frame (``(N*T, C, H, W)``, T folded into the batch); ``(C, H, W)`` after early fusion
    (time folded into channels, as the lecture writes it); ``(D,)`` for vectors and
    ``(D, T)`` for per-frame vectors; point features keep the model's own layout,
    ``(C, P)`` or ``(P, C)``. The batch is always 1.
``receptive_field``
    ``(T, H, W)`` in input frames and pixels, with the standard recurrences per axis:
    ``RF += (k - 1) * dilation * jump`` and ``jump *= stride`` for convolutions and pooling
    (padding does not change the size). Per-frame 2D layers leave T alone; a 2D layer that
    sees time folded into channels (early fusion) covers every frame; global pooling, adaptive
    pooling to size 1 and linear layers on flattened maps cover the whole extent of the axes
    they reduce. Values are capped at the input size (so global pooling reads ``T x H x W``).
    Adaptive pooling to sizes > 1 uses ``kernel = ceil(in / out)``, ``stride = in // out``.
    For a point set the receptive field is the number of points an output depends on,
    stored as ``(1, 1, k)``: shared per-point MLPs (``Conv1d`` with kernel 1, ``Linear`` on
    ``(N, P, C)``) keep 1 point, a max or mean over the points covers all ``P``.
``source`` and ``inputs``
    With several inputs, the receptive field is measured in the input named ``source`` (the
    input of the path through hooked layers that produced the row), and ``inputs`` names every
    input the output depends on (tracked through every torch operation, so a fusion layer
    after ``torch.cat`` lists both streams, and an occupancy decoder's per-point layers list
    the image that conditions them). With one input both are ``"input"``.
``macs``
    Multiply-adds for one sample: convolution ``out_elems * C_in / groups * prod(kernel)``,
    transposed convolution ``in_elems * C_out / groups * prod(kernel)``, linear
    ``out_elems * in_features``; bias adds, pooling, activations, dropout and
    normalisation (foldable into the conv at inference) count 0.

How layouts are recognised: every hooked output remembers its layout; a layer input that no
hook produced (the model reshaped it) is followed back through the torch operations that made
it (the operand with most elements at each step) to a tensor with a known layout, and matched
step by step by its batch size (``T`` -> per-frame, ``1`` -> time folded), or for point sets by
which axis has ``P`` entries. A PointNet's shared MLP after its T-Net transform reads 1 point:
the 3x3 transform depends on every point but is not on the data path.

Only ``nn.Module`` leaves are seen; work done with functional calls inside ``forward``
(``F.conv3d``, ``torch.bmm`` of PointNet's T-Nets, ``x.mean()``) is missed in the MACs, and a
branching network (residual blocks) gets the receptive field of the path through its hooked
layers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

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
    """``(T, H, W)`` in input frames / pixels (``(1, H, W)`` for images, ``(1, 1, points)`` for
    point sets), capped at the input size."""
    macs: int
    """Multiply-adds for one sample."""
    params: int
    """Parameters of the module (counted at its first call only)."""
    source: str = "input"
    """The input the receptive field is measured in (its name; ``"input"`` with one input)."""
    inputs: tuple[str, ...] = ("input",)
    """Every input the output depends on."""


class LayerTable(list[LayerRow]):
    """A list of :class:`LayerRow` plus totals over the whole model.

    ``total_macs`` sums every hooked call (also those left out of the rows); ``total_params``
    counts every parameter of the model once; ``inputs`` maps each input's name to its shape
    (``{"input": shape}`` for one input); ``input_shape`` is the shape of the first input:
    ``(C, T, H, W)`` (clips), ``(C, H, W)`` (images, whose receptive fields are reported as
    ``(1, H, W)`` and printed as ``H x W``) or ``(P, D)`` (point sets, printed as ``k pts``).
    """

    def __init__(
        self,
        rows: Sequence[LayerRow],
        *,
        input_shape: tuple[int, ...],
        total_macs: int,
        total_params: int,
        inputs: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__(rows)
        self.input_shape = input_shape
        self.total_macs = total_macs
        self.total_params = total_params
        self.inputs = dict(inputs) if inputs is not None else {"input": tuple(input_shape)}


@dataclass(frozen=True)
class _Grid:
    # "clip", "frames", "image", "vector", "frame_vectors", "points" (N, C, P),
    # "points_last" (N, P, C), "other"
    layout: str
    ext: tuple[int, int, int]  # current T, H, W extents (1, 1, P for point sets)
    rf: tuple[int, int, int]
    jump: tuple[int, int, int]
    source: str = "input"  # the input the receptive field is measured in
    limit: tuple[int, int, int] = (1, 1, 1)  # that input's extents (receptive-field cap)


def _input_kind(shape: tuple[int, ...]) -> str:
    return {2: "points", 3: "image", 4: "clip"}[len(shape)]


def _input_extent(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 2:
        return (1, 1, shape[0])
    if len(shape) == 3:
        return (1, shape[1], shape[2])
    return (shape[1], shape[2], shape[3])


class _Provenance(TorchFunctionMode):
    """Which inputs each tensor depends on, and from which tensor it was computed (the
    operand with the most elements among those that depend on an input: the data path
    rather than a transform or a conditioning vector), through every torch operation."""

    def __init__(self) -> None:
        super().__init__()
        self.of: dict[int, tuple[torch.Tensor, frozenset[str]]] = {}
        self.parent: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def mark(self, t: torch.Tensor, names: frozenset[str]) -> None:
        self.of[id(t)] = (t, names)

    def lookup(self, t: torch.Tensor) -> frozenset[str]:
        hit = self.of.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else frozenset()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        leaves, _ = tree_flatten((args, kwargs))
        deps = [a for a in leaves if isinstance(a, torch.Tensor) and self.lookup(a)]
        if deps:
            names = frozenset().union(*(self.lookup(a) for a in deps))
            parent = max(deps, key=lambda a: a.numel())
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and not self.lookup(t):
                    self.mark(t, names)
                    self.parent[id(t)] = (t, parent)
        return out

    def parent_of(self, t: torch.Tensor) -> torch.Tensor | None:
        hit = self.parent.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else None


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
    def __init__(self, keep_all: bool, provenance: _Provenance) -> None:
        self.keep_all = keep_all
        self.provenance = provenance
        self.states: dict[int, tuple[torch.Tensor, _Grid]] = {}
        self.last: _Grid | None = None
        self.rows: list[LayerRow] = []
        self.total_macs = 0
        self.seen: set[str] = set()
        self.order: list[str] = []  # the inputs' names, in the forward's order

    # -- state bookkeeping
    def remember(self, t: torch.Tensor, g: _Grid) -> None:
        self.states[id(t)] = (t, g)
        self.last = g

    @staticmethod
    def _cap(rf: list[int], g: _Grid) -> tuple[int, int, int]:
        return tuple(min(r, lim) for r, lim in zip(rf, g.limit))  # type: ignore[return-value]

    def fold(self, g: _Grid, axes: Sequence[int]) -> _Grid:
        rf, ext = list(g.rf), list(g.ext)
        for a in axes:
            rf[a] = rf[a] + (ext[a] - 1) * g.jump[a]
            ext[a] = 1
        return replace(g, rf=self._cap(rf, g), ext=tuple(ext))  # type: ignore[arg-type]

    def derive(self, t: torch.Tensor, prev: _Grid) -> _Grid:
        """State of a tensor no hook produced, from its shape and the last recorded state."""
        shape = tuple(t.shape)
        timed = prev.layout in ("clip", "frames", "frame_vectors")
        if prev.layout in ("points", "points_last") and t.dim() == 3:
            p = prev.ext[2]
            if shape[2] == p and shape[1] != p:
                return replace(prev, layout="points")
            if shape[1] == p and shape[2] != p:
                return replace(prev, layout="points_last")
            if shape[1] == p and shape[2] == p:  # (N, P, P): keep the layout we had
                return prev
            return replace(self.fold(prev, (2,)), layout="other")
        if t.dim() == 5:
            if timed and shape[2] != prev.ext[0] and shape[1] == prev.ext[0]:
                # (N, T, C, H, W): time ahead of the channels (before a fold into the batch)
                return replace(prev, layout="clip", ext=(shape[1], shape[3], shape[4]))
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
        chain = [t]  # walk up the operations that produced t to a tensor with a known state
        while True:
            parent = self.provenance.parent_of(chain[-1])
            if parent is None or len(chain) > 10_000:
                break
            hit = self.states.get(id(parent))
            if hit is not None and hit[0] is parent:
                g = hit[1]
                for u in reversed(chain):
                    g = self.derive(u, g)
                    self.states[id(u)] = (u, g)
                return g
            chain.append(parent)
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
            found = self.provenance.lookup(y)
            deps = tuple(k for k in self.order if k in found) or (g_out.source,)
            self.rows.append(LayerRow(name, desc, self.report_shape(y, g_out), g_out.rf, macs,
                                      params, g_out.source, deps))

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
        return replace(g, rf=self._cap(rf, g), jump=tuple(jump), ext=tuple(ext))  # type: ignore[arg-type]

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
        return replace(g, rf=self._cap(rf, g), jump=tuple(jump), ext=tuple(ext))  # type: ignore[arg-type]

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
        return replace(g, rf=self._cap(rf, g), jump=tuple(jump), ext=tuple(ext))  # type: ignore[arg-type]

    def apply(
        self, m: nn.Module, x: torch.Tensor, y: torch.Tensor, g: _Grid
    ) -> tuple[_Grid, str, int]:
        kind = type(m).__name__
        points = g.layout == "points"
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
            if nd not in (2, 3) and not (nd == 1 and points):
                raise InputError(f"layer_table: {kind} ({nd}D) is not supported"
                                 + (" (1D only on point features (N, C, P))" if nd == 1 else ""))
            kind = f"Conv{nd}d"  # also for subclasses such as spacetime's oneDNN Conv3d
            k = m.kernel_size
            macs = y.numel() * (m.in_channels // m.groups) * math.prod(k)
            desc = f"{kind}({'x'.join(map(str, k))}, {m.in_channels}->{m.out_channels})"
            if any(s > 1 for s in _triple(m.stride, nd)):
                desc += f" /{'x'.join(map(str, _triple(m.stride, nd)))}"
            return self.spatial(g, m, nd, y), desc, macs
        if isinstance(m, (_MaxPoolNd, _AvgPoolNd)):
            nd = x.dim() - 2
            if nd not in (2, 3) and not (nd == 1 and points):
                raise InputError(f"layer_table: {kind} on {x.dim()}D input is not supported")
            k = _triple(m.kernel_size, nd)
            return self.spatial(g, m, nd, y), f"{kind}({'x'.join(map(str, k))})", 0
        if isinstance(m, (_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)):
            nd = x.dim() - 2
            if nd not in (2, 3) and not (nd == 1 and points):
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


def _check_shape(shape: Any, name: str) -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise InputError(f"{name}: expected a shape (C, T, H, W), (C, H, W) or (P, D), "
                         f"got {shape!r}")
    out = tuple(shape)
    if len(out) not in (2, 3, 4):
        raise InputError(f"{name}: expected (C, T, H, W), (C, H, W) or (P, D), got {out!r}")
    for i, s in enumerate(out):
        check_int(s, f"{name}[{i}]", min_value=1)
    return out


def layer_table(
    model: nn.Module,
    input_shape: Sequence[int] | Mapping[str, Sequence[int]],
    *,
    all_layers: bool = False,
) -> LayerTable:
    """Per-layer output size, receptive field and multiply-adds of ``model`` on one sample.

    Args:
        model: a clip model taking ``(N, C, T, H, W)``, an image model taking
            ``(N, C, H, W)``, a point model taking ``(N, P, D)``, or a model with several such
            inputs; its parameters may live on any device, including ``meta`` (build big
            models under ``with torch.device("meta"):``).
        input_shape: ``(C, T, H, W)`` of one clip, e.g. ``(3, 16, 112, 112)``; ``(C, H, W)``
            of one image, e.g. ``(3, 224, 224)``; ``(P, D)`` of one point set, e.g.
            ``(1024, 3)``; or a dict ``{name: shape}`` of several inputs, passed to the
            forward positionally in the dict's order (two-stream:
            ``{"rgb": (3, 224, 224), "flow": (20, 224, 224)}``).
        all_layers: also list activations, dropout, normalisation, identity and flatten
            layers (they never change sizes or receptive fields and count 0 MACs).

    Returns:
        A :class:`LayerTable`: one ``input`` row per input (``"input:rgb"`` with several),
        then one :class:`LayerRow` per leaf-module call in execution order; conventions in the
        module docstring.

    Example (the lecture's toy 3D CNN)::

        >>> rows = layer_table(toy_slow_fusion(num_classes=10), (3, 20, 64, 64))
        >>> [(r.name, r.output_shape, r.receptive_field) for r in rows][2]
        ('encoder.pool1', (12, 5, 16, 16), (6, 6, 6))
    """
    if isinstance(input_shape, Mapping):
        if not input_shape:
            raise InputError("input_shape: expected at least one input, got an empty dict")
        shapes = {}
        for key, shp in input_shape.items():
            if not isinstance(key, str) or not key:
                raise InputError(f"input_shape: input names must be non-empty strings, "
                                 f"got {key!r}")
            shapes[key] = _check_shape(shp, f"input_shape[{key!r}]")
    else:
        shapes = {"input": _check_shape(input_shape, "input_shape")}
    if not isinstance(model, nn.Module):
        raise InputError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(all_layers, bool):
        raise InputError(f"all_layers: expected a bool, got {type(all_layers).__name__}")

    provenance = _Provenance()
    tracer = _Tracer(all_layers, provenance)
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
    args = []
    for key, shp in shapes.items():
        x = torch.zeros((1, *shp), device="meta", dtype=dtype)
        ext = _input_extent(shp)
        layout = {"points": "points_last"}.get(_input_kind(shp), _input_kind(shp))
        tracer.remember(x, _Grid(layout, ext, (1, 1, 1), (1, 1, 1), key, ext))
        provenance.mark(x, frozenset({key}))
        tracer.order.append(key)
        args.append(x)
    modes = [(m, m.training) for m in model.modules()]  # restored one by one afterwards
    model.eval()
    try:
        with torch.no_grad(), provenance:
            torch.func.functional_call(model, meta, tuple(args))
    except (RuntimeError, TypeError, NotImplementedError) as exc:
        read_as = {"points": "(P, D) points", "image": "(C, H, W) image",
                   "clip": "(C, T, H, W) clip"}
        got = ", ".join(f"{(1, *s)} (input_shape read as {read_as[_input_kind(s)]})"
                        for s in shapes.values())
        raise InputError(
            f"layer_table: the model's forward failed on meta tensors of shape {got}; wrong "
            f"input_shape or number of inputs, or an op without meta support: {exc}"
        ) from exc
    finally:
        for m, mode in modes:
            m.training = mode
        for h in handles:
            h.remove()
    several = len(shapes) > 1
    inputs = [
        LayerRow(f"input:{k}" if several else "input", "", shp, (1, 1, 1), 0, 0, k, (k,))
        for k, shp in shapes.items()
    ]
    total_params = sum(p.numel() for p in model.parameters())
    first = next(iter(shapes.values()))
    return LayerTable([*inputs, *tracer.rows], input_shape=first,
                      total_macs=tracer.total_macs, total_params=total_params, inputs=shapes)


def _fmt_dims(dims: Sequence[int]) -> str:
    return " x ".join(str(d) for d in dims)


def _fmt_rf(rf: Sequence[int], kind: str) -> str:
    if kind == "points":
        return f"{rf[2]} pts"
    return _fmt_dims(rf[1:] if kind == "image" else rf)


def format_layer_table(rows: Sequence[LayerRow], *, unit: str = "auto") -> str:
    """Render rows as a fixed-width text table with a MACs column and totals.

    Args:
        rows: a :class:`LayerTable` (or any sequence of :class:`LayerRow`).
        unit: ``"G"`` (GMACs, 2 decimals), ``"M"`` (MMACs, 2 decimals) or ``"auto"`` (G when
            the total is at least 1e9).

    Returns:
        The table as one string (``print`` it). Receptive fields read ``T x H x W`` for clips,
        ``H x W`` for images and ``k pts`` for point sets; with several inputs each is
        followed by the input it is measured in, and a ``from`` column lists the inputs each
        output depends on. Totals: MACs of the whole model and its parameter count (from the
        :class:`LayerTable`, else summed over the rows).
    """
    check_in(unit, "unit", ("auto", "G", "M"))
    total_macs = getattr(rows, "total_macs", sum(r.macs for r in rows))
    total_params = getattr(rows, "total_params", sum(r.params for r in rows))
    if unit == "auto":
        unit = "G" if total_macs >= 1e9 else "M"
    scale = 1e9 if unit == "G" else 1e6
    inputs = getattr(rows, "inputs", None) or {
        r.source: tuple(r.output_shape) for r in rows if r.name.split(":")[0] == "input"
    }
    kinds = {k: _input_kind(v) if len(v) in (2, 3, 4) else "clip" for k, v in inputs.items()}
    several = len(kinds) > 1
    if several:
        rf_head = "RF"
    else:
        rf_head = {"points": "RF (points)", "image": "RF (H x W)"}.get(
            next(iter(kinds.values()), "clip"), "RF (T x H x W)")
    head = ["layer", "type", "size", rf_head, f"{unit}MACs", "params"]
    if several:
        head.append("from")

    def cells(r: LayerRow) -> list[str]:
        is_input = r.name.split(":")[0] == "input"
        rf = "" if is_input else _fmt_rf(r.receptive_field, kinds.get(r.source, "clip"))
        if several and rf:
            rf += f" ({r.source})"
        out = [r.name, r.layer, _fmt_dims(r.output_shape), rf,
               f"{r.macs / scale:.2f}" if r.macs else "", f"{r.params:,}" if r.params else ""]
        if several:
            out.append("" if is_input else "+".join(r.inputs))
        return out

    body = [cells(r) for r in rows]
    foot = ["total", "", "", "", f"{total_macs / scale:.2f}", f"{total_params:,}"]
    if several:
        foot.append("")
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
