"""late-fusion-fc on UCF101 split 1 (Karpathy et al.'s fusion family)."""

from spacetime.recipes.catalog._karpathy import fusion_recipe

RECIPE = fusion_recipe(
    "late-fusion-ucf101", "late-fusion-fc",
    "Late fusion (per-frame towers merged in the fully connected layers) on UCF101 split 1",
    "forward 14.6 GFLOP per 10x112x112 clip (torch.utils.flop_counter); 515k training clips -> "
    "0.15 h of compute",
    extra_difference="""\
- Karpathy's late fusion sees two frames 15 apart; our clips are consecutive frames (the
  API has no frame step).
""",
)
