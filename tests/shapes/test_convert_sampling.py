"""Tests for spacetime.shapes.convert.sample_points_from_meshes."""

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.convert import (
    box_mesh,
    ico_sphere,
    mesh_distance,
    sample_points_from_meshes,
)
from spacetime.shapes.structures import Meshes
from tests._matrix import assert_on, close, default_device_elsewhere


def _two_triangles():
    # triangle 0 area 0.5, triangle 1 area 1.5 (both in z = 0, normal +z)
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [5, 0, 0], [2, 1, 0]])
    f = torch.tensor([[0, 1, 2], [3, 4, 5]])
    return v, f


def test_shapes_batch_and_seed():
    m = Meshes(
        [ico_sphere(1).verts_list()[0], box_mesh(2.0).verts_list()[0]],
        [ico_sphere(1).faces_list()[0], box_mesh(2.0).faces_list()[0]],
    )
    p = sample_points_from_meshes(m, 500, generator=torch.Generator().manual_seed(0))
    assert p.shape == (2, 500, 3)
    p2, n2 = sample_points_from_meshes(
        m, 500, return_normals=True, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(p, p2)
    assert n2.shape == (2, 500, 3)
    torch.testing.assert_close(n2.norm(dim=-1), torch.ones(2, 500))


def test_points_on_box_surface_and_normals():
    m = box_mesh((1.0, 2.0, 4.0), dtype=torch.float64)
    p, n = sample_points_from_meshes(
        m, 4000, return_normals=True, generator=torch.Generator().manual_seed(1)
    )
    half = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    rel = p[0].abs() / half
    torch.testing.assert_close(rel.amax(dim=1), torch.ones(4000, dtype=torch.float64))
    axis = rel.argmax(dim=1)
    expect = torch.zeros_like(p[0])
    expect[torch.arange(4000), axis] = torch.sign(p[0][torch.arange(4000), axis])
    torch.testing.assert_close(n[0], expect)
    # area-proportional split between faces: x faces 2*8, y faces 2*4, z faces 2*2 (of 28)
    frac = torch.bincount(axis, minlength=3).double() / 4000
    expected = torch.tensor([16 / 28, 8 / 28, 4 / 28], dtype=torch.float64)
    sigma = (expected * (1 - expected) / 4000).sqrt()
    assert ((frac - expected).abs() < 5 * sigma).all(), (frac, expected)


def test_points_on_sphere_mesh_surface():
    m = ico_sphere(2, dtype=torch.float64)
    p = sample_points_from_meshes(m, 2000, generator=torch.Generator().manual_seed(4))
    assert mesh_distance(m, p).max() < 1e-12


def test_uniform_by_area_and_within_triangle():
    v, f = _two_triangles()
    s = 20000
    p = sample_points_from_meshes(Meshes([v], [f]), s, generator=torch.Generator().manual_seed(2))
    in_first = p[0, :, 0] <= 1.0
    n1 = int(in_first.sum())
    # binomial(s, 0.25): 5-sigma bound
    assert abs(n1 - s * 0.25) < 5 * (s * 0.25 * 0.75) ** 0.5
    # inside triangle 0 (x, y >= 0, x + y <= 1): the corner sub-triangle x + y <= 0.5 has 1/4
    q = p[0][in_first]
    assert (q[:, 0] >= -1e-6).all() and (q[:, 1] >= -1e-6).all()
    assert (q[:, 0] + q[:, 1] <= 1 + 1e-6).all()
    k = int((q[:, 0] + q[:, 1] <= 0.5).sum())
    assert abs(k - n1 * 0.25) < 5 * (n1 * 0.25 * 0.75) ** 0.5
    assert torch.all(p[0, :, 2] == 0)


def test_gradcheck_wrt_verts():
    v, f = _two_triangles()
    v = v.double().requires_grad_()

    def fn(verts):
        m = Meshes([verts], [f])
        return sample_points_from_meshes(m, 16, generator=torch.Generator().manual_seed(3))

    assert torch.autograd.gradcheck(fn, (v,), eps=1e-6, atol=1e-5)


def test_errors_zero_area_and_no_faces():
    v, f = _two_triangles()
    flat = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    m = Meshes([v, flat], [f, torch.tensor([[0, 1, 2]])])
    with pytest.raises(InputError, match=r"meshes\[1\].*area"):
        sample_points_from_meshes(m, 10)
    m = Meshes([v, v], [f, torch.zeros(0, 3, dtype=torch.int64)])
    with pytest.raises(InputError, match=r"meshes\[1\] with no faces"):
        sample_points_from_meshes(m, 10)
    with pytest.raises(InputError, match="num_samples"):
        sample_points_from_meshes(Meshes([v], [f]), 0)
    with pytest.raises(InputError, match="meshes"):
        sample_points_from_meshes(v, 10)


def test_device_dtype(device, dtype):
    """Samples and normals on ``device`` in ``dtype``, on the surface; a generator on the
    device gives reproducible samples there."""
    m = Meshes([ico_sphere(1, dtype=torch.float64).verts_packed(),
                box_mesh(2.0, dtype=torch.float64).verts_packed()],
               [ico_sphere(1).faces_packed(), box_mesh(2.0).faces_packed()])
    md = m.to(device, dtype)
    with default_device_elsewhere():
        p, n = sample_points_from_meshes(md, 300, return_normals=True,
                                         generator=torch.Generator(device).manual_seed(0))
        again = sample_points_from_meshes(md, 300, generator=torch.Generator(device).manual_seed(0))
        free = sample_points_from_meshes(md, 10)
    assert_on(p, device, dtype)
    assert_on(n, device, dtype, "normals")
    assert_on(free, device, dtype)
    assert torch.equal(p, again)
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert mesh_distance(m, p.double().cpu()).max() < tol
    close(n.norm(dim=-1), torch.ones(2, 300, dtype=torch.float64), dtype)
