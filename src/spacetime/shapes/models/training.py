"""Training steps, evaluation and data adapters for the shape models (used by ``spacetime
shapes train|eval|predict``; usable from Python with :class:`spacetime.engine.Trainer`).

Every model name maps to a *task* (:data:`MODEL_TASKS`) that fixes what the model eats and how
it is trained and evaluated:

=========================  ===============================  =======================================
task                       training loss                    evaluation metrics
=========================  ===============================  =======================================
``depth``                  per-pixel L2 or scale-invariant  :func:`~spacetime.shapes.depth_metrics`
``normals``                dot-product loss                 :func:`~spacetime.shapes.normal_metrics`
``voxel-classification``   cross-entropy                    accuracy
``point-classification``   cross-entropy                    accuracy
``voxels`` / ``octree``    voxel BCE / octree state CE      voxel IoU + mesh metrics (MC)
``points``                 Chamfer-L2                       Chamfer-L2, F1@t
``occupancy``              BCE on occupancy samples         IoU on the samples + mesh metrics
``mesh`` (Pixel2Mesh)      Chamfer + normal + edge + Lap.   mesh metrics (camera frame)
=========================  ===============================  =======================================

Mesh metrics are those of :func:`~spacetime.shapes.compare_meshes` (Mesh R-CNN protocol: GT
longest bounding-box edge scaled to 10, F1@0.1/0.3/0.5, absolute normal consistency). An empty
prediction (all-empty grid / field) counts with F1 = 0 and is reported in ``empty_meshes``;
``Chamfer-L2`` is then averaged over the non-empty predictions only (``nan`` if there is none).

The ``mesh`` task (:mod:`~spacetime.shapes.models.pixel2mesh`) works in the **camera frame**: it
needs each image's camera ``K``, ``R``, ``t`` (ground truth moved with ``X_cam = R X + t``,
:func:`~spacetime.shapes.models.pixel2mesh.camera_frame_targets`): those of
:class:`~spacetime.shapes.datasets.SyntheticShapes`, or of R2N2 / Pix3D items carried through
:class:`MeshNormalizedDataset`'s normalisation and image resizing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import InputError

__all__ = [
    "MODEL_TASKS",
    "TASK_RETURNS",
    "ShapeStep",
    "resize_voxels",
    "evaluate_shape_model",
    "predict_shapes",
    "synthetic_intrinsics",
    "MeshNormalizedDataset",
]

MODEL_TASKS: dict[str, str] = {
    "depth-fcn": "depth",
    "normal-fcn": "normals",
    "voxnet": "voxel-classification",
    "pointnet": "point-classification",
    "voxel-gen": "voxels",
    "voxel-tubes": "voxels",
    "octree-gen": "octree",
    "point-gen": "points",
    "occnet": "occupancy",
    "pixel2mesh": "mesh",
}

#: :class:`~spacetime.shapes.datasets.SyntheticShapes` fields each task needs for training
TASK_RETURNS: dict[str, tuple[str, ...]] = {
    "depth": ("image", "depth", "mask"),
    "normals": ("image", "normal_map", "mask"),
    "voxel-classification": ("voxels",),
    "point-classification": ("points",),
    "voxels": ("image", "voxels"),
    "octree": ("image", "voxels"),
    "points": ("image", "points"),
    "occupancy": ("image", "occupancy"),
    # "points" also loads the surface normals (Pixel2Mesh's normal loss); evaluation adds "mesh"
    "mesh": ("image", "K", "R", "t", "points"),
}

_CAMERA_FIELDS = ("K", "R", "t")

_MESH_TASKS = ("voxels", "octree", "occupancy")


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def _key(batch: Mapping[str, Any], key: str) -> Any:
    if not isinstance(batch, Mapping) or key not in batch:
        got = sorted(map(str, batch)) if isinstance(batch, Mapping) else type(batch).__name__
        raise InputError(f"batch: expected key {key!r}, got {got}")
    return batch[key]


def resize_voxels(voxels: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(N, G, G, G)`` occupancy → ``(N, R, R, R)`` float {0, 1} (nearest resampling; the grid
    keeps covering the same cube)."""
    v = voxels.float()
    if v.shape[-1] == resolution:
        return v
    return F.interpolate(v[:, None], size=(resolution,) * 3, mode="nearest")[:, 0]


