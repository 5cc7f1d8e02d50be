"""Tests for spacetime.shapes.convert.cubify (and the mesh-checking helpers other convert tests
reuse: ``is_closed``, ``signed_volume``, ``euler_characteristic``)."""

from collections import Counter

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.convert import cubify
from spacetime.shapes.structures import VoxelGrid
from tests._matrix import check_op


def directed_edges(faces: torch.Tensor) -> Counter:
    f = faces.tolist()
    return Counter((a, b) for t in f for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))


def is_closed(faces: torch.Tensor) -> bool:
    """Closed, consistently oriented: every directed edge (a, b) is matched by as many (b, a).

    This allows non-manifold edges (4 faces, from voxels touching along an edge) but no
    boundary edge and no orientation flip."""
    de = directed_edges(faces)
    return all(de.get((b, a), 0) == c for (a, b), c in de.items())


def is_manifold_closed(faces: torch.Tensor) -> bool:
    """Every undirected edge in exactly two faces, with opposite directions."""
    de = directed_edges(faces)
    return all(c == 1 and de.get((b, a), 0) == 1 for (a, b), c in de.items())


def signed_volume(verts: torch.Tensor, faces: torch.Tensor) -> float:
    """Divergence theorem: sum over faces of det(a, b, c) / 6 (positive for outward winding)."""
    v = verts.detach().double()
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    return float((a * torch.cross(b, c, dim=1)).sum() / 6)


def euler_characteristic(verts: torch.Tensor, faces: torch.Tensor) -> int:
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).sort(dim=1).values
    n_e = torch.unique(e, dim=0).shape[0] if e.numel() else 0
    used = torch.unique(faces).numel()
    return used - n_e + faces.shape[0]


def reference_quads(occ: torch.Tensor) -> set:
    """Slow reference: the set of (x, y, z, axis, sign) boundary faces of one (D, H, W) grid."""
    d, h, w = occ.shape
    out = set()
    for z in range(d):
        for y in range(h):
            for x in range(w):
                if not occ[z, y, x]:
                    continue
                for axis in range(3):
                    for sign in (1, -1):
                        p = [x, y, z]
                        p[axis] += sign
                        nx, ny, nz = p
                        inside = 0 <= nx < w and 0 <= ny < h and 0 <= nz < d
                        if not (inside and occ[nz, ny, nx]):
                            out.add((x, y, z, axis, sign))
    return out


def mesh_quads(verts: torch.Tensor, faces: torch.Tensor) -> Counter:
    """Map each triangle of a voxel-unit cube mesh to the (voxel, axis, sign) face it covers."""
    v = verts.detach().double()
    tri = v[faces]
    n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    axis = n.abs().argmax(dim=1)
    sign = torch.sign(n[torch.arange(len(n)), axis]).long()
    centroid = tri.mean(1)
    unit = torch.zeros_like(centroid)
    unit[torch.arange(len(n)), axis] = sign.double()
    vox = torch.floor(centroid - 0.5 * unit).long()
    return Counter(
        (int(p[0]), int(p[1]), int(p[2]), int(a), int(s))
        for p, a, s in zip(vox, axis, sign)
    )


def test_block_2x2x2():
    m = cubify(torch.ones(1, 2, 2, 2))
    v, f = m.verts_list()[0], m.faces_list()[0]
    assert v.shape == (26, 3) and f.shape == (48, 3)
    assert is_manifold_closed(f)
    assert signed_volume(v, f) == pytest.approx(8.0)
    assert euler_characteristic(v, f) == 2
    assert v.min().item() == 0 and v.max().item() == 2


@given(
    st.integers(1, 2),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 4),
    st.floats(0.1, 0.9),
    st.integers(0, 2**31 - 1),
)
def test_random_grids_closed_volume_reference(n, d, h, w, p, seed):
    g = torch.Generator().manual_seed(seed)
    occ = torch.rand(n, d, h, w, generator=g) < p
    m = cubify(occ.float())
    assert len(m) == n
    for i in range(n):
        v, f = m.verts_list()[i], m.faces_list()[i]
        assert is_closed(f)
        assert signed_volume(v, f) == pytest.approx(float(occ[i].sum()))
        # no duplicated vertex positions and no unused vertex
        assert torch.unique(v, dim=0).shape[0] == v.shape[0]
        assert torch.unique(f).numel() == v.shape[0]
        quads = mesh_quads(v, f)
        assert all(c == 2 for c in quads.values())
        assert set(quads) == reference_quads(occ[i])


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))
def test_solid_block_euler_2(d, h, w):
    m = cubify(torch.ones(1, d, h, w))
    v, f = m.verts_list()[0], m.faces_list()[0]
    assert is_manifold_closed(f)
    assert euler_characteristic(v, f) == 2
    assert signed_volume(v, f) == pytest.approx(d * h * w)


