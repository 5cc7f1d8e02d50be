"""Shape *tasks*: what each of the lecture's 3D models eats, how it is trained, evaluated and
how its predictions are saved — one class per task, one dict (:data:`SHAPE_TASKS`).

=========================  ===============================  =======================================
task                       training loss                    evaluation metrics (per sample)
=========================  ===============================  =======================================
``depth``                  per-pixel L2 or scale-invariant  :func:`~spacetime.shapes.depth_metrics`
``normals``                dot-product loss                 :func:`~spacetime.shapes.normal_metrics`
``voxel-classification``   cross-entropy                    accuracy
``point-classification``   cross-entropy                    accuracy
``point-segmentation``     per-point cross-entropy          accuracy, part mIoU (instance / class)
``voxels`` / ``octree``    voxel BCE / octree state CE      voxel IoU + mesh metrics (MC)
``shape-layers``           masked L1 / L2 on layer depths   voxel IoU + mesh metrics (MC)
``points``                 Chamfer-L2                       Chamfer-L2, F1@t
``occupancy``              BCE on occupancy samples         IoU on the samples + mesh metrics
``mesh`` (Pixel2Mesh)      Chamfer + normal + edge + Lap.   mesh metrics (camera frame)
=========================  ===============================  =======================================

:data:`MODEL_TASKS` maps each model name of
:data:`~spacetime.shapes.models.SHAPE_MODEL_BUILDERS` to its task; :func:`shape_task` returns a
task object (``shape_task("voxel-gen")`` or ``shape_task("depth", depth_loss="l2")``). A task
object is the training step (``task(model, batch) -> (loss, metrics)``, what
:class:`~spacetime.engine.Trainer` calls), and has ``predict``, ``sample_metrics``,
``summary``, ``save``, ``pictures`` and ``views`` (the 3D objects of the interactive
``view.html``, as data: this package never imports :mod:`spacetime.viz`). A new model is
one builder and one :data:`MODEL_TASKS` entry; a new kind of output is one :class:`ShapeTask`
subclass more.

Mesh metrics are those of :func:`~spacetime.shapes.compare_meshes` (Mesh R-CNN protocol: GT
longest bounding-box edge scaled to 10, F1@0.1/0.3/0.5, absolute normal consistency). An empty
prediction (all-empty grid / field) counts with F1 = 0 and is reported in ``empty_meshes``;
``Chamfer-L2`` is then averaged over the non-empty predictions only (``nan`` if there is none).

The ``mesh`` task (:mod:`~spacetime.shapes.models.pixel2mesh`) works in the **camera frame**: it
needs each image's camera ``K``, ``R``, ``t`` (ground truth moved with ``X_cam = R X + t``,
:func:`~spacetime.shapes.models.pixel2mesh.camera_frame_targets`): those of
:class:`~spacetime.shapes.datasets.SyntheticShapes`, or of R2N2 / Pix3D items carried through
:class:`~spacetime.shapes.datasets.MeshNormalizedDataset`'s normalisation and image resizing.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.checks import check_in, check_int, check_positive
from spacetime.errors import InputError

__all__ = [
    "ShapeTask",
    "DepthTask",
    "NormalsTask",
    "VoxelClassificationTask",
    "PointClassificationTask",
    "PointSegmentationTask",
    "VoxelsTask",
    "OctreeTask",
    "ShapeLayersTask",
    "PointsTask",
    "OccupancyTask",
    "MeshTask",
    "SHAPE_TASKS",
    "MODEL_TASKS",
    "TASK_RETURNS",
    "shape_task",
    "resize_voxels",
    "evaluate_shape_model",
    "predict_shapes",
    "synthetic_intrinsics",
    "normalize_to_unit_cube",
]

_THRESHOLDS = (0.1, 0.3, 0.5)


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def _key(batch: Mapping[str, Any], key: str) -> Any:
    if not isinstance(batch, Mapping) or key not in batch:
        got = sorted(map(str, batch)) if isinstance(batch, Mapping) else type(batch).__name__
        raise InputError(f"batch: expected key {key!r}, got {got}")
    return batch[key]


def _meshes_of(batch: Mapping[str, Any]) -> Any:
    m = batch.get("meshes")
    if m is None:
        raise InputError("batch: expected GT meshes ('verts'/'faces') for mesh metrics")
    return m


def _iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean IoU of boolean batches ``(N, ...)`` (1 where both are empty)."""
    return _iou_each(pred, gt).mean()


