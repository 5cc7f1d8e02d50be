"""What the four recipes of Karpathy et al.'s fusion family on UCF101 split 1 share (single
frame, late, early and slow fusion): data, settings, evaluation, the differences from the paper
and the GPU-hour basis. Each recipe module names its model and what differs."""

from __future__ import annotations

from spacetime.recipes.catalog._data import UCF101, UCF101_PREPARE
from spacetime.recipes.record import Recipe, Target

__all__ = ["fusion_recipe"]

_NO_NUMBER = Target("video/top1", None, 0.05,
                    "Karpathy et al. report no UCF101 number for this model")


def fusion_recipe(name: str, model: str, title: str, compute: str, *,
                  target: Target = _NO_NUMBER, extra_difference: str = "") -> Recipe:
    """The recipe of ``model`` trained from scratch on UCF101 split 1 with 10-frame clips.

    Args:
        name, model, title: the recipe's name, the video model, a one-line title.
        compute: the model's part of the GPU-hour basis (forward GFLOP per clip and what it
            gives over 515k training clips).
        target: the paper's number (default: none for this model on UCF101).
        extra_difference: further Markdown bullet lines on how we differ from the paper.
    """
    return Recipe(
        name=name,
        title=title,
        paper="Karpathy et al.: Large-scale Video Classification with CNNs, CVPR 2014",
        family="video",
        model=model,
        data=UCF101,
        train={
            # trained from scratch on UCF101 (the paper's "train from scratch" row)
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
        targets=(target,),
        gpu_hours=1.0,
        gpu_hours_basis=(
            "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in "
            "mixed precision; a training step costs 3x the forward FLOPs; " + compute
            + "; decoding-bound: ~150 clips/s with 8 workers -> ~1 h. About 1 GPU-hour, "
            "rough (x2)."
        ),
        prepare=UCF101_PREPARE,
        differences=f"""\
- Karpathy et al.'s networks are AlexNet-like on 170 px crops with a fovea / context
  multiresolution stream and were pre-trained on Sports-1M; ours are the VGG-style
  `{model}` of `spacetime.video.models` on 112 px clips, trained from scratch on UCF101.
- The paper's UCF101 numbers are for the slow-fusion network only (from scratch 41.3 %,
  fine-tuning the top 3 layers of the Sports-1M network 65.4 %, 3-split mean); single-frame,
  early and late fusion are reported on Sports-1M only.
{extra_difference}""",
        smoke={},
        smoke_evaluate={"num_clips": 2},
        smoke_reason="full-size model and clips; 2 clips per video instead of 10",
    )
