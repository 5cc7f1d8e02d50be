"""Part labels of the synthetic shapes: exact (from the generating CSG parts), cached, versioned."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import spacetime.shapes.datasets.synthetic as synth
from spacetime.shapes.convert import sample_points_from_meshes
from spacetime.shapes.datasets import collate_3d
from spacetime.shapes.datasets.procedural import (
    CATEGORIES,
    CATEGORY_PARTS,
    PART_NAMES,
    PARTS,
    make_object,
    object_sdf,
)
from spacetime.shapes.datasets.synthetic import SyntheticShapes
from spacetime.shapes.structures import Meshes

TINY = dict(num_objects_per_category=1, views_per_object=1, image_size=16, voxel_resolution=8,
            num_points=256, num_occupancy_samples=16, mesh_resolution=24, progress=False)


def test_part_table_is_global_and_contiguous():
    assert len(PART_NAMES) == sum(len(PARTS[c]) for c in CATEGORIES) == 21
    flat = [k for c in CATEGORIES for k in CATEGORY_PARTS[c]]
    assert flat == list(range(len(PART_NAMES)))
    assert PART_NAMES[CATEGORY_PARTS["mug"][1]] == "mug/handle"


def _samples(obj, n=3000, seed=0):
    m = Meshes([obj.verts], [obj.faces])
    return sample_points_from_meshes(m, n, generator=torch.Generator().manual_seed(seed))[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mug_handle_points_lie_on_the_handle(seed):
    obj = make_object("mug", seed, resolution=32)
    pts = _samples(obj)
    lab = obj.labeller(pts)
    tol = 3 ** 0.5 * obj.grid_spacing  # the mesh lies within √3 h of the exact surface
    handle = lab == PARTS["mug"].index("handle")
    assert 0 < int(handle.sum()) < pts.shape[0]
    d_body, d_handle = (s(pts.double()) for s in obj.part_sdfs)
    # every handle point is on the handle's own surface, and nearer to it than to the body's
    assert float(d_handle[handle].abs().max()) <= tol
    assert bool((d_handle[handle] <= d_body[handle]).all())
    # body points: on the body's outer surface or on the cavity (cut) wall
    assert float(obj.sdf(pts.double()).abs().max()) <= tol
    # body points off the cut are on the body's surface
    outer = ~handle & (d_body.abs() <= tol)
    assert int(outer.sum()) > 0


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c != "mug"])
def test_labels_are_the_part_whose_surface_the_point_is_on(category):
    for seed in range(2):
        obj = make_object(category, seed, resolution=32)
        pts = _samples(obj, 2000, seed)
        lab = obj.labeller(pts)
        d = torch.stack([s(pts.double()) for s in obj.part_sdfs])  # (K, P)
        own = d.gather(0, lab[None])[0]
        tol = 3 ** 0.5 * obj.grid_spacing
        assert float(own.abs().max()) <= tol
        # the label is the part of smallest SDF (no cuts in these categories)
        assert torch.equal(lab, d.argmin(0))


def test_face_parts_match_the_centroid_rule():
    obj = make_object("chair", 5, resolution=24)
    cen = obj.verts[obj.faces].mean(1)
    assert obj.face_parts.shape == (obj.faces.shape[0],)
    assert torch.equal(obj.face_parts, obj.labeller(cen))


def test_labels_do_not_change_the_objects():
    # the part names are bookkeeping: same RNG draws, same geometry and colours as object_sdf
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    sdf, parts = object_sdf("airplane", rng_a)
    assert all(len(p) == 2 for p in parts)
    obj = make_object("airplane", rng_b, resolution=16)
    x = torch.rand(50, 3, dtype=torch.float64)
    assert obj.verts.shape[0] > 0 and sdf(x).shape == (50,)


def test_dataset_parts_item_and_collate(tmp_path):
    ds = SyntheticShapes(tmp_path, categories=["mug", "chair"], returns=("parts",), **TINY)
    item = ds[0]
    assert item["category"] == "mug"
    assert item["part_labels"].dtype == torch.int64 and item["part_labels"].shape == (256,)
    assert set(item["part_labels"].tolist()) <= set(CATEGORY_PARTS["mug"])
    assert item["face_parts"].shape == (ds.load_object(0)["faces"].shape[0],)
    assert set(ds[1]["part_labels"].tolist()) <= set(CATEGORY_PARTS["chair"])
    # the labels are those of the generating object at the stored points
    obj = make_object("mug", np.random.default_rng(np.random.SeedSequence([0, 0, 3, 0])),
                      resolution=24)
    torch.testing.assert_close(obj.verts, ds.load_object(0)["verts"])
    want = obj.labeller(item["points"]) + CATEGORY_PARTS["mug"][0]
    assert torch.equal(item["part_labels"], want)
    b = collate_3d([ds[0], ds[1]])
    assert b["part_labels"].shape == (2, 256) and b["points"].shape == (2, 256, 3)


def test_cache_version_bump_rebuilds_old_caches(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "_FORMAT_VERSION", 1)
    old = SyntheticShapes(tmp_path, categories=["bottle"], returns=("points",), **TINY)
    assert json.loads((old.root / "config.json").read_text())["version"] == 1
    monkeypatch.undo()
    new = SyntheticShapes(tmp_path, categories=["bottle"], returns=("parts",), **TINY)
    assert new.root != old.root  # the version is in the cache folder's hash
    assert json.loads((new.root / "config.json").read_text())["version"] == 2
    assert "part_labels" in new.load_object(0)
    assert new[0]["part_labels"].shape == (256,)
