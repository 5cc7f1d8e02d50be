import math

import numpy as np
import pytest
import torch
from PIL import Image

from spacetime.errors import InputError
from spacetime.shapes.convert import ico_sphere
from spacetime.shapes.render import (
    camera_for_bounds,
    render_depth_normals,
    render_mesh_image,
    render_points_image,
    splat_points,
)
from spacetime.shapes.structures import (
    CameraExtrinsics,
    CameraIntrinsics,
    Meshes,
    Pointclouds,
    VoxelGrid,
)
from spacetime.viz.shapes import show
from tests._matrix import check_op

K0 = torch.tensor([[20.0, 0, 7.3], [0, 22.0, 5.1], [0, 0, 1]], dtype=torch.float64)


def _naive_raycast(verts_cam, faces, K, H, W):
    """Slow reference: one camera ray per pixel centre, Möller-Trumbore against every face."""
    depth = np.zeros((H, W))
    face = -np.ones((H, W), dtype=np.int64)
    v = verts_cam.numpy()
    Ki = np.linalg.inv(K.numpy())
    for row in range(H):
        for col in range(W):
            d = Ki @ np.array([col, row, 1.0])
            best = np.inf
            for fi, (i, j, k) in enumerate(faces.tolist()):
                a, b, c = v[i], v[j], v[k]
                e1, e2 = b - a, c - a
                p = np.cross(d, e2)
                det = e1 @ p
                if abs(det) < 1e-12:
                    continue
                s = -a
                u = (s @ p) / det
                q = np.cross(s, e1)
                w = (d @ q) / det
                lam = (e2 @ q) / det  # ray parameter = camera Z since d_z = 1
                if u >= 0 and w >= 0 and u + w <= 1 and lam > 0 and lam < best:
                    best, face[row, col] = lam, fi
            if np.isfinite(best):
                depth[row, col] = best
    return depth, face


def _random_scene(seed=0, nf=6):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(nf, 1, 3, generator=g, dtype=torch.float64) * torch.tensor(
        [1.6, 1.2, 1.5], dtype=torch.float64
    ) + torch.tensor([-1.0, -0.8, 2.0], dtype=torch.float64)
    offs = (torch.rand(nf, 3, 3, generator=g, dtype=torch.float64) - 0.5) * 1.4
    verts = (centres + offs).reshape(-1, 3)
    faces = torch.arange(nf * 3).reshape(nf, 3)
    return verts, faces


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_raycaster(seed):
    verts, faces = _random_scene(seed)
    H, W = 12, 16
    out = render_depth_normals(Meshes([verts], [faces]), K0, torch.eye(3, dtype=torch.float64),
                               torch.zeros(3, dtype=torch.float64), H, W)
    ref_depth, ref_face = _naive_raycast(verts, faces, K0, H, W)
    assert torch.equal(out.mask[0], torch.from_numpy(ref_face >= 0))
    assert torch.equal(out.pix_to_face[0], torch.from_numpy(ref_face))
    assert np.allclose(out.depth[0].numpy(), ref_depth, atol=1e-9)


def test_pixel_centre_convention_and_extrinsics():
    # a big triangle whose vertex projects exactly onto pixel centre (u, v) = (3, 4)
    z = 2.0
    K = torch.tensor([[10.0, 0, 5.0], [0, 10.0, 5.0], [0, 0, 1]])
    apex = torch.tensor([(3 - 5) / 10 * z, (4 - 5) / 10 * z, z])
    verts = torch.stack([apex, apex + torch.tensor([1.0, 0, 0]), apex + torch.tensor([0, 1.0, 0])])
    m = Meshes([verts], [torch.tensor([[0, 1, 2]])])
    out = render_depth_normals(m, K, torch.eye(3), torch.zeros(3), 10, 10)
    assert bool(out.mask[0, 4, 3]) and not bool(out.mask[0, 4, 2]) and not bool(out.mask[0, 3, 3])
    assert float(out.depth[0, 4, 3]) == pytest.approx(z)
    # the same through a moved camera (CameraIntrinsics + CameraExtrinsics objects)
    t = torch.tensor([0.3, -0.2, 1.0])
    ext = CameraExtrinsics(torch.eye(3), t)
    moved = Meshes([verts - t], [torch.tensor([[0, 1, 2]])])
    out2 = render_depth_normals(moved, CameraIntrinsics.from_K(K), ext, None, 10, 10)
    assert torch.allclose(out2.depth, out.depth) and torch.equal(out2.mask, out.mask)


