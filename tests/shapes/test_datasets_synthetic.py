"""Tests for the built-in synthetic 3D dataset (procedural objects, rendering, ground truth)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spacetime.errors import FileFormatError, InputError
from spacetime.shapes.convert import (
    depth_to_normals,
    depth_to_points_dense,
    mesh_distance,
    mesh_occupancy,
    voxelize_mesh,
)
from spacetime.shapes.datasets import collate_3d
from spacetime.shapes.datasets.procedural import CATEGORIES, make_object
from spacetime.shapes.datasets.synthetic import (
    SYNTHETIC_RETURNS,
    SyntheticShapes,
    camera_aligned_voxels,
    demonstrate_scale_ambiguity,
    occupancy_samples,
    render_view,
    sample_view,
    solid_voxels,
)
from spacetime.shapes.structures import Meshes, look_at

TINY = dict(
    num_objects_per_category=1,
    views_per_object=2,
    image_size=32,
    voxel_resolution=16,
    num_points=128,
    num_occupancy_samples=128,
    mesh_resolution=32,
    progress=False,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return SyntheticShapes(tmp_path_factory.mktemp("synth_a"), **TINY)


def _edge_counts(faces: torch.Tensor) -> torch.Tensor:
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).sort(1).values
    _, counts = torch.unique(e, dim=0, return_counts=True)
    return counts


# ----------------------------------------------------------------------------- objects
@pytest.mark.parametrize("category", CATEGORIES)
def test_make_object_canonical_closed(category):
    obj = make_object(category, 3)
    v, f, c = obj.verts, obj.faces, obj.verts_colors
    assert v.dtype == torch.float32 and f.dtype == torch.int64 and c.shape == v.shape
    ext = v.amax(0) - v.amin(0)
    assert abs(float(ext.max()) - 1.0) < 1e-5
    assert torch.allclose((v.amax(0) + v.amin(0)) / 2, torch.zeros(3), atol=1e-5)
    assert bool(((c >= 0) & (c <= 1)).all())
    assert int(f.min()) >= 0 and int(f.max()) < v.shape[0]
    # closed 2-manifold edges: every edge is shared by exactly two faces
    assert bool((_edge_counts(f) == 2).all())
    # outward winding: positive signed volume
    tri = v.double()[f]
    vol = (tri[:, 0] * torch.linalg.cross(tri[:, 1], tri[:, 2], dim=-1)).sum() / 6
    assert float(vol) > 0
    # the normalised SDF agrees with the mesh surface (zero on the vertices, to MC accuracy)
    assert float(obj.sdf(v.double()).abs().max()) < 2 * obj.grid_spacing


def test_make_object_variation_and_seed():
    a, b, c = make_object("chair", 0), make_object("chair", 0), make_object("chair", 1)
    assert torch.equal(a.verts, b.verts) and torch.equal(a.verts_colors, b.verts_colors)
    assert a.verts.shape != c.verts.shape or not torch.equal(a.verts, c.verts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mug_has_genus_one(seed):
    obj = make_object("mug", seed)
    f = obj.faces
    counts = _edge_counts(f)
    assert bool((counts == 2).all())
    V, E, F = obj.verts.shape[0], counts.numel(), f.shape[0]
    assert V - E + F == 0  # closed, connected, genus 1


def test_make_object_bad_input():
    with pytest.raises(InputError, match="category"):
        make_object("cat", 0)
    with pytest.raises(InputError, match="resolution"):
        make_object("mug", 0, resolution=2)
    with pytest.raises(InputError, match="seed"):
        make_object("mug", -1)
    with pytest.raises(InputError, match="seed"):
        make_object("mug", 1.5)


# ----------------------------------------------------------------------------- dataset
def test_fields_shapes_dtypes(tiny):
    assert len(tiny) == len(CATEGORIES) * 2
    assert tiny.class_names == list(CATEGORIES)
    S, G = TINY["image_size"], TINY["voxel_resolution"]
    item = tiny[0]
    expect = {
        "image": ((3, S, S), torch.float32),
        "depth": ((S, S), torch.float32),
        "normal_map": ((3, S, S), torch.float32),
        "mask": ((S, S), torch.bool),
        "K": ((3, 3), torch.float32),
        "R": ((3, 3), torch.float32),
        "t": ((3,), torch.float32),
        "points": ((TINY["num_points"], 3), torch.float32),
        "normals": ((TINY["num_points"], 3), torch.float32),
        "voxels": ((G, G, G), torch.bool),
        "voxels_cam": ((G, G, G), torch.bool),
        "depth_range": ((2,), torch.float32),
        "occ_points": ((TINY["num_occupancy_samples"], 3), torch.float32),
        "occ_labels": ((TINY["num_occupancy_samples"],), torch.bool),
    }
    for k, (shape, dtype) in expect.items():
        assert tuple(item[k].shape) == shape, k
        assert item[k].dtype == dtype, k
    assert item["verts"].ndim == 2 and item["faces"].dtype == torch.int64
    assert item["verts_colors"].shape == item["verts"].shape
    assert item["label"] == 0 and item["category"] == "chair" and item["view"] == 0
    assert float(item["image"].min()) >= 0 and float(item["image"].max()) <= 1
    n = item["normal_map"].norm(dim=0)
    assert torch.allclose(n[item["mask"]], torch.ones(()), atol=1e-4)
    assert (
        float(n[~item["mask"]].abs().max()) == 0 and float(item["depth"][~item["mask"]].max()) == 0
    )
    assert torch.allclose(item["normals"].norm(dim=1), torch.ones(()), atol=1e-4)


def test_every_category_renders(tiny):
    for k in range(len(tiny)):
        item = tiny[k]
        frac = float(item["mask"].float().mean())
        assert 0.02 < frac < 0.9, (item["category"], frac)
        m = item["mask"]
        # the object stays inside the frame (borders empty)
        assert not bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())
        assert item["voxels"].any() and item["voxels_cam"].any()


def test_deterministic_and_nested(tiny, tmp_path):
    other = SyntheticShapes(tmp_path / "b", categories=["mug", "lamp"], **TINY)
    assert other.class_names == ["mug", "lamp"]
    for j in range(len(other)):
        a = other[j]
        b = tiny[CATEGORIES.index(a["category"]) * 2 + a["view"]]
        for k, v in a.items():
            if isinstance(v, torch.Tensor):
                assert torch.equal(v, b[k]), k
    third = SyntheticShapes(tmp_path / "c", categories=["mug"], seed=1, **TINY)
    assert not torch.equal(third[0]["verts"][:10], other[0]["verts"][:10])
    val = SyntheticShapes(tmp_path / "c", split="val", categories=["mug"], **TINY)
    assert not torch.equal(val[0]["image"], other[0]["image"])


def test_cache_reused_and_corrupt_file(tmp_path, monkeypatch):
    ds = SyntheticShapes(tmp_path, categories=["bottle"], **TINY)
    import spacetime.shapes.datasets.synthetic as synth

    def boom(*a, **k):
        raise AssertionError("regenerated")

    monkeypatch.setattr(synth, "_generate_object", boom)
    again = SyntheticShapes(tmp_path, categories=["bottle"], **TINY)
    assert torch.equal(again[1]["depth"], ds[1]["depth"])
    assert (again.root / "config.json").is_file()
    assert not list(again.root.rglob("*.tmp*"))
    path = again.root / "train" / "bottle_00000.pt"
    path.write_bytes(path.read_bytes()[:100])
    fresh = SyntheticShapes(tmp_path, categories=["bottle"], **TINY)
    with pytest.raises(FileFormatError, match="bottle_00000"):
        fresh[0]


def test_returns_subset(tmp_path, tiny):
    ds = SyntheticShapes(tiny.root.parent, categories=["table"], returns=("image", "mesh"), **TINY)
    item = ds[0]
    assert {"image", "verts", "faces", "verts_colors", "label"} <= set(item)
    assert "depth" not in item and "voxels" not in item
    assert ds[-1]["view"] == 1
    alias = SyntheticShapes(tiny.root.parent, categories=["table"], returns=("normals",
                                                                                "normals3d"),
                            **TINY)
    assert {"normal_map", "points", "normals"} <= set(alias[0]) and "image" not in alias[0]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="split"):
        SyntheticShapes(tmp_path, split="dev", **TINY)
    with pytest.raises(InputError, match="categories"):
        SyntheticShapes(tmp_path, categories=["sofa"], **TINY)
    with pytest.raises(InputError, match="categories"):
        SyntheticShapes(tmp_path, categories=[], **TINY)
    with pytest.raises(InputError, match="returns"):
        SyntheticShapes(tmp_path, returns=("normals4d",), **TINY)
    bad = dict(TINY, image_size=0)
    with pytest.raises(InputError, match="image_size"):
        SyntheticShapes(tmp_path, **bad)
    with pytest.raises(InputError, match="background"):
        SyntheticShapes(tmp_path, background="sky", **TINY)
    assert not list(tmp_path.iterdir())  # nothing written on bad input


def test_collate(tiny):
    batch = collate_3d([tiny[0], tiny[3], tiny[6]])
    assert batch["image"].shape == (3, 3, 32, 32)
    assert len(batch["meshes"]) == 3 and len(batch["pointclouds"]) == 3
    assert batch["label"].tolist() == [0, 1, 3]
    assert batch["voxels_cam"].shape == (3, 16, 16, 16)


# ----------------------------------------------------------------------------- GT consistency
def test_depth_backprojects_onto_mesh(tiny):
    for k in (4, 9):  # a lamp and an airplane
        item = tiny[k]
        pts, valid = depth_to_points_dense(item["depth"][None], item["K"][None])
        cam = pts[0][valid[0]].double()
        world = (cam - item["t"].double()) @ item["R"].double()
        mesh = Meshes([item["verts"].double()], [item["faces"]])
        d = mesh_distance(mesh, [world])[0]
        assert float(d.max()) < 1e-3, (item["category"], float(d.max()))


def test_normal_map_matches_depth_normals(tiny):
    item = tiny[6]  # a mug: large smooth regions
    n_depth, valid = depth_to_normals(item["depth"][None], item["K"][None], mask=item["mask"][None])
    nm = item["normal_map"]
    # interior pixels only (all 8 neighbours on the object)
    m = item["mask"].float()[None, None]
    interior = torch.nn.functional.avg_pool2d(m, 3, 1, 1)[0, 0] > 0.999
    sel = valid[0] & interior
    cos = (n_depth[0] * nm).sum(0)[sel]
    assert sel.sum() > 20
    assert float(cos.median()) > 0.95


def test_voxels_match_voxelize_mesh(tiny):
    item = tiny[10]  # a bottle
    G = TINY["voxel_resolution"]
    mesh = Meshes([item["verts"]], [item["faces"]])
    ref = voxelize_mesh(mesh, G, mode="solid", bounds=(-0.5, 0.5)).grid[0] > 0.5
    assert torch.equal(item["voxels"], ref)  # same definition: surface ∪ centres inside


def test_camera_voxels_reference(tiny):
    item = tiny[11]  # a bottle
    G, S = TINY["voxel_resolution"], TINY["image_size"]
    near, far = item["depth_range"].double().tolist()
    K, R, t = item["K"].double(), item["R"].double(), item["t"].double()
    # slow reference: back-project every voxel centre, label it by the winding number
    c = torch.arange(G, dtype=torch.float64) + 0.5
    zz, yy, xx = torch.meshgrid(c, c, c, indexing="ij")
    u = xx * S / G - 0.5
    v = yy * S / G - 0.5
    Z = near + zz * (far - near) / G
    cam = torch.stack([(u - K[0, 2]) / K[0, 0] * Z, (v - K[1, 2]) / K[1, 1] * Z, Z], -1)
    world = (cam.reshape(-1, 3) - t) @ R
    mesh = Meshes([item["verts"].double()], [item["faces"]])
    # winding numbers only in columns near the rendered silhouette (the rest sees no object)
    pooled = torch.nn.functional.max_pool2d(item["mask"].float()[None, None], S // G)
    near_sil = torch.nn.functional.max_pool2d(pooled, 5, 1, 2)[0, 0] > 0
    cols = near_sil[None].expand(G, G, G).reshape(-1)
    inside = torch.zeros(G**3, dtype=torch.bool)
    mesh32 = Meshes([item["verts"]], [item["faces"]])
    inside[cols] = mesh_occupancy(mesh32, [world[cols].float()])[0]
    inside = inside.reshape(G, G, G)
    vc = item["voxels_cam"]
    assert inside.any()
    recall = float((inside & vc).sum() / inside.sum())
    assert recall > 0.98, recall
    # occupied voxels that are not inside at their centre must be near the surface
    extra = vc & ~inside
    d = mesh_distance(mesh, [world[extra.reshape(-1)]])[0]
    cell = (far - near) / G
    assert float(d.max()) < 1.5 * max(cell, far / K[0, 0] * S / G)
    # the grid's silhouette covers the mask (pooled to G × G), within one voxel of it
    sil = vc.any(0)
    assert bool(sil[pooled[0, 0] > 0].all())
    grown = torch.nn.functional.max_pool2d(pooled, 3, 1, 1)[0, 0] > 0
    assert bool(grown[sil].all())


def test_occupancy_labels_are_winding_numbers(tiny):
    for k in (0, 6):
        item = tiny[k]
        mesh = Meshes([item["verts"]], [item["faces"]])
        ref = mesh_occupancy(mesh, [item["occ_points"]])[0]
        assert torch.equal(ref, item["occ_labels"])
        p = item["occ_points"]
        assert float(p.abs().max()) < 0.6
        assert 0.05 < float(item["occ_labels"].float().mean()) < 0.7


def test_occupancy_samples_shortcut_equals_full():
    obj = make_object("mug", 5, resolution=32)
    g = torch.Generator().manual_seed(0)
    pts, lab = occupancy_samples(
        obj.verts, obj.faces, 300, g, sdf=obj.sdf, band=2 * obj.grid_spacing
    )
    full = mesh_occupancy(Meshes([obj.verts], [obj.faces]), [pts])[0]
    assert torch.equal(lab, full)
    empty_pts, empty_lab = occupancy_samples(obj.verts, obj.faces, 0, g)
    assert empty_pts.shape == (0, 3) and empty_lab.shape == (0,)


def test_solid_voxels_box_reference():
    # a box spanning voxels [2, 5) x [1, 4) x [3, 7) in index units (slightly inside)
    from spacetime.shapes.convert import box_mesh

    m = box_mesh((2.8, 2.8, 3.8), dtype=torch.float64)
    v = m.verts_list()[0] + torch.tensor([3.5, 2.5, 5.0], dtype=torch.float64)
    vox = solid_voxels(v, m.faces_list()[0], 8)
    ref = torch.zeros(8, 8, 8, dtype=torch.bool)
    ref[3:7, 1:4, 2:5] = True
    assert torch.equal(vox, ref)


def test_solid_voxels_edge_cases():
    empty = solid_voxels(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.int64), 4)
    assert empty.shape == (4, 4, 4) and not empty.any()
    # a box partly outside the grid: the part inside is filled, nothing wraps around
    from spacetime.shapes.convert import box_mesh

    m = box_mesh(4.0, dtype=torch.float64)
    vox = solid_voxels(m.verts_list()[0] + 5.0, m.faces_list()[0], 6)  # spans [3, 7]³
    ref = torch.zeros(6, 6, 6, dtype=torch.bool)
    ref[3:, 3:, 3:] = True
    assert torch.equal(vox, ref)
    with pytest.raises(InputError, match="verts_idx"):
        solid_voxels(torch.zeros(3, 2), torch.zeros(1, 3, dtype=torch.int64), 4)


def test_camera_aligned_voxels_bad_input():
    obj = make_object("bottle", 0, resolution=16)
    K, R, t = sample_view(np.random.default_rng(0), 32)
    with pytest.raises(InputError, match="depth_range"):
        camera_aligned_voxels(obj.verts, obj.faces, K, R, t, 32, (2.0, 1.0), 8)


# ----------------------------------------------------------------------------- rendering
def test_scale_ambiguity_exact_for_power_of_two():
    d = demonstrate_scale_ambiguity("chair", scale=2.0, image_size=48)
    assert d["mask_1"].any()
    assert torch.equal(d["mask_1"], d["mask_s"])
    assert torch.equal(d["image_1"], d["image_s"])
    assert torch.equal(d["depth_s"], 2.0 * d["depth_1"])
    assert d["max_image_diff"] == 0.0 and d["max_depth_ratio_error"] == 0.0


def test_scale_ambiguity_other_scales():
    d = demonstrate_scale_ambiguity("mug", scale=3.7, image_size=48, azimuth_deg=-50)
    same = d["mask_1"] == d["mask_s"]
    assert float(same.float().mean()) > 0.995
    both = d["mask_1"] & d["mask_s"]
    assert torch.allclose(d["depth_s"][both], 3.7 * d["depth_1"][both], rtol=1e-5)
    assert torch.allclose(d["image_s"][:, both], d["image_1"][:, both], atol=1e-4)


def test_render_view_backgrounds_and_plain_mesh():
    obj = make_object("table", 0, resolution=24)
    ext = look_at((0.0, 1.0, 2.5))
    K = torch.tensor([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]])
    plain = Meshes([obj.verts], [obj.faces])
    r = render_view(plain, K, ext.R[0], ext.t[0], 32, background=(1.0, 0.0, 0.0))
    assert r["mask"].any() and not r["mask"].all()
    assert torch.equal(
        r["image"][:, ~r["mask"]],
        torch.tensor([1.0, 0, 0])[:, None].expand(3, int((~r["mask"]).sum())),
    )
    r2 = render_view(obj, K, ext.R[0], ext.t[0], (32, 40))
    assert r2["image"].shape == (3, 32, 40)
    with pytest.raises(InputError, match="image_size"):
        render_view(obj, K, ext.R[0], ext.t[0], (32,))
    with pytest.raises(InputError, match="mesh"):
        render_view("mesh", K, ext.R[0], ext.t[0], 32)
    with pytest.raises(InputError, match="background"):
        render_view(obj, K, ext.R[0], ext.t[0], 32, background=(1.0, 0.0))
    tex = torch.rand(3, 32, 32)
    r3 = render_view(obj, K, ext.R[0], ext.t[0], 32, background=tex)
    assert torch.equal(r3["image"][:, ~r3["mask"]], tex[:, ~r3["mask"]])


def test_sample_view_fits_bounding_sphere():
    rng = np.random.default_rng(0)
    for _ in range(20):
        K, R, t = sample_view(rng, 64, radius=0.7)
        assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5)
        dist = float(t.norm())
        half_fov = math.atan(0.5 / 1.0)
        assert dist >= 0.7 / math.sin(half_fov) - 1e-4
        up_cam = R @ torch.tensor([0.0, 1.0, 0.0])
        assert float(up_cam[1]) < 0  # world up points up in the image (-y)


def test_returns_constant():
    assert set(SYNTHETIC_RETURNS) >= {"image", "depth", "mask", "voxels_cam", "occupancy"}


def test_contact_sheet():
    from spacetime.shapes.datasets.synthetic import contact_sheet

    img = contact_sheet(["mug", "bottle"], 2, 24, mesh_resolution=16)
    assert img.shape == (48, 48, 3)
    assert float(img.min()) >= 0 and float(img.max()) <= 1 and float(img.min()) < 0.9
    with pytest.raises(InputError, match="categories"):
        contact_sheet(["sofa"])


# ----------------------------------------------------------------------------- scenes
SCENES = dict(num_scenes=2, image_size=48, voxel_resolution=8, mesh_resolution=24,
              progress=False)


def test_scenes_fields_and_consistency(tmp_path):
    from spacetime.shapes.datasets import SyntheticScenes

    ds = SyntheticScenes(tmp_path / "a", **SCENES)
    assert len(ds) == 2
    for k in range(2):
        it = ds[k]
        m = it["labels"].shape[0]
        assert 1 <= m <= 3
        assert it["image"].shape == (3, 48, 48) and it["image"].dtype == torch.float32
        assert it["masks"].shape == (m, 48, 48) and it["boxes"].shape == (m, 4)
        assert it["object_voxels"].shape == (m, 8, 8, 8)
        assert len(it["object_verts"]) == m and it["object_R"].shape == (m, 3, 3)
        for j in range(m):
            assert torch.equal(it["masks"][j], it["instance_map"] == j)
            assert int(it["masks"][j].sum()) >= 20
            ys, xs = torch.nonzero(it["masks"][j], as_tuple=True)
            x0, y0, x1, y1 = it["boxes"][j].tolist()
            assert x0 == float(xs.min()) - 0.5 and x1 == float(xs.max()) + 0.5
            assert y0 == float(ys.min()) - 0.5 and y1 == float(ys.max()) + 0.5
            # visible depth of object j lies on its posed mesh
            pts, valid = depth_to_points_dense(it["depth"][None], it["K"][None],
                                               mask=it["masks"][j][None])
            cam = pts[0][valid[0]].double()
            world = (cam - it["t"].double()) @ it["R"].double()
            posed = (it["object_scale"][j].double() * it["object_verts"][j].double()
                     @ it["object_R"][j].double().T + it["object_t"][j].double())
            d = mesh_distance(Meshes([posed], [it["object_faces"][j]]), [world])[0]
            assert float(d.max()) < 1e-3
            assert float(posed[:, 1].min()) == pytest.approx(0.0, abs=1e-5)  # on the ground
    again = SyntheticScenes(tmp_path / "b", **SCENES)
    for key, v in ds[1].items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, again[1][key]), key
    with pytest.raises(IndexError):
        ds[2]


def test_scenes_bad_arguments(tmp_path):
    from spacetime.shapes.datasets import SyntheticScenes

    with pytest.raises(InputError, match="objects_per_scene"):
        SyntheticScenes(tmp_path, objects_per_scene=(2, 1), **SCENES)
    with pytest.raises(InputError, match="split"):
        SyntheticScenes(tmp_path, split="all", **SCENES)
    with pytest.raises(InputError, match="categories"):
        SyntheticScenes(tmp_path, categories=["dog"], **SCENES)