class ShapeStep:
    """Step function ``(model, batch) -> (loss, metrics)`` for a task of :data:`MODEL_TASKS`.

    Batches are :func:`~spacetime.shapes.datasets.collate_3d` dicts with the task's
    :data:`TASK_RETURNS` keys. ``depth_loss``: ``"l2"`` or ``"scale-invariant"`` (Eigen et al.
    2014, λ = 0.5). Reported metrics: ``abs_rel`` (depth), ``angle`` (normals, degrees),
    ``acc`` (classifiers), ``iou`` (voxels, octree, occupancy samples), ``chamfer`` (points);
    ``mesh`` delegates to :class:`~spacetime.shapes.models.Pixel2MeshStep` (``chamfer`` of the
    last stage and the loss terms), with the initial sphere at the known object distance ``‖t‖``
    when ``use_gt_depth`` (else at the model's ``init_depth``).
    """

    def __init__(self, task: str, *, depth_loss: str = "l2", use_gt_depth: bool = True) -> None:
        check_in(task, "task", sorted(TASK_RETURNS))
        check_in(depth_loss, "depth_loss", ("l2", "scale-invariant"))
        self.task = task
        self.depth_loss = depth_loss
        self.use_gt_depth = bool(use_gt_depth)

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        from spacetime.shapes import losses

        t = self.task
        if t == "depth":
            gt, mask = _key(batch, "depth"), _key(batch, "mask")
            pred = model(_key(batch, "image"))
            fn = losses.depth_l2_loss if self.depth_loss == "l2" else \
                losses.scale_invariant_depth_loss
            loss = fn(pred, gt, mask)
            with torch.no_grad():
                m = mask & (gt > 0)
                rel = ((pred[:, 0] - gt).abs() / gt.clamp(min=1e-6))[m]
                abs_rel = rel.mean() if rel.numel() else torch.zeros(())
            return loss, {"abs_rel": abs_rel}
        if t == "normals":
            gt, mask = _key(batch, "normal_map"), _key(batch, "mask")
            pred = model(_key(batch, "image"))
            loss = losses.surface_normal_loss(pred, gt, mask)
            angle = torch.rad2deg(torch.arccos((-loss.detach()).clamp(-1, 1)))
            return loss, {"angle": angle}
        if t in ("voxel-classification", "point-classification"):
            label = _key(batch, "label")
            if t == "voxel-classification":
                from spacetime.shapes.models.voxels import voxels_to_shapenets_input

                x = voxels_to_shapenets_input(_key(batch, "voxels"), _unwrap(model).input_size)
            else:
                x = _key(batch, "points")
            logits = model(x)
            loss = F.cross_entropy(logits.float(), label)
            return loss, {"acc": (logits.detach().argmax(1) == label).float().mean()}
        if t == "voxels":
            target = resize_voxels(_key(batch, "voxels"), _unwrap(model).resolution)
            logits = model(_key(batch, "image"))
            loss = losses.voxel_bce_loss(logits, target)
            return loss, {"iou": _iou(logits.detach() > 0, target > 0.5)}
        if t == "octree":
            from spacetime.shapes.models.octree import octree_loss, octree_targets

            net = _unwrap(model)
            target = resize_voxels(_key(batch, "voxels"), net.resolution)
            targets = octree_targets(target, net.base_resolution)
            out = model(_key(batch, "image"), targets)
            loss = octree_loss(out, targets)
            with torch.no_grad():
                iou = _iou(out.to_dense() > 0.5, target > 0.5)
            return loss, {"iou": iou}
        if t == "points":
            pred = model(_key(batch, "image"))
            loss = losses.chamfer_loss(pred, _key(batch, "points"))
            return loss, {"chamfer": loss.detach()}
        if t == "mesh":
            from spacetime.shapes.models.pixel2mesh import Pixel2MeshStep

            return Pixel2MeshStep(use_gt_depth=self.use_gt_depth)(model, batch)
        # occupancy
        pts, labels = _key(batch, "occ_points"), _key(batch, "occ_labels")
        logits = model(_key(batch, "image"), pts)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return loss, {"iou": _iou(logits.detach() > 0, labels.bool())}


