"""Tests for spacetime.shapes.convert.mesh_distance (distance, winding number, SDF, occupancy)."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.convert import (
    Box,
    box_mesh,
    closest_points_on_triangles,
    ico_sphere,
    mesh_distance,
    mesh_occupancy,
    mesh_sdf,
    torus_mesh,
    winding_number,
)
from spacetime.shapes.structures import Meshes, Pointclouds
from tests._matrix import check_op


def _seg_closest(p, a, b):
    ab = b - a
    t = float(torch.dot(p - a, ab) / torch.dot(ab, ab).clamp_min(1e-30))
    return a + ab * min(max(t, 0.0), 1.0)


def _ref_closest(p, a, b, c):
    """Obviously-correct reference: plane projection if inside, else the best edge point."""
    n = torch.cross(b - a, c - a, dim=0)
    q = p - n * torch.dot(p - a, n) / torch.dot(n, n)
    inside = all(
        torch.dot(torch.cross(y - x, q - x, dim=0), n) >= 0 for x, y in ((a, b), (b, c), (c, a))
    )
    if inside:
        return q
    cands = [_seg_closest(p, a, b), _seg_closest(p, b, c), _seg_closest(p, c, a)]
    return min(cands, key=lambda r: float((r - p).norm()))


def _ref_mesh_distance(verts, faces, points):
    out = []
    for p in points:
        out.append(min(float((_ref_closest(p, *verts[f]) - p).norm()) for f in faces))
    return torch.tensor(out, dtype=torch.float64)


def test_closest_points_against_reference():
    g = torch.Generator().manual_seed(0)
    tri = torch.randn(200, 3, 3, generator=g, dtype=torch.float64)
    p = torch.randn(200, 3, generator=g, dtype=torch.float64) * 2
    q = closest_points_on_triangles(p, tri[:, 0], tri[:, 1], tri[:, 2])
    ref = torch.stack([_ref_closest(p[i], *tri[i]) for i in range(200)])
    torch.testing.assert_close(q, ref, atol=1e-9, rtol=0)


def test_mesh_distance_against_loop_reference_and_chunking():
    m = ico_sphere(1, dtype=torch.float64)
    pts = torch.randn(1, 40, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d = mesh_distance(m, pts)
    ref = _ref_mesh_distance(m.verts_list()[0], m.faces_list()[0], pts[0])
    torch.testing.assert_close(d[0], ref, atol=1e-9, rtol=0)
    torch.testing.assert_close(mesh_distance(m, pts, chunk_size=7), d)
    torch.testing.assert_close(mesh_distance(m, pts, squared=True), d**2)


def test_culling_matches_brute_force_on_triangle_soup():
    """Triangles of very different sizes (the bounding-sphere culling must stay exact)."""
    g = torch.Generator().manual_seed(5)
    centres = torch.randn(300, 1, 3, generator=g, dtype=torch.float64)
    sizes = torch.rand(300, 1, 1, generator=g, dtype=torch.float64) ** 3 * 2
    tri = centres + sizes * torch.randn(300, 3, 3, generator=g, dtype=torch.float64)
    m = Meshes([tri.reshape(-1, 3)], [torch.arange(900).reshape(300, 3)])
    pts = torch.randn(1, 500, 3, generator=g, dtype=torch.float64) * 1.5
    q = closest_points_on_triangles(pts[0, :, None], tri[None, :, 0], tri[None, :, 1],
                                    tri[None, :, 2])
    ref = ((q - pts[0, :, None]) ** 2).sum(-1).amin(1).sqrt()
    for chunk in (1 << 16, 50):
        torch.testing.assert_close(mesh_distance(m, pts, chunk_size=chunk)[0], ref,
                                   atol=1e-12, rtol=0)


def test_box_distance_and_sdf_analytic():
    m = box_mesh((1.0, 2.0, 3.0), dtype=torch.float64)
    pts = torch.rand(1, 300, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    pts = (pts - 0.5) * 6
    exact = Box((1.0, 2.0, 3.0))(pts)
    torch.testing.assert_close(mesh_distance(m, pts), exact.abs(), atol=1e-9, rtol=0)
    torch.testing.assert_close(mesh_sdf(m, pts), exact, atol=1e-9, rtol=0)
    torch.testing.assert_close(mesh_occupancy(m, pts), exact < 0)


def test_sphere_sdf_and_winding():
    m = ico_sphere(3, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    pts = torch.randn(1, 200, 3, generator=g, dtype=torch.float64) * 0.8
    exact = pts.norm(dim=-1) - 1
    far = exact.abs() > 0.02
    sdf = mesh_sdf(m, pts)
    # level-3 ico-sphere deviates from the unit sphere by < 0.01
    assert (sdf - exact).abs().max() < 0.01
    assert torch.equal(sdf[far] < 0, exact[far] < 0)
    wn = winding_number(m, pts)
    torch.testing.assert_close(wn[far], (exact[far] < 0).double(), atol=1e-6, rtol=0)


def test_winding_number_robust_to_hole_and_inverted():
    m = ico_sphere(2, dtype=torch.float64)
    v, f = m.verts_list()[0], m.faces_list()[0]
    holed = Meshes([v], [f[1:]])
    centre = torch.zeros(1, 1, 3, dtype=torch.float64)
    w = winding_number(holed, centre)
    assert 0.9 < float(w) < 1.0
    assert bool(mesh_occupancy(holed, centre))
    inverted = Meshes([v], [f.flip(1)])
    assert float(winding_number(inverted, centre)) == pytest.approx(-1.0)


def test_approximate_winding_number():
    m = torus_mesh(1.0, 0.4, major_sections=64, minor_sections=16, dtype=torch.float64)
    v, f = m.verts_list()[0], m.faces_list()[0]
    holed = Meshes([v, v], [f, f[7:]])
    pts = torch.randn(2, 300, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    exact = winding_number(holed, pts)
    approx = winding_number(holed, pts, approximate=True)
    assert (exact - approx).abs().max() < 0.1
    clear = (exact - 0.5).abs() > 0.1
    assert torch.equal((approx > 0.5)[clear], (exact > 0.5)[clear])
    torch.testing.assert_close(
        mesh_sdf(m, pts[:1], approximate=True).abs(), mesh_distance(m, pts[:1])
    )
    assert torch.equal(mesh_occupancy(m, pts[:1], approximate=True)[clear[:1]],
                       (exact[:1] > 0.5)[clear[:1]])


def test_gradients():
    m = box_mesh(2.0, dtype=torch.float64)
    pts = torch.tensor([[[1.5, 0.2, 0.3], [0.1, -2.0, 0.4], [0.3, 0.2, 0.1]]],
                       dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: mesh_distance(m, p), (pts,))
    v = m.verts_list()[0].clone().requires_grad_()
    f = m.faces_list()[0]
    assert torch.autograd.gradcheck(
        lambda vv: mesh_distance(Meshes([vv], [f]), pts.detach()), (v,)
    )


def test_layouts_and_errors():
    m = Meshes(
        [ico_sphere(1).verts_list()[0], box_mesh().verts_list()[0]],
        [ico_sphere(1).faces_list()[0], box_mesh().faces_list()[0]],
    )
    plist = [torch.zeros(3, 3), torch.ones(5, 3)]
    out = mesh_distance(m, plist)
    assert isinstance(out, list) and [o.shape[0] for o in out] == [3, 5]
    assert ((out[0] > 0.9) & (out[0] <= 1)).all()  # inradius of a level-1 ico-sphere
    torch.testing.assert_close(out[1], torch.full((5,), math.sqrt(3 * 0.25)))
    out_pc = mesh_sdf(m, Pointclouds(plist))
    assert isinstance(out_pc, list) and float(out_pc[0][0]) < 0
    occ = mesh_occupancy(m, torch.zeros(2, 4, 3))
    assert occ.dtype == torch.bool and occ.all()
    with pytest.raises(InputError, match="expected 2 point sets"):
        mesh_distance(m, torch.zeros(1, 4, 3))
    with pytest.raises(InputError, match=r"points: expected shape \(N, P, 3\)"):
        mesh_distance(m, torch.zeros(2, 4, 2))
    empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)])
    with pytest.raises(InputError, match=r"meshes\[0\] with no faces"):
        mesh_distance(empty, torch.zeros(1, 2, 3))
    torch.testing.assert_close(winding_number(empty, torch.zeros(1, 2, 3)), torch.zeros(1, 2))
    with pytest.raises(InputError, match="chunk_size"):
        mesh_distance(m, plist, chunk_size=0)


def test_device_dtype(device, dtype):
    m = ico_sphere(1, dtype=torch.float64)
    pts = torch.randn(1, 30, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    tri = torch.randn(3, 20, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    check_op(closest_points_on_triangles, (pts[0, :20], *tri), device, dtype)
    check_op(mesh_distance, (m, pts), device, dtype)
    check_op(winding_number, (m, pts), device, dtype, grad=False)
    check_op(lambda a, b: winding_number(a, b, approximate=True), (m, pts), device, dtype,
             grad=False)
    check_op(mesh_sdf, (m, pts), device, dtype)
    check_op(mesh_occupancy, (m, pts), device, dtype, grad=False)
