import numpy as np
import pytest
import torch

from spacetime.errors import DependencyError, FileFormatError, InputError, MissingFileError
from spacetime.shapes.io import (
    detect_kind,
    from_trimesh,
    load,
    load_depth,
    load_mesh,
    load_normals,
    load_pointcloud,
    load_voxels,
    read_binvox,
    save,
    save_depth,
    save_mesh,
    save_normals,
    save_pointcloud,
    save_voxels,
    to_trimesh,
)
from spacetime.shapes.structures import Meshes, Pointclouds, VoxelGrid


def _tetra(**kw) -> Meshes:
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.25]])
    f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Meshes([v], [f], **kw)


def _equal_mesh(a: Meshes, b: Meshes) -> None:
    assert torch.equal(a.verts_packed(), b.verts_packed())
    assert torch.equal(a.faces_packed(), b.faces_packed())


@pytest.mark.parametrize("ext", [".obj", ".ply", ".off", ".glb"])
def test_mesh_round_trip_keeps_vertex_order(tmp_path, ext):
    torch.manual_seed(0)
    m = _tetra()
    perm = torch.tensor([2, 0, 3, 1])  # a non-trivial vertex order must survive
    inv = torch.argsort(perm)
    m = Meshes([m.verts_packed()[perm]], [inv[m.faces_packed()]])
    save_mesh(m, tmp_path / f"m{ext}")
    back = load_mesh(tmp_path / f"m{ext}")
    _equal_mesh(m, back)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{ext}"]  # no temp files left


def test_stl_round_trip_merges_soup(tmp_path):
    m = _tetra()
    save_mesh(m, tmp_path / "m.stl")
    assert (tmp_path / "m.stl").stat().st_size == 84 + 50 * 4
    back = load_mesh(tmp_path / "m.stl")
    assert back.verts_packed().shape == (4, 3)  # identical corners merged again
    tri = m.verts_packed()[m.faces_packed()]
    assert torch.equal(back.verts_packed()[back.faces_packed()], tri)
    (tmp_path / "a.stl").write_text(
        "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
        "endloop\nendfacet\nendsolid t\n"
    )
    assert load_mesh(tmp_path / "a.stl").faces_packed().tolist() == [[0, 1, 2]]


def test_obj_colors_normals_uvs_texture(tmp_path):
    colors = torch.rand(4, 3)
    normals = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    uvs = torch.rand(5, 2)
    fuvs = torch.tensor([[0, 1, 2], [0, 2, 3], [1, 3, 4], [4, 2, 0]])
    tex = torch.rand(8, 6, 3)
    m = _tetra(verts_colors=[colors], verts_normals=[normals], verts_uvs=[uvs],
               faces_uvs=[fuvs], texture_images=[tex])
    save_mesh(m, tmp_path / "t.obj")
    assert {p.name for p in tmp_path.iterdir()} == {"t.obj", "t.mtl", "t.png"}
    back = load_mesh(tmp_path / "t.obj")
    _equal_mesh(m, back)
    assert torch.allclose(back.verts_colors_list()[0], colors, atol=1e-6)
    assert torch.allclose(back.verts_normals_list()[0], normals, atol=1e-6)
    assert torch.allclose(back.verts_uvs_list()[0], uvs, atol=1e-6)
    assert torch.equal(back.faces_uvs_list()[0], fuvs)
    assert (back.texture_images_list()[0] - tex).abs().max() <= 0.5 / 255 + 1e-6


def test_obj_polygons_negative_indices_and_comments(tmp_path):
    (tmp_path / "q.obj").write_text(
        "# a quad and a triangle\no thing\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0 # c\n"
        "vn 0 0 1\nf 1//1 2//1 3//1 4//1\nf -4 -3 -1\n"
    )
    m = load_mesh(tmp_path / "q.obj")
    assert m.faces_packed().tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 3]]