def test_edge_touching_voxels_non_manifold_but_closed():
    occ = torch.zeros(1, 1, 2, 2)
    occ[0, 0, 0, 0] = occ[0, 0, 1, 1] = 1  # touch along the z edge at x = y = 1
    m = cubify(occ)
    f = m.faces_list()[0]
    assert is_closed(f) and not is_manifold_closed(f)
    assert signed_volume(m.verts_list()[0], f) == pytest.approx(2.0)


def test_non_cubic_grid_keeps_cubes_and_world_coords():
    grid = torch.ones(1, 1, 2, 5)  # D=1 (z), H=2 (y), W=5 (x)
    vg = VoxelGrid(grid, origin=(1.0, -2.0, 3.0), voxel_size=0.5)
    v = cubify(vg).verts_list()[0]
    lo, hi = v.min(0).values, v.max(0).values
    torch.testing.assert_close(lo, torch.tensor([1.0, -2.0, 3.0]))
    torch.testing.assert_close(hi - lo, torch.tensor([2.5, 1.0, 0.5]))
    # every edge is axis-aligned with length voxel_size
    f = cubify(vg).faces_list()[0]
    e = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    vec = (v[e[:, 1]] - v[e[:, 0]]).abs()
    lens = vec.sort(dim=1).values
    axis_aligned = lens[:, :2].amax(1) == 0
    assert torch.allclose(lens[axis_aligned, 2], torch.tensor(0.5))
    # the other edges are square diagonals
    assert torch.allclose(vec[~axis_aligned].norm(dim=1), torch.tensor(0.5 * 2**0.5))


def test_batch_origin_voxel_size_per_item_and_overrides():
    grid = torch.ones(2, 1, 1, 1)
    vg = VoxelGrid(grid, origin=torch.tensor([[0.0, 0, 0], [10, 10, 10]]),
                   voxel_size=torch.tensor([1.0, 2.0]))
    m = cubify(vg)
    assert m.verts_list()[1].min().item() == 10 and m.verts_list()[1].max().item() == 12
    m2 = cubify(grid, voxel_size=0.25, origin=(1.0, 1.0, 1.0))
    assert m2.verts_list()[0].max().item() == pytest.approx(1.25)


def test_threshold_bool_and_dtype():
    g = torch.tensor([[[[0.2, 0.6, 0.5]]]], dtype=torch.float64)
    m = cubify(g, thresh=0.5)
    assert signed_volume(m.verts_list()[0], m.faces_list()[0]) == pytest.approx(1.0)
    assert m.verts_list()[0].dtype == torch.float64
    mb = cubify(g > 0.1)
    assert mb.verts_list()[0].dtype == torch.float32
    assert signed_volume(mb.verts_list()[0], mb.faces_list()[0]) == pytest.approx(3.0)


def test_empty_and_mixed_batch():
    occ = torch.zeros(2, 3, 3, 3)
    occ[1, 1, 1, 1] = 1
    m = cubify(occ)
    assert m.verts_list()[0].shape == (0, 3) and m.faces_list()[0].shape == (0, 3)
    assert m.faces_list()[1].shape == (12, 3) and m.verts_list()[1].shape == (8, 3)
    assert m.faces_list()[1].min() >= 0 and m.faces_list()[1].max() == 7


def test_bad_inputs():
    with pytest.raises(InputError, match=r"voxels: expected shape \(N, D, H, W\)"):
        cubify(torch.ones(2, 2, 2))
    with pytest.raises(InputError, match="voxels: expected a"):
        cubify([[1.0]])
    with pytest.raises(InputError, match="NaN"):
        cubify(torch.full((1, 1, 1, 1), float("nan")))
    with pytest.raises(InputError, match="voxel_size"):
        cubify(torch.ones(1, 1, 1, 1), voxel_size=-1.0)
    with pytest.raises(InputError, match="origin"):
        cubify(torch.ones(1, 1, 1, 1), origin=(0.0, 0.0))
    with pytest.raises(InputError, match="N=0"):
        cubify(torch.ones(0, 1, 1, 1))


def test_corner_table_and_sort_paths_agree():
    """Dense outputs number corners with a table, sparse ones with a sort: same meshes."""
    from spacetime.shapes.convert.cubify import cubify_indices

    g = torch.Generator().manual_seed(3)
    small = torch.rand(2, 6, 5, 7, generator=g) > 0.6  # table path (few corners)
    big = torch.zeros(2, 70, 66, 68, dtype=torch.bool)  # same voxels in a large, sparse grid
    big[:, 10:16, 20:25, 30:37] = small
    c_small, vm_small, t_small, tm_small = cubify_indices(small)
    c_big, vm_big, t_big, tm_big = cubify_indices(big)
    assert torch.equal(c_big - torch.tensor([30, 20, 10]), c_small)
    assert torch.equal(vm_big, vm_small) and torch.equal(tm_big, tm_small)
    assert torch.equal(t_big, t_small)


def test_device_dtype(device, dtype):
    occ = (torch.rand(2, 3, 4, 3, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    check_op(cubify, (occ,), device, dtype, grad=False)
    check_op(lambda g: cubify(VoxelGrid(g, origin=(0.5, 0.0, -1.0), voxel_size=0.25)), (occ,),
             device, dtype, grad=False)
