"""Two-stream networks: a spatial (appearance) and a temporal (motion) 2D CNN, fused late.

Simonyan & Zisserman, "Two-Stream Convolutional Networks for Action Recognition in Videos",
NeurIPS 2014 (the lecture's "Separating Motion and Appearance" slides).

==================  =======================================  ===================================
part                input                                    output
==================  =======================================  ===================================
SpatialStream       one RGB frame ``(N, 3, H, W)`` (or a     logits ``(N, C)``
                    clip ``(N, 3, T, H, W)``: one frame is
                    taken, random in training, the middle
                    one in eval mode)
TemporalStream      ``L`` stacked flows ``(N, 2L, H, W)``    logits ``(N, C)``
TwoStream           ``{"rgb": ..., "flow": ...}`` or the     ``fusion="average"``: log of the
                    two tensors                              mean of the two streams' softmax
                                                             probabilities; ``"linear"``: logits
==================  =======================================  ===================================

Flow stack layout (the paper's "optical flow stacking"): channel ``2k`` is ``dx`` and channel
``2k + 1`` is ``dy`` of the flow from frame ``tau + k`` to ``tau + k + 1`` (``k = 0 .. L-1``),
sampled at the same pixel locations, in pixels, with the flow convention of
:mod:`spacetime.video.flow` (``I_{t+1}(x + dx, y + dy) = I_t(x, y)``; x right, y down). The
temporal stream subtracts each flow field's mean displacement (per sample and channel, over
``H x W``) before the first convolution, the paper's "mean flow subtraction" that removes a global
(camera) motion; data loaders therefore pass raw flow
(:class:`~spacetime.video.datasets.FlowClips`).

Each stream is a VGG-style :func:`~spacetime.video.models.conv_stack_2d` encoder, global average
pooling, dropout and a linear classifier (the paper used CNN-M-2048 with dropout 0.5 / 0.9; the
defaults here are the widths of :func:`~spacetime.video.models.single_frame`). The paper trains
the two streams separately and then fuses their softmax scores by averaging or by a linear SVM on
the stacked scores; ``fusion="linear"`` is the trained-linear-layer version: a ``Linear(2C, C)``
on the concatenated log-softmax scores, initialised to the average (weights ``[I/2, I/2]``), and
trained with the streams frozen (``freeze_streams=True`` keeps them in eval mode and without
gradients). :func:`train_two_stream` runs the whole protocol with the shared engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError
from spacetime.video.models.blocks import init_weights
from spacetime.video.models.image_encoders import image_encoder

__all__ = [
    "FUSIONS",
    "SpatialStream",
    "TemporalStream",
    "TwoStream",
    "spatial_stream",
    "temporal_stream",
    "two_stream",
    "subtract_mean_flow",
    "evaluate_two_stream",
    "train_two_stream",
]

FUSIONS = ("average", "linear")


def _check_dropout(p: float) -> float:
    if not 0.0 <= float(p) < 1.0:
        raise InputError(f"dropout: expected a probability in [0, 1), got {p!r}")
    return float(p)


def subtract_mean_flow(flow: torch.Tensor) -> torch.Tensor:
    """Subtract each flow field's mean displacement: ``(N, 2L, H, W)`` -> same shape.

    Per sample and channel the mean over ``H x W`` is removed (Simonyan & Zisserman's mean flow
    subtraction; compensates a global camera translation). Differentiable.
    """
    check_tensor(flow, "flow", ("N", "C", "H", "W"), dtype="float")
    return flow - flow.mean(dim=(2, 3), keepdim=True)


class _Stream2D(nn.Module):
    """Encoder -> global average pool -> dropout -> linear classifier."""

    def __init__(
        self, encoder: nn.Module, feature_dim: int, num_classes: int, dropout: float = 0.5
    ) -> None:
        super().__init__()
        check_int(feature_dim, "feature_dim", min_value=1)
        check_int(num_classes, "num_classes", min_value=1)
        self.encoder = encoder
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.fc = nn.Linear(feature_dim, num_classes)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def _classify(self, x: torch.Tensor) -> torch.Tensor:
        f = self.encoder(x)
        return self.fc(self.dropout(torch.flatten(self.gap(f), 1)))


class SpatialStream(_Stream2D):
    """Appearance stream: a 2D CNN on single RGB frames.

    ``forward(x)`` takes frames ``(N, 3, H, W)`` or clips ``(N, 3, T, H, W)``; from a clip one
    frame is used, drawn uniformly per clip in training mode (using torch's global RNG) and the
    middle frame ``T // 2`` in eval mode. Returns logits ``(N, num_classes)``.

    Args:
        encoder: 2D CNN mapping ``(B, 3, H, W)`` to ``(B, feature_dim, H', W')``.
        feature_dim: channels of the encoder output.
        num_classes: number of classes ``C``.
        dropout: dropout before the classifier.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 5:
            sizes = check_tensor(x, "x", ("N", 3, "T", "H", "W"), dtype="float")
            n, t = sizes["N"], sizes["T"]
            if self.training:
                idx = torch.randint(t, (n,), device=x.device)
            else:
                idx = torch.full((n,), t // 2, dtype=torch.long, device=x.device)
            x = x[torch.arange(n, device=x.device), :, idx]
        else:
            check_tensor(x, "x", ("N", 3, "H", "W"), dtype="float")
        return self._classify(x)


class TemporalStream(_Stream2D):
    """Motion stream: a 2D CNN on ``L`` stacked optical flows ``(N, 2L, H, W)`` (see module doc).

    Returns logits ``(N, num_classes)``.

    Args:
        encoder: 2D CNN mapping ``(B, 2L, H, W)`` to ``(B, feature_dim, H', W')``.
        feature_dim: channels of the encoder output.
        num_classes: number of classes ``C``.
        num_flows: ``L``, the number of stacked flow fields.
        dropout: dropout before the classifier.
        mean_subtract: subtract each flow field's mean displacement first
            (:func:`subtract_mean_flow`).
    """

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        num_classes: int,
        num_flows: int = 10,
        dropout: float = 0.5,
        mean_subtract: bool = True,
    ) -> None:
        super().__init__(encoder, feature_dim, num_classes, dropout)
        self.num_flows = check_int(num_flows, "num_flows", min_value=1)
        self.mean_subtract = bool(mean_subtract)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ("N", 2 * self.num_flows, "H", "W"), dtype="float")
        if self.mean_subtract:
            x = subtract_mean_flow(x)
        return self._classify(x)