@pytest.mark.parametrize("binary", [True, False])
def test_ply_binary_ascii_with_normals_colors(tmp_path, binary):
    colors = torch.tensor([[0, 0.5, 1], [1, 1, 1], [0, 0, 0], [0.2, 0.4, 0.6]])
    normals = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    m = _tetra(verts_colors=[colors], verts_normals=[normals])
    save_mesh(m, tmp_path / "m.ply", binary=binary)
    head = (tmp_path / "m.ply").read_bytes()[:60]
    assert (b"binary_little_endian" in head) == binary
    back = load_mesh(tmp_path / "m.ply")
    _equal_mesh(m, back)
    assert (back.verts_colors_list()[0] - colors).abs().max() <= 0.5 / 255 + 1e-6
    assert torch.allclose(back.verts_normals_list()[0], normals)


def _ply_quad_binary(endian: str) -> bytes:
    fmt = "binary_little_endian" if endian == "<" else "binary_big_endian"
    head = (
        f"ply\nformat {fmt} 1.0\nelement vertex 5\nproperty double x\nproperty double y\n"
        "property double z\nelement face 2\nproperty list uchar uint vertex_indices\n"
        "end_header\n"
    ).encode()
    v = np.arange(15, dtype=endian + "f8").tobytes()
    f = bytes([4]) + np.array([0, 1, 2, 3], endian + "u4").tobytes()
    f += bytes([3]) + np.array([0, 3, 4], endian + "u4").tobytes()
    return head + v + f


@pytest.mark.parametrize("endian", ["<", ">"])
def test_ply_variable_length_faces_both_endians(tmp_path, endian):
    (tmp_path / "q.ply").write_bytes(_ply_quad_binary(endian))
    m = load_mesh(tmp_path / "q.ply")
    assert m.faces_packed().tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4]]
    assert m.verts_packed()[4].tolist() == [12.0, 13.0, 14.0]


@pytest.mark.parametrize("ext", [".ply", ".xyz", ".npy", ".npz"])
def test_pointcloud_round_trip(tmp_path, ext):
    torch.manual_seed(1)
    pts = torch.randn(50, 3)
    normals = torch.nn.functional.normalize(torch.randn(50, 3), dim=1)
    colors = torch.rand(50, 3)
    pc = Pointclouds([pts], normals=[normals], features=[colors])
    save_pointcloud(pc, tmp_path / f"p{ext}")
    back = load_pointcloud(tmp_path / f"p{ext}")
    assert torch.equal(back.points_packed(), pts)
    assert torch.allclose(back.normals_packed(), normals)
    tol = 0.5 / 255 + 1e-6 if ext == ".ply" else 1e-7
    assert (back.features_packed() - colors).abs().max() <= tol
    assert detect_kind(tmp_path / f"p{ext}") == "points"


def test_pointcloud_plain_tensor_and_batch(tmp_path):
    save_pointcloud(torch.rand(7, 3), tmp_path / "a.xyz")
    assert load_pointcloud(tmp_path / "a.xyz").points_packed().shape == (7, 3)
    batch = Pointclouds([torch.rand(3, 3), torch.rand(4, 3)])
    save_pointcloud(batch, tmp_path / "b.ply")
    assert load(tmp_path / "b.ply").points_packed().shape == (7, 3)


def _naive_binvox_bytes(grid_zyx: np.ndarray) -> bytes:
    """Reference encoder: loop in binvox order x (slowest), z, y (fastest)."""
    d, h, w = grid_zyx.shape
    seq = [int(grid_zyx[z, y, x]) for x in range(w) for z in range(d) for y in range(h)]
    out = bytearray()
    i = 0
    while i < len(seq):
        j = i
        while j < len(seq) and seq[j] == seq[i] and j - i < 255:
            j += 1
        out += bytes([seq[i], j - i])
        i = j
    return bytes(out)


