"""Model analysis: per-layer size / receptive-field / multiply-add tables (the lecture's)."""

from spacetime.analysis.layer_table import LayerRow, LayerTable, format_layer_table, layer_table

__all__ = ["LayerRow", "LayerTable", "layer_table", "format_layer_table"]
