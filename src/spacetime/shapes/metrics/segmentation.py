"""Part-segmentation metrics of point clouds (ShapeNet-Part protocol, Yi et al. 2016; as computed
by the PointNet reference code, Qi et al. 2017, ``part_seg/test.py``).

For one shape of category ``c`` with parts ``parts(c)`` (global part indices), predicted labels
``p`` and true labels ``t`` over its points:

- ``IoU_k = |{p = k} ∩ {t = k}| / |{p = k} ∪ {t = k}|`` for every part ``k`` of ``parts(c)``,
  and ``IoU_k = 1`` when part ``k`` is absent from both prediction and truth;
- the shape's mIoU is the mean of ``IoU_k`` over ``parts(c)`` (every part of the category,
  present or not).

Over a set of shapes: **instance mIoU** = mean of the shape mIoUs; **class mIoU** = mean over
categories of the mean shape mIoU within each category; **accuracy** = correct points / all
points (pooled). A predicted label outside ``parts(c)`` is wrong for every part (it enlarges
the truth part's union).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError

__all__ = ["shape_part_ious", "part_segmentation_metrics"]


def _as_lists(x: Any, name: str) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        if x.ndim == 1:
            x = x[None]
        check_tensor(x, name, ("N", "P"), dtype="int")
        return list(x.unbind(0))
    if isinstance(x, (list, tuple)):
        out = []
        for i, v in enumerate(x):
            check_tensor(v, f"{name}[{i}]", ("P",), dtype="int")
            out.append(v)
        return out
    raise InputError(f"{name}: expected an (N, P) int tensor or a list of (P_n,) int tensors, "
                     f"got {type(x).__name__}")


def shape_part_ious(
    pred: Any, target: Any, shape_parts: Sequence[Sequence[int]]
) -> list[torch.Tensor]:
    """Per-shape part IoUs.

    Args:
        pred, target: ``(N, P)`` int part labels (global indices) or lists of ``(P_n,)``
            (ragged: shapes with different point counts).
        shape_parts: for each shape, the global indices of its category's parts.

    Returns:
        a list of N float64 tensors, ``(len(shape_parts[n]),)`` each: the IoU of every part of
        shape n, 1 where the part is absent from both prediction and truth.

    Raises:
        InputError: mismatched sizes, negative labels, a shape with no parts, or a true label
            that is not one of its shape's parts.
    """
    ps, ts = _as_lists(pred, "pred"), _as_lists(target, "target")
    if len(ps) != len(ts) or len(ps) != len(shape_parts):
        raise InputError(f"target: expected {len(ps)} shapes (as pred) and shape_parts of the "
                         f"same length, got {len(ts)} and {len(shape_parts)}")
    n = len(ps)
    if n == 0:
        return []
    for i, (p, t) in enumerate(zip(ps, ts)):
        if p.shape != t.shape:
            raise InputError(f"target[{i}]: expected shape {tuple(p.shape)} (as pred[{i}]), got "
                             f"{tuple(t.shape)}")
    for i, parts in enumerate(shape_parts):
        if len(parts) == 0:
            raise InputError(f"shape_parts[{i}]: expected at least one part, got none")
    device = ps[0].device
    counts = torch.tensor([int(p.numel()) for p in ps], device=device)
    p_all = torch.cat([p.reshape(-1) for p in ps]).to(device, torch.int64)
    t_all = torch.cat([t.reshape(-1) for t in ts]).to(device, torch.int64)
    if p_all.numel() and int(torch.minimum(p_all.min(), t_all.min())) < 0:
        raise InputError("pred/target: expected part labels >= 0, got a negative label")
    max_part = max(max(int(k) for k in parts) for parts in shape_parts)
    g = max(max_part, int(p_all.max()) if p_all.numel() else 0,
            int(t_all.max()) if t_all.numel() else 0) + 1
    # membership (N, G): part g belongs to shape n's category
    member = torch.zeros(n, g, dtype=torch.bool, device=device)
    for i, parts in enumerate(shape_parts):
        member[i, torch.as_tensor([int(k) for k in parts], device=device)] = True
    shape_of = torch.repeat_interleave(torch.arange(n, device=device), counts)
    if t_all.numel() and not bool(member[shape_of, t_all].all()):
        j = int((~member[shape_of, t_all]).nonzero()[0, 0])
        s = int(shape_of[j])
        raise InputError(f"target[{s}]: label {int(t_all[j])} is not a part of the shape "
                         f"(its parts are {list(shape_parts[s])})")
    size = n * g
    t_cnt = torch.bincount(shape_of * g + t_all, minlength=size)
    p_cnt = torch.bincount(shape_of * g + p_all, minlength=size)
    hit = p_all == t_all
    inter = torch.bincount((shape_of * g + t_all)[hit], minlength=size)
    union = (t_cnt + p_cnt - inter).reshape(n, g).double()
    inter = inter.reshape(n, g).double()
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    return [iou[i, torch.as_tensor([int(k) for k in parts], device=device)]
            for i, parts in enumerate(shape_parts)]


def part_segmentation_metrics(
    pred: Any,
    target: Any,
    categories: Sequence[str],
    category_parts: Mapping[str, Sequence[int]],
) -> dict[str, Any]:
    """Accuracy, instance mIoU and class mIoU of a set of shapes (module docstring).

    Args:
        pred, target: ``(N, P)`` int part labels (global indices) or lists of ``(P_n,)``.
        categories: the category name of each shape (N names).
        category_parts: category → its global part indices (e.g.
            :data:`~spacetime.shapes.datasets.procedural.CATEGORY_PARTS`).

    Returns:
        ``{"accuracy", "instance_mIoU", "class_mIoU"}`` (floats, ``nan`` for no shapes /
        no points), ``"shape_mIoU"`` ``(N,)`` float64, ``"per_category"`` ``{category: mean
        shape mIoU}`` and ``"part_iou"`` ``{category: [mean IoU of each part over its
        shapes]}``.
    """
    cats = [str(c) for c in categories]
    for c in cats:
        if c not in category_parts:
            raise InputError(f"categories: {c!r} is not in category_parts "
                             f"({sorted(category_parts)})")
    ious = shape_part_ious(pred, target, [category_parts[c] for c in cats])
    ps, ts = _as_lists(pred, "pred"), _as_lists(target, "target")
    n_pts = sum(int(p.numel()) for p in ps)
    correct = sum(int((p.to(torch.int64) == t.to(p.device, torch.int64)).sum())
                  for p, t in zip(ps, ts))
    shape_miou = torch.stack([v.mean() for v in ious]) if ious else torch.zeros(0,
                                                                                 dtype=torch.float64)
    per_cat: dict[str, float] = {}
    part_iou: dict[str, list[float]] = {}
    for c in dict.fromkeys(cats):
        idx = [i for i, ci in enumerate(cats) if ci == c]
        per_cat[c] = float(shape_miou[idx].mean())
        part_iou[c] = [float(v) for v in torch.stack([ious[i] for i in idx]).mean(0)]
    nan = float("nan")
    return {
        "accuracy": correct / n_pts if n_pts else nan,
        "instance_mIoU": float(shape_miou.mean()) if len(ious) else nan,
        "class_mIoU": sum(per_cat.values()) / len(per_cat) if per_cat else nan,
        "shape_mIoU": shape_miou.cpu(),
        "per_category": per_cat,
        "part_iou": part_iou,
    }
