"""Tests for spacetime.shapes.convert.voxelize (mesh and point voxelization)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.convert import (
    cubify,
    ico_sphere,
    sample_points_from_meshes,
    torus_mesh,
    triangle_box_overlap,
    voxelize_mesh,
    voxelize_points,
    winding_number,
)
from spacetime.shapes.structures import Pointclouds
from tests._matrix import check_op


def _clip_polygon(poly, axis, bound, keep_below):
    """Sutherland-Hodgman clip of a polygon (list of 3-vectors) by one axis-aligned plane."""
    out = []
    for i in range(len(poly)):
        p, q = poly[i], poly[(i + 1) % len(poly)]
        fp = (bound - p[axis]) if keep_below else (p[axis] - bound)
        fq = (bound - q[axis]) if keep_below else (q[axis] - bound)
        if fp >= 0:
            out.append(p)
        if (fp >= 0) != (fq >= 0):
            t = fp / (fp - fq)
            out.append(p + (q - p) * t)
    return out


def _ref_overlap(tri, half, eps=1e-9):
    """Reference: clip the triangle to the slightly shrunk box; overlap iff anything is left."""
    poly = [tri[0], tri[1], tri[2]]
    for axis in range(3):
        poly = _clip_polygon(poly, axis, half - eps, True)
        if not poly:
            return False
        poly = _clip_polygon(poly, axis, -half + eps, False)
        if not poly:
            return False
    return True


def test_triangle_box_overlap_against_clipping_reference():
    g = torch.Generator().manual_seed(0)
    tri = (torch.rand(400, 3, 3, generator=g, dtype=torch.float64) - 0.5) * 3
    got = triangle_box_overlap(tri[:, 0], tri[:, 1], tri[:, 2], 0.5)
    ref = torch.tensor([_ref_overlap(t, 0.5) for t in tri])
    assert torch.equal(got, ref)
    assert 50 < int(ref.sum()) < 350  # both outcomes are exercised


def test_triangle_box_touching_is_not_overlap():
    # triangle in the plane x = 0.5 (a face of the box): touching only
    t = torch.tensor([[[0.5, -0.3, -0.3], [0.5, 0.3, -0.3], [0.5, 0.0, 0.3]]])
    assert not triangle_box_overlap(t[:, 0], t[:, 1], t[:, 2]).item()
    # moved slightly inside: overlap
    t2 = t.clone()
    t2[..., 0] = 0.49
    assert triangle_box_overlap(t2[:, 0], t2[:, 1], t2[:, 2]).item()
    # large triangle crossing the box with all vertices outside
    t3 = torch.tensor([[[-5.0, -5, 0.1], [5, -5, 0.1], [0, 5, 0.1]]])
    assert triangle_box_overlap(t3[:, 0], t3[:, 1], t3[:, 2]).item()
    # the closed test counts touching
    assert triangle_box_overlap(t[:, 0], t[:, 1], t[:, 2], closed=True).item()


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_roundtrip_cubify_voxelize(d, h, w, seed):
    grid = (torch.rand(2, d, h, w, generator=torch.Generator().manual_seed(seed)) < 0.5).float()
    m = cubify(grid)
    vg = voxelize_mesh(m, (d, h, w), mode="solid", origin=(0.0, 0.0, 0.0), voxel_size=1.0)
    assert torch.equal(vg.grid, grid)
    m2 = cubify(vg)
    for a, b in zip(m.verts_list() + m.faces_list(), m2.verts_list() + m2.faces_list()):
        assert torch.equal(a, b)


def test_surface_voxels_of_sphere():
    m = ico_sphere(2, dtype=torch.float64)
    vg = voxelize_mesh(m, 24)
    assert vg.grid.shape == (1, 24, 24, 24)
    # default placement: half a voxel of margin around the bounding box
    vs = float(vg.voxel_size[0])
    assert vs == pytest.approx(2.0 / 23)
    occ = vg.grid[0] > 0
    zz, yy, xx = torch.meshgrid(*(torch.arange(24, dtype=torch.float64),) * 3, indexing="ij")
    centres = torch.stack([xx, yy, zz], -1) + 0.5
    centres = vg.origin[0] + vs * centres
    r = centres.norm(dim=-1)
    # a voxel crossed by the (inscribed) surface has its centre within half a diagonal of it
    assert ((r[occ] - 1).abs() <= 0.5 * vs * 3**0.5 + 0.05).all()
    # every sampled surface point's voxel is marked
    p = sample_points_from_meshes(m, 3000, generator=torch.Generator().manual_seed(1))[0]
    idx = torch.floor((p - vg.origin[0]) / vs).long()
    assert occ[idx[:, 2], idx[:, 1], idx[:, 0]].all()
    solid = voxelize_mesh(m, 24, mode="solid").grid[0] > 0
    assert (solid | ~occ).all()  # surface included
    assert solid[r < 0.9].all() and not solid[r > 1.0 + 0.5 * vs * 3**0.5].any()


@pytest.mark.parametrize("res", [9, 14])
def test_solid_equals_surface_or_winding_at_every_centre(res):
    """The component shortcut of mode="solid" matches the brute-force definition."""
    m = torus_mesh(1.0, 0.45, major_sections=16, minor_sections=8)
    vg = voxelize_mesh(m, res, mode="solid")
    surf = voxelize_mesh(m, res).grid[0] > 0
    idx = torch.arange(res**3)
    xyz = torch.stack([idx % res, (idx // res) % res, idx // res**2], 1).float() + 0.5
    centres = vg.origin[0] + vg.voxel_size[0] * xyz
    inside = (winding_number(m, centres[None])[0] > 0.5).reshape(res, res, res)
    assert torch.equal(vg.grid[0] > 0, surf | inside)
    assert int((inside & ~surf).sum()) > 0


def test_bounds_and_batch():
    m = ico_sphere(1)
    from spacetime.shapes.structures import Meshes

    two = Meshes(
        [m.verts_list()[0], m.verts_list()[0] * 2 + 3],
        [m.faces_list()[0], m.faces_list()[0]],
    )
    vg = voxelize_mesh(two, 8)
    assert vg.grid.shape == (2, 8, 8, 8)
    assert vg.voxel_size[1] == pytest.approx(2 * vg.voxel_size[0])
    torch.testing.assert_close(vg.grid[0], vg.grid[1])  # same shape relative to its grid
    b = voxelize_mesh(two, 10, bounds=[[-1, 1], [-1, 1], [-2, 2]])
    assert b.grid.shape == (2, 10, 5, 5)  # resolution counts the longest (z) side
    assert b.grid[1].sum() == 0 and b.grid[0].sum() > 0  # mesh 1 is outside these bounds


def test_empty_mesh_gives_empty_grid():
    from spacetime.shapes.structures import Meshes

    m = ico_sphere(0)
    two = Meshes([m.verts_list()[0], torch.zeros(0, 3)],
                 [m.faces_list()[0], torch.zeros(0, 3, dtype=torch.int64)])
    vg = voxelize_mesh(two, 6, mode="solid")
    assert vg.grid[0].sum() > 0 and vg.grid[1].sum() == 0


def test_voxelize_points():
    pts = torch.tensor([[[0.1, 0.1, 0.1], [0.9, 0.1, 0.1], [0.15, 0.12, 0.1], [5, 5, 5]]])
    vg = voxelize_points(pts, 2, origin=(0.0, 0.0, 0.0), voxel_size=0.5)
    expect = torch.zeros(1, 2, 2, 2)
    expect[0, 0, 0, 0] = expect[0, 0, 0, 1] = 1
    assert torch.equal(vg.grid, expect)
    # ragged input, default per-cloud placement
    pc = Pointclouds([torch.rand(50, 3), torch.rand(7, 3) * 10])
    vg = voxelize_points(pc, 4)
    assert vg.grid.shape == (2, 4, 4, 4)
    assert 1 <= vg.grid[1].sum() <= 7
    vg = voxelize_points([torch.zeros(0, 3), torch.ones(3, 3)], 3)
    assert vg.grid[0].sum() == 0 and vg.grid[1].sum() == 1


def test_bad_inputs():
    m = ico_sphere(0)
    with pytest.raises(InputError, match="mode"):
        voxelize_mesh(m, 8, mode="hollow")
    with pytest.raises(InputError, match="origin/voxel_size"):
        voxelize_mesh(m, 8, origin=(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="bounds"):
        voxelize_mesh(m, 8, bounds=[[1, 0], [0, 1], [0, 1]])
    with pytest.raises(InputError, match="resolution"):
        voxelize_mesh(m, 0)
    with pytest.raises(InputError, match="finite"):
        voxelize_points(torch.full((1, 2, 3), float("nan")), 4)
    with pytest.raises(InputError, match="points"):
        voxelize_points(torch.zeros(1, 2, 2), 4)


def test_device_dtype(device, dtype):
    m = ico_sphere(1, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    tri = (torch.rand(3, 100, 3, generator=g, dtype=torch.float64) - 0.5) * 3
    check_op(lambda a, b, c: triangle_box_overlap(a, b, c, 0.5), tuple(tri), device, dtype,
             grad=False)
    for mode in ("surface", "solid"):
        check_op(lambda x, mode=mode: voxelize_mesh(x, 8, mode=mode, bounds=(-1.3, 1.3)), (m,),
                 device,
                 dtype, grad=False)
    pts = torch.rand(2, 50, 3, generator=g, dtype=torch.float64)
    check_op(lambda p: voxelize_points(p, 6, bounds=(0.0, 1.0)), (pts,), device, dtype,
             grad=False)
