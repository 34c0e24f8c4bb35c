"""Looking inside decoders: a per-layer table (shapes, parameters, FLOPs, receptive spans, overlap unevenness)
and a checkerboard measure of their outputs."""

from .checkerboard import checkerboard_ratio, checkerboard_ratios, energy_share
from .receptive import LayerRow, format_table, layer_table

__all__ = ["LayerRow", "checkerboard_ratio", "checkerboard_ratios", "energy_share", "format_table", "layer_table"]
