"""The application layer: train, evaluate, predict and load every model family from Python.

One module per family, each with the same four functions (keyword arguments in, dataclasses
out; nothing to parse from disk):

=========================  ==============================================================
module                     models
=========================  ==============================================================
:mod:`.video`              single frame, late / early / slow fusion, C3D, video ResNets
:mod:`.two_stream`         two-stream networks (RGB + stacked optical flow)
:mod:`.flow`               RAFT optical flow (and the classical estimators for predict)
:mod:`.shapes`             the lecture's 3D models (depth, normals, voxels, octrees,
                           PointNet, point sets, occupancy networks, Pixel2Mesh)
:mod:`.meshrcnn`           Mesh R-CNN (scene mode with a detector, single-object mode)
=========================  ==============================================================

``train(...)`` → :class:`TrainResult` (run directory, checkpoints, best metric, history);
``evaluate(checkpoint, ...)`` → :class:`EvalResult` (the split scored, the number of items,
metrics; ``print(result)`` shows the table); ``predict(checkpoint, input, ...)`` → the family's
prediction; :func:`load_model` rebuilds any checkpoint's model from its :class:`ModelSpec`.
The ``spacetime`` command is a thin layer over these functions; ``docs/api.md`` has a runnable
example per family.
"""

from spacetime.api import flow, meshrcnn, shapes, two_stream, video
from spacetime.api._common import EvalResult, TrainOptions, TrainResult
from spacetime.api.checkpoints import (
    FAMILIES,
    SCHEMA_VERSION,
    LoadedModel,
    ModelSpec,
    build_model,
    load_model,
    model_builders,
    read_spec,
)

__all__ = [
    "video",
    "two_stream",
    "flow",
    "shapes",
    "meshrcnn",
    "load_model",
    "read_spec",
    "build_model",
    "model_builders",
    "LoadedModel",
    "ModelSpec",
    "FAMILIES",
    "SCHEMA_VERSION",
    "TrainOptions",
    "TrainResult",
    "EvalResult",
]
