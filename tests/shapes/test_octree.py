import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.structures.octree import EMPTY, FULL, MIXED, Octree
from spacetime.shapes.structures.voxels import VoxelGrid


def _sphere(r: int, radius: float = 0.8, shell: float | None = None) -> torch.Tensor:
    ax = (torch.arange(r) + 0.5) / r * 2 - 1
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    rad = (x**2 + y**2 + z**2).sqrt()
    if shell is None:
        return rad < radius
    return (rad < radius) & (rad > radius - shell)


def _naive_octree_cells(grid: torch.Tensor) -> list[int]:
    """Slow reference: recursive subdivision of one cubic power-of-two grid."""
    counts: dict[int, int] = {}

    def rec(level, z, y, x, s):
        counts[level] = counts.get(level, 0) + 1
        block = grid[z : z + s, y : y + s, x : x + s]
        if bool((block == block.flatten()[0]).all()):
            return
        h = s // 2
        for dz in (0, h):
            for dy in (0, h):
                for dx in (0, h):
                    rec(level + 1, z + dz, y + dy, x + dx, h)

    rec(0, 0, 0, 0, grid.shape[0])
    return [counts[k] for k in sorted(counts)]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    d=st.integers(1, 9),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_round_trip_random_bool(n, d, h, w, p, seed):
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand(n, d, h, w, generator=g) < p
    tree = Octree.from_dense(grid)
    assert torch.equal(tree.to_dense(), grid)
    idx = torch.stack(
        [torch.randint(0, s, (50,), generator=g) for s in (n, d, h, w)], dim=1
    )
    assert torch.equal(tree.query_index(idx), grid[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]])


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_round_trip_random_float_values(d, seed):
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand(1, d, d + 1, 3, generator=g, dtype=torch.float64)
    grid[grid < 0.4] = 0
    grid[grid > 0.7] = 1
    tree = Octree.from_dense(grid)
    back = tree.to_dense()
    assert back.dtype == torch.float64 and torch.equal(back, grid)


def test_structured_sphere_and_cell_counts_match_naive():
    ball = _sphere(16)
    tree = Octree.from_dense(ball)
    assert torch.equal(tree.to_dense()[0], ball)
    assert tree.num_cells_per_level() == _naive_octree_cells(ball)
    assert tree.num_cells() == sum(tree.num_cells_per_level())
    # an all-empty and an all-full grid are one leaf each
    empty = Octree.from_dense(torch.zeros(8, 8, 8, dtype=torch.bool))
    assert empty.num_cells_per_level() == [1, 0, 0, 0]
    full = Octree.from_dense(torch.ones(2, 8, 8, 8, dtype=torch.bool))
    assert full.states[0].tolist() == [FULL, FULL]
    assert torch.equal(full.to_dense(), torch.ones(2, 8, 8, 8, dtype=torch.bool))


def test_sphere_shell_memory_much_smaller_than_dense():
    shell = _sphere(128, shell=2.5 / 64)
    tree = Octree.from_dense(shell)
    assert torch.equal(tree.to_dense()[0], shell)
    assert tree.dense_memory_bytes() == 128**3
    assert tree.memory_bytes() * 10 < tree.dense_memory_bytes()


def test_one_voxel_and_padding_and_states():
    tree = Octree.from_dense(torch.ones(1, 1, 1, dtype=torch.bool))
    assert tree.depth == 0 and torch.equal(tree.to_dense(), torch.ones(1, 1, 1, 1, dtype=bool))
    grid = torch.zeros(1, 3, 5, 2, dtype=torch.bool)
    grid[0, 2, 4, 1] = True
    tree = Octree.from_dense(grid, max_depth=4)
    assert tree.side == 16 and tree.shape == (3, 5, 2)
    assert torch.equal(tree.to_dense(), grid)
    assert tree.states[0].tolist() == [MIXED]
    assert set(tree.states[-1].tolist()) <= {EMPTY, FULL}


