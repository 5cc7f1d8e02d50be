"""The two-stream network (RGB frame + 10 stacked optical flows) on UCF101 split 1."""

from spacetime.recipes.catalog._data import UCF101, UCF101_PREPARE
from spacetime.recipes.record import Recipe, Target

_SRC = "Simonyan & Zisserman, NIPS 2014, Tables 1-2 (UCF101 split 1)"

RECIPE = Recipe(
    name="two-stream-ucf101",
    title="Two-stream network on UCF101 split 1: spatial, temporal (L = 10 flows), fusion",
    paper="Simonyan & Zisserman: Two-Stream Convolutional Networks, NIPS 2014",
    family="two-stream",
    model=None,
    data=UCF101,
    train={
        # L = 10 stacked flows (20 channels), 224 px crops, dropout 0.5 (the paper: 0.9 for
        # the temporal net), fusion by averaging the softmax scores
        "frames": 11,
        "size": 224,
        "fold": 1,
        "num_flows": 10,
        "flow_method": "tvl1",
        "fusion": "average",
        "model_kwargs": {"dropout": 0.5},
        "epochs": 120,
        "batch_size": 64,
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "scheduler": "step",
        "num_workers": 8,
    },
    evaluate={"num_clips": 25, "batch_size": 8},
    targets=(
        Target("spatial/video/top1", 0.727, 0.05,
               _SRC + ": spatial ConvNet pre-trained on ImageNet, last layer fine-tuned, "
               "72.7 %", comparable=False),
        Target("temporal/video/top1", 0.810, 0.04,
               _SRC + ": temporal ConvNet, L = 10 stacked flows, 81.0 %"),
        Target("fusion/video/top1", 0.859, 0.04, _SRC + ": fusion, 85.9 %"),
    ),
    gpu_hours=3.0,
    gpu_hours_basis=(
        "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in mixed "
        "precision; a training step costs 3x the forward FLOPs; forward 5.7 (spatial, 224 px) "
        "+ 6.7 (temporal, 20 flow channels) GFLOP (torch.utils.flop_counter); 8,580 videos x "
        "120 epochs per stream -> 0.3 h of compute; input-bound: decoding ~1M RGB frames and "
        "reading ~20M flow PNGs -> ~3 h with 8 workers. The TV-L1 flow cache is CPU work, not "
        "GPU: ~2.5M frame pairs at ~3 pairs/s per core -> ~14 h on a 16-core machine (shard "
        "it across machines). About 3 GPU-hours + the cache, rough (x2)."
    ),
    prepare=UCF101_PREPARE + """
3. The optical-flow cache is computed first (TV-L1, every consecutive frame pair, short side
   256, 8-bit PNG clipped at ±20 px) into `DATA/flow_tvl1/` by `spacetime recipe run
   two-stream-ucf101 --data DATA --prepare-only`; it is resumable, and under torchrun each
   process computes its share of the videos (`RANK` / `WORLD_SIZE`), so several machines fill
   one shared cache (`torchrun --nnodes M ... -m spacetime recipe run two-stream-ucf101 --data
   DATA --prepare-only`). A single-process `run` computes what is missing itself; a
   multi-process `run` expects the cache to be complete.
""",
    flow_cache="{data}/flow_tvl1",
    differences="""\
- The spatial stream is trained from scratch: the API does not take ImageNet weights for
  two-stream training, and the paper's 72.7 % needs them (`comparable=False`); the temporal
  stream and fusion are comparable.
- Our streams are the VGG-style `spatial-stream` / `temporal-stream` of
  `spacetime.video.models`, not CNN-M-2048; flow is TV-L1 (OpenCV) instead of Brox et al.
- Test protocol: 25 clips per video as the paper, centre crop only (the paper also averages
  4 corner crops and flips).
- Schedule: `step` (÷10 at 1/3 and 2/3) instead of the paper's fixed iteration counts.
""",
    smoke={"flow_method": "dis", "size": 64},
    smoke_evaluate={"num_clips": 1},
    smoke_reason="size 64 instead of 224 and DIS flow instead of TV-L1 (CPU time of the flow "
                 "cache on the fake videos); 1 clip per video instead of 25",
)
