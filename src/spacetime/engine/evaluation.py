"""Clip-level and video-level evaluation of a classifier over a DataLoader.

Batches come in one of three forms (the first two are what the video datasets yield):

- ``(clips, target)`` / ``{"video": clips, "label": target}`` with ``clips`` of shape
  ``(N, C, T, H, W)``: one clip per video, clip accuracy == video accuracy;
- the same with ``clips`` of shape ``(N, K, C, T, H, W)``: ``K`` clips per video (e.g. a
  dataset built with ``num_clips=K``); the K clips are classified and averaged per video;
- dict batches with a ``video_key`` entry ``(N,)`` giving the video index of each clip, when
  the clips of one video are spread over several samples/batches.

Video scores follow the lecture ("run the model on different clips, average predictions"):
softmax per clip, mean of the clip probabilities per video (:func:`average_clip_probs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from spacetime.engine.data import move_to_device
from spacetime.engine.metrics import average_clip_probs, classification_metrics
from spacetime.errors import InputError

__all__ = ["collect_clip_scores", "evaluate_classifier"]


def _split(batch: Any, input_key: str, target_key: str, video_key: str) -> tuple[Any, Any, Any]:
    if isinstance(batch, Mapping):
        if input_key not in batch or target_key not in batch:
            raise InputError(
                f"batch: expected keys {input_key!r} and {target_key!r}, "
                f"got {sorted(map(str, batch))}"
            )
        return batch[input_key], batch[target_key], batch.get(video_key)
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1], None
    raise InputError(f"batch: expected (inputs, target) or a dict, got {type(batch).__name__}")


@torch.no_grad()
def collect_clip_scores(
    model: nn.Module,
    loader: Any,
    *,
    device: str | torch.device = "cpu",
    input_key: str = "video",
    target_key: str = "label",
    video_key: str = "video_index",
    clip_dims: int = 5,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``model`` over ``loader``; return clip ``(scores (M, C), targets (M,), video_ids (M,))``.

    ``clip_dims`` is the number of dims of a batch of single clips (5 for ``(N, C, T, H, W)``);
    inputs with one more dim are treated as ``K`` clips per video. Without a ``video_key``
    entry, videos are numbered in loader order. Under torchrun, results of all ranks are
    gathered (every rank returns everything).
    """
    model.eval()
    dev = torch.device(device)
    scores, targets, vids = [], [], []
    next_id = 0
    it = loader
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(loader, desc="eval", leave=False, dynamic_ncols=True)
    for batch in it:
        if isinstance(batch, Mapping) and batch.get("batch_size", None) == 0:
            continue  # every item was skipped (unreadable videos)
        x, y, v = _split(batch, input_key, target_key, video_key)
        x = move_to_device(x, dev)
        y = torch.as_tensor(y).long()
        if isinstance(x, torch.Tensor) and x.dim() == clip_dims + 1:
            n, k = x.shape[:2]
            logits = model(x.flatten(0, 1)).float().cpu()  # (N*K, C)
            y_clip = y.repeat_interleave(k)
            ids = torch.arange(next_id, next_id + n).repeat_interleave(k)
            next_id += n
        else:
            logits = model(x).float().cpu()
            y_clip = y
            if v is not None:
                ids = torch.as_tensor(v).long().cpu()
            else:
                ids = torch.arange(next_id, next_id + y.shape[0])
                next_id += y.shape[0]
        scores.append(logits)
        targets.append(y_clip.cpu())
        vids.append(ids)
    if not scores:
        raise InputError("loader: expected at least one batch, got an empty loader")
    out = torch.cat(scores), torch.cat(targets), torch.cat(vids)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, out)
        out = tuple(torch.cat([p[i] for p in parts]) for i in range(3))  # type: ignore[assignment]
    return out


def evaluate_classifier(
    model: nn.Module,
    loader: Any,
    *,
    num_classes: int,
    device: str | torch.device = "cpu",
    ks: Sequence[int] = (1, 5),
    input_key: str = "video",
    target_key: str = "label",
    video_key: str = "video_index",
    progress: bool = False,
) -> dict[str, Any]:
    """Clip- and video-level metrics of ``model`` over ``loader``.

    Returns:
        ``{"clip": metrics, "video": metrics, "num_clips_per_video": float}`` where each
        ``metrics`` is :func:`classification_metrics` (``top1``, ``top5``, ``mean_class_acc``,
        ``num_samples``, ``confusion`` ``(C, C)``); video scores are mean clip probabilities.
    """
    scores, targets, vids = collect_clip_scores(
        model, loader, device=device, input_key=input_key, target_key=target_key,
        video_key=video_key, progress=progress,
    )
    clip = classification_metrics(scores.softmax(dim=1), targets, num_classes, ks)
    probs, ids, vt = average_clip_probs(scores, vids, targets)
    video = classification_metrics(probs, vt, num_classes, ks)
    return {"clip": clip, "video": video, "num_clips_per_video": scores.shape[0] / ids.numel()}
