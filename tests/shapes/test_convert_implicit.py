"""Tests for spacetime.shapes.convert.implicit (analytic SDFs, CSG, transforms, grids)."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.convert import (
    Box,
    Capsule,
    Cylinder,
    Sphere,
    Torus,
    box_mesh,
    mesh_sdf,
    occupancy_from_sdf,
    sample_grid,
)
from tests._matrix import assert_on, check_op, close, default_device_elsewhere

SHAPES = {
    "sphere": Sphere(0.7, center=(0.1, 0.0, -0.1)),
    "box": Box((0.6, 0.8, 1.0)),
    "rounded_box": Box((0.6, 0.8, 1.0), radius=0.1),
    "cylinder": Cylinder(0.5, 1.2),
    "torus": Torus(0.6, 0.2),
    "capsule": Capsule((0.0, -0.3, 0.0), (0.2, 0.4, 0.1), 0.25),
}


def _rand_points(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, generator=g, dtype=torch.float64) - 0.5) * 3


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_eikonal_and_surface(name):
    """An exact SDF has unit gradient almost everywhere; projecting p - f(p) ∇f(p) lands on the
    zero level set."""
    sdf = SHAPES[name]
    p = _rand_points().requires_grad_()
    val = sdf(p)
    (grad,) = torch.autograd.grad(val.sum(), p)
    norm = grad.norm(dim=-1)
    assert ((norm - 1).abs() < 1e-6).float().mean() > 0.97  # exceptions: medial axis points
    q = (p - val[:, None] * grad).detach()
    ok = (norm - 1).abs() < 1e-6
    assert sdf(q)[ok].abs().max() < 1e-6


def test_analytic_values():
    p = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(Sphere(1.0)(p), torch.tensor([1.0, -1.0, 1.0, 0.0]))
    torch.testing.assert_close(Box(2.0)(p), torch.tensor([1.0, -1.0, 1.0, 0.0]))
    torch.testing.assert_close(Cylinder(1.0, 2.0)(p), torch.tensor([1.0, -1.0, 1.0, 0.0]))
    torch.testing.assert_close(
        Torus(1.0, 0.25)(p), torch.tensor([0.75, 0.75, 5**0.5 - 0.25, -0.25])
    )
    torch.testing.assert_close(
        Capsule((0, 0, -1), (0, 0, 1), 0.5)(p), torch.tensor([1.5, -0.5, 0.5, 0.5])
    )


def test_box_sdf_matches_mesh_sdf():
    p = _rand_points(200, 1)
    exact = Box((0.6, 0.8, 1.0))(p)
    ref = mesh_sdf(box_mesh((0.6, 0.8, 1.0), dtype=torch.float64), p[None])[0]
    torch.testing.assert_close(exact, ref, atol=1e-9, rtol=0)


def test_csg_and_transforms():
    p = _rand_points(300, 2)
    a, b = Sphere(0.6), Box(0.8).translate((0.4, 0.0, 0.0))
    torch.testing.assert_close((a | b)(p), torch.minimum(a(p), b(p)))
    torch.testing.assert_close((a & b)(p), torch.maximum(a(p), b(p)))
    torch.testing.assert_close((a - b)(p), torch.maximum(a(p), -b(p)))
    # translate / uniform scale are exact
    torch.testing.assert_close(Sphere(1.0).scale(2.5)(p), Sphere(2.5)(p))
    torch.testing.assert_close(
        Sphere(0.5).translate((1.0, 2.0, 3.0))(p), Sphere(0.5, center=(1.0, 2.0, 3.0))(p)
    )
    # rotating a box 90° about z swaps its x and y sizes
    rz = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(Box((0.2, 1.0, 0.5)).rotate(rz)(p), Box((1.0, 0.2, 0.5))(p))
    # rotation moves points: x -> R x
    s = Sphere(0.1, center=(1.0, 0.0, 0.0)).rotate(rz)
    assert float(s(torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64))) == pytest.approx(-0.1)


def test_parameters_are_differentiable():
    r = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    p = _rand_points(5, 3)
    assert torch.autograd.gradcheck(lambda rr: Sphere(rr)(p), (r,))
    c = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda cc: Torus(0.6, 0.2).translate(cc)(p), (c,))


def test_sample_grid():
    vg = sample_grid(Sphere(0.5), 8, (-1.0, 1.0), dtype=torch.float64)
    assert vg.grid.shape == (1, 8, 8, 8)
    assert float(vg.voxel_size[0]) == 0.25
    torch.testing.assert_close(vg.origin[0], torch.full((3,), -1.0, dtype=torch.float64))
    # value of voxel (d, h, w) = sdf at (w + .5, h + .5, d + .5) * vs + origin
    d, h, w = 1, 2, 6
    centre = torch.tensor([w + 0.5, h + 0.5, d + 0.5], dtype=torch.float64) * 0.25 - 1
    assert float(vg.grid[0, d, h, w]) == pytest.approx(float(centre.norm() - 0.5))
    # non-cubic bounds, chunked evaluation gives the same values
    b = [[0.0, 2.0], [0.0, 1.0], [0.0, 0.5]]
    g1 = sample_grid(Sphere(0.3), 8, b)
    g2 = sample_grid(Sphere(0.3), 8, b, chunk_size=7)
    assert g1.grid.shape == (1, 2, 4, 8)
    torch.testing.assert_close(g1.grid, g2.grid)


def test_occupancy_from_sdf():
    v = torch.tensor([-1.0, 0.0, 2.0])
    torch.testing.assert_close(occupancy_from_sdf(v), torch.tensor([1.0, 0.0, 0.0]))
    soft = occupancy_from_sdf(v, temperature=0.5)
    torch.testing.assert_close(soft, torch.sigmoid(-v / 0.5))
    vg = occupancy_from_sdf(sample_grid(Sphere(0.5), 8))
    assert set(vg.grid.unique().tolist()) == {0.0, 1.0}
    # about the sphere's volume in occupied voxels
    vol = float(vg.grid.sum()) * float(vg.voxel_size[0]) ** 3
    assert vol == pytest.approx(4 / 3 * math.pi * 0.125, rel=0.35)


def test_bad_inputs():
    with pytest.raises(InputError, match="radius"):
        Sphere(-1.0)
    with pytest.raises(InputError, match="points"):
        Sphere(1.0)(torch.zeros(4, 2))
    with pytest.raises(InputError, match="factor: expected a scalar"):
        Sphere(1.0).scale((1.0, 2.0, 3.0))
    with pytest.raises(InputError, match="rotation"):
        Sphere(1.0).rotate(torch.ones(3, 3))
    with pytest.raises(InputError, match="bounds"):
        sample_grid(Sphere(1.0), 4, (1.0, -1.0))
    with pytest.raises(InputError, match="resolution"):
        sample_grid(Sphere(1.0), 0)
    with pytest.raises(InputError, match="temperature"):
        occupancy_from_sdf(torch.zeros(2), temperature=-1.0)
    with pytest.raises(InputError, match="shapes"):
        from spacetime.shapes.convert import Union

        Union()


def test_device_dtype(device, dtype):
    """Every SDF (and CSG / transforms) on points of ``device``/``dtype``; sample_grid builds
    there; occupancy keeps the dtype."""
    from spacetime.shapes.convert import Difference, Rotate, Scale, Translate, Union

    p = _rand_points(50, 3)
    shapes = [*SHAPES.values(),
              Difference(Union(Sphere(0.5), Box(0.3)), Translate(Sphere(0.2), (0.1, 0.0, 0.0))),
              Scale(Rotate(Torus(0.6, 0.2), torch.eye(3, dtype=torch.float64)), 1.5)]
    for sdf in shapes:
        check_op(sdf, (p,), device, dtype)
    with default_device_elsewhere():
        g = sample_grid(Sphere(0.7), 8, device=device, dtype=dtype)
    assert_on(g.grid, device, dtype)
    close(g.grid, sample_grid(Sphere(0.7), 8, dtype=torch.float64).grid, dtype)
    check_op(lambda v: occupancy_from_sdf(v, temperature=0.1), (g.grid.double().cpu(),), device,
             dtype)