def test_binvox_matches_reference_encoder_and_axis_mapping(tmp_path):
    rng = np.random.default_rng(0)
    grid = rng.random((6, 6, 6)) < 0.3
    grid[:, :, :] |= np.zeros((6, 6, 6), bool)
    grid[0:2, :, :] = True  # long runs (> 255 needs a larger grid: see below)
    vg = VoxelGrid(torch.from_numpy(grid), origin=(0.5, -1.0, 2.0), voxel_size=0.25)
    save_voxels(vg, tmp_path / "g.binvox")
    raw = (tmp_path / "g.binvox").read_bytes()
    body = raw[raw.index(b"data\n") + 5:]
    assert body == _naive_binvox_bytes(grid)
    assert b"dim 6 6 6" in raw and b"translate 0.5 -1 2" in raw and b"scale 1.5" in raw
    back = load_voxels(tmp_path / "g.binvox")
    assert torch.equal(back.grid[0].bool(), torch.from_numpy(grid))
    assert torch.allclose(back.origin[0], torch.tensor([0.5, -1.0, 2.0]))
    assert float(back.voxel_size[0]) == pytest.approx(0.25)
    # a voxel at x=5 (only) lands in binvox's slowest axis
    one = np.zeros((4, 4, 4), bool)
    one[1, 2, 3] = True  # z=1, y=2, x=3 -> binvox index x*16 + z*4 + y = 54
    save_voxels(VoxelGrid(torch.from_numpy(one)), tmp_path / "o.binvox")
    g, _, _ = read_binvox(tmp_path / "o.binvox")
    assert g[1, 2, 3] and g.sum() == 1
    body = (tmp_path / "o.binvox").read_bytes().split(b"data\n", 1)[1]
    assert body == bytes([0, 54, 1, 1, 0, 9])


def test_binvox_long_runs_and_npz_lossless(tmp_path):
    grid = torch.zeros(1, 16, 16, 16)
    grid[0, 4:12, 4:12, 4:12] = 1
    save_voxels(grid, tmp_path / "b.binvox")
    assert torch.equal(load_voxels(tmp_path / "b.binvox").grid, grid)
    sdf = VoxelGrid(torch.randn(2, 3, 4, 5), origin=torch.randn(2, 3), voxel_size=torch.rand(2) + 1)
    save_voxels(sdf, tmp_path / "s.npz")
    back = load(tmp_path / "s.npz")
    assert torch.equal(back.grid, sdf.grid) and torch.equal(back.origin, sdf.origin)
    assert torch.equal(back.voxel_size, sdf.voxel_size)
    with pytest.raises(InputError, match="binvox holds one grid"):
        save_voxels(sdf, tmp_path / "s.binvox")


def test_depth_png_scale_and_npy(tmp_path):
    depth = torch.tensor([[0.0, 1.2345], [float("nan"), 65.535]])
    save_depth(depth, tmp_path / "d.png")
    back = load_depth(tmp_path / "d.png")
    assert back.shape == (2, 2) and back.dtype == torch.float32
    assert back[0, 0] == 0 and back[1, 0] == 0  # invalid stays 0
    assert float(back[0, 1]) == pytest.approx(1.2345, abs=1e-3)
    assert float(back[1, 1]) == pytest.approx(65.535, abs=1e-5)
    assert detect_kind(tmp_path / "d.png") == "depth"
    save_depth(depth, tmp_path / "d5.png", scale=5000.0 / 10)
    assert load_depth(tmp_path / "d5.png", scale=500.0)[0, 1] == pytest.approx(1.234, abs=1e-3)
    with pytest.raises(InputError, match="16-bit range"):
        save_depth(torch.tensor([[70.0]]), tmp_path / "x.png")
    save_depth(depth, tmp_path / "d.npy")
    assert torch.allclose(load_depth(tmp_path / "d.npy"), depth, equal_nan=True)


def test_normals_png_and_npy(tmp_path):
    n = torch.nn.functional.normalize(torch.randn(3, 5, 4), dim=0)
    save_normals(n, tmp_path / "n.png")
    back = load_normals(tmp_path / "n.png")
    assert back.shape == (3, 5, 4) and (back - n).abs().max() < 0.02
    assert detect_kind(tmp_path / "n.png") == "normals"
    save(n, tmp_path / "n.npy")
    assert torch.equal(load(tmp_path / "n.npy"), n)