def test_tilted_plane_depth_is_perspective_correct_and_normals():
    # plane z = 2 + 0.5 x, large enough to fill the view
    xs = torch.tensor([-2.0, 2.0])
    v = torch.tensor([[x, y, 2 + 0.5 * x] for x in xs for y in (-5.0, 5.0)], dtype=torch.float64)
    f = torch.tensor([[0, 1, 3], [0, 3, 2]])
    H, W = 11, 13
    out = render_depth_normals(Meshes([v], [f]), K0, torch.eye(3, dtype=torch.float64),
                               torch.zeros(3, dtype=torch.float64), H, W, normals="flat")
    assert bool(out.mask.all())
    u = torch.arange(W, dtype=torch.float64)[None].expand(H, W)
    a = (u - K0[0, 2]) / K0[0, 0]  # X = a Z  ->  Z = 2 / (1 - 0.5 a)
    assert torch.allclose(out.depth[0], 2 / (1 - 0.5 * a), atol=1e-12)
    n = out.normals[0].permute(1, 2, 0).reshape(-1, 3)
    expected = torch.nn.functional.normalize(torch.tensor([-0.5, 0, 1.0], dtype=n.dtype), dim=0)
    assert torch.allclose(n.abs(), expected.abs().expand_as(n), atol=1e-12)
    # world-frame normals with a rotated camera differ by R
    Rz = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64)
    cam = render_depth_normals(Meshes([v], [f]), K0, Rz, torch.zeros(3, dtype=torch.float64),
                               H, W, normals="flat", frame="camera")
    world = render_depth_normals(Meshes([v], [f]), K0, Rz, torch.zeros(3, dtype=torch.float64),
                                 H, W, normals="flat", frame="world")
    m = cam.mask[0]
    assert torch.allclose(cam.normals[0][:, m], Rz @ world.normals[0][:, m])


def test_sphere_depth_and_normals_close_to_analytic():
    sphere = ico_sphere(4)
    t = torch.tensor([0.0, 0.0, 4.0])
    H = W = 48
    K = torch.tensor([[60.0, 0, 23.5], [0, 60.0, 23.5], [0, 0, 1]])
    out = render_depth_normals(sphere, K, torch.eye(3), t, H, W)
    vv, uu = torch.meshgrid(torch.arange(H.__int__()), torch.arange(W), indexing="ij")
    d = torch.stack([(uu - 23.5) / 60, (vv - 23.5) / 60, torch.ones(H, W)], -1)
    # |s d - c|^2 = 1 with c = (0, 0, 4): Z = s (d_z = 1)
    aa, bb, cc = (d * d).sum(-1), -2 * 4 * d[..., 2], 16 - 1
    disc = bb**2 - 4 * aa * cc
    hit = disc > 0
    z = (-bb - disc.clamp_min(0).sqrt()) / (2 * aa)
    inner = hit & (disc > 0.05)  # away from the silhouette
    assert bool(out.mask[0][inner].all())
    assert (out.depth[0][inner] - z[inner]).abs().max() < 5e-3
    n_true = torch.nn.functional.normalize(d * z[..., None] - torch.tensor([0, 0, 4.0]), dim=-1)
    n = out.normals[0].permute(1, 2, 0)
    assert (n[inner] * n_true[inner]).sum(-1).min() > 0.995
    assert abs(int(out.mask.sum()) - int(hit.sum())) <= 0.03 * int(hit.sum())


def test_batch_packed_face_index_and_empty_mesh():
    verts, faces = _random_scene(0, nf=3)
    v32 = verts.float()
    m = Meshes([v32, v32[:0], v32], [faces, faces[:0], faces[:2]])
    K = K0.float()
    out = render_depth_normals(m, K, torch.eye(3), torch.zeros(3), 12, 16)
    assert out.depth.shape == (3, 12, 16) and out.normals.shape == (3, 3, 12, 16)
    assert not bool(out.mask[1].any())
    assert int(out.pix_to_face[2][out.mask[2]].min()) >= 3  # offset by mesh 0's 3 faces
    assert bool((out.pix_to_face[2][out.mask[2]] < 5).all())
    # behind the camera: nothing drawn
    behind = render_depth_normals(Meshes([v32], [faces]), K, torch.eye(3),
                                  torch.tensor([0, 0, -10.0]), 12, 16)
    assert not bool(behind.mask.any())