def _iou_each(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-sample IoU ``(N,)`` of boolean batches (1 where both are empty)."""
    p, g = pred.flatten(1), gt.flatten(1)
    inter, union = (p & g).sum(1).float(), (p | g).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def resize_voxels(voxels: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(N, G, G, G)`` occupancy → ``(N, R, R, R)`` float {0, 1} (nearest resampling; the grid
    keeps covering the same cube)."""
    v = voxels.float()
    if v.shape[-1] == resolution:
        return v
    return F.interpolate(v[:, None], size=(resolution,) * 3, mode="nearest")[:, 0]


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


def normalize_to_unit_cube(verts: torch.Tensor) -> torch.Tensor:
    """Centre ``(V, 3)`` vertices on their bounding box and scale the longest edge to 1 (the
    synthetic object frame ``[-0.5, 0.5]³``; float64 arithmetic, input dtype out)."""
    v = verts.double()
    lo, hi = v.amin(0), v.amax(0)
    return ((v - (lo + hi) / 2) / (hi - lo).amax().clamp(min=1e-12)).to(verts.dtype)


def _mesh_metrics(pred: Any, gt: Any, *, mesh_samples: int, thresholds: Sequence[float],
                  seed: int) -> dict[str, torch.Tensor]:
    """Chamfer-L2 (NaN for empty predictions), normal consistency, F1@t and ``empty_mesh``."""
    from spacetime.shapes.metrics import compare_meshes

    empty = torch.tensor([f.shape[0] == 0 for f in pred.faces_list()])
    cm = compare_meshes(pred, gt, num_samples=mesh_samples, thresholds=thresholds, seed=seed)
    chamfer = cm["Chamfer-L2"].cpu()
    per = {"empty_mesh": empty.float(),
           "Chamfer-L2": torch.where(empty, torch.full_like(chamfer, math.nan), chamfer),
           "AbsNormalConsistency": cm["AbsNormalConsistency"].cpu()}
    for t in thresholds:
        per[f"F1@{t:g}"] = cm[f"F1@{t:g}"].cpu()
    return per


class ShapeTask(abc.ABC):
    """One kind of 3D model output: its training step, prediction, metrics and files.

    Class attributes: ``name``; ``returns``, the :class:`~spacetime.shapes.datasets.
    SyntheticShapes` fields training needs; ``eval_returns``, what evaluation adds (``mesh``
    for the tasks scored by mesh metrics); ``input_kind``, what :meth:`load_input` reads
    (``image`` or ``shape``); ``needs_cameras``, whether the data must carry ``K``, ``R``, ``t``.
    """

    name: ClassVar[str]
    returns: ClassVar[tuple[str, ...]]
    eval_returns: ClassVar[tuple[str, ...]] = ()
    input_kind: ClassVar[str] = "image"
    needs_cameras: ClassVar[bool] = False

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.step(model, batch)

    @abc.abstractmethod
    def step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """The training step: ``(scalar loss, {metric: batch mean})``."""

    @abc.abstractmethod
    def predict(self, model: nn.Module, x: torch.Tensor, **options: Any) -> dict[str, Any]:
        """Run ``model`` (eval mode, no gradients) on a batch of inputs; see
        :func:`predict_shapes` for the keys per task."""

    @abc.abstractmethod
    def sample_metrics(self, model: nn.Module, batch: Mapping[str, Any], *, mesh_samples: int,
                       thresholds: Sequence[float], seed: int, occ_resolution: int,
                       stats: dict[str, float]) -> dict[str, torch.Tensor]:
        """Per-sample metrics ``{name: (N,)}`` of one evaluation batch (``stats`` collects
        run-level counts such as network evaluations)."""

    def load_input(self, path: str | os.PathLike, spec_options: Mapping[str, Any],
                   model_kwargs: Mapping[str, Any]) -> torch.Tensor:
        """The model's input ``(1, ...)`` from a file: an RGB image resized to the model's
        ``image_size`` (classifiers: a mesh / point / voxel file)."""
        from spacetime.shapes.io import read_rgb_image

        size = int(model_kwargs.get("image_size", spec_options.get("image_size", 64)))
        return read_rgb_image(path, size)[None]

    def save(self, pred: Mapping[str, Any], out_dir: Path) -> list[Path]:
        """Write the first prediction's data files into ``out_dir``; return their paths."""
        return []

    def summary(self, pred: Mapping[str, Any]) -> dict[str, Any]:
        """JSON-friendly facts about the first prediction (empty mesh, sizes, camera, ...)."""
        return {}

    def pictures(self, pred: Mapping[str, Any]) -> list[tuple[Any, str, str | None]]:
        """What to draw for the first prediction: ``[(object, file name, kind)]`` for
        :func:`spacetime.viz.show`."""
        return []

    def views(self, pred: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What the interactive view of the first prediction shows, one panel each:
        ``[{"title", "object", "kind", "frame", "K"}]`` with ``kind`` as
        :meth:`spacetime.viz.Figure.add` takes it, ``frame`` ``"object"`` or ``"camera"``
        (OpenCV) and ``K`` ``(3, 3)`` where the object is in a camera frame (else ``None``)."""
        return []


class DepthTask(ShapeTask):
    """Depth from one image (Eigen et al. 2014): ``(N, 1, S, S)``."""

    name = "depth"
    returns = ("image", "depth", "mask")

    def __init__(self, *, depth_loss: str = "l2") -> None:
        check_in(depth_loss, "depth_loss", ("l2", "scale-invariant"))
        self.depth_loss = depth_loss

    def step(self, model, batch):
        from spacetime.shapes import losses

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

    @torch.no_grad()
    def predict(self, model, x, **options):
        return {"depth": model.eval()(x)}

    def sample_metrics(self, model, batch, **kw):
        from spacetime.shapes.metrics import depth_metrics

        pred = model(batch["image"])
        return {f"depth/{k}": v for k, v in
                depth_metrics(pred, batch["depth"], batch["mask"]).items()}

    def save(self, pred, out_dir):
        from spacetime.shapes.io import save_depth

        d = pred["depth"][0, 0].cpu()
        save_depth(d, out_dir / "depth.npy")
        return [out_dir / "depth.npy"]

    def pictures(self, pred):
        return [(pred["depth"][0, 0].cpu(), "depth.png", "depth")]

    def views(self, pred):
        d = pred["depth"][0, 0].cpu()
        return [{"title": "predicted depth, back-projected (synthetic camera K)", "object": d,
                 "kind": "depth", "frame": "camera",
                 "K": synthetic_intrinsics(d.shape[-1], dtype=torch.float64)[0]}]


class NormalsTask(ShapeTask):
    """Surface normals from one image (camera frame): ``(N, 3, S, S)`` unit vectors."""

    name = "normals"
    returns = ("image", "normal_map", "mask")

    def step(self, model, batch):
        from spacetime.shapes import losses

        gt, mask = _key(batch, "normal_map"), _key(batch, "mask")
        pred = model(_key(batch, "image"))
        loss = losses.surface_normal_loss(pred, gt, mask)
        angle = torch.rad2deg(torch.arccos((-loss.detach()).clamp(-1, 1)))
        return loss, {"angle": angle}

    @torch.no_grad()
    def predict(self, model, x, **options):
        return {"normals": model.eval()(x)}

    def sample_metrics(self, model, batch, **kw):
        from spacetime.shapes.metrics import normal_metrics

        pred = model(batch["image"])
        return {f"normal/{k}": v for k, v in
                normal_metrics(pred, batch["normal_map"], batch["mask"]).items()}

    def save(self, pred, out_dir):
        from spacetime.shapes.io import save_normals

        save_normals(pred["normals"][0].cpu(), out_dir / "normals.png")
        return [out_dir / "normals.png"]

    def pictures(self, pred):
        return [(pred["normals"][0].cpu(), "normals_picture.png", "normals")]

    def views(self, pred):
        return [{"title": "predicted normals (camera frame, (n + 1) / 2)",
                 "object": pred["normals"][0].cpu(), "kind": "normals", "frame": "camera",
                 "K": None}]


class _ClassificationTask(ShapeTask):
    """Shape classification: logits ``(N, C)``."""

    input_kind = "shape"

    @abc.abstractmethod
    def inputs(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        """The model input of a batch."""

    def step(self, model, batch):
        label = _key(batch, "label")
        logits = model(self.inputs(model, batch))
        loss = F.cross_entropy(logits.float(), label)
        return loss, {"acc": (logits.detach().argmax(1) == label).float().mean()}

    @torch.no_grad()
    def predict(self, model, x, **options):
        return {"probabilities": model.eval()(x).float().softmax(1)}

    def sample_metrics(self, model, batch, **kw):
        return {"accuracy": (model(self.inputs(model, batch)).argmax(1) ==
                             batch["label"]).float()}


class VoxelClassificationTask(_ClassificationTask):
    """VoxNet-style classification of a voxel grid (3D ShapeNets' 30³ input with padding)."""

    name = "voxel-classification"
    returns = ("voxels",)

    def inputs(self, model, batch):
        from spacetime.shapes.models.voxels import voxels_to_shapenets_input

        return voxels_to_shapenets_input(_key(batch, "voxels"), _unwrap(model).input_size)

    def load_input(self, path, spec_options, model_kwargs):
        from spacetime.shapes.datasets.synthetic import solid_voxels
        from spacetime.shapes.io import detect_kind, load
        from spacetime.shapes.models.voxels import voxels_to_shapenets_input

        kind = detect_kind(path)
        obj = load(path, kind=kind)
        _require_nonempty(obj, kind, path)
        size = int(model_kwargs.get("input_size", 30))
        if kind == "mesh":
            v = normalize_to_unit_cube(obj.verts_list()[0].double())
            g = int(spec_options.get("voxel_resolution", 32))
            grid = solid_voxels((v + 0.5) * g, obj.faces_list()[0], g)[None]
            return voxels_to_shapenets_input(grid, size)
        if kind == "voxels":
            grid = obj.grid if hasattr(obj, "grid") else obj
            return voxels_to_shapenets_input(grid[:1] > 0.5, size)
        raise InputError(f"input: a {kind} file cannot feed a voxel classifier "
                         f"({path}); give a mesh or voxel file")


def _require_nonempty(obj: Any, kind: str, path: Any) -> None:
    """A classifier needs something to classify: no empty cloud, mesh or grid."""
    if kind == "mesh":
        empty = obj.faces_list()[0].shape[0] == 0
    elif kind == "points":
        pts = obj.points_list()[0] if hasattr(obj, "points_list") else obj
        empty = pts.shape[0] == 0
    elif kind == "voxels":
        grid = obj.grid if hasattr(obj, "grid") else obj
        empty = grid.numel() == 0
    else:
        return
    if empty:
        raise InputError(f"input: {path} holds an empty {kind}; a classifier needs a shape")


class PointClassificationTask(_ClassificationTask):
    """PointNet classification of a point cloud ``(N, P, 3)``."""

    name = "point-classification"
    returns = ("points",)

    def inputs(self, model, batch):
        return _key(batch, "points")

    def load_input(self, path, spec_options, model_kwargs):
        from spacetime.shapes.convert import sample_points_from_meshes
        from spacetime.shapes.io import detect_kind, load
        from spacetime.shapes.structures import Meshes

        kind = detect_kind(path)
        obj = load(path, kind=kind)
        _require_nonempty(obj, kind, path)
        if kind == "mesh":
            v = normalize_to_unit_cube(obj.verts_list()[0].double()).float()
            return sample_points_from_meshes(Meshes([v], [obj.faces_list()[0]]),
                                             int(spec_options.get("num_points", 2048)),
                                             generator=torch.Generator().manual_seed(0))
        if kind == "points":
            pts = obj.points_list()[0] if hasattr(obj, "points_list") else obj
            return normalize_to_unit_cube(pts.double()).float()[None]
        raise InputError(f"input: a {kind} file cannot feed a point classifier ({path}); "
                         "give a mesh or point file")


def _part_palette(n: int) -> torch.Tensor:
    """``(n, 3)`` distinct colours in [0, 1] (HSV golden-ratio hues)."""
    import colorsys

    return torch.tensor([colorsys.hsv_to_rgb((0.08 + 0.618034 * k) % 1.0, 0.75, 0.9)
                         for k in range(n)], dtype=torch.float32)


class PointSegmentationTask(ShapeTask):
    """PointNet part segmentation: points ``(N, P, 3)`` and the object category → a part per
    point (global part indices of :data:`~spacetime.shapes.datasets.procedural.PART_NAMES`).

    Training: per-point cross-entropy over all parts (as the paper). Prediction and evaluation
    restrict each shape's argmax to its category's parts (as PointNet's reference evaluation);
    metrics per shape: point ``accuracy`` and ``mIoU`` (mean part IoU,
    :func:`~spacetime.shapes.metrics.shape_part_ious`), so the mean over shapes is the
    instance mIoU and the mean over categories the class mIoU.
    """

    name = "point-segmentation"
    returns = ("parts",)
    input_kind = "shape"

    def step(self, model, batch):
        target = _key(batch, "part_labels")
        logits = model(_key(batch, "points"), _key(batch, "label"))
        loss = F.cross_entropy(logits.float().transpose(1, 2), target)
        return loss, {"acc": (logits.detach().argmax(-1) == target).float().mean()}

    @staticmethod
    def masked_argmax(logits: torch.Tensor, categories: Sequence[str]) -> torch.Tensor:
        """``(N, P, K)`` logits → ``(N, P)`` the best part among each category's parts."""
        from spacetime.shapes.datasets.procedural import CATEGORY_PARTS

        mask = torch.zeros(len(categories), logits.shape[-1], dtype=torch.bool,
                           device=logits.device)
        for i, c in enumerate(categories):
            check_in(c, "category", sorted(CATEGORY_PARTS))
            mask[i, list(CATEGORY_PARTS[c])] = True
        return logits.masked_fill(~mask[:, None, :], -math.inf).argmax(-1)

    @torch.no_grad()
    def predict(self, model, x, *, category: torch.Tensor | None = None,
                category_names: Sequence[str] = (), **options):
        logits = model.eval()(x, category)
        return {"points": x, "probabilities": None, "part_logits": logits,
                "parts": self.masked_argmax(logits, list(category_names)),
                "categories": list(category_names)}

    def sample_metrics(self, model, batch, **kw):
        from spacetime.shapes.datasets.procedural import CATEGORY_PARTS
        from spacetime.shapes.metrics import shape_part_ious

        cats = list(batch["category"])
        logits = model(batch["points"], batch["label"])
        pred = self.masked_argmax(logits, cats)
        target = batch["part_labels"]
        ious = shape_part_ious(pred, target, [CATEGORY_PARTS[c] for c in cats])
        kw["stats"].setdefault("part_targets", []).extend(
            zip(cats, target.cpu().unbind(0)))
        return {"accuracy": (pred == target).float().mean(1).cpu(),
                "mIoU": torch.stack([v.mean() for v in ious]).float().cpu()}

    def load_input(self, path, spec_options, model_kwargs):
        return PointClassificationTask.load_input(self, path, spec_options, model_kwargs)

    def _colored(self, pred):
        from spacetime.shapes.datasets.procedural import PART_NAMES
        from spacetime.shapes.structures import Pointclouds

        pts, parts = pred["points"][0].cpu(), pred["parts"][0].cpu()
        colors = _part_palette(len(PART_NAMES))[parts.clamp(0, len(PART_NAMES) - 1)]
        return Pointclouds([pts], features=[colors])

    def save(self, pred, out_dir):
        import numpy as np

        from spacetime.shapes.io import save_pointcloud

        save_pointcloud(self._colored(pred), out_dir / "parts.ply")
        np.save(out_dir / "part_labels.npy", pred["parts"][0].cpu().numpy())
        return [out_dir / "parts.ply", out_dir / "part_labels.npy"]

    def summary(self, pred):
        from spacetime.shapes.datasets.procedural import PART_NAMES

        parts = pred["parts"][0].cpu()
        counts = torch.bincount(parts, minlength=len(PART_NAMES))
        return {"category": pred["categories"][0] if pred["categories"] else None,
                "num_points": int(parts.numel()),
                "parts": {PART_NAMES[k]: int(counts[k]) for k in range(len(PART_NAMES))
                          if counts[k] > 0}}

    def pictures(self, pred):
        return [(self._colored(pred), "parts.png", "points", {"color_by": "features"})]

    def views(self, pred):
        return [{"title": "predicted parts (one colour per part)",
                 "object": self._colored(pred), "kind": "points", "frame": "object",
                 "K": None}]


class _SurfaceTask(ShapeTask):
    """Tasks whose prediction is a surface (``meshes``), scored by mesh metrics."""

    eval_returns = ("mesh",)

    def save(self, pred, out_dir):
        from spacetime.shapes.io import save_mesh

        meshes = pred["meshes"].to("cpu")
        if meshes.faces_list()[0].shape[0] == 0:
            return []
        save_mesh(meshes[0], out_dir / "mesh.obj")
        return [out_dir / "mesh.obj"]

    def summary(self, pred):
        return {"empty_mesh": bool(pred["meshes"].faces_list()[0].shape[0] == 0)}

    def pictures(self, pred):
        meshes = pred["meshes"].to("cpu")
        return [] if meshes.faces_list()[0].shape[0] == 0 else [(meshes[0], "mesh.png", None)]

    def views(self, pred):
        meshes = pred["meshes"].to("cpu")
        if meshes.faces_list()[0].shape[0] == 0:
            return []
        return [{"title": "predicted mesh", "object": meshes[0], "kind": "mesh",
                 "frame": "object", "K": None}]


class VoxelsTask(_SurfaceTask):
    """Voxel occupancy from one image (3D-R2N2-style generator): logits ``(N, R, R, R)``."""

    name = "voxels"
    returns = ("image", "voxels")

    def step(self, model, batch):
        from spacetime.shapes import losses

        target = resize_voxels(_key(batch, "voxels"), _unwrap(model).resolution)
        logits = model(_key(batch, "image"))
        loss = losses.voxel_bce_loss(logits, target)
        return loss, {"iou": _iou(logits.detach() > 0, target > 0.5)}

    def probabilities(self, model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
        """``probs (N, R, R, R)`` (and the octree for :class:`OctreeTask`)."""
        return {"probs": torch.sigmoid(model(x))}

    @torch.no_grad()
    def predict(self, model, x, **options):
        from spacetime.shapes.convert import marching_cubes

        out = self.probabilities(model.eval(), x)
        r = out["probs"].shape[-1]
        out["meshes"] = marching_cubes(out["probs"], 0.5, inside="high", close_boundary=True,
                                       voxel_size=1.0 / r, origin=(-0.5, -0.5, -0.5))
        return out

    def sample_metrics(self, model, batch, *, mesh_samples, thresholds, seed, occ_resolution,
                       stats):
        from spacetime.shapes.metrics import voxel_iou

        out = self.predict(model, batch["image"])
        target = resize_voxels(batch["voxels"], out["probs"].shape[-1])
        per = {"voxel_iou": voxel_iou(out["probs"], target).cpu()}
        if batch.get("meshes") is not None:
            per.update(_mesh_metrics(out["meshes"], _meshes_of(batch),
                                     mesh_samples=mesh_samples, thresholds=thresholds,
                                     seed=seed))
        return per

    def save(self, pred, out_dir):
        from spacetime.shapes.io import save_voxels
        from spacetime.shapes.structures import VoxelGrid

        files = super().save(pred, out_dir)
        probs = pred["probs"].cpu()
        r = probs.shape[-1]
        grid = VoxelGrid(probs[:1], voxel_size=1.0 / r, origin=(-0.5, -0.5, -0.5))
        save_voxels(grid, out_dir / "voxels.npz")
        return files + [out_dir / "voxels.npz"]

    def pictures(self, pred):
        from spacetime.shapes.structures import VoxelGrid

        pics = super().pictures(pred)
        if pics:
            probs = pred["probs"].cpu()
            r = probs.shape[-1]
            pics.append((VoxelGrid(probs[:1], voxel_size=1.0 / r, origin=(-0.5, -0.5, -0.5)),
                         "voxels.png", None))
        return pics

    def views(self, pred):
        from spacetime.shapes.structures import VoxelGrid

        out = super().views(pred)
        probs = pred["probs"].cpu()
        r = probs.shape[-1]
        if "octree" in pred:
            obj, kind, what = pred["octree"].to("cpu"), "octree", "predicted octree cells"
        else:
            obj = VoxelGrid(probs[:1], voxel_size=1.0 / r, origin=(-0.5, -0.5, -0.5))
            kind, what = "voxels", f"predicted voxels {r}³ (p > 0.5)"
        return out + [{"title": what, "object": obj, "kind": kind, "frame": "object", "K": None}]


class OctreeTask(VoxelsTask):
    """Octree generation (OGN, Tatarchenko et al. 2017): cell states level by level."""

    name = "octree"

    def step(self, model, batch):
        from spacetime.shapes.models.octree import octree_loss, octree_targets

        net = _unwrap(model)
        target = resize_voxels(_key(batch, "voxels"), net.resolution)
        targets = octree_targets(target, net.base_resolution)
        out = model(_key(batch, "image"), targets)
        loss = octree_loss(out, targets)
        with torch.no_grad():
            iou = _iou(out.to_dense() > 0.5, target > 0.5)
        return loss, {"iou": iou}

    def probabilities(self, model, x):
        oo = model(x)
        return {"probs": oo.to_dense(), "octree": oo.to_octree()}

    def summary(self, pred):
        return {**super().summary(pred), "octree_cells": pred["octree"].num_cells()}


class ShapeLayersTask(VoxelsTask):
    """Nested shape layers (Matryoshka networks, Richter & Roth 2018): ``L`` layers of six
    normalised depth maps ``(N, L, 6, R, R)``, trained on the depths
    (:func:`~spacetime.shapes.losses.shape_layer_loss`, L1 or L2, empty rays masked to a hinge)
    against the nested decomposition of the ground-truth voxels at the model's resolution
    (:func:`~spacetime.shapes.models.matryoshka.shape_layer_targets`), composed into voxels at
    prediction time and scored like the voxel generators (voxel IoU at ``R³`` + mesh metrics of
    the composed grid's marching-cubes surface).

    Args:
        layer_loss: ``"l1"`` (default) or ``"l2"``.
        cache_targets: keep each distinct grid's decomposition (keyed by a hash of its voxels;
            the views of one object share it), up to ``cache_mb`` MiB as int16.
    """

    name = "shape-layers"
    returns = ("image", "voxels")

    def __init__(self, *, layer_loss: str = "l1", cache_targets: bool = True,
                 cache_mb: float = 256.0) -> None:
        check_in(layer_loss, "layer_loss", ("l1", "l2"))
        self.layer_loss = layer_loss
        self.cache_targets = bool(cache_targets)
        self.cache_bytes = int(float(cache_mb) * 2 ** 20)
        self._cache: dict[tuple[bytes, int], torch.Tensor] = {}
        self._cached_bytes = 0

    def targets(self, voxels: torch.Tensor, num_layers: int) -> torch.Tensor:
        """``(N, L, 6, R, R)`` int64 targets of grids ``(N, R, R, R)`` bool, through the cache."""
        from spacetime.shapes.models.matryoshka import shape_layer_targets

        if not self.cache_targets:
            return shape_layer_targets(voxels, num_layers)
        import hashlib

        host = voxels.detach().to("cpu", torch.bool).contiguous()
        keys = [(hashlib.blake2b(v.numpy().tobytes(), digest_size=16).digest(), num_layers)
                for v in host]
        missing = sorted({i for i, k in enumerate(keys) if k not in self._cache})
        fresh: dict[tuple[bytes, int], torch.Tensor] = {}
        if missing:
            t = shape_layer_targets(host[missing], num_layers).to(torch.int16)
            for j, i in enumerate(missing):
                fresh[keys[i]] = t[j]
                if self._cached_bytes + t[j].nbytes <= self.cache_bytes:
                    self._cache[keys[i]] = t[j]
                    self._cached_bytes += t[j].nbytes
        out = torch.stack([self._cache.get(k, fresh.get(k)) for k in keys])
        return out.to(device=voxels.device, dtype=torch.int64)

    def step(self, model, batch):
        from spacetime.shapes.losses import shape_layer_loss
        from spacetime.shapes.models.matryoshka import compose_predicted_layers

        net = _unwrap(model)
        target = resize_voxels(_key(batch, "voxels"), net.resolution) > 0.5
        tg = self.targets(target, net.num_layers)
        depths = model(_key(batch, "image"))
        loss = shape_layer_loss(depths.float(), tg, kind=self.layer_loss)
        with torch.no_grad():
            iou = _iou(compose_predicted_layers(depths.float()), target)
        return loss, {"iou": iou}

    def probabilities(self, model, x):
        from spacetime.shapes.models.matryoshka import (
            compose_predicted_layers,
            decode_shape_layers,
        )

        depths = model(x).float()
        return {"probs": compose_predicted_layers(depths).float(), "depths": depths,
                "layers": decode_shape_layers(depths)}

    def summary(self, pred):
        from spacetime.shapes.structures.layers import shape_layer_masks

        masks = shape_layer_masks(pred["layers"][:1])[0]
        return {**super().summary(pred), "num_layers": int(pred["layers"].shape[1]),
                "resolution": int(pred["layers"].shape[-1]),
                "layer_voxels": [int(m.sum()) for m in masks],
                "occupied_voxels": int(pred["probs"][0].sum())}

    def save(self, pred, out_dir):
        import numpy as np

        files = super().save(pred, out_dir)
        path = out_dir / "layers.npz"
        np.savez_compressed(path, depths=pred["layers"][0].cpu().numpy().astype(np.int16),
                            normalized=pred["depths"][0].cpu().numpy(),
                            faces=np.array(["-z", "+z", "-y", "+y", "-x", "+x"]))
        return files + [path]

    def pictures(self, pred):
        return super().pictures(pred) + [(_layer_montage(pred["layers"][0].cpu()),
                                          "layers.png", "depth")]

    def views(self, pred):
        from spacetime.shapes.structures import VoxelGrid
        from spacetime.shapes.structures.layers import shape_layer_masks

        out = super().views(pred)
        layers = pred["layers"][:1].cpu()
        r = layers.shape[-1]
        masks = shape_layer_masks(layers)[0]
        for k in range(masks.shape[0]):
            if not bool(masks[k].any()):
                continue
            op = "added" if k % 2 == 0 else "subtracted"
            grid = VoxelGrid(masks[k][None].float(), voxel_size=1.0 / r,
                             origin=(-0.5, -0.5, -0.5))
            out.append({"title": f"layer {k + 1} ({op})", "object": grid, "kind": "voxels",
                        "frame": "object", "K": None})
        return out


def _layer_montage(layers: torch.Tensor) -> torch.Tensor:
    """``(L, 6, R, R)`` depths in voxels → one ``(L·(R+1) − 1, 6·(R+1) − 1)`` float map for a
    picture (rows: layers, columns ``-z +z -y +y -x +x``); empty rays and gaps NaN, depth 0
    drawn as 1e-3 (a depth picture hides zeros)."""
    n_l, _, r, _ = layers.shape
    out = torch.full((n_l * (r + 1) - 1, 6 * (r + 1) - 1), math.nan)
    d = layers.double()
    empty = (layers[:, 0::2] + layers[:, 1::2]) >= r
    for k in range(n_l):
        for f in range(6):
            m = d[k, f].clamp(min=1e-3)
            m[empty[k, f // 2]] = math.nan
            out[k * (r + 1):k * (r + 1) + r, f * (r + 1):f * (r + 1) + r] = m
    return out


class PointsTask(ShapeTask):
    """A point set from one image (Fan et al. 2017): ``(N, P, 3)``, trained by Chamfer."""

    name = "points"
    returns = ("image", "points")

    def step(self, model, batch):
        from spacetime.shapes import losses

        pred = model(_key(batch, "image"))
        loss = losses.chamfer_loss(pred, _key(batch, "points"))
        return loss, {"chamfer": loss.detach()}

    @torch.no_grad()
    def predict(self, model, x, **options):
        return {"points": model.eval()(x)}

    def sample_metrics(self, model, batch, *, mesh_samples, thresholds, seed, occ_resolution,
                       stats):
        from spacetime.shapes.metrics import chamfer_and_f1

        pred = model(batch["image"])
        gt = batch["points"]
        ext = (gt.amax(1) - gt.amin(1)).amax(1)
        s = 10.0 / ext.clamp(min=1e-12)  # the gt-10 scale of Mesh R-CNN's protocol
        cf = chamfer_and_f1(pred * s[:, None, None], gt * s[:, None, None], list(thresholds),
                            reduction="mean")
        per = {"Chamfer-L2": cf.chamfer.cpu()}
        for j, t in enumerate(thresholds):
            per[f"F1@{t:g}"] = cf.f1[:, j].cpu()
        return per

    def save(self, pred, out_dir):
        from spacetime.shapes.io import save_pointcloud

        save_pointcloud(pred["points"][0].cpu(), out_dir / "points.ply")
        return [out_dir / "points.ply"]

    def pictures(self, pred):
        return [(pred["points"][0].cpu(), "points.png", "points")]

    def views(self, pred):
        return [{"title": "predicted points", "object": pred["points"][0].cpu(),
                 "kind": "points", "frame": "object", "K": None}]


class OccupancyTask(_SurfaceTask):
    """Occupancy networks (Mescheder et al. 2019): a field queried at points, extracted by
    coarse-to-fine marching cubes."""

    name = "occupancy"
    returns = ("image", "occupancy")

    def step(self, model, batch):
        pts, labels = _key(batch, "occ_points"), _key(batch, "occ_labels")
        logits = model(_key(batch, "image"), pts)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return loss, {"iou": _iou(logits.detach() > 0, labels.bool())}

    @torch.no_grad()
    def predict(self, model, x, *, occ_resolution: int = 64, occ_coarse_resolution: int = 16,
                **options):
        from spacetime.shapes.models.occnet import extract_mesh

        ex = extract_mesh(model.eval(), x, resolution=occ_resolution,
                          coarse_resolution=min(occ_coarse_resolution, occ_resolution))
        return {"meshes": ex.meshes, "probs": ex.probs, "num_evaluations": ex.num_evaluations,
                "dense_evaluations": ex.dense_evaluations}

    def sample_metrics(self, model, batch, *, mesh_samples, thresholds, seed, occ_resolution,
                       stats):
        out = self.predict(model, batch["image"], occ_resolution=occ_resolution)
        logits = model(batch["image"], batch["occ_points"])
        per = {"iou": _iou_each(logits > 0, batch["occ_labels"].bool()).cpu()}
        stats["num_evaluations"] = stats.get("num_evaluations", 0) + out["num_evaluations"]
        stats["dense_evaluations"] = stats.get("dense_evaluations", 0) + \
            out["dense_evaluations"]
        if batch.get("meshes") is not None:
            per.update(_mesh_metrics(out["meshes"], _meshes_of(batch),
                                     mesh_samples=mesh_samples, thresholds=thresholds,
                                     seed=seed))
        return per

    def summary(self, pred):
        return {**super().summary(pred), "network_evaluations": pred["num_evaluations"],
                "dense_evaluations": pred["dense_evaluations"]}


class MeshTask(_SurfaceTask):
    """Pixel2Mesh (Wang et al. 2018): a sphere deformed in the camera frame.

    ``use_gt_depth``: the initial sphere sits at the known object distance ``‖t‖`` in training
    and evaluation (else at the model's ``init_depth``, which the model must then correct).
    """

    name = "mesh"
    # "points" also loads the surface normals (Pixel2Mesh's normal loss)
    returns = ("image", "K", "R", "t", "points")
    needs_cameras = True

    def __init__(self, *, use_gt_depth: bool = True) -> None:
        self.use_gt_depth = bool(use_gt_depth)

    def step(self, model, batch):
        from spacetime.shapes.models.pixel2mesh import Pixel2MeshStep

        return Pixel2MeshStep(use_gt_depth=self.use_gt_depth)(model, batch)

    @torch.no_grad()
    def predict(self, model, x, *, K: Any = None, focal: float = 1.0,
                depths: torch.Tensor | None = None, **options):
        if K is None:
            K = synthetic_intrinsics(x.shape[-1], focal, n=x.shape[0], device=x.device,
                                     dtype=x.dtype)
        out = model.eval()(x, K, depths)
        return {"meshes": out.meshes[-1], "stages": out.meshes, "K": K}

    def sample_metrics(self, model, batch, *, mesh_samples, thresholds, seed, occ_resolution,
                       stats):
        from spacetime.shapes.models.pixel2mesh import camera_frame_targets

        tg = camera_frame_targets(dict(batch, meshes=_meshes_of(batch).to(
            batch["image"].device)))
        out = model(_key(batch, "image"), _key(batch, "K"),
                    tg["depths"] if self.use_gt_depth else None)
        per = _mesh_metrics(out.meshes[-1], tg["meshes"], mesh_samples=mesh_samples,
                            thresholds=thresholds, seed=seed)
        del per["empty_mesh"]  # a deformed sphere is never empty
        return per

    def summary(self, pred):
        meshes = pred["meshes"]
        return {**super().summary(pred), "frame": "camera (OpenCV: x right, y down, z forward)",
                "K": pred["K"][0].tolist(), "num_verts": int(meshes.verts_list()[0].shape[0]),
                "num_faces": int(meshes.faces_list()[0].shape[0])}

    def pictures(self, pred):
        from spacetime.shapes.structures import Meshes

        meshes = pred["meshes"].to("cpu")
        flip = torch.tensor([1.0, -1.0, -1.0])  # camera frame (y down) turned y-up
        return [(Meshes([meshes.verts_list()[0] * flip], [meshes.faces_list()[0]]),
                 "mesh.png", None)]

    def views(self, pred):
        return [{"title": "predicted mesh (camera frame)", "object": pred["meshes"].to("cpu")[0],
                 "kind": "mesh", "frame": "camera", "K": pred["K"][0].cpu()}]


#: task name → task class
SHAPE_TASKS: dict[str, type[ShapeTask]] = {
    cls.name: cls for cls in (DepthTask, NormalsTask, VoxelClassificationTask,
                              PointClassificationTask, PointSegmentationTask, VoxelsTask,
                              OctreeTask, ShapeLayersTask, PointsTask, OccupancyTask, MeshTask)
}

#: model name (:data:`~spacetime.shapes.models.SHAPE_MODEL_BUILDERS`) → task name
MODEL_TASKS: dict[str, str] = {
    "depth-fcn": "depth",
    "normal-fcn": "normals",
    "voxnet": "voxel-classification",
    "pointnet": "point-classification",
    "pointnet-seg": "point-segmentation",
    "voxel-gen": "voxels",
    "voxel-tubes": "voxels",
    "octree-gen": "octree",
    "matryoshka": "shape-layers",
    "point-gen": "points",
    "occnet": "occupancy",
    "pixel2mesh": "mesh",
}

#: task name → the :class:`~spacetime.shapes.datasets.SyntheticShapes` fields training needs
TASK_RETURNS: dict[str, tuple[str, ...]] = {k: v.returns for k, v in SHAPE_TASKS.items()}


def shape_task(name: str | ShapeTask, **options: Any) -> ShapeTask:
    """The task object of a task name (``"voxels"``) or model name (``"voxel-gen"``);
    ``options`` go to its constructor (``depth_loss`` for depth, ``use_gt_depth`` for mesh,
    ``layer_loss`` for shape layers)."""
    if isinstance(name, ShapeTask):
        return name
    task = MODEL_TASKS.get(name, name)
    check_in(task, "task", sorted(SHAPE_TASKS))
    cls = SHAPE_TASKS[task]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    return cls(**{k: v for k, v in options.items() if k in accepted})


def predict_shapes(
    model: nn.Module,
    task: str | ShapeTask,
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
    - shape layers: as voxels (``probs`` the composed grid, 0 / 1) plus ``depths``
      ``(N, L, 6, R, R)`` normalised and ``layers`` the same in whole voxels (int64);
    - points: ``points (N, P, 3)``;
    - occupancy: ``meshes``, ``probs`` and ``num_evaluations`` / ``dense_evaluations``
      (:func:`~spacetime.shapes.models.extract_mesh`);
    - mesh (Pixel2Mesh): ``meshes`` (the last stage, camera frame: OpenCV axes, units of the
      training data), ``stages`` (every stage's meshes) and ``K`` ``(N, 3, 3)``. ``K`` (pixels
      of the ``S × S`` image) defaults to the synthetic data's intrinsics ``fx = fy = focal · S``,
      ``cx = cy = (S − 1) / 2``; ``depths`` ``(N,)`` places the initial sphere (default: the
      model's ``init_depth``).
    """
    t = shape_task(task)
    if t.input_kind != "image":
        raise InputError(f"task: {t.name!r} does not predict from images")
    return t.predict(model, images, occ_resolution=occ_resolution,
                     occ_coarse_resolution=occ_coarse_resolution, K=K, focal=focal,
                     depths=depths)


@torch.no_grad()
def evaluate_shape_model(
    model: nn.Module,
    task: str | ShapeTask,
    loader: Any,
    *,
    class_names: Sequence[str],
    device: str | torch.device = "cpu",
    mesh_samples: int = 2000,
    occ_resolution: int = 32,
    thresholds: Sequence[float] = _THRESHOLDS,
    seed: int = 0,
    use_gt_depth: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on every batch of ``loader`` (collate_3d dicts with the task's fields;
    mesh tasks also need ``meshes``).

    Returns ``{"task", "num_samples", "mean": {metric: value}, "per_category": {name: {metric:
    value, "num_samples": n}}, ...}``; the means are over samples (``mean``) and within each
    category (``per_category``); ``mean_over_categories`` averages the category means.
    Classifiers also get ``majority_baseline`` (accuracy of always answering the most frequent
    class of this evaluation set). The ``mesh`` task places the initial sphere at the known
    object distance when ``use_gt_depth`` (unless ``task`` is a configured task object).
    """
    from spacetime.engine import move_to_device

    t = shape_task(task, use_gt_depth=use_gt_depth)
    model = model.to(device).eval()
    rows: list[dict[str, float]] = []
    labels: list[int] = []
    stats: dict[str, float] = {}
    for batch in loader:
        batch = move_to_device(batch, torch.device(device))
        lab = batch["label"]
        labels += [int(v) for v in lab]
        per = t.sample_metrics(model, batch, mesh_samples=mesh_samples, thresholds=thresholds,
                               seed=seed, occ_resolution=occ_resolution, stats=stats)
        for i in range(int(lab.shape[0])):
            rows.append({k: float(v[i]) for k, v in per.items()})
    return _summarise(t.name, rows, labels, list(class_names), stats)


def _nanmean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def _segmentation_summary(out: dict[str, Any], targets: list[tuple[str, torch.Tensor]]
                          ) -> dict[str, Any]:
    """ShapeNet-Part names for the means, and the majority-part baseline (every point of a
    shape labelled with its category's most frequent part in this evaluation set)."""
    from spacetime.shapes.datasets.procedural import CATEGORY_PARTS
    from spacetime.shapes.metrics import part_segmentation_metrics

    cats = [c for c, _ in targets]
    counts: dict[str, torch.Tensor] = {}
    for c, t in targets:
        counts[c] = counts.get(c, 0) + torch.bincount(t, minlength=max(CATEGORY_PARTS[c]) + 1)
    major = {c: int(v.argmax()) for c, v in counts.items()}
    base = part_segmentation_metrics([torch.full_like(t, major[c]) for c, t in targets],
                                     [t for _, t in targets], cats, CATEGORY_PARTS)
    res: dict[str, Any] = {
        "instance_mIoU": out["mean"].get("mIoU"),
        "class_mIoU": out.get("mean_over_categories", {}).get("mIoU"),
        "majority_part_baseline": {k: base[k] for k in ("accuracy", "instance_mIoU",
                                                        "class_mIoU")},
    }
    return res


def _summarise(task: str, rows: list[dict[str, float]], labels: list[int],
               class_names: list[str], stats: dict[str, float]) -> dict[str, Any]:
    keys = list(rows[0]) if rows else []
    out: dict[str, Any] = {"task": task, "num_samples": len(rows)}

    def means(sel: list[dict[str, float]]) -> dict[str, Any]:
        d: dict[str, Any] = {k: _nanmean([r[k] for r in sel]) for k in keys}
        if "empty_mesh" in d:
            d["empty_meshes"] = int(sum(r["empty_mesh"] for r in sel))
            del d["empty_mesh"]
        return d

    out["mean"] = means(rows)
    per_cat: dict[str, dict[str, Any]] = {}
    for c in sorted(set(labels)):
        name = class_names[c] if 0 <= c < len(class_names) else str(c)
        sel = [r for r, lab in zip(rows, labels) if lab == c]
        per_cat[name] = {**means(sel), "num_samples": len(sel)}
    out["per_category"] = per_cat
    if per_cat:
        out["mean_over_categories"] = {
            k: _nanmean([d[k] for d in per_cat.values()])
            for k in out["mean"] if k != "empty_meshes"
        }
    if task.endswith("classification") and labels:
        top = max(set(labels), key=labels.count)
        out["majority_baseline"] = {"class": class_names[top] if top < len(class_names)
                                    else str(top), "accuracy": labels.count(top) / len(labels)}
    if task == "point-segmentation" and stats.get("part_targets"):
        out.update(_segmentation_summary(out, stats["part_targets"]))
    if task == "occupancy" and stats.get("dense_evaluations"):
        out["network_evaluations"] = {"mise": int(stats["num_evaluations"]),
                                      "dense": int(stats["dense_evaluations"])}
    return out
