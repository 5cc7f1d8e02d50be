"""early-fusion on UCF101 split 1 (Karpathy et al.'s fusion family)."""

from spacetime.recipes.catalog._karpathy import fusion_recipe

RECIPE = fusion_recipe(
    "early-fusion-ucf101", "early-fusion",
    "Early fusion (frames stacked on the channels) on UCF101 split 1",
    "forward 1.8 GFLOP per 10x112x112 clip (torch.utils.flop_counter); 515k training clips -> "
    "minutes of compute",
)