def _split_inputs(
    rgb: Any, flow: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(rgb, Mapping):
        if flow is not None:
            raise InputError("flow: pass either a dict {'rgb', 'flow'} or two tensors, not both")
        missing = [k for k in ("rgb", "flow") if k not in rgb]
        if missing:
            raise InputError(
                f"x: expected a dict with keys 'rgb' and 'flow', got keys {sorted(map(str, rgb))}"
            )
        return rgb["rgb"], rgb["flow"]
    if flow is None:
        shape = tuple(rgb.shape) if isinstance(rgb, torch.Tensor) else type(rgb).__name__
        raise InputError(
            "flow: TwoStream needs RGB frames and stacked flow, e.g. model(rgb, flow) or "
            f"model({{'rgb': rgb, 'flow': flow}}) (see FlowClips), got only x of shape {shape}"
        )
    return rgb, flow


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class TwoStream(nn.Module):
    """Spatial + temporal stream with late fusion (Simonyan & Zisserman 2014).

    ``forward(rgb, flow)`` or ``forward({"rgb": rgb, "flow": flow})`` with ``rgb`` ``(N, 3, H, W)``
    (or a clip ``(N, 3, T, H, W)``) and ``flow`` ``(N, 2L, H, W)`` returns ``(N, num_classes)``:

    - ``fusion="average"``: ``log((softmax(s) + softmax(t)) / 2)``, log-probabilities (so
      ``F.cross_entropy`` / ``F.nll_loss`` apply and ``.exp()`` gives the averaged probabilities);
    - ``fusion="linear"``: logits ``W [log_softmax(s); log_softmax(t)] + b`` with ``W`` of shape
      ``(C, 2C)``, initialised to ``[I/2, I/2]`` and ``b = 0`` (the geometric mean of the two
      streams' probabilities, up to normalisation).

    Args:
        spatial: a :class:`SpatialStream` (or any module mapping frames to ``(N, C)`` logits).
        temporal: a :class:`TemporalStream` (or any module mapping flow stacks to logits).
        num_classes: ``C``.
        fusion: ``"average"`` or ``"linear"``.
        freeze_streams: keep both streams in eval mode and without gradients (to train the fusion
            layer alone); can be changed later with :meth:`set_freeze_streams`.
    """

    def __init__(
        self,
        spatial: nn.Module,
        temporal: nn.Module,
        num_classes: int,
        fusion: str = "average",
        freeze_streams: bool = False,
    ) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", min_value=1)
        check_in(fusion, "fusion", FUSIONS)
        self.spatial = spatial
        self.temporal = temporal
        self.num_classes = num_classes
        self.fusion = fusion
        self.fuse_fc: nn.Linear | None = None
        if fusion == "linear":
            self.fuse_fc = nn.Linear(2 * num_classes, num_classes)
            self.reset_fusion()
        self.freeze_streams = False
        self.set_freeze_streams(freeze_streams)

    def reset_fusion(self) -> None:
        """Re-initialise the linear fusion layer to the average (``[I/2, I/2]``, zero bias)."""
        if self.fuse_fc is None:
            return
        c = self.num_classes
        with torch.no_grad():
            eye = torch.eye(c, dtype=self.fuse_fc.weight.dtype, device=self.fuse_fc.weight.device)
            self.fuse_fc.weight.copy_(torch.cat([eye, eye], dim=1) / 2)
            self.fuse_fc.bias.zero_()

    def set_freeze_streams(self, freeze: bool) -> TwoStream:
        """Freeze (eval mode, ``requires_grad=False``) or unfreeze both streams; returns self."""
        self.freeze_streams = bool(freeze)
        for stream in (self.spatial, self.temporal):
            for p in stream.parameters():
                p.requires_grad_(not self.freeze_streams)
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> TwoStream:
        super().train(mode)
        if self.freeze_streams:
            self.spatial.eval()
            self.temporal.eval()
        return self

    def stream_logits(
        self, rgb: Any, flow: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both streams' logits ``((N, C), (N, C))``; same inputs as :meth:`forward`."""
        rgb, flow = _split_inputs(rgb, flow)
        s = self.spatial(rgb)
        t = self.temporal(flow)
        if s.shape != t.shape or s.shape[-1] != self.num_classes:
            raise InputError(
                f"rgb/flow: expected both streams to give (N, {self.num_classes}) scores, got "
                f"spatial {tuple(s.shape)} and temporal {tuple(t.shape)}"
            )
        return s, t

    def fuse(self, spatial_logits: torch.Tensor, temporal_logits: torch.Tensor) -> torch.Tensor:
        """Fuse the two streams' logits ``(N, C)`` -> ``(N, C)`` (see the class docstring)."""
        # half-precision (autocast) scores are fused in float32; float64 stays float64
        ls = F.log_softmax(_at_least_float32(spatial_logits), dim=-1)
        lt = F.log_softmax(_at_least_float32(temporal_logits), dim=-1)
        if self.fuse_fc is None:
            return torch.logaddexp(ls, lt) - math.log(2.0)
        return self.fuse_fc(torch.cat([ls, lt], dim=-1).to(self.fuse_fc.weight.dtype))

    def forward(self, rgb: Any, flow: torch.Tensor | None = None) -> torch.Tensor:
        return self.fuse(*self.stream_logits(rgb, flow))


# --------------------------------------------------------------------------- builders

_DEFAULT_CHANNELS = (64, 128, 256, 512)


def spatial_stream(
    *,
    num_classes: int,
    channels: Sequence[int] = _DEFAULT_CHANNELS,
    norm: bool = True,
    dropout: float = 0.5,
    encoder: str = "conv-stack",
) -> SpatialStream:
    """:class:`SpatialStream` on a VGG-style 2D CNN (:func:`conv_stack_2d` with ``channels``), or
    on a torchvision ImageNet architecture (``encoder="resnet18"``, ...: see
    :mod:`~spacetime.video.models.image_encoders`)."""
    enc, dim = image_encoder(encoder, channels=channels, norm=norm)
    model = SpatialStream(enc, dim, num_classes, dropout)
    init_weights(model)
    return model


def temporal_stream(
    *,
    num_classes: int,
    num_flows: int = 10,
    channels: Sequence[int] = _DEFAULT_CHANNELS,
    norm: bool = True,
    dropout: float = 0.5,
    mean_subtract: bool = True,
    encoder: str = "conv-stack",
) -> TemporalStream:
    """:class:`TemporalStream` on ``L = num_flows`` stacked flows (``2L`` input channels), on a
    VGG-style 2D CNN or a torchvision architecture whose first conv takes ``2L`` channels
    (``encoder="resnet18"``, ...; ImageNet weights reach it by the cross-modality
    initialisation of :mod:`spacetime.weights`)."""
    check_int(num_flows, "num_flows", min_value=1)
    enc, dim = image_encoder(encoder, channels=channels, norm=norm, in_channels=2 * num_flows)
    model = TemporalStream(enc, dim, num_classes, num_flows, dropout, mean_subtract)
    init_weights(model)
    return model


def two_stream(
    *,
    num_classes: int,
    num_flows: int = 10,
    channels: Sequence[int] = _DEFAULT_CHANNELS,
    temporal_channels: Sequence[int] | None = None,
    norm: bool = True,
    dropout: float = 0.5,
    fusion: str = "average",
    mean_subtract: bool = True,
    encoder: str = "conv-stack",
) -> TwoStream:
    """:class:`TwoStream` from :func:`spatial_stream` and :func:`temporal_stream`.

    ``temporal_channels`` defaults to ``channels``; ``fusion`` is ``"average"`` or ``"linear"``;
    ``encoder`` (both streams): ``conv-stack`` or a torchvision architecture (``resnet18``, ...,
    :mod:`~spacetime.video.models.image_encoders`; the temporal stream's first conv then takes
    ``2L`` channels).
    """
    spatial = spatial_stream(num_classes=num_classes, channels=channels, norm=norm,
                             dropout=dropout, encoder=encoder)
    temporal = temporal_stream(
        num_classes=num_classes, num_flows=num_flows,
        channels=channels if temporal_channels is None else temporal_channels, norm=norm,
        dropout=dropout, mean_subtract=mean_subtract, encoder=encoder,
    )
    return TwoStream(spatial, temporal, num_classes, fusion)


# --------------------------------------------------------------------------- train / evaluate


@torch.no_grad()
def evaluate_two_stream(
    model: TwoStream,
    loader: Any,
    *,
    device: str | torch.device = "cpu",
    ks: Sequence[int] = (1, 5),
    video_key: str = "video_index",
) -> dict[str, dict[str, Any]]:
    """Clip- and video-level metrics of each stream and of the fusion, in one pass.

    ``loader`` yields dict batches with ``rgb``, ``flow``, ``label`` and (for test-time clip
    averaging) ``video_key`` (``(N,)`` video index of each clip, e.g. from
    ``FlowClips(..., clips_per_video=K)``; without it every clip is its own video). Video scores
    are the mean clip softmax probabilities (:func:`~spacetime.engine.average_clip_probs`); for
    the ``"average"`` fusion this averages the fused clip probabilities.

    Returns:
        ``{"spatial": {"clip": m, "video": m}, "temporal": {...}, "fusion": {...}}`` where each
        ``m`` is :func:`~spacetime.engine.classification_metrics`.
    """
    from spacetime.engine.data import move_to_device
    from spacetime.engine.metrics import average_clip_probs, classification_metrics

    model.eval()
    dev = torch.device(device)
    scores: dict[str, list[torch.Tensor]] = {"spatial": [], "temporal": [], "fusion": []}
    targets, vids = [], []
    next_id = 0
    for batch in loader:
        if not isinstance(batch, Mapping):
            raise InputError(f"batch: expected a dict with rgb/flow/label, got {type(batch)}")
        if batch.get("batch_size", None) == 0:
            continue
        for key in ("rgb", "flow", "label"):
            if key not in batch:
                raise InputError(f"batch: expected key {key!r}, got keys {sorted(batch)}")
        rgb = move_to_device(batch["rgb"], dev)
        flow = move_to_device(batch["flow"], dev)
        s, t = model.stream_logits(rgb, flow)
        fused = model.fuse(s, t)  # "average": log-probabilities, softmax gives them back
        scores["spatial"].append(s.float().cpu())
        scores["temporal"].append(t.float().cpu())
        scores["fusion"].append(fused.float().cpu())
        y = torch.as_tensor(batch["label"]).long().cpu()
        targets.append(y)
        if video_key in batch:
            vids.append(torch.as_tensor(batch[video_key]).long().cpu())
        else:
            vids.append(torch.arange(next_id, next_id + y.shape[0]))
            next_id += y.shape[0]
    if not targets:
        raise InputError("loader: expected at least one batch, got an empty loader")
    y_all, v_all = torch.cat(targets), torch.cat(vids)
    out: dict[str, dict[str, Any]] = {}
    for name, parts in scores.items():
        sc = torch.cat(parts)
        c = sc.shape[1]
        clip = classification_metrics(sc.softmax(dim=1), y_all, c, ks)
        probs, _, vt = average_clip_probs(sc, v_all, y_all)
        out[name] = {"clip": clip, "video": classification_metrics(probs, vt, c, ks)}
    return out


def train_two_stream(
    model: TwoStream,
    train_loader: Any,
    val_loader: Any | None = None,
    *,
    config: Any = None,
    fusion_config: Any = None,
    out_dir: str | None = None,
    meta: Mapping[str, Any] | None = None,
    stage_meta: Mapping[str, Mapping[str, Any]] | None = None,
    keep_best: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train the spatial stream, the temporal stream, then (``fusion="linear"``) the fusion.

    Each stage is a :class:`~spacetime.engine.Trainer` run with
    :class:`~spacetime.engine.ClassificationStep` on the batch's ``rgb`` / ``flow`` key (the
    streams are trained separately, as in the paper); the linear fusion layer is then trained
    on ``{"rgb", "flow"}`` with both streams frozen.

    Args:
        model: a :class:`TwoStream`.
        train_loader, val_loader: loaders of ``FlowClips`` batches (``rgb``, ``flow``, ``label``).
        config: :class:`~spacetime.engine.TrainConfig` for each stream (default
            ``TrainConfig()``); its ``out_dir`` is ignored in favour of ``out_dir``.
        fusion_config: config of the fusion stage (default: ``config``).
        out_dir: run root; stages write ``out_dir/spatial``, ``out_dir/temporal``,
            ``out_dir/fusion`` (None = write nothing).
        meta: stored in each stage's checkpoints (with ``"stage"`` added).
        stage_meta: per-stage metadata instead (``{"spatial": {...}, "temporal": {...},
            "fusion": {...}}``), e.g. specs that rebuild each stage's own model.
        keep_best: after each stage, reload its best validation epoch
            (``out_dir/<stage>/checkpoints/best.pt``) before the next stage, so the fusion is
            trained on the best streams and the returned model is the best of every stage
            (needs ``out_dir``).
        log: per-epoch log lines (each prefixed with the stage name).

    Returns:
        ``{"spatial": history, "temporal": history, "fusion": history or []}``.
    """
    import dataclasses

    from spacetime.engine import ClassificationStep, TrainConfig, Trainer

    if not isinstance(model, TwoStream):
        raise InputError(f"model: expected a TwoStream, got {type(model).__name__}")
    cfg = config if config is not None else TrainConfig()
    fcfg = fusion_config if fusion_config is not None else cfg

    def stage_cfg(c: Any, name: str) -> Any:
        return dataclasses.replace(c, out_dir=None if out_dir is None else f"{out_dir}/{name}")

    def stage_log(name: str) -> Callable[[str], None] | None:
        return None if log is None else (lambda line: log(f"[{name}] {line}"))

    if keep_best and out_dir is None:
        raise InputError("keep_best: needs out_dir (the best epochs are read back from there)")

    def stage_meta_of(name: str) -> dict[str, Any]:
        if stage_meta is not None and name in stage_meta:
            return dict(stage_meta[name])
        return {**(meta or {}), "stage": name}

    def fit(trainer: Any) -> list[dict[str, Any]]:
        history = trainer.fit()
        if keep_best and trainer.run is not None and trainer.run.best_checkpoint.is_file():
            from spacetime.engine import load_checkpoint

            state = load_checkpoint(trainer.run.best_checkpoint, map_location=trainer.device)
            trainer.model.load_state_dict(state["model"])
        return history

    histories: dict[str, Any] = {}
    model.set_freeze_streams(False)
    for name, stream, key in (("spatial", model.spatial, "rgb"),
                              ("temporal", model.temporal, "flow")):
        trainer = Trainer(stream, train_loader, val_loader, stage_cfg(cfg, name),
                          step_fn=ClassificationStep(input_key=key),
                          meta=stage_meta_of(name), log=stage_log(name))
        histories[name] = fit(trainer)
    histories["fusion"] = []
    if model.fusion == "linear":
        model.set_freeze_streams(True)
        try:
            trainer = Trainer(model, train_loader, val_loader, stage_cfg(fcfg, "fusion"),
                              step_fn=_FusionStep(), meta=stage_meta_of("fusion"),
                              log=stage_log("fusion"))
            histories["fusion"] = fit(trainer)
        finally:
            model.set_freeze_streams(False)
    model.eval()
    return histories


class _FusionStep:
    """Cross-entropy of the fused scores on ``{"rgb", "flow", "label"}`` batches."""

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        if not isinstance(batch, Mapping) or "label" not in batch:
            raise InputError("batch: expected a dict with keys 'rgb', 'flow' and 'label'")
        logits = model({"rgb": batch["rgb"], "flow": batch["flow"]})
        target = batch["label"]
        loss = F.cross_entropy(logits.float(), target)
        acc = (logits.detach().argmax(dim=1) == target).float().mean()
        return loss, {"acc": acc}
