"""Pictures and plots: shapes (:func:`show`), training curves and confusion matrices.

The run plots live with the engine that writes them (:mod:`spacetime.engine.plots`) and are
re-exported here so that every picture-making function is one import away.
"""

from spacetime.engine.plots import plot_confusion_matrix, plot_training_curves
from spacetime.viz.shapes import shape_image, show

__all__ = ["show", "shape_image", "plot_training_curves", "plot_confusion_matrix"]
