import json

import numpy as np
import pytest
import torch
from PIL import Image

from spacetime.cli.main import main
from spacetime.errors import InputError
from spacetime.shapes.convert import ico_sphere
from spacetime.shapes.convert.route import conversion_route, target_kind
from spacetime.shapes.io import load, save_depth, save_mesh, save_voxels
from spacetime.shapes.structures import Meshes, Pointclouds, VoxelGrid


@pytest.fixture()
def sphere_obj(tmp_path):
    path = tmp_path / "sphere.obj"
    save_mesh(ico_sphere(2), path)
    return path


def test_route():
    assert conversion_route("mesh", "mesh") == ["mesh"]
    assert conversion_route("points", "mesh") == ["points", "voxels", "mesh"]
    assert conversion_route("sdf", "points") == ["sdf", "mesh", "points"]
    assert conversion_route("depth", "sdf") == ["depth", "points", "voxels", "sdf"]
    with pytest.raises(InputError, match="cannot convert normals to mesh"):
        conversion_route("normals", "mesh")


def test_convert_mesh_formats_and_representations(tmp_path, sphere_obj, capsys):
    assert main(["convert", str(sphere_obj), str(tmp_path / "s.ply"), "-q"]) == 0
    m = load(tmp_path / "s.ply")
    assert isinstance(m, Meshes)
    assert torch.equal(m.verts_packed(), ico_sphere(2).verts_packed())
    assert main(["convert", str(sphere_obj), str(tmp_path / "s.xyz"), "--num-samples", "300",
                 "-q"]) == 0
    pc = load(tmp_path / "s.xyz")
    assert isinstance(pc, Pointclouds) and pc.points_packed().shape == (300, 3)
    assert pc.normals_packed() is not None
    radius = pc.points_packed().norm(dim=1)
    assert float((radius - 1).abs().max()) < 0.05
    assert main(["convert", str(sphere_obj), str(tmp_path / "s.binvox"), "--resolution", "8",
                 "--mode", "surface"]) == 0
    assert "via mesh → voxels" in capsys.readouterr().out
    vox = load(tmp_path / "s.binvox")
    assert isinstance(vox, VoxelGrid) and vox.grid.shape[1:] == (8, 8, 8)
    assert main(["convert", str(tmp_path / "s.binvox"), str(tmp_path / "cubes.off"), "-q"]) == 0
    cubes = load(tmp_path / "cubes.off")
    assert cubes.faces_packed().shape[0] > 0


def test_convert_sdf_round_trip(tmp_path, sphere_obj):
    sdf_path = tmp_path / "s_sdf.npz"
    assert main(["convert", str(sphere_obj), str(sdf_path), "--to", "sdf", "--resolution", "10",
                 "-q"]) == 0
    sdf = load(sdf_path)
    centres = sdf.centers(0)
    ref = centres.norm(dim=-1) - 1
    assert float((sdf.grid[0] - ref).abs().max()) < 0.05  # icosphere(2) vs the unit sphere
    assert main(["convert", str(sdf_path), str(tmp_path / "mc.obj"), "-q"]) == 0
    mc = load(tmp_path / "mc.obj")
    assert float((mc.verts_packed().norm(dim=1) - 1).abs().max()) < 0.1
    assert main(["convert", str(sdf_path), str(tmp_path / "occ.npz"), "--to", "voxels",
                 "-q"]) == 0
    occ = load(tmp_path / "occ.npz")
    assert torch.equal(occ.grid, (sdf.grid < 0).float())


def test_convert_voxels_to_sdf_and_points(tmp_path):
    grid = torch.zeros(1, 6, 6, 6)
    grid[0, 2:4, 2:4, 2:4] = 1
    save_voxels(VoxelGrid(grid, voxel_size=0.5), tmp_path / "g.binvox")
    assert main(["convert", str(tmp_path / "g.binvox"), str(tmp_path / "g_sdf.npz"), "--to",
                 "sdf", "-q"]) == 0
    sdf = load(tmp_path / "g_sdf.npz").grid[0]
    assert bool((sdf[grid[0] > 0] < 0).all()) and bool((sdf[grid[0] == 0] > 0).all())
    assert float(sdf[2, 2, 2]) == pytest.approx(-0.25) and float(sdf[1, 2, 2]) == 0.25
    assert main(["convert", str(tmp_path / "g.binvox"), str(tmp_path / "c.npy"), "-q"]) == 0
    pts = load(tmp_path / "c.npy", kind="points").points_packed()
    assert pts.shape == (8, 3) and float(pts.min()) == 1.25 and float(pts.max()) == 1.75