def test_generic_dispatch(tmp_path):
    save(_tetra(), tmp_path / "m.ply")
    assert isinstance(load(tmp_path / "m.ply"), Meshes)
    save(Pointclouds([torch.rand(20, 3)]), tmp_path / "p.ply")
    assert isinstance(load(tmp_path / "p.ply"), Pointclouds)
    save(VoxelGrid(torch.ones(1, 2, 2, 2)), tmp_path / "v.binvox")
    assert isinstance(load(tmp_path / "v.binvox"), VoxelGrid)
    with pytest.raises(InputError, match="obj: expected"):
        save(object(), tmp_path / "x.ply")


def test_trimesh_round_trip():
    colors = torch.rand(4, 3)
    m = _tetra(verts_colors=[colors])
    tm = to_trimesh(m)
    assert tm.vertices.shape == (4, 3) and tm.faces.tolist() == m.faces_packed().tolist()
    back = from_trimesh(tm)
    _equal_mesh(m, back)
    assert (back.verts_colors_list()[0] - colors).abs().max() <= 0.5 / 255 + 1e-6
    with pytest.raises(InputError, match="mesh"):
        from_trimesh([])


def test_optional_libraries():
    try:
        import open3d  # noqa: F401
    except ImportError:
        from spacetime.shapes.io import to_open3d

        with pytest.raises(DependencyError, match="open3d"):
            to_open3d(_tetra())
    try:
        import pytorch3d  # noqa: F401
    except ImportError:
        from spacetime.shapes.io import to_pytorch3d

        with pytest.raises(DependencyError, match="pytorch3d"):
            to_pytorch3d(_tetra())


def test_open3d_round_trip():
    pytest.importorskip("open3d")
    from spacetime.shapes.io import from_open3d, to_open3d

    _equal_mesh(_tetra(), from_open3d(to_open3d(_tetra())))


def test_pytorch3d_round_trip():
    pytest.importorskip("pytorch3d")
    from spacetime.shapes.io import from_pytorch3d, to_pytorch3d

    _equal_mesh(_tetra(), from_pytorch3d(to_pytorch3d(_tetra())))


# ---------------------------------------------------------------- corrupt files
def _write_valid(tmp_path, ext):
    p = tmp_path / f"ok{ext}"
    if ext in (".obj", ".off", ".stl", ".glb"):
        save_mesh(_tetra(), p)
    elif ext == ".ply":
        save_mesh(_tetra(), p, binary=True)
    elif ext == ".binvox":
        g = torch.zeros(1, 8, 8, 8)
        g[0, 2:6, 1:7, 3:5] = 1
        save_voxels(g, p)
    elif ext == ".npz":
        save_voxels(torch.ones(1, 2, 2, 2), p)
    elif ext == ".xyz":
        save_pointcloud(torch.rand(10, 3), p)
    elif ext == ".png":
        save_depth(torch.rand(4, 4), p)
    return p


@pytest.mark.parametrize("ext", [".ply", ".off", ".stl", ".glb", ".binvox", ".npz", ".png"])
@pytest.mark.parametrize("frac", [0.5, 0.9])
def test_truncated_files_raise_file_format_error(tmp_path, ext, frac):
    p = _write_valid(tmp_path, ext)
    data = p.read_bytes()
    bad = tmp_path / f"bad{ext}"
    bad.write_bytes(data[: int(len(data) * frac)])
    with pytest.raises(FileFormatError, match=str(bad.name)):
        load(bad)


@pytest.mark.parametrize("ext", [".obj", ".xyz"])
def test_truncated_text_files_raise_file_format_error(tmp_path, ext):
    # Text formats without counts: a cut that leaves a short line or faces pointing past the
    # vertices read is detected (a cut exactly at a line end is a valid, shorter file).
    p = _write_valid(tmp_path, ext)
    data = p.read_bytes()
    last_line = data.rstrip(b"\n").rfind(b"\n") + 1
    cuts = [last_line + 3]
    if ext == ".obj":
        cuts.append(data.index(b"v 0 0 1.25") + 5)
    for i, cut in enumerate(cuts):
        bad = tmp_path / f"bad{i}{ext}"
        bad.write_bytes(data[:cut])
        with pytest.raises(FileFormatError, match=bad.name):
            load(bad, kind="mesh" if ext == ".obj" else "points")


