"""Benchmark: the 3D models of :mod:`spacetime.shapes.models` on CPU.

1. **Training steps/s** of every model at its default size (batch 8, 64² images, 32³ voxels,
   1024 points for PointNet / PSGN, 2048 occupancy samples), random inputs of the data's shapes
   (a procedural chair for the voxel / octree targets); forward + backward + Adam step, mean of
   a few steps after one warm-up step.
2. **Activation memory of voxel generation**, dense 3D decoder (``voxel-gen``) vs octree
   generator (``octree-gen``, 8³ base) at 32³ / 64³ / 128³: bytes of the tensors saved for the
   backward pass of one training forward (batch 1, target: the chair voxelised at that
   resolution; :func:`spacetime.shapes.models.activation_bytes`, allocator-independent). The
   octree's activations grow with the number of boundary cells, the dense decoder's with R³.
   The 2D voxel-tube decoder (``voxel-tubes``) is listed too.
3. **Occupancy-network meshing**: network evaluations of coarse-to-fine extraction (MISE-like,
   from 16³) vs dense evaluation of the ``(R + 1)³`` grid at R = 32 / 64 / 128, on the chair's
   analytic occupancy (so the level set is a real shape, not an untrained network's noise).

Run: ``python benchmarks/bm_shape_models.py`` (about two minutes on 2 cores; one torch thread
unless ``BM_THREADS`` is set).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes.datasets.procedural import make_object  # noqa: E402
from spacetime.shapes.datasets.synthetic import solid_voxels  # noqa: E402
from spacetime.shapes.models import (  # noqa: E402
    MODEL_TASKS,
    SHAPE_MODEL_BUILDERS,
    OccupancyNetwork,
    activation_bytes,
    extract_mesh,
    octree_gen,
    octree_targets,
    shape_task,
    voxel_gen,
    voxel_tubes,
)
from spacetime.shapes.models.tasks import synthetic_intrinsics  # noqa: E402

BATCH, IMAGE, VOXELS, POINTS, OCC = 8, 64, 32, 1024, 2048


def chair_voxels(res: int) -> torch.Tensor:
    obj = make_object("chair", 0)
    return solid_voxels((obj.verts.double() + 0.5) * res, obj.faces, res)


def fake_batch(task: str, g: torch.Generator) -> dict:
    vox = chair_voxels(VOXELS)[None].expand(BATCH, -1, -1, -1).clone()
    return {
        "image": torch.rand(BATCH, 3, IMAGE, IMAGE, generator=g),
        "depth": 1.5 + torch.rand(BATCH, IMAGE, IMAGE, generator=g),
        "mask": torch.rand(BATCH, IMAGE, IMAGE, generator=g) > 0.3,
        "normal_map": torch.nn.functional.normalize(
            torch.randn(BATCH, 3, IMAGE, IMAGE, generator=g), dim=1),
        "voxels": vox,
        "points": torch.rand(BATCH, POINTS, 3, generator=g) - 0.5,
        "occ_points": torch.rand(BATCH, OCC, 3, generator=g) * 1.1 - 0.55,
        "occ_labels": torch.rand(BATCH, OCC, generator=g) > 0.7,
        "label": torch.randint(0, 6, (BATCH,), generator=g),
        # cameras for the mesh task (Pixel2Mesh): the synthetic data's intrinsics, object ahead
        "K": synthetic_intrinsics(IMAGE, n=BATCH),
        "R": torch.eye(3).expand(BATCH, 3, 3),
        "t": torch.tensor([0.0, 0.0, 2.37]).expand(BATCH, 3),
        "normals": torch.nn.functional.normalize(
            torch.randn(BATCH, POINTS, 3, generator=g), dim=-1),
    }


def bench_training(steps: int = 3) -> list[tuple[str, float, int]]:
    rows = []
    for name, builder in SHAPE_MODEL_BUILDERS.items():
        torch.manual_seed(0)
        kw = {"num_classes": 6} if "num_classes" in builder.__code__.co_varnames else {}
        if name == "point-gen":
            kw["num_points"] = POINTS
        if name == "octree-gen":
            kw["resolution"] = VOXELS
        model = builder(**kw).train()
        step = shape_task(name)
        batch = fake_batch(MODEL_TASKS[name], torch.Generator().manual_seed(0))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        times = []
        for i in range(steps + 1):
            t0 = time.perf_counter()
            loss, _ = step(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        rows.append((name, 1.0 / (sum(times) / len(times)),
                     sum(p.numel() for p in model.parameters())))
    return rows


def bench_memory() -> list[tuple[int, int, int, float, float, list[int], int]]:
    rows = []
    img = torch.rand(1, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(0))
    for res in (32, 64, 128):
        vox = chair_voxels(res)[None]
        torch.manual_seed(0)
        dense = voxel_gen(resolution=res).train()
        t0 = time.perf_counter()
        _, b_dense = activation_bytes(dense, img)
        t_dense = time.perf_counter() - t0
        oct_m = octree_gen(resolution=res, base_resolution=8).train()
        targets = octree_targets(vox, 8)
        t0 = time.perf_counter()
        out, b_oct = activation_bytes(oct_m, img, targets)
        t_oct = time.perf_counter() - t0
        tubes = voxel_tubes(resolution=res).train()
        _, b_tubes = activation_bytes(tubes, img)
        rows.append((res, b_dense, b_oct, t_dense, t_oct, [c.shape[0] for c in out.coords],
                     b_tubes))
        del dense, oct_m, out, tubes
    return rows


class _ChairField(OccupancyNetwork):
    """The chair's occupancy as a 'network': logits ``-k · sdf``."""

    def __init__(self):
        super().__init__(image_size=IMAGE, hidden=8, num_blocks=1, encoder_widths=(8,),
                         latent_dim=8)
        self.obj = make_object("chair", 0)

    def encode(self, images):
        return torch.zeros(images.shape[0], self.latent_dim)

    def decode(self, points, code):
        return -200.0 * self.obj.sdf(points.double()).float()


