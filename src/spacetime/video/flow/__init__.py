"""spacetime.video.flow: optical flow (formats, metrics, estimators, RAFT, caching).

Convention (used by every function here)
----------------------------------------
A flow from frame ``I_t`` to frame ``I_{t+1}`` is a float tensor ``(2, H, W)`` (batched
``(N, 2, H, W)``) holding ``(dx, dy)`` **in pixels**, x to the right (columns), y down (rows),
such that

    ``I_{t+1}(x + dx, y + dy) = I_t(x, y)``

i.e. it tells where each pixel of ``I_t`` is in the next frame (the lecture's definition, and
OpenCV's / Middlebury's / torchvision RAFT's). Pixel ``(x, y)`` is the centre of column ``x`` /
row ``y`` (integer coordinates ``0 .. W - 1``); :func:`warp` samples with
``grid_sample(align_corners=True)`` under this convention, so ``warp(frame2, flow)`` ≈ ``frame1``.
Unknown flow is NaN (``.flo`` files store it as 1e10, KITTI PNGs with valid = 0).

Modules: :mod:`.io` (``.flo`` / KITTI PNG / ``.npy``), :mod:`.ops` (warp, EPE, Fl-all, angular
and photometric errors), :mod:`.viz` (Middlebury colours, dx/dy images, quiver plots),
:mod:`.estimate` (:func:`estimate_flow`), :mod:`.horn_schunck`, :mod:`.raft`,
:mod:`.synthetic` (:class:`SyntheticFlow`), :mod:`.train` (:class:`RAFTStep`), :mod:`.evaluate`,
:mod:`.cache`. Training, evaluating and using a RAFT checkpoint: :mod:`spacetime.api.flow`.
See ``docs/flow.md``.
"""

from spacetime.video.flow.cache import (
    CACHE_FORMATS,
    cached_flow_info,
    compute_dataset_flow,
    compute_video_flow,
    dequantize_flow,
    load_cached_flow,
    quantization_error,
    quantize_flow,
)
from spacetime.video.flow.estimate import FLOW_METHODS, estimate_flow, estimate_flow_batch
from spacetime.video.flow.evaluate import (
    LAYOUTS,
    evaluate_flow_folder,
    export_flow_folder,
    format_flow_table,
    list_flow_pairs,
    read_image,
    write_image,
)
from spacetime.video.flow.horn_schunck import horn_schunck
from spacetime.video.flow.io import (
    read_flo,
    read_flow,
    read_kitti_flow,
    write_flo,
    write_flow,
    write_kitti_flow,
)
from spacetime.video.flow.ops import (
    angular_error,
    end_point_error,
    flow_metrics,
    outlier_rate,
    photometric_error,
    pixel_grid,
    warp,
)
from spacetime.video.flow.raft import (
    RAFT_MODELS,
    RAFTFlow,
    build_raft,
    load_raft_weights,
    raft_padding,
    sequence_loss,
)
from spacetime.video.flow.synthetic import SyntheticFlow, make_synthetic_pair
from spacetime.video.flow.train import RAFTStep
from spacetime.video.flow.viz import (
    flow_components_to_images,
    flow_quiver,
    flow_to_image,
    make_colorwheel,
)

__all__ = [
    "read_flo",
    "write_flo",
    "read_kitti_flow",
    "write_kitti_flow",
    "read_flow",
    "write_flow",
    "flow_to_image",
    "flow_components_to_images",
    "flow_quiver",
    "make_colorwheel",
    "warp",
    "pixel_grid",
    "end_point_error",
    "outlier_rate",
    "angular_error",
    "photometric_error",
    "flow_metrics",
    "FLOW_METHODS",
    "estimate_flow",
    "estimate_flow_batch",
    "horn_schunck",
    "RAFT_MODELS",
    "RAFTFlow",
    "build_raft",
    "load_raft_weights",
    "raft_padding",
    "sequence_loss",
    "SyntheticFlow",
    "make_synthetic_pair",
    "RAFTStep",
    "LAYOUTS",
    "evaluate_flow_folder",
    "export_flow_folder",
    "format_flow_table",
    "list_flow_pairs",
    "read_image",
    "write_image",
    "CACHE_FORMATS",
    "compute_dataset_flow",
    "compute_video_flow",
    "load_cached_flow",
    "cached_flow_info",
    "quantize_flow",
    "dequantize_flow",
    "quantization_error",
]