@pytest.mark.parametrize("ext", [".obj", ".ply", ".off", ".stl", ".glb", ".binvox", ".npz",
                                 ".npy", ".png", ".xyz"])
def test_garbage_bytes_raise_file_format_error(tmp_path, ext):
    rng = np.random.default_rng(3)
    bad = tmp_path / f"junk{ext}"
    bad.write_bytes(rng.integers(1, 256, 400, dtype=np.uint8).tobytes())
    with pytest.raises(FileFormatError, match="junk"):
        load(bad)


def test_wrong_extension_and_missing_file(tmp_path):
    p = _write_valid(tmp_path, ".ply")
    wrong = tmp_path / "actually_ply.obj"
    wrong.write_bytes(p.read_bytes())
    with pytest.raises(FileFormatError, match="actually_ply.obj"):
        load_mesh(wrong)
    with pytest.raises(FileFormatError, match="unknown file extension"):
        load(tmp_path / "x.abc")
    with pytest.raises(MissingFileError):
        load_mesh(tmp_path / "nope.obj")


def test_faces_indexing_missing_vertices(tmp_path):
    (tmp_path / "a.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n")
    with pytest.raises(FileFormatError, match="a.obj: line 4: face refers to vertex 4"):
        load_mesh(tmp_path / "a.obj")
    (tmp_path / "b.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(FileFormatError, match="only 3"):
        load_mesh(tmp_path / "b.off")
    (tmp_path / "c.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n"
    )
    with pytest.raises(FileFormatError, match="c.ply: faces index"):
        load_mesh(tmp_path / "c.ply")
    (tmp_path / "d.obj").write_text("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(FileFormatError, match="NaN"):
        load_mesh(tmp_path / "d.obj")


def test_obj_fast_and_slow_parsers_agree(tmp_path):
    torch.manual_seed(2)
    uvs = torch.rand(4, 2)
    m = _tetra(verts_uvs=[uvs], faces_uvs=[torch.tensor([[0, 1, 2], [0, 2, 3], [1, 2, 3],
                                                          [3, 2, 1]])])
    save_mesh(m, tmp_path / "fast.obj")
    text = (tmp_path / "fast.obj").read_text()
    (tmp_path / "slow.obj").write_text(text.replace("v ", "v\t"))  # tabs: slow path
    a, b = load_mesh(tmp_path / "fast.obj"), load_mesh(tmp_path / "slow.obj")
    _equal_mesh(a, b)
    assert torch.equal(a.verts_uvs_list()[0], b.verts_uvs_list()[0])
    assert torch.equal(a.faces_uvs_list()[0], b.faces_uvs_list()[0])


def test_trimesh_and_glb_uv_texture(tmp_path):
    import trimesh
    from PIL import Image as PILImage

    rng = np.random.default_rng(4)
    uv = rng.random((4, 2))
    img = PILImage.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8))
    m = _tetra()
    tm = trimesh.Trimesh(m.verts_packed().numpy(), m.faces_packed().numpy(), process=False,
                         visual=trimesh.visual.TextureVisuals(uv=uv, image=img))
    back = from_trimesh(tm)
    assert torch.allclose(back.verts_uvs_list()[0], torch.tensor(uv, dtype=torch.float32))
    assert torch.equal(back.faces_uvs_list()[0], m.faces_packed())
    assert back.texture_images_list()[0].shape == (8, 8, 3)
    tm.export(str(tmp_path / "tex.glb"))
    glb = load_mesh(tmp_path / "tex.glb")
    _equal_mesh(m, glb)
    assert torch.allclose(glb.verts_uvs_list()[0], torch.tensor(uv, dtype=torch.float32),
                          atol=1e-6)
    assert glb.texture_images_list()[0].shape == (8, 8, 3)