def bench_mise() -> list[tuple[int, int, int, float, float, int]]:
    rows = []
    field = _ChairField().eval()
    img = torch.zeros(1, 3, IMAGE, IMAGE)
    for res in (32, 64, 128):
        t0 = time.perf_counter()
        ex = extract_mesh(field, img, resolution=res, coarse_resolution=16)
        t_fine = time.perf_counter() - t0
        t0 = time.perf_counter()
        dense = extract_mesh(field, img, resolution=res, coarse_resolution=16, refine=False)
        t_dense = time.perf_counter() - t0
        same = int(torch.equal(ex.probs > 0.5, dense.probs > 0.5))
        rows.append((res, ex.num_evaluations, ex.dense_evaluations, t_fine, t_dense, same))
    return rows


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU\n")
    print(f"1. training steps/s (batch {BATCH}, {IMAGE}² images, {VOXELS}³ voxels)")
    print(f"{'model':<14}{'params':>12}{'steps/s':>10}{'items/s':>10}")
    for name, sps, n in bench_training():
        print(f"{name:<14}{n:>12,}{sps:>10.2f}{sps * BATCH:>10.1f}")
    print("\n2. activation memory of one training forward (batch 1), dense vs octree")
    print(f"{'R':>5}{'dense MB':>11}{'octree MB':>11}{'ratio':>8}{'dense s':>9}{'octree s':>10}"
          f"{'tubes MB':>10}  octree cells per level")
    mem = bench_memory()
    for res, bd, bo, td, to, cells, bt in mem:
        print(f"{res:>5}{bd / 2**20:>11.1f}{bo / 2**20:>11.1f}{bd / bo:>8.1f}{td:>9.2f}"
              f"{to:>10.2f}{bt / 2**20:>10.1f}  {cells}")
    print("\n3. occupancy network meshing: network evaluations, coarse-to-fine vs dense")
    print(f"{'R':>5}{'coarse-to-fine':>16}{'dense':>12}{'ratio':>8}{'c2f s':>8}{'dense s':>9}"
          "  same inside/outside")
    for res, ev, dv, tf, td, same in bench_mise():
        print(f"{res:>5}{ev:>16,}{dv:>12,}{dv / ev:>8.1f}{tf:>8.2f}{td:>9.2f}  {bool(same)}")


if __name__ == "__main__":
    main()
