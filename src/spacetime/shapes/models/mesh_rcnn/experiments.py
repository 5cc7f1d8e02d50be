"""The lecture's Mesh R-CNN experiments, runnable and small by default (CPU minutes):

- :func:`edge_loss_ablation`: the same single-object model trained with the ``"best"`` (no edge
  regulariser) and ``"pretty"`` (edge weight 0.2) presets — Chamfer / normal consistency / F1
  and a count of degenerate and folded (overlapping) faces, with pictures;
- :func:`sphere_vs_voxel_init`: Pixel2Mesh's sphere initialisation vs Mesh R-CNN's cubified
  voxel initialisation on shapes with holes (mugs, chairs), same budget; the sphere keeps genus
  0 (Euler characteristic 2), cubified voxels can open the handle of a mug.

Both train on :class:`~spacetime.shapes.datasets.SyntheticShapes` through the engine and score
the training-distribution ``val`` split with the Mesh R-CNN protocol (:func:`.evaluate_single`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from spacetime.checks import check_int

__all__ = [
    "experiment_data",
    "train_single",
    "euler_characteristic",
    "mesh_genus",
    "edge_loss_ablation",
    "sphere_vs_voxel_init",
]

_RETURNS = ("image", "K", "R", "t", "points", "mesh", "voxels_cam")


def experiment_data(root: str | os.PathLike | None = None, *, categories: Sequence[str] =
                    ("chair", "mug"), objects_per_category: int = 8, views: int = 2,
                    image_size: int = 32, voxel_resolution: int = 16, seed: int = 0
                    ) -> tuple[Any, Any]:
    """``(train, val)`` :class:`~spacetime.shapes.datasets.SyntheticShapes` with everything
    both models need (images, cameras, surface samples, meshes, K-space voxels)."""
    from spacetime.shapes.datasets import SyntheticShapes

    kw = dict(categories=list(categories), views_per_object=views, image_size=image_size,
              voxel_resolution=voxel_resolution, num_points=1024, mesh_resolution=32,
              seed=seed, returns=_RETURNS, progress=False)
    train = SyntheticShapes(root, "train", num_objects_per_category=objects_per_category, **kw)
    val = SyntheticShapes(root, "val", num_objects_per_category=max(1, objects_per_category // 4),
                          **kw)
    return train, val


def train_single(model: torch.nn.Module, data: Any, step: Any, *, epochs: int = 10,
                 batch_size: int = 8, lr: float = 3e-3, seed: int = 0,
                 device: str = "cpu") -> list[dict[str, Any]]:
    """Adam through :class:`~spacetime.engine.Trainer`; returns the history."""
    from spacetime.engine import TrainConfig, Trainer, build_loader, seed_everything
    from spacetime.shapes.datasets import collate_3d

    check_int(epochs, "epochs", min_value=1)
    seed_everything(seed)
    loader = build_loader(data, batch_size, shuffle=True, seed=seed, collate_fn=collate_3d)
    cfg = TrainConfig(epochs=epochs, optimizer="adam", lr=lr, progress=False, plot=False,
                      device=device, seed=seed)
    return Trainer(model, loader, None, cfg, step_fn=step).fit()


def euler_characteristic(meshes: Any) -> torch.Tensor:
    """``V − E + F`` per mesh ``(N,)`` over referenced vertices and unique edges (2 for a
    sphere-like closed surface, 0 for a torus / mug with a handle, 2 − 2g for genus g)."""
    f = meshes.num_faces_per_mesh()
    e = meshes.num_edges_per_mesh().to(f.device)
    used = []
    for fa in meshes.faces_list():
        used.append(int(fa.unique().numel()) if fa.numel() else 0)
    return torch.tensor(used, device=f.device) - e + f


def mesh_genus(meshes: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Connected components ``c`` and genus ``g = c − χ / 2`` per mesh, both ``(N,)`` float64.

    ``c`` counts the components of the graph of referenced vertices and face edges (scipy's
    ``connected_components``). For a closed orientable 2-manifold ``g`` is the number of handles
    summed over the components (a sphere 0, a mug 1, two spheres 0); for an open or non-manifold
    mesh it is a topological summary only (it can be fractional or negative). An empty mesh has
    ``c = g = 0``.
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    chi = euler_characteristic(meshes).double().cpu()
    comps = []
    for fa in meshes.faces_list():
        if fa.numel() == 0:
            comps.append(0)
            continue
        f = fa.cpu().numpy()
        used, inv = np.unique(f, return_inverse=True)
        f = inv.reshape(f.shape)
        a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
        b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
        graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(used), len(used)))
        comps.append(connected_components(graph, directed=False)[0])
    c = torch.tensor(comps, dtype=torch.float64)
    return c, c - chi / 2


def _predict(model: Any, data: Any, n: int, use_depth: str) -> tuple[Any, Any, torch.Tensor]:
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models.pixel2mesh import camera_frame_targets

    b = collate_3d([data[i] for i in range(min(n, len(data)))])
    tg = camera_frame_targets(b)
    model.eval()
    with torch.no_grad():
        if use_depth == "range":
            out = model(b["image"], b["K"], b["depth_range"])
        else:
            out = model(b["image"], b["K"], tg["depths"])
    return out.meshes[-1], tg["meshes"], b["image"]


def _pictures(pred: Any, gt: Any, images: torch.Tensor, k: int) -> torch.Tensor:
    from spacetime.shapes.models.mesh_rcnn.viz import contact_row, second_view

    rows = []
    for i in range(min(k, len(pred))):
        rows.append(contact_row([images[i].permute(1, 2, 0), second_view(pred, i, size=128),
                                 second_view(gt, i, size=128)], 128))
    return torch.cat(rows, 0)


def edge_loss_ablation(
    data: tuple[Any, Any] | None = None,
    *,
    epochs: int = 10,
    num_samples: int = 1000,
    eval_samples: int = 2000,
    model_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Train :func:`~.single.mesh_rcnn_single` with each preset (same seed, data, budget) and
    report, per preset: ``Chamfer-L2``, ``AbsNormalConsistency``, ``F1@0.1/0.3/0.5``
    (gt-10 protocol, val split), ``degenerate_faces`` / ``folded_faces`` (mean per mesh, see
    :func:`.mesh_quality`), their shares and ``mean_edge_length``. With ``out_dir``, writes
    ``edge_ablation_<preset>.png`` (image | prediction | GT, per row)."""
    from spacetime.engine import build_loader
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models.mesh_rcnn.evaluation import evaluate_single, mesh_quality
    from spacetime.shapes.models.mesh_rcnn.losses import MeshRCNNStep
    from spacetime.shapes.models.mesh_rcnn.single import mesh_rcnn_single
    from spacetime.shapes.models.mesh_rcnn.viz import save_png

    train, val = experiment_data() if data is None else data
    kw = dict(image_size=train[0]["image"].shape[-1], widths=(8, 16, 32, 32), grid_size=16,
              voxel_hidden=16, hidden_dim=32, num_stages=2, num_convs=2)
    kw.update(model_kwargs or {})
    res: dict[str, dict[str, float]] = {}
    for preset in ("best", "pretty"):
        torch.manual_seed(seed)
        model = mesh_rcnn_single(**kw)
        train_single(model, train, MeshRCNNStep(preset=preset, num_samples=num_samples),
                     epochs=epochs, seed=seed, device=device)
        model = model.cpu()
        evl = build_loader(val, 8, collate_fn=collate_3d)
        ev = evaluate_single(model, evl, num_samples=eval_samples)
        pred, gt, images = _predict(model, val, len(val), "range")
        q = mesh_quality(pred)
        edges = pred.edges_packed()
        v = pred.verts_packed()
        row = {k: ev[k] for k in ("Chamfer-L2", "AbsNormalConsistency", "F1@0.1", "F1@0.3",
                                  "F1@0.5")}
        row.update({k: float(q[k].double().mean()) for k in q})
        row["mean_edge_length"] = float((v[edges[:, 0]] - v[edges[:, 1]]).norm(dim=1).mean())
        res[preset] = row
        if out_dir is not None:
            from pathlib import Path

            Path(out_dir).mkdir(parents=True, exist_ok=True)
            save_png(_pictures(pred, gt, images, 4), Path(out_dir) / f"edge_ablation_{preset}.png")
    return res