def test_from_points_matches_dense_reference():
    torch.manual_seed(0)
    pts = torch.rand(500, 3) * torch.tensor([2.0, 1.0, 0.5])
    tree = Octree.from_points(pts, 4)
    side = 16
    ijk = torch.floor((pts.double() - tree.origin[0].double()) / tree.voxel_size[0].double())
    ijk = ijk.long()
    ref = torch.zeros(side, side, side, dtype=torch.bool)
    ref[ijk[:, 2], ijk[:, 1], ijk[:, 0]] = True
    assert torch.equal(tree.to_dense()[0], ref)
    assert bool(tree.query(pts).all())
    # the same tree as building from the dense grid
    assert tree.num_cells_per_level() == Octree.from_dense(ref).num_cells_per_level()
    # explicit bounds, batch, points outside ignored
    two = torch.stack([pts, pts + 10])
    tree2 = Octree.from_points(two, 3, bounds=((0, 0, 0), (2, 2, 2)))
    dense = tree2.to_dense()
    assert dense[0].any() and not dense[1].any()
    assert float(tree2.voxel_size[0]) == pytest.approx(0.25)


def test_from_points_empty_cloud():
    tree = Octree.from_points(torch.zeros(0, 3), 3)
    assert tree.num_cells_per_level() == [1, 0, 0, 0] and not tree.to_dense().any()


def test_voxelgrid_in_out_and_world_query():
    grid = _sphere(8)
    vg = VoxelGrid(grid.float(), origin=(1.0, 2.0, 3.0), voxel_size=0.5)
    tree = Octree.from_dense(vg)
    assert torch.equal(tree.origin[0], torch.tensor([1.0, 2.0, 3.0]))
    back = tree.to_voxelgrid()
    assert torch.equal(back.grid, vg.grid)
    centres = vg.centers(0).reshape(-1, 3)
    assert torch.equal(tree.query(centres), grid.flatten().float())
    outside = torch.tensor([[0.0, 0.0, 0.0], [100.0, 2.5, 3.5], [float("nan"), 2.5, 3.5]])
    assert tree.query(outside).tolist() == [0.0, 0.0, 0.0]


def test_to_device_and_repr():
    tree = Octree.from_dense(_sphere(8)).to("cpu")
    assert "depth=3" in repr(tree) and len(tree) == 1


def test_bad_inputs():
    with pytest.raises(InputError, match="grid: expected shape"):
        Octree.from_dense(torch.zeros(2, 2))
    with pytest.raises(InputError, match="grid: expected finite"):
        Octree.from_dense(torch.tensor([[[float("nan")]]]))
    with pytest.raises(InputError, match="grid: expected a bool or floating"):
        Octree.from_dense(torch.zeros(2, 2, 2, dtype=torch.int32))
    with pytest.raises(InputError, match="max_depth: expected >= 3"):
        Octree.from_dense(torch.zeros(5, 5, 5), max_depth=2)
    with pytest.raises(InputError, match="points"):
        Octree.from_points(torch.zeros(4, 2), 3)
    with pytest.raises(InputError, match="depth"):
        Octree.from_points(torch.zeros(4, 3), -1)
    with pytest.raises(InputError, match="bounds"):
        Octree.from_points(torch.zeros(4, 3), 2, bounds=((0, 0, 0), (0, 1, 1)))
    with pytest.raises(InputError, match="states"):
        Octree([torch.tensor([MIXED], dtype=torch.uint8), torch.zeros(3)], [torch.zeros(0)] * 2,
               shape=(2, 2, 2))
    with pytest.raises(InputError, match="idx"):
        Octree.from_dense(_sphere(4)).query_index(torch.zeros(3, 3, dtype=torch.long))


def test_mesh_to_octree_matches_voxelize_mesh():
    from spacetime.shapes.convert import ico_sphere, mesh_to_octree, voxelize_mesh

    mesh = ico_sphere(1)
    tree = mesh_to_octree(mesh, 3, mode="surface")
    ref = voxelize_mesh(mesh, 8, mode="surface")
    assert tree.dtype == torch.bool
    assert torch.equal(tree.to_dense(), ref.grid > 0.5)
    assert torch.equal(tree.origin, ref.origin) and torch.equal(tree.voxel_size, ref.voxel_size)
