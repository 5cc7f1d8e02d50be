"""``MODEL_BUILDERS``: the one name -> builder dict (for the CLI); every builder is keyword-only
and takes ``num_classes=``. The two-stream builders' models take frames / flow stacks instead of
clips (see :mod:`spacetime.video.models.two_stream`); the ``toy-*`` models are the lecture's
small comparison networks (3 x 20 x 64 x 64 clips)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from spacetime.video.models.c3d import c3d
from spacetime.video.models.fusion import (
    early_fusion,
    late_fusion_fc,
    late_fusion_pool,
    single_frame,
    slow_fusion,
    toy_early_fusion,
    toy_late_fusion,
    toy_slow_fusion,
)
from spacetime.video.models.torchvision_models import mc3_18, r2plus1d_18, r3d_18
from spacetime.video.models.two_stream import spatial_stream, temporal_stream, two_stream

__all__ = ["MODEL_BUILDERS"]

MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "single-frame": single_frame,
    "late-fusion-fc": late_fusion_fc,
    "late-fusion-pool": late_fusion_pool,
    "early-fusion": early_fusion,
    "slow-fusion": slow_fusion,
    "c3d": c3d,
    "r3d-18": r3d_18,
    "r2plus1d-18": r2plus1d_18,
    "mc3-18": mc3_18,
    "spatial-stream": spatial_stream,
    "temporal-stream": temporal_stream,
    "two-stream": two_stream,
    "toy-late-fusion": toy_late_fusion,
    "toy-early-fusion": toy_early_fusion,
    "toy-slow-fusion": toy_slow_fusion,
}
