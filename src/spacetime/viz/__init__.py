"""Pictures and plots: shapes (:func:`show`), training curves and confusion matrices."""

from spacetime.viz.plots import plot_confusion_matrix, plot_training_curves
from spacetime.viz.shapes import shape_image, show

__all__ = ["show", "shape_image", "plot_training_curves", "plot_confusion_matrix"]
