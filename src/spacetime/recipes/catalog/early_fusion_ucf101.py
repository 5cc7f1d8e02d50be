"""early-fusion on UCF101 split 1 (Karpathy et al.'s fusion family)."""

from spacetime.recipes.catalog._data import UCF101, UCF101_PREPARE
from spacetime.recipes.record import Recipe, Target

RECIPE = Recipe(
    name="early-fusion-ucf101",
    title="Early fusion (frames stacked on the channels) on UCF101 split 1",
    paper="Karpathy et al.: Large-scale Video Classification with CNNs, CVPR 2014",
    family="video",
    model="early-fusion",
    data=UCF101,
    train={
        # trained from scratch on UCF101 (the paper's "train from scratch" row), 10-frame clips
        "frames": 10,
        "size": 112,
        "fold": 1,
        "model_kwargs": {"dropout": 0.5},
        "epochs": 60,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "scheduler": "cosine",
        "warmup_epochs": 2.0,
        "num_workers": 8,
    },
    evaluate={"num_clips": 10, "batch_size": 8},
    targets=(
        Target("video/top1", None, 0.05, "Karpathy et al. report no UCF101 number for this model"),
    ),
    gpu_hours=1.0,
    gpu_hours_basis=(
        "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in mixed "
        "precision; a training step costs 3x the forward FLOPs; forward 1.8 GFLOP per "
        "10x112x112 clip (torch.utils.flop_counter); 515k training clips -> minutes of "
        "compute; decoding-bound: ~150 clips/s with 8 workers -> ~1 h. About 1 GPU-hour, "
        "rough (x2)."
    ),
    prepare=UCF101_PREPARE,
    differences="""\
- Karpathy et al.'s networks are AlexNet-like on 170 px crops with a fovea / context
  multiresolution stream and were pre-trained on Sports-1M; ours are the VGG-style
  `early-fusion` of `spacetime.video.models` on 112 px clips, trained from scratch on UCF101.
- The paper's UCF101 numbers are for the slow-fusion network only (from scratch 41.3 %,
  fine-tuning the top 3 layers of the Sports-1M network 65.4 %, 3-split mean); single-frame,
  early and late fusion are reported on Sports-1M only.
""",
    smoke={},
    smoke_evaluate={"num_clips": 2},
    smoke_reason="full-size model and clips; 2 clips per video instead of 10",
)