def _iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean IoU of boolean batches ``(N, ...)`` (1 where both are empty)."""
    p, g = pred.flatten(1), gt.flatten(1)
    inter = (p & g).sum(1).float()
    union = (p | g).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean()


# ============================================================================ evaluation


def _meshes_of(batch: Mapping[str, Any]) -> Any:
    m = batch.get("meshes")
    if m is None:
        raise InputError("batch: expected GT meshes ('verts'/'faces') for mesh metrics")
    return m


def synthetic_intrinsics(
    image_size: int,
    focal: float = 1.0,
    *,
    n: int = 1,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``(n, 3, 3)`` pinhole intrinsics of :class:`~spacetime.shapes.datasets.SyntheticShapes`
    for ``image_size × image_size`` images: ``fx = fy = focal · S``, ``cx = cy = (S − 1) / 2``
    (pixel centres at integers)."""
    check_int(image_size, "image_size", min_value=1)
    check_positive(focal, "focal")
    check_int(n, "n", min_value=1)
    f, c = float(focal) * image_size, (image_size - 1) / 2.0
    K = torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]], dtype=dtype, device=device)
    return K.expand(n, 3, 3).clone()


@torch.no_grad()
def predict_shapes(
    model: nn.Module,
    task: str,
    images: torch.Tensor,
    *,
    occ_resolution: int = 64,
    occ_coarse_resolution: int = 16,
    K: Any = None,
    focal: float = 1.0,
    depths: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Run a generator on images ``(N, 3, S, S)`` and return what it predicts:

    - depth: ``depth (N, 1, S, S)``; normals: ``normals (N, 3, S, S)``;
    - voxels / octree: ``probs (N, R, R, R)`` and ``meshes`` (marching cubes at ½ of the
      occupancy probabilities, closed at the grid boundary, object frame ``[-0.5, 0.5]³``);
      octree adds ``octree`` (an :class:`~spacetime.shapes.structures.Octree`);
    - points: ``points (N, P, 3)``;
    - occupancy: ``meshes``, ``probs`` and ``num_evaluations`` / ``dense_evaluations``
      (:func:`~spacetime.shapes.models.extract_mesh`);
    - mesh (Pixel2Mesh): ``meshes`` (the last stage, camera frame: OpenCV axes, units of the
      training data), ``stages`` (every stage's meshes) and ``K`` ``(N, 3, 3)``. ``K`` (pixels
      of the ``S × S`` image) defaults to the synthetic data's intrinsics ``fx = fy = focal · S``,
      ``cx = cy = (S − 1) / 2``; ``depths`` ``(N,)`` places the initial sphere (default: the
      model's ``init_depth``).
    """
    from spacetime.shapes.convert import marching_cubes

    model.eval()
    if task == "depth":
        return {"depth": model(images)}
    if task == "normals":
        return {"normals": model(images)}
    if task in ("voxels", "octree"):
        out: dict[str, Any] = {}
        if task == "voxels":
            probs = torch.sigmoid(model(images))
        else:
            oo = model(images)
            probs = oo.to_dense()
            out["octree"] = oo.to_octree()
        r = probs.shape[-1]
        out["probs"] = probs
        out["meshes"] = marching_cubes(probs, 0.5, inside="high", close_boundary=True,
                                       voxel_size=1.0 / r, origin=(-0.5, -0.5, -0.5))
        return out
    if task == "points":
        return {"points": model(images)}
    if task == "mesh":
        if K is None:
            K = synthetic_intrinsics(images.shape[-1], focal, n=images.shape[0],
                                     device=images.device, dtype=images.dtype)
        out = model(images, K, depths)
        return {"meshes": out.meshes[-1], "stages": out.meshes, "K": K}
    if task == "occupancy":
        from spacetime.shapes.models.occnet import extract_mesh

        ex = extract_mesh(model, images, resolution=occ_resolution,
                          coarse_resolution=min(occ_coarse_resolution, occ_resolution))
        return {"meshes": ex.meshes, "probs": ex.probs, "num_evaluations": ex.num_evaluations,
                "dense_evaluations": ex.dense_evaluations}
    raise InputError(f"task: {task!r} does not predict from images")


@torch.no_grad()
def evaluate_shape_model(
    model: nn.Module,
    task: str,
    loader: Any,
    *,
    class_names: Sequence[str],
    device: str | torch.device = "cpu",
    mesh_samples: int = 2000,
    occ_resolution: int = 32,
    thresholds: Sequence[float] = (0.1, 0.3, 0.5),
    seed: int = 0,
    use_gt_depth: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on every batch of ``loader`` (collate_3d dicts with the task's fields;
    mesh tasks also need ``meshes``).

    The ``mesh`` task (Pixel2Mesh) compares the last stage's meshes with the GT meshes moved to
    the camera frame (as :func:`~spacetime.shapes.models.evaluate_pixel2mesh` does), the initial
    sphere at the known object distance ``‖t‖`` when ``use_gt_depth`` (else at ``init_depth``).

    Returns ``{"task", "num_samples", "mean": {metric: value}, "per_category": {name: {metric:
    value, "num_samples": n}}, ...}``; the means are over samples (``mean``) and within each
    category (``per_category``); ``mean_over_categories`` averages the category means.
    Classifiers also get ``majority_baseline`` (accuracy of always answering the most frequent
    class of this evaluation set).
    """
    from spacetime.engine import move_to_device
    from spacetime.shapes.metrics import (
        chamfer_and_f1,
        compare_meshes,
        depth_metrics,
        normal_metrics,
    )

    check_in(task, "task", sorted(TASK_RETURNS))
    model = model.to(device).eval()
    rows: list[dict[str, float]] = []
    labels: list[int] = []
    extra: dict[str, float] = {"num_evaluations": 0.0, "dense_evaluations": 0.0}
    for batch in loader:
        batch = move_to_device(batch, torch.device(device))
        lab = batch["label"]
        n = int(lab.shape[0])
        labels += [int(v) for v in lab]
        per: dict[str, torch.Tensor] = {}
        if task == "depth":
            pred = model(batch["image"])
            per = {f"depth/{k}": v for k, v in
                   depth_metrics(pred, batch["depth"], batch["mask"]).items()}
        elif task == "normals":
            pred = model(batch["image"])
            per = {f"normal/{k}": v for k, v in
                   normal_metrics(pred, batch["normal_map"], batch["mask"]).items()}
        elif task in ("voxel-classification", "point-classification"):
            if task == "voxel-classification":
                from spacetime.shapes.models.voxels import voxels_to_shapenets_input

                x = voxels_to_shapenets_input(batch["voxels"], _unwrap(model).input_size)
            else:
                x = batch["points"]
            per = {"accuracy": (model(x).argmax(1) == lab).float()}
        elif task == "points":
            pred = model(batch["image"])
            gt = batch["points"]
            s = _gt10_scale(gt)
            cf = chamfer_and_f1(pred * s[:, None, None], gt * s[:, None, None],
                                list(thresholds), reduction="mean")
            per = {"Chamfer-L2": cf.chamfer}
            for j, t in enumerate(thresholds):
                per[f"F1@{t:g}"] = cf.f1[:, j]
        elif task == "mesh":
            from spacetime.shapes.models.pixel2mesh import camera_frame_targets

            tg = camera_frame_targets(dict(batch, meshes=_meshes_of(batch).to(device)))
            out = model(_key(batch, "image"), _key(batch, "K"),
                        tg["depths"] if use_gt_depth else None)
            cm = compare_meshes(out.meshes[-1], tg["meshes"], num_samples=mesh_samples,
                                thresholds=thresholds, seed=seed)
            per["Chamfer-L2"] = cm["Chamfer-L2"]
            per["AbsNormalConsistency"] = cm["AbsNormalConsistency"]
            for t in thresholds:
                per[f"F1@{t:g}"] = cm[f"F1@{t:g}"]
        else:
            out = predict_shapes(model, task, batch["image"], occ_resolution=occ_resolution)
            if task == "occupancy":
                logits = model(batch["image"], batch["occ_points"])
                p, g = logits > 0, batch["occ_labels"].bool()
                inter, union = (p & g).sum(1).float(), (p | g).sum(1).float()
                per["iou"] = torch.where(union > 0, inter / union.clamp(min=1),
                                         torch.ones_like(union))
                extra["num_evaluations"] += out["num_evaluations"]
                extra["dense_evaluations"] += out["dense_evaluations"]
            else:
                from spacetime.shapes.metrics import voxel_iou

                target = resize_voxels(batch["voxels"], out["probs"].shape[-1])
                per["voxel_iou"] = voxel_iou(out["probs"], target)
            if batch.get("meshes") is not None:
                pm = out["meshes"]
                empty = torch.tensor([f.shape[0] == 0 for f in pm.faces_list()],
                                     device=lab.device)
                cm = compare_meshes(pm, _meshes_of(batch), num_samples=mesh_samples,
                                    thresholds=thresholds, seed=seed)
                per["empty_mesh"] = empty.float()
                per["Chamfer-L2"] = torch.where(empty, torch.full_like(cm["Chamfer-L2"], math.nan),
                                                cm["Chamfer-L2"])
                per["AbsNormalConsistency"] = cm["AbsNormalConsistency"]
                for t in thresholds:
                    per[f"F1@{t:g}"] = cm[f"F1@{t:g}"]
        for i in range(n):
            rows.append({k: float(v[i]) for k, v in per.items()})
    return _summarise(task, rows, labels, list(class_names), extra)


def _gt10_scale(gt: torch.Tensor) -> torch.Tensor:
    ext = (gt.amax(1) - gt.amin(1)).amax(1)
    return 10.0 / ext.clamp(min=1e-12)


def _nanmean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def _summarise(task: str, rows: list[dict[str, float]], labels: list[int],
               class_names: list[str], extra: dict[str, float]) -> dict[str, Any]:
    keys = list(rows[0]) if rows else []
    out: dict[str, Any] = {"task": task, "num_samples": len(rows)}
    mean = {k: _nanmean([r[k] for r in rows]) for k in keys}
    if "empty_mesh" in mean:
        mean["empty_meshes"] = int(sum(r["empty_mesh"] for r in rows))
        del mean["empty_mesh"]
    out["mean"] = mean
    per_cat: dict[str, dict[str, float]] = {}
    for c in sorted(set(labels)):
        sel = [r for r, lab in zip(rows, labels) if lab == c]
        name = class_names[c] if 0 <= c < len(class_names) else str(c)
        d = {k: _nanmean([r[k] for r in sel]) for k in keys}
        if "empty_mesh" in d:
            d["empty_meshes"] = int(sum(r["empty_mesh"] for r in sel))
            del d["empty_mesh"]
        d["num_samples"] = len(sel)
        per_cat[name] = d
    out["per_category"] = per_cat
    if per_cat:
        out["mean_over_categories"] = {
            k: _nanmean([d[k] for d in per_cat.values()])
            for k in mean if k != "empty_meshes"
        }
    if task.endswith("classification") and labels:
        top = max(set(labels), key=labels.count)
        out["majority_baseline"] = {"class": class_names[top] if top < len(class_names)
                                    else str(top), "accuracy": labels.count(top) / len(labels)}
    if task == "occupancy" and extra["dense_evaluations"]:
        out["network_evaluations"] = {"mise": int(extra["num_evaluations"]),
                                      "dense": int(extra["dense_evaluations"])}
    return out


# ============================================================================ real datasets


class MeshNormalizedDataset(torch.utils.data.Dataset):
    """Adapt a mesh dataset (ShapeNetCore, R2N2, Pix3D, ModelNet items with ``verts``/``faces``)
    to the keys of :class:`~spacetime.shapes.datasets.SyntheticShapes`.

    Each mesh is centred on its bounding box and scaled so that its longest edge is 1 (the
    synthetic object frame, ``[-0.5, 0.5]³``); then ``voxels`` ``(G, G, G)`` (solid),
    ``points`` / ``normals`` ``(P, 3)``, ``occ_points`` / ``occ_labels`` and ``image`` ``(3, S, S)``
    (the item's ``image`` or first of ``images``, resized; datasets without images cannot feed
    image models) are derived, and ``label`` becomes the class index.

    ``K``, ``R``, ``t`` (requested in ``returns``; items with cameras only: R2N2's ``(V, ...)``
    — the camera of ``images[0]`` — or Pix3D's) follow the mesh and the image: with the mesh's
    box centre ``c`` and longest edge ``s``, ``X_cam' = R X' + (R c + t) / s`` for the normalised
    ``X' = (X − c) / s`` (the camera frame is scaled by ``1 / s`` too), and ``K`` is rescaled to
    the ``S × S`` image (pixel centres at integers: ``fx' = fx · S / W``, ``cx' = (cx + ½) · S / W
    − ½``, same for y with ``H``).

    Args:
        base: the dataset; indices: a subset of its items (default all).
        class_names: the class list (``label`` strings are looked up in it).
        returns: which derived fields to produce (names of ``SYNTHETIC_RETURNS``).
    """

    def __init__(self, base: Any, class_names: Sequence[str], returns: Sequence[str], *,
                 indices: Sequence[int] | None = None, image_size: int = 64,
                 voxel_resolution: int = 32, num_points: int = 2048,
                 num_occupancy_samples: int = 2048, seed: int = 0) -> None:
        self.base = base
        self.class_names = list(class_names)
        self.returns = tuple(returns)
        if any(r in _CAMERA_FIELDS for r in self.returns) and "image" not in self.returns:
            raise InputError("returns: cameras ('K', 'R', 't') need 'image' (they are those of "
                             "the returned image)")
        self.indices = list(range(len(base))) if indices is None else list(indices)
        self.image_size, self.voxel_resolution = int(image_size), int(voxel_resolution)
        self.num_points, self.num_occ = int(num_points), int(num_occupancy_samples)
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def _label(self, item: Mapping[str, Any]) -> int:
        for key in ("label_index", "label"):
            v = item.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                return int(v)
        name = item.get("label") or item.get("class_name")
        if isinstance(name, str) and name in self.class_names:
            return self.class_names.index(name)
        raise InputError(f"item: cannot find a class label among {sorted(item)}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        from spacetime.shapes.convert import sample_points_from_meshes
        from spacetime.shapes.datasets.synthetic import occupancy_samples, solid_voxels
        from spacetime.shapes.structures import Meshes

        item = self.base[self.indices[index]]
        label = self._label(item)
        out: dict[str, Any] = {"label": label, "category": self.class_names[label]}
        r = self.returns
        hw0 = (0, 0)
        if "image" in r:
            img = item.get("image")
            if img is None and item.get("images") is not None:
                img = item["images"][0]
            if img is None:
                raise InputError("data: this dataset has no images; image models need "
                                 "synthetic, r2n2 or pix3d data")
            img = img.float()
            if img.ndim == 3 and img.shape[-1] in (3, 4) and img.shape[0] not in (3, 4):
                img = img.permute(2, 0, 1)
            if img.max() > 1.5:
                img = img / 255.0
            hw0 = (int(img.shape[-2]), int(img.shape[-1]))
            out["image"] = F.interpolate(img[None, :3], size=(self.image_size,) * 2,
                                         mode="bilinear", align_corners=False)[0].clamp(0, 1)
        v, f = item["verts"].double(), item["faces"].long()
        lo, hi = v.amin(0), v.amax(0)
        centre, scale = (lo + hi) / 2, (hi - lo).amax().clamp(min=1e-12)
        v = ((v - centre) / scale).float()
        if any(k in r for k in _CAMERA_FIELDS):
            out.update(self._camera(item, centre, scale, hw0))
        gen = torch.Generator().manual_seed(self.seed * 1000003 + self.indices[index])
        mesh = Meshes([v], [f])
        if "mesh" in r:
            out["verts"], out["faces"] = v, f
        if "points" in r:
            p, nrm = sample_points_from_meshes(mesh, self.num_points, return_normals=True,
                                               generator=gen)
            out["points"], out["normals"] = p[0], nrm[0]
        if "voxels" in r:
            g = self.voxel_resolution
            out["voxels"] = solid_voxels((v.double() + 0.5) * g, f, g)
        if "occupancy" in r:
            out["occ_points"], out["occ_labels"] = occupancy_samples(v, f, self.num_occ, gen)
        return out

    def _camera(self, item: Mapping[str, Any], centre: torch.Tensor, scale: torch.Tensor,
                hw0: tuple[int, int]) -> dict[str, torch.Tensor]:
        cams = [item.get(k) for k in _CAMERA_FIELDS]
        if any(not isinstance(c, torch.Tensor) for c in cams):
            raise InputError("data: this dataset has no cameras (K, R, t) for its images; "
                             "Pixel2Mesh needs synthetic, r2n2 or pix3d data")
        K, R, t = (c.double() for c in cams)
        if K.ndim == 3:  # R2N2: one camera per view; the image is images[0]
            K, R, t = K[0], R[0], t[0]
        h0, w0 = hw0
        S = self.image_size
        K2 = K.clone()
        K2[0, 0], K2[0, 1] = K[0, 0] * S / w0, K[0, 1] * S / w0
        K2[0, 2] = (K[0, 2] + 0.5) * S / w0 - 0.5
        K2[1, 1] = K[1, 1] * S / h0
        K2[1, 2] = (K[1, 2] + 0.5) * S / h0 - 0.5
        return {"K": K2.float(), "R": R.float(), "t": ((R @ centre + t) / scale).float()}
