"""Tests for spacetime.shapes.convert.marching_cubes."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.convert import Box, Sphere, marching_cubes, occupancy_from_sdf, sample_grid
from spacetime.shapes.structures import VoxelGrid
from tests._matrix import check_op
from tests.shapes.test_convert_cubify import (
    euler_characteristic,
    is_manifold_closed,
    signed_volume,
)


def test_sphere_128_watertight_and_on_radius():
    r = 0.8
    g = sample_grid(Sphere(r), 128, (-1.0, 1.0))
    m = marching_cubes(g)
    v, f = m.verts_list()[0], m.faces_list()[0]
    assert f.shape[0] > 50000
    assert is_manifold_closed(f)
    assert euler_characteristic(v, f) == 2
    # vertices interpolate an exact SDF linearly along edges: error << voxel size (1/64)
    assert (v.norm(dim=1) - r).abs().max() < 1e-3
    assert signed_volume(v, f) == pytest.approx(4 / 3 * math.pi * r**3, rel=2e-3)


def _manifold_closed_fast(faces: torch.Tensor) -> bool:
    """Vectorised is_manifold_closed: each directed edge once, and its reverse present."""
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = int(faces.max()) + 1
    key, rkey = e[:, 0] * n + e[:, 1], e[:, 1] * n + e[:, 0]
    _, counts = torch.unique(key, return_counts=True)
    return bool((counts == 1).all()) and bool(torch.isin(rkey, key).all())


def test_sphere_256_watertight():
    """PyTorch3D's CPU marching cubes leaves holes at this resolution (PEERS.md)."""
    g = sample_grid(Sphere(0.8).translate((0.013, -0.021, 0.007)), 256, (-1.0, 1.0))
    v, f = _vf(marching_cubes(g))
    assert f.shape[0] > 300000
    assert _manifold_closed_fast(f)
    assert (v.norm(dim=1) - 0.8).abs().max() < 0.03


def test_winding_conventions_and_level_default():
    g = sample_grid(Sphere(0.7), 24)
    vol_low = signed_volume(*_vf(marching_cubes(g)))  # inferred "low", level 0
    occ = occupancy_from_sdf(g)
    vol_high = signed_volume(*_vf(marching_cubes(occ, 0.5)))  # inferred "high"
    neg = VoxelGrid(-g.grid, origin=g.origin, voxel_size=g.voxel_size)
    vol_neg = signed_volume(*_vf(marching_cubes(neg, 0.0, inside="high")))
    assert vol_low > 0 and vol_high > 0 and vol_neg > 0
    assert vol_low == pytest.approx(vol_neg)
    assert vol_low == pytest.approx(4 / 3 * math.pi * 0.7**3, rel=0.02)
    # a wrong convention flips the orientation
    assert signed_volume(*_vf(marching_cubes(g, inside="high"))) < 0


def _vf(m):
    return m.verts_list()[0], m.faces_list()[0]


def test_axis_order_and_world_coordinates():
    shape = Box((0.4, 0.8, 1.2)).translate((0.1, -0.2, 0.3))
    g = sample_grid(shape, 40, [[-1, 1], [-1, 1], [-1, 1]])
    v, f = _vf(marching_cubes(g))
    lo, hi = v.min(0).values, v.max(0).values
    torch.testing.assert_close(hi - lo, torch.tensor([0.4, 0.8, 1.2]), atol=0.051, rtol=0)
    torch.testing.assert_close((hi + lo) / 2, torch.tensor([0.1, -0.2, 0.3]), atol=1e-4, rtol=0)
    # plain tensor input: voxel units, sample (d, h, w) at (w + .5, h + .5, d + .5)
    t = torch.ones(1, 3, 3, 3)
    t[0, 1, 1, 1] = -1
    v, f = _vf(marching_cubes(t, 0.0, inside="low"))
    torch.testing.assert_close(v.mean(0), torch.tensor([1.5, 1.5, 1.5]))
    assert v.min() == pytest.approx(1.0) and v.max() == pytest.approx(2.0)
    v2, _ = _vf(marching_cubes(t, 0.0, inside="low", voxel_size=2.0, origin=(1.0, 0.0, 0.0)))
    torch.testing.assert_close(v2, v * 2 + torch.tensor([1.0, 0.0, 0.0]))


def test_batch_empty_and_constant_grids():
    g = sample_grid(Sphere(0.5), 16).grid
    batch = torch.stack([g[0], torch.ones_like(g[0]), -torch.ones_like(g[0])])
    m = marching_cubes(batch, 0.0, inside="low")
    assert len(m) == 3
    assert m.faces_list()[0].shape[0] > 0
    assert m.faces_list()[1].shape == (0, 3) and m.verts_list()[2].shape == (0, 3)
    # a list of grids of different sizes
    lst = marching_cubes([g[0], sample_grid(Sphere(0.5), 8), torch.ones(2, 3, 4)], 0.0,
                         inside="low")
    assert len(lst) == 3 and lst.faces_list()[0].shape[0] == m.faces_list()[0].shape[0]
    assert lst.faces_list()[1].shape[0] > 0 and lst.faces_list()[2].shape == (0, 3)
    tiny = marching_cubes(torch.zeros(1, 1, 1, 1), 0.5, inside="high")
    assert tiny.verts_list()[0].shape == (0, 3)


def test_close_boundary():
    # a sphere that sticks out of the grid: open without padding, closed with it
    g = sample_grid(Sphere(1.2), 20, (-1.0, 1.0))
    open_f = marching_cubes(g).faces_list()[0]
    assert not is_manifold_closed(open_f)
    v, f = _vf(marching_cubes(g, close_boundary=True))
    assert is_manifold_closed(f)
    assert signed_volume(v, f) > 0
    # full grid (everything inside) gives the grid's box of voxel centres
    vb, fb = _vf(marching_cubes(-torch.ones(1, 3, 4, 5), close_boundary=True))
    assert is_manifold_closed(fb) and signed_volume(vb, fb) > 0


def test_bad_inputs():
    with pytest.raises(InputError, match="inside"):
        marching_cubes(torch.zeros(1, 2, 2, 2), 0.0, inside="middle")
    with pytest.raises(InputError, match="NaN"):
        marching_cubes(torch.full((1, 2, 2, 2), float("nan")), 0.0)
    with pytest.raises(InputError, match=r"grid: expected shape \(N, D, H, W\)"):
        marching_cubes(torch.zeros(2, 2, 2))
    with pytest.raises(InputError, match="empty list"):
        marching_cubes([])
    with pytest.raises(InputError, match="level"):
        marching_cubes(torch.zeros(1, 2, 2, 2), float("inf"))


def test_device_dtype(device, dtype):
    g = sample_grid(Sphere(0.6).translate((0.05, -0.02, 0.01)), 10, dtype=torch.float64)
    check_op(lambda x: marching_cubes(VoxelGrid(x, origin=g.origin, voxel_size=g.voxel_size)),
             (g.grid,), device, dtype, grad=False, atol=1e-5)
