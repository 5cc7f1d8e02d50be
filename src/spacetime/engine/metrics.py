"""Classification metrics: clip / video accuracy, top-k, mean class accuracy, confusion matrix.

Conventions:

- ``scores`` are ``(N, C)`` logits or probabilities for ``N`` samples and ``C`` classes;
  ``targets`` are ``(N,)`` integer class indices in ``[0, C)``.
- Confusion matrix rows are the *true* class, columns the *predicted* class:
  ``cm[i, j]`` counts samples of class ``i`` predicted as ``j``.
- Mean class accuracy averages the per-class recall ``cm[i, i] / cm[i].sum()`` over the classes
  that occur in ``targets`` (classes without samples are left out, not counted as 0).
- Video-level accuracy (Karpathy et al. 2014; the lecture's "run the model on different clips,
  average predictions"): softmax each clip's logits, average the probabilities of the ``k``
  clips of a video, then take the arg-max. :func:`average_clip_probs` does the grouping.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spacetime.checks import check_int, check_tensor
from spacetime.errors import InputError

__all__ = [
    "topk_correct",
    "topk_accuracy",
    "confusion_matrix",
    "mean_class_accuracy",
    "average_clip_probs",
    "classification_metrics",
]


def _check_scores_targets(scores: torch.Tensor, targets: torch.Tensor) -> tuple[int, int]:
    sizes = check_tensor(scores, "scores", ("N", "C"), dtype="float")
    check_tensor(targets, "targets", ("N",), dtype="int", sizes=sizes)
    n, c = sizes["N"], sizes["C"]
    if n and (int(targets.min()) < 0 or int(targets.max()) >= c):
        raise InputError(
            f"targets: expected class indices in [0, {c}), got values in "
            f"[{int(targets.min())}, {int(targets.max())}]"
        )
    return n, c


def topk_correct(
    scores: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, int]:
    """Number of samples whose target is among the ``k`` highest scores, for each ``k``.

    ``k`` larger than the number of classes ``C`` is clamped to ``C`` (always correct).
    Ties are broken by ``torch.topk`` (lowest index first on CPU).
    """
    _, c = _check_scores_targets(scores, targets)
    for k in ks:
        check_int(k, "k", min_value=1)
    if scores.shape[0] == 0:
        return {k: 0 for k in ks}
    kmax = min(max(ks), c)
    top = scores.topk(kmax, dim=1).indices  # (N, kmax)
    hit = top.eq(targets.view(-1, 1))  # (N, kmax)
    return {k: int(hit[:, : min(k, c)].any(dim=1).sum()) for k in ks}


def topk_accuracy(
    scores: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Top-k accuracy in [0, 1] for each ``k`` (NaN for an empty batch)."""
    correct = topk_correct(scores, targets, ks)
    n = scores.shape[0]
    return {k: (v / n if n else float("nan")) for k, v in correct.items()}


def confusion_matrix(
    preds: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """``(C, C)`` int64 counts, rows = true class, columns = predicted class."""
    check_int(num_classes, "num_classes", min_value=1)
    sizes = check_tensor(preds, "preds", ("N",), dtype="int")
    check_tensor(targets, "targets", ("N",), dtype="int", sizes=sizes)
    for name, t in (("preds", preds), ("targets", targets)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise InputError(
                f"{name}: expected class indices in [0, {num_classes}), got values in "
                f"[{int(t.min())}, {int(t.max())}]"
            )
    flat = targets.long().cpu() * num_classes + preds.long().cpu()
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def mean_class_accuracy(cm: torch.Tensor) -> float:
    """Mean over classes present in ``cm`` (non-zero rows) of the per-class recall.

    NaN when ``cm`` is all zeros.
    """
    check_tensor(cm, "cm", ("C", "C"))
    support = cm.sum(dim=1).double()
    present = support > 0
    if not bool(present.any()):
        return float("nan")
    recall = cm.diagonal().double()[present] / support[present]
    return float(recall.mean())


def average_clip_probs(
    scores: torch.Tensor,
    video_ids: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    logits: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Average clip probabilities per video.

    Args:
        scores: ``(M, C)`` clip logits (``logits=True``, softmaxed here) or probabilities.
        video_ids: ``(M,)`` integer id of the video each clip comes from (any order).
        targets: optional ``(M,)`` clip targets; every clip of a video must share one target.
        logits: whether ``scores`` are logits.

    Returns:
        ``(probs, ids, video_targets)``: ``(V, C)`` mean probabilities of the ``V`` distinct
        videos in ascending id order, their ``(V,)`` ids, and ``(V,)`` targets (or None).
    """
    sizes = check_tensor(scores, "scores", ("M", "C"), dtype="float")
    check_tensor(video_ids, "video_ids", ("M",), dtype="int", sizes=sizes)
    probs = scores.softmax(dim=1) if logits else scores
    ids, inverse = torch.unique(video_ids, sorted=True, return_inverse=True)
    v = ids.numel()
    summed = torch.zeros(v, probs.shape[1], dtype=probs.dtype, device=probs.device)
    summed.index_add_(0, inverse, probs)
    counts = torch.bincount(inverse, minlength=v).to(probs.dtype).clamp_min(1)
    mean = summed / counts.unsqueeze(1)
    video_targets = None
    if targets is not None:
        check_tensor(targets, "targets", ("M",), dtype="int", sizes=sizes)
        video_targets = torch.full((v,), -1, dtype=torch.long, device=targets.device)
        video_targets[inverse] = targets.long()
        if not torch.equal(video_targets[inverse], targets.long()):
            raise InputError("targets: clips of one video have different targets")
    return mean, ids, video_targets


def classification_metrics(
    scores: torch.Tensor,
    targets: torch.Tensor,
    num_classes: int | None = None,
    ks: Sequence[int] = (1, 5),
) -> dict[str, object]:
    """Top-k accuracies, mean class accuracy and confusion matrix of ``(N, C)`` scores.

    Returns a dict with ``top1``, ``top5`` (one ``top{k}`` per ``k``; floats in [0, 1]),
    ``mean_class_acc`` (float), ``num_samples`` (int) and ``confusion`` (``(C, C)`` int64).
    """
    _, c = _check_scores_targets(scores, targets)
    num_classes = c if num_classes is None else num_classes
    if num_classes != c:
        raise InputError(f"scores: expected {num_classes} classes, got {c}")
    acc = topk_accuracy(scores, targets, ks)
    preds = scores.argmax(dim=1) if scores.shape[0] else targets.new_zeros(0)
    cm = confusion_matrix(preds, targets, num_classes)
    out: dict[str, object] = {f"top{k}": acc[k] for k in ks}
    out["mean_class_acc"] = mean_class_accuracy(cm)
    out["num_samples"] = int(scores.shape[0])
    out["confusion"] = cm
    return out
