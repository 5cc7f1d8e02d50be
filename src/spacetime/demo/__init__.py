"""The ``spacetime demo``: a guided tour of the library on built-in synthetic data.

Each part writes pictures and a Markdown report (``README.md``) under its own folder:

- :func:`run_shapes_tour` (``shapes/``): one shape through every 3D representation of the lecture
  and the metrics that compare them.
- :func:`run_video_tour` (``video/``): single-frame vs slow-fusion on classes that differ only by
  motion, and the lecture's layer tables.
- :func:`run_flow_tour` (``flow/``): optical flow by several methods against exact ground truth.

:func:`run_demo` runs them all and writes an index.
"""

from spacetime.demo.flow_tour import run_flow_tour
from spacetime.demo.run import PARTS, run_demo
from spacetime.demo.shapes_tour import run_shapes_tour
from spacetime.demo.video_tour import run_video_tour

__all__ = ["run_demo", "run_shapes_tour", "run_video_tour", "run_flow_tour", "PARTS"]