def test_bad_inputs():
    m = ico_sphere(0)
    with pytest.raises(InputError, match="K: expected shape"):
        render_depth_normals(m, torch.eye(4), torch.eye(3), torch.zeros(3), 8, 8)
    with pytest.raises(InputError, match="normals"):
        render_depth_normals(m, K0.float(), torch.eye(3), torch.zeros(3), 8, 8, normals="x")
    with pytest.raises(InputError, match="H"):
        render_depth_normals(m, K0.float(), torch.eye(3), torch.zeros(3), 0, 8)
    with pytest.raises(InputError, match="meshes"):
        render_depth_normals(torch.zeros(3, 3), K0.float(), torch.eye(3), torch.zeros(3), 8, 8)
    with pytest.raises(InputError, match="R: expected a batch of 1 or 1"):
        render_depth_normals(m, K0.float(), torch.eye(3).expand(2, 3, 3), torch.zeros(3), 8, 8)


def test_splat_points_nearest_wins():
    K = torch.tensor([[10.0, 0, 4.0], [0, 10.0, 4.0], [0, 0, 1]])
    pts = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.2, 0.0, 2.0]])
    depth, idx = splat_points(pts, K, torch.eye(3), torch.zeros(3), 9, 9, radius=0)
    assert int(idx[4, 4]) == 1 and float(depth[4, 4]) == 1.0
    assert int(idx[4, 5]) == 2 and int((idx >= 0).sum()) == 2
    _, idx1 = splat_points(pts[:1], K, torch.eye(3), torch.zeros(3), 9, 9, radius=1)
    assert int((idx1 >= 0).sum()) == 9


def test_camera_for_bounds_centres_object():
    b = torch.tensor([[1.0, 3.0], [-1.0, 0.0], [5.0, 6.0]])
    K, R, t = camera_for_bounds(b, 40, 60)
    c = (b[:, 0] + b[:, 1]) / 2
    pc = R @ c + t
    uv = (K @ (pc / pc[2]))[:2]
    assert torch.allclose(uv, torch.tensor([29.5, 19.5]), atol=1e-4)
    corners = torch.cartesian_prod(b[0], b[1], b[2])
    pcs = corners @ R.T + t
    u = K[0, 0] * pcs[:, 0] / pcs[:, 2] + K[0, 2]
    v = K[1, 1] * pcs[:, 1] / pcs[:, 2] + K[1, 2]
    assert bool(((u >= 0) & (u <= 59) & (v >= 0) & (v <= 39)).all())  # whole box in view
    up_world = R @ torch.tensor([0.0, 1.0, 0.0])
    assert float(up_world[1]) < 0  # world up is image up (-y)


def test_images_and_show(tmp_path):
    sphere = ico_sphere(2)
    img = render_mesh_image(sphere, 32, 32)
    assert img.shape == (32, 32, 3) and float(img.min()) < 0.5 and float(img[0, 0].min()) == 1.0
    pc = Pointclouds([sphere.verts_packed()], normals=[sphere.verts_normals_packed()])
    assert render_points_image(pc, 32, 32, color_by="normals").shape == (32, 32, 3)
    grid = torch.zeros(1, 6, 6, 6)
    grid[0, 1:5, 2:4, 1:5] = 1
    out = render_depth_normals(sphere, K0.float(), torch.eye(3), torch.tensor([0, 0, 3.0]), 12, 16)
    items = {
        "mesh": sphere,
        "points": pc,
        "voxels": VoxelGrid(grid),
        "sdf": VoxelGrid(torch.randn(1, 5, 5, 5)),
        "depth": out.depth[0],
        "normals": out.normals[0],
    }
    for name, obj in items.items():
        p = show(obj, tmp_path / f"{name}.png", size=64)
        arr = np.asarray(Image.open(p).convert("RGB"))
        assert arr.shape[0] > 32 and (arr < 200).any(), name
    with pytest.raises(InputError, match="obj"):
        show(object(), tmp_path / "x.png")
    assert math.isfinite(float(out.depth.sum()))


