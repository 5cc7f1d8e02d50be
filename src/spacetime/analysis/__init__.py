"""Model analysis: per-layer size / receptive-field / multiply-add tables (the lecture's), for
clip and image models, of any registered model by name (:func:`model_layer_table`)."""

from spacetime.analysis.layer_table import LayerRow, LayerTable, format_layer_table, layer_table
from spacetime.analysis.models import IMAGE_CLASSIFIERS, model_layer_table, table_model_names

__all__ = [
    "LayerRow",
    "LayerTable",
    "layer_table",
    "format_layer_table",
    "model_layer_table",
    "table_model_names",
    "IMAGE_CLASSIFIERS",
]
