"""spacetime.engine: the training / evaluation engine shared by every model family.

- :class:`Trainer`, :class:`TrainConfig`, :class:`ClassificationStep` -- the training loop.
- :func:`build_loader` -- seeded, resumable, DDP-sharded DataLoaders.
- :func:`seed_everything`, :func:`seed_worker` -- reproducibility.
- :func:`save_checkpoint`, :func:`load_checkpoint` -- atomic, ``weights_only`` checkpoints.
- :func:`init_distributed` and friends -- ``torchrun`` support.
- metrics: :func:`topk_accuracy`, :func:`confusion_matrix`, :func:`mean_class_accuracy`,
  :func:`average_clip_probs`, :func:`classification_metrics`; multi-clip video evaluation
  :func:`evaluate_classifier`.

See ``docs/engine.md``.
"""

from spacetime.engine.checkpoint import load_checkpoint, save_checkpoint
from spacetime.engine.data import (
    ResumableDistributedSampler,
    batch_size_of,
    build_loader,
    move_to_device,
    set_loader_epoch,
)
from spacetime.engine.device import resolve_device
from spacetime.engine.distributed import (
    DistInfo,
    ShardSampler,
    all_reduce_sums,
    barrier,
    cleanup_distributed,
    get_dist_info,
    init_distributed,
)
from spacetime.engine.evaluation import collect_clip_scores, evaluate_classifier
from spacetime.engine.metrics import (
    average_clip_probs,
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    topk_accuracy,
    topk_correct,
)
from spacetime.engine.optim import OPTIMIZERS, SCHEDULERS, build_optimizer, build_scheduler
from spacetime.engine.rundir import RunDir
from spacetime.engine.seed import (
    get_rng_state,
    make_generator,
    seed_everything,
    seed_worker,
    set_rng_state,
)
from spacetime.engine.trainer import ClassificationStep, StepFn, TrainConfig, Trainer, unwrap_model

__all__ = [
    "Trainer",
    "TrainConfig",
    "ClassificationStep",
    "StepFn",
    "unwrap_model",
    "build_loader",
    "resolve_device",
    "ResumableDistributedSampler",
    "move_to_device",
    "batch_size_of",
    "set_loader_epoch",
    "seed_everything",
    "seed_worker",
    "make_generator",
    "get_rng_state",
    "set_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "DistInfo",
    "ShardSampler",
    "init_distributed",
    "cleanup_distributed",
    "get_dist_info",
    "all_reduce_sums",
    "barrier",
    "topk_correct",
    "topk_accuracy",
    "confusion_matrix",
    "mean_class_accuracy",
    "average_clip_probs",
    "classification_metrics",
    "collect_clip_scores",
    "evaluate_classifier",
    "build_optimizer",
    "build_scheduler",
    "OPTIMIZERS",
    "SCHEDULERS",
    "RunDir",
]
