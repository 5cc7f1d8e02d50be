"""Benchmark: the synthetic 3D dataset — renderer images/s and object generation objects/s.

- ``render``: :func:`spacetime.shapes.datasets.synthetic.render_view` (our vectorised z-buffer
  rasteriser + Lambert shading with vertex colours) of one procedural object at 64², 128² and
  256², for a small mesh (bottle) and a large one (mug). Images/s = 1 / median time.
- ``trimesh rays``: the same depth map by ``trimesh``'s ray casting (its pure-Python/NumPy
  intersector, ``embreex`` is not installed here) at 64², with the share of pixels whose hit
  (mask) agrees and the max depth difference where both hit.
- ``generate``: one object with all its ground truth (mesh, 2048 points, 32³ voxels, 2048
  occupancy samples) and 4 views (image/depth/normals/mask/camera voxels) at 64², the work
  :class:`SyntheticShapes` does per object on first use. Objects/s per category.
- ``scenes``: one :class:`SyntheticScenes` scene (1-3 objects, ground, 128², voxels).

``--figures DIR`` also writes the documentation pictures (contact sheet, scale ambiguity,
fields of one item, scenes with boxes) into DIR.

Run: ``python benchmarks/bm_synthetic_3d.py [--figures docs/img]`` (one torch thread unless
``BM_THREADS`` is set).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spacetime.shapes.datasets.procedural import CATEGORIES, make_object  # noqa: E402
from spacetime.shapes.datasets.synthetic import (  # noqa: E402
    _generate_object,
    contact_sheet,
    demonstrate_scale_ambiguity,
    render_view,
    sample_view,
)


def _median_time(repeats: int, fn, *args) -> float:
    fn(*args)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_render() -> None:
    print("\n## render_view (rasteriser + shading), one image")
    print(f"{'object':<10}{'faces':>7}{'size':>7}{'ms/image':>10}{'images/s':>10}")
    for cat, seed in (("bottle", 0), ("mug", 0)):
        obj = make_object(cat, seed)
        for size in (64, 128, 256):
            K, R, t = sample_view(np.random.default_rng(1), size)
            dt = _median_time(5 if size < 256 else 3, render_view, obj, K, R, t, size)
            print(f"{cat:<10}{obj.faces.shape[0]:>7}{size:>6}²{dt * 1e3:>10.1f}{1 / dt:>10.1f}")


def bench_trimesh() -> None:
    try:
        import trimesh
    except ImportError:  # pragma: no cover
        print("\ntrimesh not installed: skipped")
        return
    print("\n## trimesh ray casting (depth only), 64²")
    print(f"{'object':<10}{'engine':<24}{'ms/image':>10}{'ours ms':>9}{'ratio':>8}"
          f"{'mask agree':>12}{'max |Δz|':>10}")
    size = 64
    for cat in ("bottle", "mug"):
        obj = make_object(cat, 0)
        K, R, t = sample_view(np.random.default_rng(1), size)
        tm = trimesh.Trimesh(obj.verts.double().numpy(), obj.faces.numpy(), process=False)
        engine = type(tm.ray).__module__.split(".")[-1]
        # rays through pixel centres, world frame
        v, u = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        Kn = K.double().numpy()
        d_cam = np.stack([(u - Kn[0, 2]) / Kn[0, 0], (v - Kn[1, 2]) / Kn[1, 1],
                          np.ones_like(u, dtype=float)], -1).reshape(-1, 3)
        Rn, tn = R.double().numpy(), t.double().numpy()
        origin = -Rn.T @ tn
        dirs = d_cam @ Rn
        origins = np.repeat(origin[None], dirs.shape[0], 0)

        t0 = time.perf_counter()
        loc, ray_idx, _ = tm.ray.intersects_location(origins, dirs, multiple_hits=False)
        dt = time.perf_counter() - t0
        ours = _median_time(5, render_view, obj, K, R, t, size)
        depth = np.zeros(size * size)
        depth[ray_idx] = (loc @ Rn.T + tn)[:, 2]
        ref = render_view(obj, K, R, t, size)
        mask_t = depth > 0
        mask_o = ref["mask"].numpy().reshape(-1)
        agree = float((mask_t == mask_o).mean())
        both = mask_t & mask_o
        dz = float(np.abs(depth[both] - ref["depth"].double().numpy().reshape(-1)[both]).max())
        print(f"{cat:<10}{engine:<24}{dt * 1e3:>10.1f}{ours * 1e3:>9.1f}{dt / ours:>7.1f}x"
              f"{agree:>12.4f}{dz:>10.2e}")


def bench_generate(categories: list[str]) -> None:
    print("\n## object generation with all ground truth (4 views at 64², G = 32)")
    cfg = {"seed": 0, "views_per_object": 4, "image_size": 64, "voxel_resolution": 32,
           "num_points": 2048, "num_occupancy_samples": 2048, "mesh_resolution": 48,
           "background": "random", "focal": 1.0}
    print(f"{'category':<10}{'faces':>7}{'s/object':>10}{'objects/s':>11}")
    total, count = 0.0, 0
    for cat in categories:
        times, faces = [], []
        for i in range(2):
            t0 = time.perf_counter()
            out = _generate_object(cfg, "train", cat, i)
            times.append(time.perf_counter() - t0)
            faces.append(out["faces"].shape[0])
        dt = statistics.mean(times)
        total += sum(times)
        count += len(times)
        print(f"{cat:<10}{int(statistics.mean(faces)):>7}{dt:>10.2f}{1 / dt:>11.2f}")
    print(f"{'all':<10}{'':>7}{total / count:>10.2f}{count / total:>11.2f}")


def bench_scenes() -> None:
    from spacetime.shapes.datasets.synthetic import _generate_scene

    print("\n## scene generation (1-3 objects on a ground plane, 128², G = 32)")
    cfg = {"seed": 0, "objects_per_scene": [1, 3], "image_size": 128, "voxel_resolution": 32,
           "mesh_resolution": 48, "background": "random", "focal": 1.0}
    t0 = time.perf_counter()
    n = 4
    for i in range(n):
        _generate_scene(cfg, "train", i, list(CATEGORIES))
    dt = (time.perf_counter() - t0) / n
    print(f"{dt:.2f} s/scene, {1 / dt:.2f} scenes/s")


def write_figures(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)

    def save(img: torch.Tensor, name: str) -> None:
        arr = (img.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(folder / name, optimize=True)
        print("wrote", folder / name, (folder / name).stat().st_size // 1024, "KB")

    save(contact_sheet(per_category=6, image_size=96, elevation_deg=25.0),
         "synthetic_3d_categories.png")

    # scale ambiguity: image and depth at (1, d) and (s, s·d)
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    d = demonstrate_scale_ambiguity("chair", scale=2.0, image_size=128, distance=1.5)

    def depth_rgb(depth, mask, lo, hi):
        s = ((depth - lo) / (hi - lo)).clamp(0, 1)
        rgb = torch.from_numpy(cmap(s.numpy())[..., :3]).float()
        return torch.where(mask[..., None], rgb, torch.ones(3))

    m1 = d["mask_1"]
    # one colour scale for both depth maps: the far, large chair is twice as deep
    lo, hi = float(d["depth_1"][m1].min()), float(d["depth_s"][m1].max())
    tiles = [d["image_1"].permute(1, 2, 0), d["image_s"].permute(1, 2, 0),
             depth_rgb(d["depth_1"], m1, lo, hi), depth_rgb(d["depth_s"], d["mask_s"], lo, hi)]
    gap = torch.ones(128, 4, 3)
    save(torch.cat([tiles[0], gap, tiles[1], gap, tiles[2], gap, tiles[3]], 1),
         "synthetic_3d_scale_ambiguity.png")

    # the fields of one view: image, depth, normal map, mask, camera-aligned voxels (max over z)
    cfg = {"seed": 0, "views_per_object": 1, "image_size": 128, "voxel_resolution": 32,
           "num_points": 2048, "num_occupancy_samples": 2048, "mesh_resolution": 48,
           "background": "noise", "focal": 1.0}
    for i in range(10):  # a mug seen from the side, handle in view (handle on +x)
        item = _generate_object(cfg, "train", "mug", i)
        eye = -item["R"][0].T @ item["t"][0]
        if abs(float(eye[2])) > 0.8 * float(eye[[0, 2]].norm()):
            break
    mask = item["mask"][0]
    dep = item["depth"][0]
    lo, hi = float(dep[mask].min()), float(dep[mask].max())
    nrm = torch.where(mask[..., None], (item["normal_map"][0].permute(1, 2, 0) + 1) / 2,
                      torch.ones(3))
    vc = item["voxels_cam"][0]
    # nearest occupied slice per column, coloured by depth index (camera-aligned grid seen
    # from the camera: it looks like the image, at 32²)
    first = torch.where(vc.any(0), vc.float().argmax(0).float(), torch.tensor(float("nan")))
    vox = depth_rgb(torch.nan_to_num(first, 0.0), vc.any(0), float(first.nan_to_num(1e9).min()),
                    float(first.nan_to_num(-1).max()))
    vox = vox.permute(2, 0, 1)[None]
    vox = torch.nn.functional.interpolate(vox, size=(128, 128), mode="nearest")[0].permute(1, 2, 0)
    tiles = [item["image"][0].permute(1, 2, 0).float() / 255, depth_rgb(dep, mask, lo, hi), nrm,
             mask[..., None].float().expand(128, 128, 3), vox]
    row = []
    for tile in tiles:
        row += [tile, gap]
    save(torch.cat(row[:-1], 1), "synthetic_3d_fields.png")

    # scenes with their boxes
    import tempfile

    from spacetime.shapes.datasets.synthetic import SyntheticScenes

    with tempfile.TemporaryDirectory() as tmp:
        scenes = SyntheticScenes(tmp, num_scenes=5, image_size=128, progress=False)
        tiles = []
        red = torch.tensor([1.0, 0.0, 0.0])[:, None]
        for i in range(len(scenes)):
            it = scenes[i]
            img = it["image"].clone()
            for b in it["boxes"]:
                x0, y0, x1, y1 = (int(float(v) + 0.5) for v in b)
                img[:, y0, x0:x1] = red
                img[:, y1 - 1, x0:x1] = red
                img[:, y0:y1, x0] = red
                img[:, y0:y1, x1 - 1] = red
            tiles += [img.permute(1, 2, 0), gap]
        save(torch.cat(tiles[:-1], 1), "synthetic_3d_scenes.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--figures", type=Path, default=None, help="write the doc pictures here")
    parser.add_argument("--categories", nargs="*", default=list(CATEGORIES))
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("BM_THREADS", "1")))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if not args.skip_bench:
        bench_render()
        bench_trimesh()
        bench_generate(args.categories)
        bench_scenes()
    if args.figures is not None:
        write_figures(args.figures)


if __name__ == "__main__":
    main()