def sphere_vs_voxel_init(
    data: tuple[Any, Any] | None = None,
    *,
    epochs: int = 10,
    num_samples: int = 1000,
    eval_samples: int = 2000,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Pixel2Mesh (sphere init, :func:`~spacetime.shapes.models.pixel2mesh`) vs single-object
    Mesh R-CNN (voxel init) with the same encoder, refinement width and budget, on shapes with
    holes. Per model: the gt-10 metrics overall and per category (``"mug/F1@0.3"`` …) and
    the topology of the val predictions (means of ``euler_characteristic``, ``components``,
    ``genus`` of :func:`mesh_genus`, and ``with_handle``, the fraction with genus ≥ 1; the
    ground truth's alongside as ``"gt"``)."""
    from spacetime.engine import build_loader
    from spacetime.shapes.datasets import collate_3d
    from spacetime.shapes.models.mesh_rcnn.evaluation import evaluate_single
    from spacetime.shapes.models.mesh_rcnn.losses import MeshRCNNStep
    from spacetime.shapes.models.mesh_rcnn.single import mesh_rcnn_single
    from spacetime.shapes.models.mesh_rcnn.viz import save_png
    from spacetime.shapes.models.pixel2mesh import Pixel2MeshStep, pixel2mesh

    train, val = experiment_data() if data is None else data
    s = train[0]["image"].shape[-1]
    common = dict(image_size=s, widths=(8, 16, 32, 32), hidden_dim=32, num_convs=2)
    models = {
        "sphere-init (Pixel2Mesh)": (pixel2mesh(**common, init_level=2),
                                     Pixel2MeshStep(num_samples=num_samples, edge_weight=0.2,
                                                    laplacian_weight=0.0), "depth"),
        "voxel-init (Mesh R-CNN)": (mesh_rcnn_single(**common, grid_size=16, voxel_hidden=16,
                                                     num_stages=3),
                                    MeshRCNNStep(preset="pretty", num_samples=num_samples),
                                    "range"),
    }
    res: dict[str, dict[str, float]] = {}
    gt_topology: dict[str, float] = {}
    for name, (model, step, depth) in models.items():
        torch.manual_seed(seed)
        train_single(model, train, step, epochs=epochs, seed=seed, device=device)
        model = model.cpu()
        evl = build_loader(val, 8, collate_fn=collate_3d)
        if depth == "depth":
            from spacetime.shapes.models.pixel2mesh import evaluate_pixel2mesh

            ev = evaluate_pixel2mesh(model, evl, num_samples=eval_samples)
            ev.update(_per_category_p2m(model, val, eval_samples))
        else:
            ev = evaluate_single(model, evl, num_samples=eval_samples)
        pred, gt, images = _predict(model, val, len(val), depth)
        row = {k: float(v) for k, v in ev.items() if k != "num_samples"}
        row.update(_topology(pred))
        gt_topology = _topology(gt)
        res[name] = row
        if out_dir is not None:
            from pathlib import Path

            Path(out_dir).mkdir(parents=True, exist_ok=True)
            tag = "sphere" if depth == "depth" else "voxel"
            save_png(_pictures(pred, gt, images, 4), Path(out_dir) / f"init_{tag}.png")
    res["gt"] = gt_topology
    return res


def _topology(meshes: Any) -> dict[str, float]:
    c, g = mesh_genus(meshes)
    return {"euler_characteristic": float(euler_characteristic(meshes).double().mean()),
            "components": float(c.mean()), "genus": float(g.mean()),
            "with_handle": float((g >= 1).double().mean())}


def _per_category_p2m(model: Any, val: Any, eval_samples: int) -> dict[str, float]:
    """Per-category gt-10 metrics of a Pixel2Mesh model (its evaluator reports means only)."""
    from spacetime.shapes.metrics import compare_meshes

    pred, gt, _ = _predict(model, val, len(val), "depth")
    cm = compare_meshes(pred, gt, num_samples=eval_samples)
    cats = [val[i]["category"] for i in range(len(val))]
    out: dict[str, float] = {}
    for c in sorted(set(cats)):
        idx = torch.tensor([i for i, x in enumerate(cats) if x == c])
        for k, v in cm.items():
            out[f"{c}/{k}"] = float(v[idx].double().mean())
    return out
