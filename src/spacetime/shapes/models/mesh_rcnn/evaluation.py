"""Mesh R-CNN's evaluation protocols (Gkioxari et al., ICCV 2019, Sec. 4).

- **ShapeNet (single object):** :func:`evaluate_single` — per image, 10,000 points sampled on
  the predicted and the GT surface, both rescaled so that the GT bounding box's longest edge is
  10 ("gt-10"), Chamfer-L2 (squared distances, mean each way, summed), absolute normal
  consistency and F1@0.1/0.3/0.5 on *unsquared* distances
  (:func:`~spacetime.shapes.compare_meshes`); ``protocol="pixel2mesh"`` uses Pixel2Mesh's scale
  0.57 and thresholds 1e-2, √2·1e-2 instead. Means per category and over all images.
- **Pix3D-style (scenes):** :func:`detection_ap` — box AP and mask AP at IoU 0.5 and mesh AP:
  a prediction is a true positive when its label matches a not yet matched GT object and
  F1@0.3 (gt-10 scale) with it is > 0.5. Predictions are matched greedily in decreasing score
  order (to the GT of the same label with the highest IoU / F1). AP per category and the mean
  over categories that have GT objects.

**AP definition** (:func:`average_precision`): VOC2010+ "all-point" interpolation — the area
under the precision–recall curve after replacing each precision by the maximum precision at any
higher recall (COCO instead averages that envelope at 101 recall points; on few detections
the two differ slightly). A perfect ranking (every TP before any FP, all GT found) gives 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from spacetime.checks import check_in, check_int, check_tensor
from spacetime.errors import InputError

__all__ = [
    "average_precision",
    "box_iou",
    "mask_iou",
    "detection_ap",
    "evaluate_single",
    "mesh_quality",
]


def average_precision(scores: torch.Tensor, is_tp: torch.Tensor, num_gt: int) -> float:
    """VOC all-point interpolated AP of detections ``scores`` ``(M,)`` with ``is_tp`` ``(M,)``
    against ``num_gt`` ground-truth objects. ``nan`` when ``num_gt == 0``; 0 with no detection.
    Ties in score keep the given order (stable sort)."""
    check_tensor(scores, "scores", ("M",), dtype="float")
    check_tensor(is_tp, "is_tp", (scores.shape[0],))
    check_int(num_gt, "num_gt", min_value=0)
    if num_gt == 0:
        return float("nan")
    if scores.numel() == 0:
        return 0.0
    order = torch.sort(scores.double(), descending=True, stable=True).indices
    tp = is_tp.bool()[order].double()
    ctp, cfp = tp.cumsum(0), (1 - tp).cumsum(0)
    if float(ctp[-1]) > num_gt:
        raise InputError(f"is_tp: expected at most num_gt = {num_gt} true positives, "
                         f"got {int(ctp[-1])}")
    recall = torch.cat([ctp.new_zeros(1), ctp / num_gt, ctp.new_ones(1)])
    precision = torch.cat([ctp.new_zeros(1), ctp / (ctp + cfp), ctp.new_zeros(1)])
    precision = precision.flip(0).cummax(0).values.flip(0)  # envelope
    return float(((recall[1:] - recall[:-1]) * precision[1:]).sum())


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``(M, K)`` of ``x0, y0, x1, y1`` boxes ``(M, 4)`` and ``(K, 4)`` (continuous areas)."""
    check_tensor(a, "a", ("M", 4), dtype="float")
    check_tensor(b, "b", ("K", 4), dtype="float")
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp_min(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp_min(0).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(union))


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``(M, K)`` of boolean masks ``(M, H, W)`` and ``(K, H, W)``."""
    sa = check_tensor(a, "a", ("M", "H", "W"))
    check_tensor(b, "b", ("K", sa["H"], sa["W"]))
    fa, fb = a.flatten(1).float(), b.flatten(1).float()
    inter = fa @ fb.t()
    union = fa.sum(1)[:, None] + fb.sum(1)[None] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(union))


def _mesh_f1(pred: Any, gt: Any, num_samples: int, threshold: float, seed: int) -> torch.Tensor:
    """``(M, K)`` F1@threshold (gt-10 scale) between every predicted and GT mesh."""
    from spacetime.shapes.metrics import compare_meshes

    m, k = len(pred), len(gt)
    out = torch.zeros(m, k)
    if m == 0 or k == 0:
        return out
    ii = [i for i in range(m) for _ in range(k)]
    jj = [j for _ in range(m) for j in range(k)]
    cm = compare_meshes(pred[ii], gt[jj], num_samples=num_samples, thresholds=[threshold],
                        scale="gt-10", seed=seed)
    return cm[f"F1@{threshold:g}"].reshape(m, k).float().cpu()


def detection_ap(
    predictions: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, Any]],
    *,
    kinds: Sequence[str] = ("box", "mask", "mesh"),
    iou_threshold: float = 0.5,
    f1_threshold: float = 0.3,
    f1_min: float = 0.5,
    num_samples: int = 10000,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Box / mask / mesh AP over a dataset (module docstring).

    Args:
        predictions: per image a dict with ``boxes`` ``(M, 4)``, ``scores`` ``(M,)``,
            ``labels`` ``(M,)`` and, for mask / mesh AP, ``masks`` ``(M, H, W)`` bool and
            ``meshes`` (``Meshes`` with M meshes, camera frame).
        targets: per image ``boxes`` ``(K, 4)``, ``labels`` ``(K,)``, ``masks``, ``meshes``.
        kinds: which APs.
        iou_threshold: box / mask IoU for a true positive (0.5).
        f1_threshold, f1_min: mesh TP when F1@``f1_threshold`` > ``f1_min`` (0.3, 0.5).
        class_names: names for the per-category keys (default the label numbers).

    Returns:
        ``{"box_AP": mean, "box_AP/<name>": per category, ...}`` (same for mask, mesh), means
        over categories that have GT objects, in [0, 1].
    """
    if len(predictions) != len(targets):
        raise InputError(f"targets: expected {len(predictions)} images (as predictions), "
                         f"got {len(targets)}")
    for k in kinds:
        check_in(k, "kinds", ("box", "mask", "mesh"))
    labels_all = sorted({int(x) for t in targets for x in torch.as_tensor(t["labels"]).tolist()})
    per_kind: dict[str, dict[int, list[tuple[float, bool]]]] = {k: {} for k in kinds}
    num_gt: dict[int, int] = {}
    for t in targets:
        for lab in torch.as_tensor(t["labels"]).tolist():
            num_gt[int(lab)] = num_gt.get(int(lab), 0) + 1
    for img, (p, t) in enumerate(zip(predictions, targets)):
        scores = torch.as_tensor(p["scores"]).float().cpu()
        plab = torch.as_tensor(p["labels"]).long().cpu()
        glab = torch.as_tensor(t["labels"]).long().cpu()
        order = torch.sort(scores, descending=True, stable=True).indices.tolist()
        for kind in kinds:
            if kind == "box":
                sim = box_iou(torch.as_tensor(p["boxes"]).float().cpu(),
                              torch.as_tensor(t["boxes"]).float().cpu())
                thr = iou_threshold
            elif kind == "mask":
                sim = mask_iou(torch.as_tensor(p["masks"]).bool().cpu(),
                               torch.as_tensor(t["masks"]).bool().cpu())
                thr = iou_threshold
            else:
                sim = _mesh_f1(p["meshes"].cpu(), t["meshes"].cpu(), num_samples, f1_threshold,
                               seed + img)
                thr = f1_min
            matched = torch.zeros(glab.shape[0], dtype=torch.bool)
            for i in order:
                cand = (glab == plab[i]) & ~matched
                tp = False
                if bool(cand.any()):
                    s = torch.where(cand, sim[i], torch.full_like(sim[i], -1.0))
                    j = int(s.argmax())
                    # boxes / masks: IoU >= 0.5 (VOC); meshes: F1 > 0.5 (Mesh R-CNN)
                    ok = float(s[j]) > thr if kind == "mesh" else float(s[j]) >= thr
                    if ok:
                        matched[j], tp = True, True
                per_kind[kind].setdefault(int(plab[i]), []).append((float(scores[i]), tp))
    names = {lab: (class_names[lab] if class_names is not None and lab < len(class_names)
                   else str(lab)) for lab in labels_all}
    out: dict[str, float] = {}
    for kind in kinds:
        aps = []
        for lab in labels_all:
            det = per_kind[kind].get(lab, [])
            s = torch.tensor([d[0] for d in det], dtype=torch.float64)
            tp = torch.tensor([d[1] for d in det], dtype=torch.bool)
            ap = average_precision(s, tp, num_gt.get(lab, 0))
            out[f"{kind}_AP/{names[lab]}"] = ap
            aps.append(ap)
        out[f"{kind}_AP"] = float(sum(aps) / len(aps)) if aps else float("nan")
    return out


