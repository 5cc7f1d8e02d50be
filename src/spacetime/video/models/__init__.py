"""Video classifiers from the lecture: single frame, late / early / slow fusion, C3D, and
torchvision's video ResNets. Every model maps clips ``(N, 3, T, H, W)`` to ``(N, num_classes)``,
except the two-stream networks (:mod:`.two_stream`), which take an RGB frame ``(N, 3, H, W)`` and
a flow stack ``(N, 2L, H, W)``.

See ``docs/video_models.md`` for each model's tables (from :func:`spacetime.analysis.layer_table`).
"""

from spacetime.video.models.blocks import (
    Conv3d,
    check_clip,
    conv_stack_2d,
    conv_stack_3d,
    infer_output_shape,
    init_weights,
)
from spacetime.video.models.builders import MODEL_BUILDERS
from spacetime.video.models.c3d import C3D, c3d
from spacetime.video.models.fusion import (
    EarlyFusion,
    LateFusionFC,
    LateFusionPool,
    SingleFrame,
    SlowFusion,
    early_fusion,
    late_fusion_fc,
    late_fusion_pool,
    single_frame,
    slow_fusion,
    toy_early_fusion,
    toy_late_fusion,
    toy_slow_fusion,
)
from spacetime.video.models.torchvision_models import (
    load_video_checkpoint,
    mc3_18,
    r2plus1d_18,
    r3d_18,
)
from spacetime.video.models.two_stream import (
    FUSIONS,
    SpatialStream,
    TemporalStream,
    TwoStream,
    evaluate_two_stream,
    spatial_stream,
    subtract_mean_flow,
    temporal_stream,
    train_two_stream,
    two_stream,
)

__all__ = [
    "MODEL_BUILDERS",
    "SingleFrame",
    "LateFusionFC",
    "LateFusionPool",
    "EarlyFusion",
    "SlowFusion",
    "C3D",
    "single_frame",
    "late_fusion_fc",
    "late_fusion_pool",
    "early_fusion",
    "slow_fusion",
    "c3d",
    "toy_late_fusion",
    "toy_early_fusion",
    "toy_slow_fusion",
    "r3d_18",
    "r2plus1d_18",
    "mc3_18",
    "load_video_checkpoint",
    "SpatialStream",
    "TemporalStream",
    "TwoStream",
    "FUSIONS",
    "spatial_stream",
    "temporal_stream",
    "two_stream",
    "subtract_mean_flow",
    "train_two_stream",
    "evaluate_two_stream",
    "Conv3d",
    "conv_stack_2d",
    "conv_stack_3d",
    "init_weights",
    "infer_output_shape",
    "check_clip",
]