def test_convert_depth_to_points(tmp_path):
    save_depth(torch.full((4, 5), 2.0), tmp_path / "d.png")
    out = tmp_path / "d.xyz"
    assert main(["convert", str(tmp_path / "d.png"), str(out), "--intrinsics", "10", "10", "2",
                 "1.5", "-q"]) == 0
    pts = load(out).points_packed()
    assert pts.shape == (20, 3) and torch.allclose(pts[:, 2], torch.full((20,), 2.0))
    assert torch.allclose(pts[0], torch.tensor([(0 - 2) / 10 * 2, (0 - 1.5) / 10 * 2, 2.0]))
    assert main(["convert", str(tmp_path / "d.png"), str(out)]) == 1  # no intrinsics
    # the docs' own example: a depth map written as .ply or .npy is a point cloud
    for name in ("cloud.ply", "cloud.npy"):
        assert main(["convert", str(tmp_path / "d.png"), str(tmp_path / name), "--intrinsics",
                     "10", "10", "2", "1.5", "-q"]) == 0
        cloud = load(tmp_path / name, kind="points")
        assert cloud.points_packed().shape == (20, 3)
    assert target_kind("depth", "x.ply") == "points" and target_kind("mesh", "x.ply") == "mesh"
    assert target_kind("depth", "x.ply", to="voxels") == "voxels"
    assert target_kind("voxels", "x.ply") == "mesh" and target_kind("depth", "d2.png") == "depth"


def test_compare_table_and_json(tmp_path, sphere_obj, capsys):
    assert main(["compare", str(sphere_obj), str(sphere_obj), "--num-samples", "500"]) == 0
    table = capsys.readouterr().out
    assert "Chamfer-L2" in table and "F1@0.3" in table
    bigger = tmp_path / "big.ply"
    save_mesh(ico_sphere(2).scale_verts(1.5), bigger)
    assert main(["compare", str(bigger), str(sphere_obj), "--json", "--num-samples", "500",
                 "--scale", "none", "--thresholds", "0.1", "0.6"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["metrics"]) >= {"Chamfer-L2", "F1@0.1", "F1@0.6"}
    assert data["metrics"]["F1@0.1"] == 0.0 and data["metrics"]["F1@0.6"] == 1.0
    assert data["metrics"]["Chamfer-L2"] == pytest.approx(0.5, rel=0.1)  # 0.25 each way


def test_show_every_kind(tmp_path, sphere_obj):
    save_depth(torch.rand(6, 8) + 1, tmp_path / "d.png")
    n = torch.nn.functional.normalize(torch.randn(3, 6, 8), dim=0)
    np.save(tmp_path / "n.npy", n.numpy())
    grid = torch.zeros(1, 4, 4, 4)
    grid[0, 1:3, 1:3, 0:4] = 1
    save_voxels(grid, tmp_path / "v.binvox")
    main(["convert", str(sphere_obj), str(tmp_path / "p.ply"), "--to", "points",
          "--num-samples", "200", "-q"])
    for name in ("sphere.obj", "p.ply", "v.binvox", "d.png", "n.npy"):
        src = sphere_obj if name == "sphere.obj" else tmp_path / name
        out = tmp_path / f"pic_{name}.png"
        assert main(["show", str(src), "-o", str(out), "--size", "64", "-q"]) == 0
        img = np.asarray(Image.open(out).convert("RGB"))
        assert img.shape[0] >= 64 and (img < 200).any(), name


def test_errors_exit_1_with_clean_message(tmp_path, sphere_obj, capsys):
    assert main(["convert", str(tmp_path / "missing.obj"), str(tmp_path / "x.ply")]) == 1
    assert "missing.obj" in capsys.readouterr().err
    (tmp_path / "bad.obj").write_text("v 0 0 0\nf 1 2 3\n")
    assert main(["show", str(tmp_path / "bad.obj"), "-o", str(tmp_path / "b.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spacetime: error:") and "bad.obj" in err
    assert main(["convert", str(sphere_obj), str(tmp_path / "x.abc")]) == 1
    assert main(["convert", str(sphere_obj), str(tmp_path / "x.obj"), "--to", "sdf"]) == 1
    assert "written as .npz" in capsys.readouterr().err
    assert not (tmp_path / "x.obj").exists()


