"""The lecture lab: every claim of the lecture *3D Vision and Videos* as a runnable experiment
with a verdict (``spacetime lecture``).

Each experiment of :data:`EXPERIMENTS` is a function ``fn(out_dir, *, scale, seed) ->``
:class:`ClaimResult` that quotes the claim, runs something (with spacetime's own models, data and
metrics), measures, plots, and decides: *reproduced*, *not reproduced at this scale* (why, and
what scale would be needed) or *the slide's number is wrong* (and the correct one).
:func:`run_lecture` runs a selection and writes ``README.md`` and ``index.html`` (the plots
inline) into its folder.

Scales: ``quick`` (the whole lab in about two minutes on 2 CPU cores, run by the tests),
``default`` (tens of minutes) and ``full`` (hours on a CPU; larger grids, data and budgets).
"""

from spacetime.lecture.experiments import EXPERIMENTS
from spacetime.lecture.report import ClaimResult
from spacetime.lecture.run import run_lecture

__all__ = ["EXPERIMENTS", "ClaimResult", "run_lecture"]
