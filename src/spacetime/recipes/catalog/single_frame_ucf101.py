"""single-frame on UCF101 split 1 (Karpathy et al.'s fusion family)."""

from spacetime.recipes.catalog._karpathy import fusion_recipe

RECIPE = fusion_recipe(
    "single-frame-ucf101", "single-frame",
    "Single-frame CNN (clip = mean of per-frame scores) on UCF101 split 1",
    "forward 14.3 GFLOP per 10x112x112 clip (torch.utils.flop_counter); 8,580 videos x 60 "
    "epochs = 515k clips -> 0.15 h of compute",
)
