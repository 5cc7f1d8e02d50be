"""Tests of the real-dataset loaders on tiny fixtures written in the real on-disk formats."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.shapes.datasets import (
    R2N2,
    R2N2_FOCAL_NDC,
    ModelNet,
    Pix3D,
    ShapeNetCore,
    align_voxels_to_bbox,
    collate_3d,
    r2n2_camera,
    read_modelnet_off,
    read_r2n2_metadata,
    read_r2n2_split,
    voxels_to_camera_frame,
)
from spacetime.shapes.structures import Meshes, Pointclouds, VoxelGrid
from tests.shapes import _dataset_fixtures as fx


def assert_close(a, b, atol=1e-5, rtol=1e-5, msg=""):
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, f"{msg} shape {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a - b).abs()
    ok = bool((diff <= atol + rtol * b.abs()).all())
    assert ok, f"{msg} max abs diff {float(diff.max()):.3g}"


# ---------------------------------------------------------------- shared fixtures (module scope)


@pytest.fixture(scope="module")
def shapenet_v1(tmp_path_factory):
    return fx.make_shapenet(tmp_path_factory.mktemp("sn1") / "ShapeNetCore.v1", version=1)


@pytest.fixture(scope="module")
def shapenet_v2(tmp_path_factory):
    return fx.make_shapenet(tmp_path_factory.mktemp("sn2") / "ShapeNetCore.v2", version=2)


@pytest.fixture(scope="module")
def r2n2_root(tmp_path_factory):
    return fx.make_r2n2(tmp_path_factory.mktemp("r2n2"))


@pytest.fixture(scope="module")
def pix3d_root(tmp_path_factory):
    return fx.make_pix3d(tmp_path_factory.mktemp("pix3d") / "pix3d")


@pytest.fixture(scope="module")
def modelnet_root(tmp_path_factory):
    return fx.make_modelnet(tmp_path_factory.mktemp("mn") / "ModelNet10")


# --------------------------------------------------------------------------------- ShapeNetCore


def test_shapenet_v1_items_sorted_with_labels(shapenet_v1):
    ds = ShapeNetCore(shapenet_v1)
    assert len(ds) == 4
    assert ds.class_names == ["airplane", "chair"]
    got = [(ds[i]["synset_id"], ds[i]["model_id"]) for i in range(4)]
    assert got == [("02691156", "a1"), ("02691156", "a2"), ("03001627", "c1"), ("03001627", "c2")]
    item = ds[2]
    assert item["label"] == "chair" and item["label_index"] == 1
    assert_close(item["verts"], fx.CUBE_VERTS, msg="verts")
    assert item["faces"].dtype == torch.int64
    assert torch.equal(item["faces"], torch.as_tensor(fx.CUBE_FACES))
    assert item["path"].endswith("03001627/c1/model.obj")
    assert ds[-1]["model_id"] == "c2"
    with pytest.raises(IndexError):
        ds[4]


def test_shapenet_v2_layout_and_voxels(shapenet_v2):
    ds = ShapeNetCore(shapenet_v2, version=2, voxels=True)
    item = ds[0]
    assert item["path"].endswith("02691156/a1/models/model_normalized.obj")
    occ = fx.cube_voxels_xyz(16, 3, 13)
    ref = torch.as_tensor(occ.transpose(2, 1, 0).copy(), dtype=torch.float32)  # [z, y, x]
    assert item["voxels"].shape == (16, 16, 16)
    assert torch.equal(item["voxels"], ref)
    assert_close(item["voxel_origin"], [-0.5, -0.5, -0.5])
    assert_close(item["voxel_size"], 1 / 16)
    surf = ShapeNetCore(shapenet_v2, version=2, voxels=True, voxel_kind="surface")[0]
    assert surf["voxels"].shape == (16, 16, 16)
    with pytest.raises(InputError, match="version=2"):
        ShapeNetCore(shapenet_v2, version=1, voxels=True)


def test_shapenet_synsets_by_id_name_and_alias(shapenet_v1):
    assert ShapeNetCore(shapenet_v1, synsets="plane").synset_ids == ["02691156"]
    assert ShapeNetCore(shapenet_v1, synsets=["chair"]).class_names == ["chair"]
    assert len(ShapeNetCore(shapenet_v1, synsets=["03001627", "airplane"])) == 4
    with pytest.raises(InputError, match="'sofa'"):
        ShapeNetCore(shapenet_v1, synsets="sofa")


def test_shapenet_split_csv(shapenet_v1, tmp_path):
    csv_path = fx.write_split_csv(tmp_path / "all.csv")
    ids = {
        split: [(it["synset_id"], it["model_id"]) for it in
                ShapeNetCore(shapenet_v1, split=split, split_path=csv_path)]
        for split in ("train", "val", "test")
    }
    assert ids["train"] == [("02691156", "a1"), ("03001627", "c1")]  # "3001627" zero-padded
    assert ids["val"] == [("02691156", "a2")]
    assert ids["test"] == [("03001627", "c2")]
    with pytest.raises(InputError, match="split_path"):
        ShapeNetCore(shapenet_v1, split="train")
    with pytest.raises(InputError, match="'holdout'"):
        ShapeNetCore(shapenet_v1, split="holdout", split_path=csv_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,synsetId,model,split\n1,03001627,c1,train\n")
    with pytest.raises(FileFormatError, match="modelId"):
        ShapeNetCore(shapenet_v1, split="train", split_path=bad)
    with pytest.raises(MissingFileError, match="nope.csv"):
        ShapeNetCore(shapenet_v1, split="train", split_path=tmp_path / "nope.csv")


def test_shapenet_points_on_surface_and_seeded(shapenet_v1):
    ds = ShapeNetCore(shapenet_v1, num_points=200, seed=3)
    item = ds[0]  # the cube, half extent 0.4
    pts, nrm = item["points"], item["normals"]
    assert pts.shape == (200, 3) and nrm.shape == (200, 3)
    assert_close(pts.abs().max(dim=1).values, torch.full((200,), 0.4), atol=1e-5, msg="on faces")
    assert_close(nrm.norm(dim=1), torch.ones(200), msg="unit normals")
    # outward normals: the normal is the axis of the face the point lies on
    axis = pts.abs().argmax(dim=1)
    assert_close(nrm.gather(1, axis[:, None])[:, 0], pts.gather(1, axis[:, None])[:, 0].sign())
    again = ShapeNetCore(shapenet_v1, num_points=200, seed=3)[0]["points"]
    assert torch.equal(pts, again)
    other = ShapeNetCore(shapenet_v1, num_points=200, seed=4)[0]["points"]
    assert not torch.equal(pts, other)
    assert ShapeNetCore(shapenet_v1, num_points=5, seed=None)[1]["points"].shape == (5, 3)
    with pytest.raises(InputError, match="num_points"):
        ShapeNetCore(shapenet_v1, num_points=0)


def test_shapenet_textures_give_vertex_colors(shapenet_v1):
    item = ShapeNetCore(shapenet_v1, load_textures=True)[0]
    c = item["verts_colors"]
    assert c.shape == item["verts"].shape
    assert float(c.min()) >= 0 and float(c.max()) <= 1


def test_shapenet_missing_and_corrupt_files(tmp_path):
    root = fx.make_shapenet(tmp_path / "sn", version=1)
    ds = ShapeNetCore(root)
    (root / "03001627" / "c2" / "model.obj").unlink()
    with pytest.raises(MissingFileError, match=r"c2[/\\]model.obj"):
        ds[3]
    (root / "03001627" / "c1" / "model.obj").write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(FileFormatError):
        ds[2]
    with pytest.raises(MissingFileError, match="ShapeNetCore root"):
        ShapeNetCore(tmp_path / "absent")
    (root / "taxonomy.json").write_text("[{not json")
    with pytest.raises(FileFormatError, match="taxonomy.json"):
        ShapeNetCore(root)
    (root / "taxonomy.json").write_text(json.dumps([{"synsetId": "03001627"}]))
    with pytest.raises(FileFormatError, match="'name'"):
        ShapeNetCore(root)
    (root / "taxonomy.json").unlink()  # no taxonomy: labels fall back to synset ids
    assert ShapeNetCore(root).class_names == ["02691156", "03001627"]
    with pytest.raises(InputError, match="taxonomy.json"):
        ShapeNetCore(root, synsets="chair")


def test_collate_3d_through_dataloader(shapenet_v1):
    ds = ShapeNetCore(shapenet_v1, num_points=32)
    batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_3d)))
    assert isinstance(batch["meshes"], Meshes) and len(batch["meshes"]) == 3
    assert batch["meshes"].num_verts_per_mesh().tolist() == [8, 4, 8]
    assert isinstance(batch["pointclouds"], Pointclouds)
    assert batch["points"].shape == (3, 32, 3)
    assert batch["label_index"].tolist() == [0, 0, 1]
    assert batch["label"] == ["airplane", "airplane", "chair"]
    assert isinstance(batch["verts"], list) and len(batch["verts"]) == 3


def test_collate_3d_mixed_values():
    batch = collate_3d(
        [
            {"a": torch.zeros(2), "b": 1, "c": 0.5, "d": torch.zeros(3), "e": None, "f": True},
            {"a": torch.ones(2), "b": 2, "c": 1.5, "d": torch.zeros(4), "e": 3, "f": False},
        ]
    )
    assert batch["a"].shape == (2, 2)
    assert batch["b"].dtype == torch.int64 and batch["b"].tolist() == [1, 2]
    assert batch["c"].dtype == torch.float32
    assert isinstance(batch["d"], list)  # ragged tensors stay a list
    assert batch["e"] == [None, 3]
    assert batch["f"].dtype == torch.bool
    with pytest.raises(InputError, match="batch"):
        collate_3d([])
    with pytest.raises(InputError, match=r"batch\[0\]"):
        collate_3d([1])


# ------------------------------------------------------------------------------------------ R2N2


def _blender_reference_pixels(points, az, el, ratio, size=137):
    """Independent reference: the Blender pipeline written step by step (Z-up import rotation,
    orbit camera looking at the origin, OpenGL projection with f = 35/16, NDC → pixels)."""
    pts = np.asarray(points, dtype=np.float64)
    # 1. Blender imports a Y-up OBJ into its Z-up world: (x, y, z) -> (x, -z, y)
    world = np.stack([pts[:, 0], -pts[:, 2], pts[:, 1]], 1)
    # 2. camera at azimuth -az (clockwise), elevation el, distance ratio * 1.75
    a, e, d = math.radians(-az), math.radians(el), ratio * 1.75
    eye = d * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    back = eye / np.linalg.norm(eye)  # OpenGL camera looks along -z_cam = -back
    right = np.cross(np.array([0.0, 0.0, 1.0]), back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    cam = (world - eye) @ np.stack([right, up, back], 0).T  # OpenGL camera coordinates
    # 3. Blender's projection: x_ndc = f x / (-z), y_ndc = f y / (-z), NDC y up
    f = 35.0 / 16.0
    x_ndc, y_ndc = f * cam[:, 0] / -cam[:, 2], f * cam[:, 1] / -cam[:, 2]
    # 4. NDC [-1, 1] spans the image edges; pixel centres at integers
    u = (x_ndc + 1) / 2 * size - 0.5
    v = (1 - y_ndc) / 2 * size - 0.5
    return np.stack([u, v], 1), -cam[:, 2]


@pytest.mark.parametrize(
    "az,el,ratio", [(v[0], v[1], v[3]) for v in fx.R2N2_VIEWS] + [(90.0, -20.0, 0.6)]
)
def test_r2n2_camera_matches_blender_pipeline(az, el, ratio):
    g = torch.Generator().manual_seed(0)
    pts = (torch.rand(20, 3, generator=g, dtype=torch.float64) - 0.5) * 0.8
    intr, ext = r2n2_camera(az, el, ratio, dtype=torch.float64)
    cam = ext.world_to_camera(pts[None])
    uv = intr.project(cam)[0]
    ref_uv, ref_depth = _blender_reference_pixels(pts.numpy(), az, el, ratio)
    assert_close(uv, ref_uv, atol=1e-8, msg="pixels")
    assert_close(cam[0, :, 2], ref_depth, atol=1e-10, msg="depth")


def test_r2n2_model_centre_projects_to_image_centre():
    az, el, ratio = torch.tensor([30.0, 200.0, 315.5]), torch.tensor([20.0, 35, 5]), torch.tensor(
        [0.8, 0.7, 0.9]
    )
    intr, ext = r2n2_camera(az, el, ratio)
    origin = torch.zeros(3, 1, 3)
    cam = ext.world_to_camera(origin)
    assert_close(intr.project(cam)[:, 0], torch.full((3, 2), 68.0), atol=1e-4)
    assert_close(cam[:, 0, 2], ratio * 1.75, atol=1e-5, msg="depth = distance")
    centres = ext.camera_centers()
    assert_close(centres.norm(dim=1), ratio * 1.75, atol=1e-5)
    assert_close(centres[:, 1] / centres.norm(dim=1), torch.sin(torch.deg2rad(el)), atol=1e-5)
    assert_close(intr.fx, torch.full((3,), R2N2_FOCAL_NDC * 137 / 2))
    # world +y (up) projects upwards in the image
    up = ext.world_to_camera(torch.tensor([[[0.0, 0.3, 0.0]]]).expand(3, 1, 3))
    assert bool((intr.project(up)[:, 0, 1] < 68).all())
    with pytest.raises(InputError, match="distance_ratio"):
        r2n2_camera(0.0, 0.0, -1.0)
    with pytest.raises(InputError, match="equal lengths"):
        r2n2_camera([0.0, 1.0], [0.0, 1.0, 2.0], 1.0)


def test_r2n2_items(r2n2_root):
    p = r2n2_root
    ds = R2N2(p["shapenet"], p["renderings"], p["voxels"], p["split"], split="train")
    assert len(ds) == 3 and ds.class_names == ["airplane", "chair"]
    item = ds[1]
    assert (item["synset_id"], item["model_id"], item["label"]) == ("03001627", "c1", "chair")
    assert item["label_index"] == 1
    assert item["images"].shape == (3, 3, 137, 137)
    assert item["masks"].shape == (3, 137, 137)
    assert item["views"].tolist() == [0, 1, 2]
    assert item["K"].shape == (3, 3, 3) and item["R"].shape == (3, 3, 3)
    assert item["t"].shape == (3, 3)
    intr, ext = r2n2_camera(*torch.tensor(fx.R2N2_VIEWS)[:, [0, 1, 3]].T)
    assert_close(item["R"], ext.R)
    assert_close(item["K"], intr.K)
    # background white outside the alpha, stored RGB inside
    assert_close(item["images"][:, :, 0, 0], torch.ones(3, 3))
    assert_close(item["images"][1, :, 68, 68], [200 / 255, 40 / 255, 0.0])
    assert float(item["masks"][0, 68, 68]) == 1.0 and float(item["masks"][0, 0, 0]) == 0.0
    assert item["verts"].shape == (8, 3)
    black = R2N2(None, p["renderings"], None, p["split"], return_voxels=False, background="black")
    assert_close(black[0]["images"][:, :, 0, 0], torch.zeros(3, 3))
    assert "verts" not in black[0] and "voxels" not in black[0]
    raw = R2N2(None, p["renderings"], None, p["split"], return_voxels=False, background=None)
    assert_close(raw[0]["images"][0, :, 0, 0], [200 / 255, 0.0, 0.0])
    test = R2N2(None, p["renderings"], p["voxels"], p["split"], split="test")
    assert [it["model_id"] for it in test] == ["a2"]


def test_r2n2_views_and_pytorch3d_split_format(r2n2_root, tmp_path):
    p = r2n2_root
    ds = R2N2(None, p["renderings"], None, p["split"], views=[2], return_voxels=False)
    item = ds[0]
    assert item["images"].shape == (1, 3, 137, 137) and item["views"].tolist() == [2]
    _, ext = r2n2_camera(315.5, 5.0, 0.9)
    assert_close(item["R"], ext.R)
    p3d = {"train": {"03001627": {"c1": [0, 2], "c2": [1]}}, "val": {}, "test": {}}
    split = tmp_path / "p3d.json"
    split.write_text(json.dumps(p3d))
    ds = R2N2(None, p["renderings"], None, split, return_voxels=False)
    assert [it["views"].tolist() for it in ds] == [[0, 2], [1]]
    ds = R2N2(None, p["renderings"], None, split, views=[2], return_voxels=False)
    assert [it["model_id"] for it in ds] == ["c1"]  # c2 has no view 2 in the split
    assert read_r2n2_split(split, "val") == {}
    split.write_text(json.dumps({"train": {}, "val": {}}))
    with pytest.raises(FileFormatError, match="'test'"):
        read_r2n2_split(split, "test")


def test_r2n2_voxels_header_and_mesh_alignment(r2n2_root):
    p = r2n2_root
    occ = torch.as_tensor(fx.cube_voxels_xyz().transpose(2, 1, 0).copy(), dtype=torch.float32)
    hdr = R2N2(None, p["renderings"], p["voxels"], p["split"])[0]
    assert torch.equal(hdr["voxels"], occ)
    assert_close(hdr["voxel_origin"], [0.0, 0.0, 0.0])
    assert_close(hdr["voxel_size"], 1 / 32)
    mesh = R2N2(p["shapenet"], p["renderings"], p["voxels"], p["split"])[0]
    grid = VoxelGrid(mesh["voxels"][None], origin=mesh["voxel_origin"],
                     voxel_size=mesh["voxel_size"])
    idx = (grid.grid[0] > 0.5).nonzero().flip(1).to(torch.float32)  # (x, y, z)
    lo = grid.origin[0] + grid.voxel_size[0] * idx.min(0).values
    hi = grid.origin[0] + grid.voxel_size[0] * (idx.max(0).values + 1)
    # x (21 voxels with the marker) is the longest axis: fitted exactly to the mesh's extent
    assert_close(lo[0], -0.4, atol=1e-5)
    assert_close(hi[0], 0.4, atol=1e-5)
    assert_close((lo + hi) / 2, torch.zeros(3), atol=1e-5, msg="centres")
    with pytest.raises(InputError, match="root_shapenet"):
        R2N2(None, p["renderings"], p["voxels"], p["split"], voxel_alignment="mesh")
    with pytest.raises(InputError, match="root_voxels"):
        R2N2(None, p["renderings"], None, p["split"])


def _camera_voxels_naive(grid, intr, ext, depth, g, size):
    """Slow reference: every output voxel, one at a time, nearest source voxel or 0."""
    src = grid.grid[0]
    dd, hh, ww = src.shape
    out = torch.zeros(len(ext), g, g, g)
    for n in range(len(ext)):
        near, far = float(depth[n, 0]), float(depth[n, 1])
        for d in range(g):
            z = near + (d + 0.5) * (far - near) / g
            for h in range(g):
                v = (h + 0.5) * size / g - 0.5
                for w in range(g):
                    u = (w + 0.5) * size / g - 0.5
                    xc = (u - float(intr.cx[n])) / float(intr.fx[n]) * z
                    yc = (v - float(intr.cy[n])) / float(intr.fy[n]) * z
                    pc = torch.tensor([xc, yc, z], dtype=torch.float64)
                    pw = ext.R[n].double().T @ (pc - ext.t[n].double())
                    i = (pw - grid.origin[0].double()) / float(grid.voxel_size[0]) - 0.5
                    ix, iy, iz = (int(math.floor(float(c) + 0.5)) for c in i)
                    if 0 <= ix < ww and 0 <= iy < hh and 0 <= iz < dd:
                        out[n, d, h, w] = src[iz, iy, ix]
    return out


def test_r2n2_camera_frame_voxels_match_naive(r2n2_root):
    occ = torch.as_tensor(fx.cube_voxels_xyz(8, 2, 6).transpose(2, 1, 0).copy()).float()
    grid = VoxelGrid(occ[None], origin=(-0.4, -0.4, -0.4), voxel_size=0.1)
    views = torch.tensor(fx.R2N2_VIEWS)
    intr, ext = r2n2_camera(views[:, 0], views[:, 1], views[:, 3])
    dist = views[:, 3].float() * 1.75
    depth = torch.stack([dist - 0.5, dist + 0.5], -1)
    fast = voxels_to_camera_frame(grid, intr, ext, depth, 6, 137)
    ref = _camera_voxels_naive(grid, intr, ext, depth, 6, 137)
    mismatch = int((fast != ref).sum())
    assert mismatch <= 2, f"{mismatch} of {ref.numel()} voxels differ (ties at voxel borders)"
    assert float(ref.sum()) > 0
    p = r2n2_root
    item = R2N2(None, p["renderings"], p["voxels"], p["split"], voxels_in_camera_frame=True,
                camera_voxel_size=8)[0]
    assert item["camera_voxels"].shape == (3, 8, 8, 8)
    assert item["camera_depth_range"].shape == (3, 2)


def test_r2n2_errors_name_the_file_or_field(tmp_path):
    p = fx.make_r2n2(tmp_path / "r")
    rdir = p["renderings"] / "03001627" / "c1" / "rendering"
    ds = R2N2(None, p["renderings"], p["voxels"], p["split"])
    (rdir / "01.png").unlink()
    with pytest.raises(MissingFileError, match="01.png"):
        ds[1]
    (p["voxels"] / "02691156" / "a1" / "model.binvox").unlink()
    with pytest.raises(MissingFileError, match="model.binvox"):
        ds[0]
    shutil.rmtree(p["renderings"] / "03001627" / "c2")
    with pytest.raises(MissingFileError, match="c2"):
        ds[2]
    (rdir / "rendering_metadata.txt").write_text("30 20 0 0.8 25\n30 20 zero 0.8 25\n")
    with pytest.raises(FileFormatError, match="line 2"):
        read_r2n2_metadata(rdir / "rendering_metadata.txt")
    (rdir / "rendering_metadata.txt").write_text("30 20 0 0.8 25\n")
    one_view = R2N2(None, p["renderings"], None, p["split"], views=[0, 2], return_voxels=False)
    with pytest.raises(FileFormatError, match=r"has 1 views, views \[2\]"):
        one_view[1]
    bv = p["voxels"] / "03001627" / "c1" / "model.binvox"
    bv.write_bytes(bv.read_bytes()[:-10])
    with pytest.raises(FileFormatError, match="model.binvox"):
        R2N2(None, p["renderings"], p["voxels"], p["split"], views=[0])[1]
    bad = tmp_path / "bad_split.json"
    bad.write_text(json.dumps({"train": {"03001627": ["c1"]}}))
    with pytest.raises(FileFormatError, match="'train.03001627'"):
        R2N2(None, p["renderings"], None, bad, return_voxels=False)
    bad.write_text(json.dumps({"03001627": {"train": "c1"}}))
    with pytest.raises(FileFormatError, match="'03001627.train'"):
        R2N2(None, p["renderings"], None, bad, return_voxels=False)
    with pytest.raises(InputError, match="split"):
        R2N2(None, p["renderings"], None, p["split"], split="dev", return_voxels=False)
    with pytest.raises(MissingFileError, match="R2N2 renderings root"):
        R2N2(None, tmp_path / "nothing", None, p["split"], return_voxels=False)


# ----------------------------------------------------------------------------------------- Pix3D


def test_pix3d_items(pix3d_root):
    ds = Pix3D(pix3d_root)
    assert len(ds) == 2  # img/table/1749.jpg excluded by default
    assert ds.class_names == ["chair", "sofa", "table"]
    item = ds[0]
    assert item["label"] == "chair" and item["label_index"] == 0
    assert item["image"].shape == (3, 32, 48)
    assert_close(item["image"][:, 0, 0], [0.0, 0.0, 1.0])
    assert item["mask"].shape == (32, 48)
    assert float(item["mask"][16, 24]) == 1.0 and float(item["mask"][0, 0]) == 0.0
    f = 35.0 / 32.0 * 48
    assert_close(item["K"], [[f, 0, 23.5], [0, f, 15.5], [0, 0, 1]])
    assert item["img_size"].tolist() == [48, 32]
    assert item["verts"].shape == (8, 3)
    assert item["voxel_path"].endswith("voxel.mat")
    assert ds[1]["occluded"] is True and ds[1]["label"] == "sofa"
    assert len(Pix3D(pix3d_root, exclude=())) == 3


def test_pix3d_grey_and_rgba_images_become_rgb(tmp_path):
    from PIL import Image

    root = fx.make_pix3d(tmp_path / "p")
    Image.new("L", (48, 32), 128).save(root / "img" / "chair" / "0001.png")
    Image.new("RGBA", (40, 40), (10, 20, 30, 255)).save(root / "img" / "sofa" / "0007.jpg", "PNG")
    ds = Pix3D(root, load_mesh=False)
    assert_close(ds[0]["image"][:, 5, 5], [128 / 255] * 3)
    assert_close(ds[1]["image"][:, 5, 5], [10 / 255, 20 / 255, 30 / 255])
    (root / "img" / "chair" / "0001.png").write_bytes(b"not an image")
    with pytest.raises(FileFormatError, match="0001.png"):
        ds[0]


@pytest.mark.parametrize("index", [0, 1])
def test_pix3d_camera_reproduces_pix3d_projection(pix3d_root, index):
    ds = Pix3D(pix3d_root)
    item = ds[index]
    rec = ds.record(index)
    w, h = rec["img_size"]
    ref = fx.pix3d_project(fx.CUBE_VERTS, rec["rot_mat"], rec["trans_mat"],
                           rec["focal_length"], w, h)
    cam = item["extrinsics"].world_to_camera(item["verts"][None])
    assert bool((cam[..., 2] > 0).all())
    uv = item["intrinsics"].project(cam)[0]
    assert_close(uv, ref, atol=1e-3, msg="projection")
    uv_k = (cam[0] @ item["K"].T)
    assert_close(uv_k[:, :2] / uv_k[:, 2:], ref, atol=1e-3, msg="K R t")
    box = torch.stack([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])
    assert_close(box, item["bbox"], atol=1e-3, msg="bbox")


def test_pix3d_categories_and_split(pix3d_root, tmp_path):
    assert [it["label"] for it in Pix3D(pix3d_root, categories="sofa", load_mesh=False)] == [
        "sofa"
    ]
    split = tmp_path / "pix3d_s1_test.json"
    split.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "img/chair/0001.png", "width": 48, "height": 32}],
        "annotations": [], "categories": [],
    }))
    ds = Pix3D(pix3d_root, split_json=split)
    assert len(ds) == 1 and ds[0]["img_path"].endswith("img/chair/0001.png")
    with pytest.raises(InputError, match="'bench'"):
        Pix3D(pix3d_root, categories=["bench"])
    split.write_text(json.dumps({"annotations": []}))
    with pytest.raises(FileFormatError, match="'images'"):
        Pix3D(pix3d_root, split_json=split)


def _rewrite_records(root, fn):
    path = root / "pix3d.json"
    records = json.loads(path.read_text())
    fn(records)
    path.write_text(json.dumps(records))


def test_pix3d_errors_name_the_field_or_file(tmp_path):
    root = fx.make_pix3d(tmp_path / "p")
    good = (root / "pix3d.json").read_text()
    _rewrite_records(root, lambda r: r[1].pop("focal_length"))
    with pytest.raises(FileFormatError, match=r"record 1: missing field 'focal_length'"):
        Pix3D(root)
    (root / "pix3d.json").write_text(good)
    _rewrite_records(root, lambda r: r[0].__setitem__("rot_mat", [[1, 0], [0, 1]]))
    with pytest.raises(FileFormatError, match=r"record 0: field 'rot_mat' has shape"):
        Pix3D(root)
    (root / "pix3d.json").write_text(good)
    _rewrite_records(root, lambda r: r[0].__setitem__("img_size", [50, 32]))
    with pytest.raises(FileFormatError, match="'img_size'"):
        Pix3D(root)[0]
    (root / "pix3d.json").write_text(good)
    (root / "mask" / "sofa" / "0007.png").unlink()
    with pytest.raises(MissingFileError, match=r"mask[/\\]sofa[/\\]0007.png"):
        Pix3D(root)[1]
    (root / "pix3d.json").write_text("{}")
    with pytest.raises(FileFormatError, match="JSON list"):
        Pix3D(root)
    (root / "pix3d.json").unlink()
    with pytest.raises(MissingFileError, match="pix3d.json"):
        Pix3D(root)


# -------------------------------------------------------------------------------------- ModelNet


def test_modelnet_items_and_labels(modelnet_root):
    ds = ModelNet(modelnet_root, split="train", num_points=64)
    assert ds.class_names == ["bed", "chair"]
    assert len(ds) == 4
    names = [it["path"].rsplit("/", 1)[-1] for it in ds]
    assert names == ["bed_0001.off", "bed_0002.off", "chair_0001.off", "chair_0002.off"]
    assert [it["label"] for it in ds] == [0, 0, 1, 1]
    item = ds[2]
    assert item["class_name"] == "chair"
    assert item["points"].shape == (64, 3) and item["normals"].shape == (64, 3)
    assert "verts" not in item
    assert len(ModelNet(modelnet_root, split="test", num_points=8)) == 2
    assert len(ModelNet(modelnet_root, classes=["chair"], num_points=8)) == 2
    batch = collate_3d([ds[0], ds[1]])
    assert batch["points"].shape == (2, 64, 3) and batch["label"].tolist() == [0, 0]


def test_modelnet_glued_off_header(modelnet_root):
    path = modelnet_root / "bed" / "train" / "bed_0001.off"
    assert path.read_text().startswith("OFF8 12 0\n")
    verts, faces = read_modelnet_off(path)
    assert_close(verts, fx.CUBE_VERTS * 3.0)
    assert torch.equal(faces, torch.as_tensor(fx.CUBE_FACES))
    verts2, _ = read_modelnet_off(modelnet_root / "chair" / "train" / "chair_0001.off")
    assert_close(verts2, verts)


def test_modelnet_normalisation_and_surface(modelnet_root):
    item = ModelNet(modelnet_root, num_points=300, return_mesh=True)[2]  # cube, half extent 1.2
    pts, nrm = item["points"], item["normals"]
    half = 1 / math.sqrt(3)  # cube corners on the unit sphere
    assert_close(pts.abs().max(dim=1).values, torch.full((300,), half), atol=1e-5)
    assert float(pts.norm(dim=1).max()) <= 1 + 1e-5
    assert_close(item["verts"].norm(dim=1), torch.ones(8), atol=1e-5)
    assert_close(nrm.norm(dim=1), torch.ones(300))
    raw = ModelNet(modelnet_root, num_points=50, normalize=False)[2]["points"]
    assert_close(raw.abs().max(dim=1).values, torch.full((50,), 1.2), atol=1e-5)
    tetra = ModelNet(modelnet_root, num_points=50)[3]["points"]  # off-centre tetrahedron
    assert float(tetra.norm(dim=1).max()) <= 1 + 1e-5


def test_modelnet_seeded_sampling(modelnet_root):
    a = ModelNet(modelnet_root, num_points=32, seed=7)
    b = ModelNet(modelnet_root, num_points=32, seed=7)
    c = ModelNet(modelnet_root, num_points=32, seed=8)
    assert torch.equal(a[1]["points"], b[1]["points"])
    assert torch.equal(a[1]["points"], a[1]["points"])  # same item twice: same points
    assert not torch.equal(a[1]["points"], c[1]["points"])
    assert not torch.equal(a[0]["points"], a[2]["points"])
    free = ModelNet(modelnet_root, num_points=32, seed=None)
    assert free[0]["points"].shape == (32, 3)


def test_modelnet_errors(modelnet_root, tmp_path):
    with pytest.raises(InputError, match="split"):
        ModelNet(modelnet_root, split="val")
    with pytest.raises(InputError, match="num_points"):
        ModelNet(modelnet_root, num_points=0)
    with pytest.raises(InputError, match="'sofa'"):
        ModelNet(modelnet_root, classes=["sofa"])
    with pytest.raises(MissingFileError, match="ModelNet root"):
        ModelNet(tmp_path / "missing")
    root = fx.make_modelnet(tmp_path / "mn")
    bad = root / "chair" / "train" / "chair_0001.off"
    bad.write_text("OFF\n8 12 0\n0 0 0\n")
    with pytest.raises(FileFormatError, match="chair_0001.off"):
        ModelNet(root, num_points=8)[2]
    glued = root / "bed" / "train" / "bed_0001.off"
    glued.write_text("OFF8 12 0\n0 0 0\n")
    with pytest.raises(FileFormatError, match="bed_0001.off"):
        ModelNet(root, num_points=8)[0]
    (root / "chair" / "train" / "chair_0002.off").unlink()
    ds = ModelNet(root, num_points=8)
    assert len(ds) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="no class folders"):
        ModelNet(tmp_path / "empty")


def test_mesh_cache_dir(tmp_path, monkeypatch):
    root = fx.make_modelnet(tmp_path / "mn")
    cache = tmp_path / "cache"
    plain = ModelNet(root, num_points=16, return_mesh=True)[1]
    first = ModelNet(root, num_points=16, return_mesh=True, cache_dir=cache)[1]
    entry = cache / "bed" / "train" / "bed_0002.off.npz"
    assert entry.is_file()
    import spacetime.shapes.datasets.modelnet as mn_mod

    def boom(path):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(mn_mod, "read_modelnet_off", boom)
    second = ModelNet(root, num_points=16, return_mesh=True, cache_dir=cache)[1]
    for key in ("verts", "faces", "points"):
        assert torch.equal(plain[key], first[key]) and torch.equal(first[key], second[key])
    monkeypatch.undo()
    src = root / "bed" / "train" / "bed_0002.off"
    fx.write_off(src, fx.CUBE_VERTS, fx.CUBE_FACES)  # edited source: decoded again
    assert ModelNet(root, num_points=16, return_mesh=True, cache_dir=cache)[1]["verts"].shape == (
        8, 3
    )
    entry.write_bytes(b"garbage")  # corrupt cache entry: rewritten
    assert ModelNet(root, num_points=16, cache_dir=cache)[1]["points"].shape == (16, 3)
    assert np.load(entry)["verts"].shape == (8, 3)
    sn_root = fx.make_shapenet(tmp_path / "sn", version=1)
    ds = ShapeNetCore(sn_root, cache_dir=cache / "sn", load_textures=True)
    assert torch.equal(ds[0]["verts_colors"], ds[0]["verts_colors"])
    assert (cache / "sn" / "textured" / "02691156" / "a1" / "model.obj.npz").is_file()
    (sn_root / "02691156" / "a1" / "model.obj").unlink()
    with pytest.raises(MissingFileError, match=r"a1[/\\]model.obj"):
        ds[0]


def test_align_voxels_to_bbox_empty_grid_is_unchanged():
    g = VoxelGrid(torch.zeros(1, 4, 4, 4), origin=(1.0, 2.0, 3.0), voxel_size=0.5)
    out = align_voxels_to_bbox(g, torch.rand(5, 3))
    assert out is g