@torch.no_grad()
def evaluate_single(
    model: nn.Module,
    loader: Any,
    *,
    device: str | torch.device = "cpu",
    protocol: str = "meshrcnn",
    num_samples: int = 10000,
    use_gt_depth_range: bool = True,
    stage: int | None = -1,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Mean mesh metrics of a single-object model (:class:`MeshRCNNSingle`, or any model whose
    output has ``meshes`` / ``initial``) over a loader of batches with ``image``, ``K``, ``R``,
    ``t``, ``meshes`` (and ``depth_range``), compared in the camera frame.

    ``protocol``: ``"meshrcnn"`` (gt-10, F1@0.1/0.3/0.5) or ``"pixel2mesh"`` (0.57, F1@1e-2 and
    √2·1e-2). ``stage=None`` scores the cubified voxel prediction. Returns the means
    (``Chamfer-L2``, ``AbsNormalConsistency``, ``F1@t``, …, values of ``F1`` in [0, 1]) over
    all images, per category as ``"<name>/<metric>"`` and ``num_samples`` (images)."""
    from spacetime.engine import move_to_device
    from spacetime.shapes.metrics import compare_meshes
    from spacetime.shapes.models.pixel2mesh import camera_frame_targets

    check_in(protocol, "protocol", ("meshrcnn", "pixel2mesh"))
    scale = "gt-10" if protocol == "meshrcnn" else "pixel2mesh"
    model = model.to(device).eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for batch in loader:
        batch = move_to_device(batch, torch.device(device))
        if batch.get("meshes") is not None:
            batch = dict(batch, meshes=batch["meshes"].to(device))
        tg = camera_frame_targets(batch)
        if "meshes" not in tg:
            raise InputError("batch: expected GT meshes ('verts'/'faces') for mesh metrics")
        dr = batch.get("depth_range") if use_gt_depth_range else None
        out = model(batch["image"], batch["K"], dr)
        pred = out.initial if stage is None or not out.meshes else out.meshes[stage]
        cm = compare_meshes(pred, tg["meshes"], num_samples=num_samples, scale=scale, seed=seed)
        labels = batch.get("label")
        cats = batch.get("category")
        for i in range(len(pred)):
            groups = [""]
            if cats is not None:
                groups.append(f"{cats[i]}/")
            elif labels is not None:
                lab = int(labels[i])
                name = class_names[lab] if class_names is not None else str(lab)
                groups.append(f"{name}/")
            for g in groups:
                counts[g] = counts.get(g, 0) + 1
                for k, v in cm.items():
                    sums[g + k] = sums.get(g + k, 0.0) + float(v[i])
    res: dict[str, float] = {}
    for key, v in sums.items():
        g = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        res[key] = v / counts[g]
    res["num_samples"] = counts.get("", 0)
    return res


def mesh_quality(meshes: Any, *, fold_cos: float = -0.5, area_rel: float = 1e-3
                 ) -> dict[str, torch.Tensor]:
    """Per mesh ``(N,)`` counts of bad faces (the "pretty" vs "best" comparison):

    - ``degenerate_faces``: area below ``area_rel`` × the mesh's mean face area;
    - ``folded_faces``: faces with a neighbour (across an edge) whose normal points back,
      ``cos < fold_cos`` (-0.5: more than 120° apart, i.e. the surface folds over itself);
    - ``degenerate_share`` / ``folded_share``: the same as fractions of the faces.
    """
    faces = meshes.faces_packed()
    n = len(meshes)
    fidx = meshes.faces_packed_to_mesh_idx()
    nf = meshes.num_faces_per_mesh().to(faces.device)
    area = meshes.faces_areas_packed()
    mean_area = torch.zeros(n, dtype=area.dtype, device=area.device).index_add(0, fidx, area)
    mean_area = mean_area / nf.clamp_min(1)
    degenerate = area < area_rel * mean_area[fidx]
    folded = torch.zeros_like(degenerate)
    if faces.shape[0]:
        normals = meshes.faces_normals_packed()
        fe = meshes.faces_packed_to_edges_packed()  # (F, 3) edge ids
        e = fe.reshape(-1)
        f_of = torch.arange(faces.shape[0], device=faces.device).repeat_interleave(3)
        order = torch.argsort(e, stable=True)
        e_s, f_s = e[order], f_of[order]
        same = e_s[1:] == e_s[:-1]
        a, b = f_s[:-1][same], f_s[1:][same]
        bad = (normals[a] * normals[b]).sum(1) < fold_cos
        folded[a[bad]] = True
        folded[b[bad]] = True
    dcount = torch.zeros(n, dtype=torch.long, device=faces.device).index_add(
        0, fidx, degenerate.long())
    fcount = torch.zeros(n, dtype=torch.long, device=faces.device).index_add(
        0, fidx, folded.long())
    return {"degenerate_faces": dcount, "folded_faces": fcount,
            "degenerate_share": dcount.double() / nf.clamp_min(1),
            "folded_share": fcount.double() / nf.clamp_min(1)}
