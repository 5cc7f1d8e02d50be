"""Benchmark: nested shape layers (``matryoshka``) vs dense voxel output (``voxel-gen``, 3D
decoder; ``voxel-tubes``, 2D decoder) at R = 32 / 64 / 128, default widths, CPU.

Per resolution and model: parameters; the network output per shape (numbers and bytes, float32:
``L · 6 · R²`` for 3 layers vs ``R³``); activation memory of one training forward at batch 1
(bytes of the tensors saved for backward, :func:`spacetime.shapes.models.activation_bytes`,
allocator-independent); forward + backward time at batch 4 (mean of 3 after a warm-up); and
the cost of the training targets (nested decomposition of a procedural chair, per shape).

Run: ``python benchmarks/bm_matryoshka.py`` (about a minute on 2 cores; one torch thread unless
``BM_THREADS`` is set).
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
    SHAPE_MODEL_BUILDERS,
    activation_bytes,
    shape_layer_targets,
)


def _chair(r: int) -> torch.Tensor:
    """The procedural chair of ``bm_shape_models.py``, voxelised at ``r³``: ``(1, r, r, r)``."""
    obj = make_object("chair", 0)
    return solid_voxels((obj.verts.double() + 0.5) * r, obj.faces, r)[None]


def _time(fn, reps: int = 3) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    torch.manual_seed(0)
    print("model        R   params      output/shape        activations  fwd+bwd (batch 4)")
    for r in (32, 64, 128):
        for name in ("matryoshka", "voxel-gen", "voxel-tubes"):
            m = SHAPE_MODEL_BUILDERS[name](resolution=r)
            n_par = sum(p.numel() for p in m.parameters())
            x1 = torch.rand(1, 3, 64, 64)
            y, act = activation_bytes(m, x1)
            x4 = torch.rand(4, 3, 64, 64)

            def step(m=m, x4=x4):
                m.zero_grad()
                m(x4).float().mean().backward()

            t = _time(step) if not (name == "voxel-gen" and r == 128) else float("nan")
            print(f"{name:12s} {r:3d} {n_par:10,d} {y[0].numel():10,d} "
                  f"({y[0].numel() * 4 / 2**20:6.2f} MiB) {act / 2**20:9.1f} MiB "
                  f"{t * 1000:10.0f} ms")
        g = _chair(r)
        k = shape_layer_targets(g, 3)
        dt = _time(lambda g=g: shape_layer_targets(g, 3))
        print(f"targets (chair, 3 layers) at {r}³: {dt * 1000:.1f} ms per shape, "
              f"dense/layers output ratio {r ** 3 / k[0].numel():.1f}×")


if __name__ == "__main__":
    main()
