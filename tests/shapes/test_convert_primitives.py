"""Tests for spacetime.shapes.convert.primitives."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.convert import (
    box_mesh,
    cylinder_mesh,
    ico_sphere,
    subdivide_faces,
    subdivide_meshes,
    torus_mesh,
)
from spacetime.shapes.structures import Meshes
from tests._matrix import assert_on, check_op, close, default_device_elsewhere
from tests.shapes.test_convert_cubify import (
    euler_characteristic,
    is_manifold_closed,
    signed_volume,
)


def _area(v, f):
    t = v.detach().double()[f]
    return float(torch.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0], dim=1).norm(dim=1).sum() / 2)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_ico_sphere(level):
    m = ico_sphere(level)
    v, f = m.verts_list()[0], m.faces_list()[0]
    assert v.shape == (10 * 4**level + 2, 3) and f.shape == (20 * 4**level, 3)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(v.shape[0]))
    assert is_manifold_closed(f) and euler_characteristic(v, f) == 2
    assert 0 < signed_volume(v, f) < 4 / 3 * math.pi


def test_ico_sphere_cache_dtype_device():
    a = ico_sphere(2, dtype=torch.float64, device="cpu")
    b = ico_sphere(2, dtype=torch.float64)
    assert a.verts_list()[0].dtype == torch.float64
    torch.testing.assert_close(a.verts_list()[0], b.verts_list()[0])
    a.verts_list()[0].mul_(0)  # the cache must not be aliased by the returned mesh
    assert ico_sphere(2).verts_list()[0].norm(dim=1).min() > 0.99
    with pytest.raises(InputError, match="level"):
        ico_sphere(-1)


def test_box_cylinder_torus():
    b = box_mesh((1.0, 2.0, 3.0))
    v, f = b.verts_list()[0], b.faces_list()[0]
    assert v.shape == (8, 3) and f.shape == (12, 3) and is_manifold_closed(f)
    assert signed_volume(v, f) == pytest.approx(6.0)
    torch.testing.assert_close(v.max(0).values, torch.tensor([0.5, 1.0, 1.5]))
    c = cylinder_mesh(1.0, 2.0, sections=64)
    v, f = c.verts_list()[0], c.faces_list()[0]
    assert is_manifold_closed(f) and euler_characteristic(v, f) == 2
    assert signed_volume(v, f) == pytest.approx(2 * math.pi, rel=0.01)
    t = torus_mesh(1.0, 0.25, major_sections=64, minor_sections=32)
    v, f = t.verts_list()[0], t.faces_list()[0]
    assert is_manifold_closed(f) and euler_characteristic(v, f) == 0
    assert signed_volume(v, f) == pytest.approx(2 * math.pi**2 * 0.25**2, rel=0.02)
    with pytest.raises(InputError, match="major_radius"):
        torus_mesh(0.2, 0.25)
    with pytest.raises(InputError, match="size"):
        box_mesh((1.0, -1.0, 1.0))
    with pytest.raises(InputError, match="sections"):
        cylinder_mesh(sections=2)


def test_subdivide_faces_single_triangle():
    v = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0]])
    f = torch.tensor([[0, 1, 2]])
    v2, f2 = subdivide_faces(v, f)
    assert v2.shape == (6, 3) and f2.shape == (4, 3)
    # the three midpoints
    mids = {tuple(p) for p in v2[3:].tolist()}
    assert mids == {(1.0, 0.0, 0.0), (1.0, 1.0, 0.0), (0.0, 1.0, 0.0)}
    # winding kept: all normals +z
    t = v2[f2]
    n = torch.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0], dim=1)
    assert (n[:, 2] > 0).all()
    assert _area(v2, f2) == pytest.approx(2.0)


def test_subdivide_meshes_batch_and_grad():
    s = ico_sphere(0)
    b = box_mesh(1.0)
    verts = [s.verts_list()[0].clone().requires_grad_(), b.verts_list()[0]]
    m = Meshes(verts, [s.faces_list()[0], b.faces_list()[0]])
    out = subdivide_meshes(m)
    assert out.num_faces_per_mesh().tolist() == [80, 48]
    assert out.num_verts_per_mesh().tolist() == [12 + 30, 8 + 18]
    for v, f, v0, f0 in zip(out.verts_list(), out.faces_list(), m.verts_list(), m.faces_list()):
        assert is_manifold_closed(f)
        assert _area(v, f) == pytest.approx(_area(v0, f0), rel=1e-5)
        assert signed_volume(v, f) == pytest.approx(signed_volume(v0, f0), rel=1e-5)
    out.verts_list()[0].sum().backward()
    assert verts[0].grad is not None and torch.isfinite(verts[0].grad).all()
    two = subdivide_meshes(m, levels=2)
    assert two.num_faces_per_mesh().tolist() == [320, 192]
    assert subdivide_meshes(m, levels=0).num_faces_per_mesh().tolist() == [20, 12]
    with pytest.raises(InputError, match="meshes"):
        subdivide_meshes(torch.zeros(3, 3))


def test_device_dtype(device, dtype):
    """Builders put the mesh on ``device`` in ``dtype`` whatever the default device, and give
    the float64 CPU values; subdivision keeps device and dtype."""
    builders = [lambda **kw: ico_sphere(2, **kw), lambda **kw: box_mesh((1.0, 2.0, 0.5), **kw),
                lambda **kw: cylinder_mesh(0.5, 1.0, sections=8, **kw),
                lambda **kw: torus_mesh(1.0, 0.3, major_sections=6, minor_sections=4, **kw)]
    for build in builders:
        ref = build(dtype=torch.float64)
        with default_device_elsewhere():
            m = build(device=device, dtype=dtype)
        assert_on(m.verts_packed(), device, dtype, "verts")
        assert_on(m.faces_packed(), device, torch.int64, "faces")
        close(m.verts_packed(), ref.verts_packed(), dtype)
        assert torch.equal(m.faces_packed().cpu(), ref.faces_packed())
    m = ico_sphere(0, dtype=torch.float64)
    check_op(subdivide_meshes, (m,), device, dtype)
    check_op(subdivide_faces, (m.verts_packed(), m.faces_packed()), device, dtype)