def test_chunked_rasterisation_equals_single_pass():
    from spacetime.shapes.render import rasterize_meshes

    sphere = ico_sphere(2)
    K = torch.tensor([[30.0, 0, 15.5], [0, 30.0, 15.5], [0, 0, 1]])
    t = torch.tensor([0.0, 0.0, 3.0])
    one = rasterize_meshes(sphere, K, torch.eye(3), t, 32, 32)
    many = rasterize_meshes(sphere, K, torch.eye(3), t, 32, 32, max_candidates=40)
    for a, b in zip(one, many):
        assert torch.equal(a, b)


def test_depth_gradcheck_wrt_vertices():
    # two triangles in front of the camera; pixel coverage is fixed under tiny perturbations
    base = torch.tensor(
        [[-0.9, -0.8, 2.0], [0.8, -0.7, 2.3], [0.1, 0.9, 2.6], [0.9, 0.9, 3.0]],
        dtype=torch.float64,
    )
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    K = torch.tensor([[6.0, 0, 3.3], [0, 6.0, 3.1], [0, 0, 1]], dtype=torch.float64)

    def depth_of(v):
        out = render_depth_normals(Meshes([v], [faces]), K, torch.eye(3, dtype=v.dtype),
                                   torch.zeros(3, dtype=v.dtype), 7, 7, normals="flat")
        return out.depth

    v = base.clone().requires_grad_(True)
    assert bool(depth_of(v).ne(0).any())
    assert torch.autograd.gradcheck(depth_of, (v,), eps=1e-7, atol=1e-6)


def test_show_octree_and_shape_layers(tmp_path):
    from spacetime.shapes.structures.layers import ShapeLayers
    from spacetime.shapes.structures.octree import Octree

    g = torch.zeros(8, 8, 8, dtype=torch.bool)
    g[1:7, 2:6, 1:7] = True
    g[3:5, 3:5, 3:5] = False
    for name, obj in (("octree", Octree.from_dense(g)), ("layers", ShapeLayers.decompose(g))):
        p = show(obj, tmp_path / f"{name}.png", size=48)
        assert (np.asarray(Image.open(p).convert("RGB")) < 200).any()


def test_textured_and_coloured_albedo():
    sphere = ico_sphere(1)
    v, f = sphere.verts_packed(), sphere.faces_packed()
    red = torch.zeros(4, 4, 3)
    red[..., 0] = 1
    tex = Meshes([v], [f], verts_uvs=[torch.rand(v.shape[0], 2)], faces_uvs=[f],
                 texture_images=[red])
    img = render_mesh_image(tex, 32, 32)
    centre = img[16, 16]
    assert float(centre[0]) > 0.3 and float(centre[1]) == 0 and float(centre[2]) == 0
    green = Meshes([v], [f], verts_colors=[torch.tensor([[0.0, 1, 0]]).expand(v.shape[0], 3)])
    centre = render_mesh_image(green, 32, 32)[16, 16]
    assert float(centre[1]) > 0.3 and float(centre[0]) == 0


def test_device_dtype(device, dtype):
    """Depth, normals, mask, face ids and splats on the meshes' device in their dtype, equal to
    the float64 CPU render (the pixel ↔ face assignment of this scene has no near-ties)."""
    verts, faces = _random_scene(4)
    meshes = Meshes([verts, verts * 1.1], [faces, faces])
    R = torch.eye(3, dtype=torch.float64)[None].expand(2, 3, 3)
    t = torch.zeros(2, 3, dtype=torch.float64)
    tol = {} if dtype == torch.float64 else dict(atol=1e-4, rtol=1e-4)
    for normals in ("smooth", "flat"):
        check_op(lambda m, k, r, tt, normals=normals: tuple(
            render_depth_normals(m, k, r, tt, 12, 16, normals=normals)), (meshes, K0, R, t),
            device, dtype, grad=False, **tol)
    pts = verts + torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)
    check_op(lambda p, k, r, tt: splat_points(p, k, r, tt, 12, 16), (pts, K0, R[0], t[0]), device,
             dtype, grad=False)
