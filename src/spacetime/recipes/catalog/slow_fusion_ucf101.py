"""slow-fusion on UCF101 split 1 (Karpathy et al.'s fusion family)."""

from spacetime.recipes.catalog._karpathy import fusion_recipe
from spacetime.recipes.record import Target

RECIPE = fusion_recipe(
    "slow-fusion-ucf101", "slow-fusion",
    "Slow fusion (3D convolutions over time) on UCF101 split 1, from scratch",
    "forward 23.5 GFLOP per 10x112x112 clip (torch.utils.flop_counter + a Conv3d hook); 515k "
    "training clips -> 0.25 h of compute",
    target=Target("video/top1", 0.413, 0.05, "Karpathy et al., CVPR 2014, Table 3: slow fusion "
                  "trained from scratch on UCF101, 41.3 % (3-split mean)", comparable=False),
)
