"""Benchmark: Mesh R-CNN (:mod:`spacetime.shapes.models.mesh_rcnn`) on CPU.

1. **Training steps/s** at the default sizes: single-object mode (``mesh_rcnn_single()``: 64²
   images, 24³ voxels, 3 refinement stages of width 64, batch 8) next to the voxel-only model and
   Pixel2Mesh (``pixel2mesh()``, sphere init) on the same batch; scene mode (``mesh_rcnn()``
   with the tiny backbone, 128² synthetic scenes with 1–3 objects, batch 4, detector + shape
   heads). Forward + backward + Adam step on real synthetic batches, mean over a few steps
   after one warm-up step.
2. **Edge-loss ablation** (lecture): the single-object model trained with the ``"best"`` (no
   edge loss) and ``"pretty"`` (edge weight 0.2) presets, same seed / data / budget: gt-10
   Chamfer-L2, |normal consistency|, F1@0.1/0.3/0.5 on the val split, and the share of
   degenerate and folded faces (adjacent normals > 120° apart).
3. **Sphere-init vs voxel-init** (lecture) on shapes with holes (mugs, chairs): Pixel2Mesh vs
   Mesh R-CNN, same encoder and budget; per-category F1@0.3 and the Euler characteristic of the
   predictions (a sphere deformation keeps χ = 2).

Experiments 2–3 are tiny by default (32² images, 16 objects × 2 views, ``--epochs 10``):
run ``python benchmarks/bm_mesh_rcnn.py [--epochs N] [--objects N] [--out DIR]`` (a few minutes
on 2 cores; one torch thread unless ``BM_THREADS`` is set). ``--out`` saves the pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes.datasets import SyntheticScenes, SyntheticShapes, collate_3d  # noqa: E402
from spacetime.shapes.models.mesh_rcnn import (  # noqa: E402
    MeshRCNNSceneStep,
    MeshRCNNStep,
    collate_scenes,
    edge_loss_ablation,
    experiment_data,
    mesh_rcnn,
    mesh_rcnn_single,
    sphere_vs_voxel_init,
)
from spacetime.shapes.models.pixel2mesh import Pixel2MeshStep, pixel2mesh  # noqa: E402


def steps_per_s(model: torch.nn.Module, step, batch, n: int = 3) -> float:
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    model.train()

    def one() -> None:
        opt.zero_grad()
        loss, _ = step(model, batch)
        loss.backward()
        opt.step()

    torch.manual_seed(0)
    one()
    t = time.perf_counter()
    for _ in range(n):
        one()
    return n / (time.perf_counter() - t)


def bench_speed(cache: Path) -> None:
    print("\n1. training steps/s on CPU (forward + backward + Adam)")
    ds = SyntheticShapes(cache, "train", categories=["chair", "mug"], num_objects_per_category=4,
                         views_per_object=2, image_size=64, voxel_resolution=24,
                         returns=("image", "K", "R", "t", "points", "mesh", "voxels_cam"),
                         progress=False)
    batch = collate_3d([ds[i] for i in range(8)])
    rows = []
    torch.manual_seed(0)
    rows.append(("Mesh R-CNN single (64², 24³, 3 stages)", 8,
                 steps_per_s(mesh_rcnn_single(), MeshRCNNStep(num_samples=2000), batch)))
    rows.append(("  voxel-only (num_stages=0)", 8,
                 steps_per_s(mesh_rcnn_single(num_stages=0), MeshRCNNStep(), batch)))
    rows.append(("Pixel2Mesh (64², 3 stages, 2562 verts)", 8,
                 steps_per_s(pixel2mesh(), Pixel2MeshStep(num_samples=2000), batch)))
    sc = SyntheticScenes(cache, "train", num_scenes=4, image_size=128, progress=False)
    sb = collate_scenes([sc[i] for i in range(4)])
    rows.append(("Mesh R-CNN scenes (tiny Mask R-CNN, 128²)", 4,
                 steps_per_s(mesh_rcnn(num_classes=len(sc.class_names)), MeshRCNNSceneStep(),
                             sb)))
    base = rows[0][2]
    print(f"{'model':44s}{'batch':>6s}{'steps/s':>10s}{'img/s':>9s}{'vs single':>11s}")
    for name, b, s in rows:
        print(f"{name:44s}{b:6d}{s:10.2f}{s * b:9.1f}{s / base:10.2f}x")


def bench_ablation(data, epochs: int, out: str | None) -> None:
    print(f"\n2. edge-loss ablation, single-object mode ({epochs} epochs, "
          f"{len(data[0])} train / {len(data[1])} val views)")
    t = time.perf_counter()
    res = edge_loss_ablation(data, epochs=epochs, out_dir=out)
    keys = ["Chamfer-L2", "AbsNormalConsistency", "F1@0.1", "F1@0.3", "F1@0.5",
            "degenerate_share", "folded_share", "mean_edge_length"]
    print(f"{'preset':8s}" + "".join(f"{k:>22s}" for k in keys))
    for preset, row in res.items():
        print(f"{preset:8s}" + "".join(f"{row[k]:22.4f}" for k in keys))
    b, p = res["best"], res["pretty"]
    print(f"pretty / best: Chamfer {p['Chamfer-L2'] / b['Chamfer-L2']:.2f}x, folded faces "
          f"{p['folded_share'] / max(b['folded_share'], 1e-9):.2f}x "
          f"({time.perf_counter() - t:.0f} s)")


def bench_init(data, epochs: int, out: str | None) -> None:
    print(f"\n3. sphere-init vs voxel-init on mugs and chairs ({epochs} epochs)")
    t = time.perf_counter()
    res = sphere_vs_voxel_init(data, epochs=epochs, out_dir=out)
    keys = ["Chamfer-L2", "F1@0.3", "F1@0.5", "mug/F1@0.3", "chair/F1@0.3",
            "euler_characteristic"]
    print(f"{'model':26s}" + "".join(f"{k:>22s}" for k in keys))
    for name, row in res.items():
        print(f"{name:26s}" + "".join(
            f"{row[k]:22.4f}" if k in row else f"{'':>22s}" for k in keys))
    print(f"({time.perf_counter() - t:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--objects", type=int, default=8, help="objects per category (train)")
    ap.add_argument("--out", default=None, help="folder for the experiment pictures")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        if not args.skip_speed:
            bench_speed(cache)
        data = experiment_data(cache / "exp", objects_per_category=args.objects)
        bench_ablation(data, args.epochs, args.out)
        bench_init(data, args.epochs, args.out)


if __name__ == "__main__":
    main()
