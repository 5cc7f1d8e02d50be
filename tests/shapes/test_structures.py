"""Tests of Meshes, Pointclouds, VoxelGrid and cameras against naive references."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.structures import (
    CameraExtrinsics,
    CameraIntrinsics,
    Meshes,
    Pointclouds,
    VoxelGrid,
    join_meshes_as_batch,
    join_meshes_as_scene,
    join_pointclouds_as_batch,
    look_at,
)
from tests._matrix import check_op


def tetra(dtype=torch.float32, offset=0.0):
    v = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=dtype) + offset
    f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return v, f


def two_meshes():
    v0, f0 = tetra()
    v1 = torch.tensor([[0, 0, 0], [2, 0, 0], [0, 2, 0]], dtype=torch.float32)
    f1 = torch.tensor([[0, 1, 2]])
    return Meshes([v0, v1], [f0, f1])


def test_meshes_views():
    m = two_meshes()
    assert m.num_verts_per_mesh().tolist() == [4, 3]
    assert m.num_faces_per_mesh().tolist() == [4, 1]
    assert m.verts_packed().shape == (7, 3)
    assert m.verts_padded().shape == (2, 4, 3)
    assert m.verts_padded()[1, 3].eq(0).all()
    assert m.faces_padded().shape == (2, 4, 3)
    assert m.faces_padded()[1, 1:].eq(-1).all()
    assert m.faces_packed()[-1].tolist() == [4, 5, 6]
    assert m.mesh_to_verts_packed_first_idx().tolist() == [0, 4]
    assert m.verts_packed_to_mesh_idx().tolist() == [0] * 4 + [1] * 3
    assert m.faces_packed_to_mesh_idx().tolist() == [0] * 4 + [1]
    # padded construction round trip
    m2 = Meshes(m.verts_padded(), m.faces_padded(), verts_lengths=m.num_verts_per_mesh())
    assert torch.equal(m2.verts_packed(), m.verts_packed())
    assert torch.equal(m2.faces_packed(), m.faces_packed())


def test_edges_reference():
    m = two_meshes()
    ref = set()
    for f in m.faces_packed().tolist():
        for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])):
            ref.add((min(a, b), max(a, b)))
    assert sorted(ref) == [tuple(e) for e in m.edges_packed().tolist()]
    assert m.num_edges_per_mesh().tolist() == [6, 3]
    f2e = m.faces_packed_to_edges_packed()
    edges = m.edges_packed()
    for fi, f in enumerate(m.faces_packed().tolist()):
        for k in range(3):
            a, b = f[(k + 1) % 3], f[(k + 2) % 3]
            assert sorted((a, b)) == edges[f2e[fi, k]].tolist()


def test_normals_and_areas():
    m = two_meshes()
    areas = m.faces_areas_packed()
    assert torch.allclose(areas[:3], torch.full((3,), 0.5))
    assert torch.allclose(areas[3], torch.tensor(3**0.5 / 2))
    assert torch.allclose(areas[4], torch.tensor(2.0))
    fn = m.faces_normals_packed()
    # tetra faces point outwards: face 0 is in z=0 plane, outward normal -z
    assert torch.allclose(fn[0], torch.tensor([0.0, 0.0, -1.0]))
    assert torch.allclose(fn[3], torch.full((3,), 3**-0.5))
    vn = m.verts_normals_packed()
    assert torch.allclose(vn.norm(dim=1), torch.ones(7))
    # vertex 0 of the tetra: area weighted mean of -x,-y,-z faces
    assert torch.allclose(vn[0], -torch.full((3,), 3**-0.5), atol=1e-6)
    assert torch.allclose(vn[4], torch.tensor([0.0, 0.0, 1.0]))


def test_degenerate_face_normal_is_zero():
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    m = Meshes([v], [torch.tensor([[0, 1, 2]])])
    assert m.faces_normals_packed().eq(0).all()
    assert m.faces_areas_packed().eq(0).all()


def test_normals_gradcheck():
    v, f = tetra(torch.float64)
    v = (v + 0.1 * torch.rand_like(v)).requires_grad_()

    def fn(verts):
        m = Meshes([verts], [f])
        return m.faces_normals_packed(), m.faces_areas_packed(), m.verts_normals_packed()

    assert torch.autograd.gradcheck(fn, (v,))


def test_laplacian_reference():
    m = two_meshes()
    L = m.laplacian_packed().to_dense()
    x = m.verts_packed()
    ref = torch.zeros_like(x)
    nbrs = {i: set() for i in range(x.shape[0])}
    for a, b in m.edges_packed().tolist():
        nbrs[a].add(b)
        nbrs[b].add(a)
    for i, ns in nbrs.items():
        ref[i] = sum(x[j] for j in ns) / len(ns) - x[i]
    assert torch.allclose(L @ x, ref, atol=1e-6)


def test_bad_input_messages():
    v, f = tetra()
    with pytest.raises(InputError, match=r"faces\[0\]: expected vertex indices in \[0, 3\]"):
        Meshes([v], [f + 1])
    with pytest.raises(InputError, match=r"verts\[0\]: expected shape \(V, 3\), got \(4, 2\)"):
        Meshes([v[:, :2]], [f])
    bad = v.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="finite"):
        Meshes([bad], [f])
    with pytest.raises(InputError, match="expected 1 meshes"):
        Meshes([v], [f, f])
    with pytest.raises(InputError, match="int"):
        Meshes([v], [f.float()])
    with pytest.raises(InputError):
        Pointclouds([torch.zeros(3, 2)])
    with pytest.raises(InputError, match="voxel_size"):
        VoxelGrid(torch.zeros(1, 2, 2, 2), voxel_size=0)


def test_empty_and_indexing():
    v, f = tetra()
    empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)])
    assert empty.isempty()
    assert empty.edges_packed().shape == (0, 2)
    assert empty.verts_normals_packed().shape == (0, 3)
    batch = join_meshes_as_batch([Meshes([v], [f]), empty, two_meshes()])
    assert len(batch) == 4
    assert batch.num_faces_per_mesh().tolist() == [4, 0, 4, 1]
    assert batch[1].isempty()
    assert batch[[0, 3]].num_verts_per_mesh().tolist() == [4, 3]
    assert batch[torch.tensor([True, False, False, True])].num_verts_per_mesh().tolist() == [4, 3]
    assert batch[-1].num_faces_per_mesh().tolist() == [1]
    bb = batch.get_bounding_boxes()
    assert torch.isnan(bb[1]).all() and bb[0, :, 1].tolist() == [1, 1, 1]
    scene = join_meshes_as_scene(two_meshes())
    assert len(scene) == 1 and scene.num_faces_per_mesh().tolist() == [5]
    assert len(two_meshes().extend(3)) == 6


def test_update_and_offset_keep_grad():
    m = two_meshes()
    offs = torch.zeros(7, 3, requires_grad=True)
    m2 = m.offset_verts(offs)
    m2.faces_areas_packed().sum().backward()
    assert offs.grad is not None and offs.grad.abs().sum() > 0
    new = m.verts_padded() * 2
    m3 = m.update_padded(new)
    assert torch.allclose(m3.faces_areas_packed(), 4 * m.faces_areas_packed())
    assert torch.allclose(m.scale_verts(2.0).verts_packed(), m3.verts_packed())


def test_pointclouds_views():
    a, b = torch.rand(5, 3), torch.rand(2, 3)
    pc = Pointclouds([a, b], normals=[torch.rand(5, 3), torch.rand(2, 3)])
    assert pc.points_padded().shape == (2, 5, 3)
    assert pc.points_packed().shape == (7, 3)
    assert pc.packed_to_cloud_idx().tolist() == [0] * 5 + [1] * 2
    assert pc.cloud_to_packed_first_idx().tolist() == [0, 5]
    flat = pc.points_padded().reshape(-1, 3)
    assert torch.equal(flat[pc.padded_to_packed_idx()], pc.points_packed())
    assert pc.normals_padded().shape == (2, 5, 3)
    both = join_pointclouds_as_batch([pc, pc[1]])
    assert both.num_points_per_cloud().tolist() == [5, 2, 2]
    padded = Pointclouds(torch.rand(2, 4, 3), lengths=[4, 1])
    assert padded.num_points_per_cloud().tolist() == [4, 1]
    empty = Pointclouds([torch.zeros(0, 3)])
    assert empty.isempty() and empty.points_padded().shape == (1, 0, 3)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 6), st.integers(1, 6), st.integers(1, 6),
    st.floats(0.01, 3.0), st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5),
)
def test_voxel_index_world_roundtrip(d, h, w, size, ox, oy, oz):
    g = VoxelGrid(torch.zeros(d, h, w), origin=(ox, oy, oz), voxel_size=size)
    idx = torch.stack(
        torch.meshgrid(torch.arange(d), torch.arange(h), torch.arange(w), indexing="ij"), -1
    ).reshape(-1, 3)
    xyz = g.index_to_world(idx)
    back = g.world_to_index(xyz)
    assert torch.allclose(back, idx.float(), atol=1e-3)
    vox, inside = g.world_to_voxel(xyz)
    assert inside.all() and torch.equal(vox, idx)
    b = g.bounds()[0]
    assert torch.allclose(b[:, 0], torch.tensor([ox, oy, oz], dtype=torch.float32))
    assert torch.allclose(b[:, 1] - b[:, 0], torch.tensor([w, h, d]) * size, rtol=1e-4, atol=1e-5)


def test_voxel_centres_convention():
    g = VoxelGrid(torch.zeros(2, 3, 4), origin=(1.0, 2.0, 3.0), voxel_size=0.5)
    c = g.centers()
    assert c.shape == (2, 3, 4, 3)
    assert torch.allclose(c[1, 2, 3], torch.tensor([1 + 0.5 * 3.5, 2 + 0.5 * 2.5, 3 + 0.5 * 1.5]))
    _, inside = g.world_to_voxel(torch.tensor([[0.0, 0.0, 0.0]]))
    assert not inside.any()


def test_camera_project_unproject_and_K():
    K = CameraIntrinsics(100.0, 120.0, 31.5, 23.5, width=64, height=48)
    pts = torch.tensor([[[0.1, -0.2, 2.0], [0.0, 0.0, 1.0]]])
    uv = K.project(pts)
    assert torch.allclose(uv[0, 1], torch.tensor([31.5, 23.5]))
    assert torch.allclose(uv[0, 0], torch.tensor([100 * 0.05 + 31.5, 120 * -0.1 + 23.5]))
    assert torch.allclose(K.unproject(uv, pts[..., 2]), pts)
    K2 = CameraIntrinsics.from_K(K.K)
    assert torch.allclose(K2.K, K.K)
    s = K.scale(0.5)
    assert s.width == 32 and torch.allclose(s.cx, torch.tensor([15.5]))
    rays = K.pixel_rays(48, 64)
    assert torch.allclose(rays[0, 23, 31], torch.tensor([-0.005, -0.5 / 120, 1.0]), atol=1e-6)
    with pytest.raises(InputError, match="fx/fy"):
        CameraIntrinsics(0.0, 1.0, 0.0, 0.0)


def test_look_at_and_extrinsics():
    E = look_at([0.0, 0.0, -3.0])
    origin_cam = E.world_to_camera(torch.zeros(1, 1, 3))
    assert torch.allclose(origin_cam, torch.tensor([[[0.0, 0.0, 3.0]]]), atol=1e-6)
    up = E.world_to_camera(torch.tensor([[[0.0, 1.0, 0.0]]]))
    assert up[0, 0, 1] < 0  # world up appears towards -y (up in the image)
    assert torch.allclose(E.camera_centers(), torch.tensor([[0.0, 0.0, -3.0]]), atol=1e-6)
    p = torch.rand(1, 5, 3)
    assert torch.allclose(E.camera_to_world(E.world_to_camera(p)), p, atol=1e-6)
    inv = E.inverse()
    assert isinstance(inv, CameraExtrinsics)


def test_device_dtype(device, dtype):
    """Every derived view of the structures is computed on their device in their dtype (and
    equals the float64 CPU one); nothing is made on the default device."""
    v0, f0 = tetra(torch.float64)
    v1 = torch.tensor([[0, 0, 0], [2, 0, 0], [0, 2, 0]], dtype=torch.float64)
    meshes = Meshes([v0, v1], [f0, torch.tensor([[0, 1, 2]])])

    def mesh_views(m):
        return (m.verts_padded(), m.faces_padded(), m.edges_packed(), m.faces_areas_packed(),
                m.faces_normals_packed(), m.verts_normals_packed(), m.verts_packed_to_mesh_idx(),
                m.num_verts_per_mesh(), m.get_bounding_boxes(), m.laplacian_packed().to_dense(),
                m.offset_verts(torch.ones(3, dtype=m.verts_packed().dtype,
                                          device=m.verts_packed().device)).verts_packed(),
                join_meshes_as_scene(m).verts_packed(), join_meshes_as_batch([m, m]).faces_packed())

    check_op(mesh_views, (meshes,), device, dtype, grad=False)
    pcs = Pointclouds([v0, v1], normals=[v0, v1])

    def cloud_views(p):
        return (p.points_padded(), p.normals_padded(), p.packed_to_cloud_idx(),
                p.padded_to_packed_idx(), p.get_bounding_boxes(),
                join_pointclouds_as_batch([p, p]).points_packed())

    check_op(cloud_views, (pcs,), device, dtype, grad=False)
    grid = VoxelGrid(torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(0),
                                dtype=torch.float64), origin=(1.0, 2.0, 3.0), voxel_size=0.5)
    pts = torch.rand(1, 5, 3, dtype=torch.float64) * 3
    check_op(lambda g, p: (g.centers(), *g.world_to_voxel(p), g.occupied()), (grid, pts), device,
             dtype, grad=False)
    K = CameraIntrinsics(100.0, 120.0, 31.5, 23.5, width=64, height=48).to(dtype=torch.float64)
    E = look_at([0.0, 0.5, -3.0], dtype=torch.float64)
    p = torch.rand(1, 5, 3, dtype=torch.float64) + torch.tensor([0.0, 0.0, 2.0],
                                                                dtype=torch.float64)
    check_op(lambda k, e, x: (k.project(x), k.unproject(k.project(x), x[..., 2]),
                              k.pixel_rays(4, 6), e.world_to_camera(x), e.camera_centers()),
             (K, E, p), device, dtype)