def test_binvox_random_non_cubic_round_trip(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None)
    @given(d=st.integers(1, 7), h=st.integers(1, 7), w=st.integers(1, 7),
           p=st.floats(0, 1), s=st.integers(0, 1000))
    def check(d, h, w, p, s):
        g = torch.rand(d, h, w, generator=torch.Generator().manual_seed(s)) < p
        path = tmp_path / "r.binvox"
        save_voxels(VoxelGrid(g, voxel_size=0.5), path)
        back = load_voxels(path)
        assert torch.equal(back.grid[0].bool(), g)
        assert float(back.voxel_size[0]) == pytest.approx(0.5)

    check()


def test_npz_keeps_float64_and_origin(tmp_path):
    vg = VoxelGrid(torch.randn(1, 2, 3, 4, dtype=torch.float64), origin=(1.0, 2.0, 3.0),
                   voxel_size=0.1)
    save_voxels(vg, tmp_path / "d.npz")
    back = load_voxels(tmp_path / "d.npz")
    assert back.grid.dtype == torch.float64 and torch.equal(back.grid, vg.grid)
    assert load_voxels(tmp_path / "d.npz", dtype=torch.float32).grid.dtype == torch.float32


def test_off_with_keyword_glued_to_counts(tmp_path):
    """ModelNet ships files whose first line is ``OFF4 1 0`` (no space after the keyword)."""
    from spacetime.shapes.io import read_off

    p = tmp_path / "glued.off"
    p.write_text("OFF4 2 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 2 3\n")
    out = read_off(p)
    assert tuple(out["verts"].shape) == (4, 3) and out["faces"].tolist() == [[0, 1, 2], [0, 2, 3]]


def test_stl_vertex_merge_matches_sorting_reference():
    """The hash-table merge equals np.unique on the rows' bytes, in first-occurrence order."""
    import numpy as np

    from spacetime.shapes.io._dedupe import unique_rows_first

    rng = np.random.default_rng(0)
    pool = rng.random((500, 3)).astype(np.float32)
    pool[0] = [0.0, 0.0, 0.0]
    pool[1] = [-0.0, 0.0, 0.0]  # different bits: kept apart, as bytewise comparison does
    rows = np.ascontiguousarray(pool[rng.integers(0, 500, 30_000)])
    first, inverse = unique_rows_first(rows.view(np.uint32))
    void = rows.view(np.dtype((np.void, 12))).reshape(-1)
    _, ref_first = np.unique(void, return_index=True)
    assert np.array_equal(first, np.sort(ref_first))  # first occurrences, in order
    assert np.array_equal(rows[first][inverse], rows)
    assert len(set(map(bytes, void[first]))) == len(first)  # all distinct


def test_off_bulk_and_per_line_parsers_agree(tmp_path):
    """Uniform triangle files take the bulk path; anything else the per-line path, same result."""
    from spacetime.shapes.io.off import read_off

    tri = "OFF\n4 2 0\n0 0 0\n1 0 0\n0\t1 0\n0 0 1\n3 0 1 2\n3 0 2 3\n"
    quad = "OFF\n4 1 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n"
    color = "COFF\n3 1 0\n0 0 0 255 0 0 255\n1 0 0 0 255 0 255\n0 1 0 0 0 255 255\n3 0 1 2\n"
    for name, text, nf in (("tri", tri, 2), ("quad", quad, 2), ("color", color, 1)):
        (tmp_path / f"{name}.off").write_text(text)
        out = read_off(tmp_path / f"{name}.off")
        assert out["faces"].shape == (nf, 3) and out["verts"].dtype.name == "float32"
    assert read_off(tmp_path / "tri.off")["verts"][2].tolist() == [0.0, 1.0, 0.0]
    # rows of 2 and 4 numbers: 3 per line on average, still malformed
    (tmp_path / "bad.off").write_text("OFF\n2 0 0\n0 0\n1 0 0 0\n")
    with pytest.raises(FileFormatError, match="malformed vertex"):
        read_off(tmp_path / "bad.off")
    (tmp_path / "badface.off").write_text("OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1\n3 0 1 2 2\n")
    with pytest.raises(FileFormatError, match="face 0"):
        read_off(tmp_path / "badface.off")
