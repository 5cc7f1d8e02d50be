"""Point-cloud ops: estimate_normals, farthest_point_sampling, ball_query (against slow
references, analytic shapes and an Open3D fixture)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.ops import ball_query, estimate_normals, farthest_point_sampling
from spacetime.shapes.structures import Pointclouds
from tests._matrix import assert_on

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _plane(n=400, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 2 - 1
    return torch.cat([xy, torch.zeros(n, 1, dtype=dtype)], 1)


def _sphere(n=600, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, 3, generator=g, dtype=dtype)
    return p / p.norm(dim=1, keepdim=True)


def _cylinder(n=800, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g, dtype=dtype) * 2 * math.pi
    z = torch.rand(n, generator=g, dtype=dtype) * 2 - 1
    return torch.stack([t.cos(), t.sin(), z], 1)


# ----------------------------------------------------------------------------------- normals


def test_normals_analytic_shapes(device, dtype):
    plane = _plane(dtype=dtype).to(device)
    n = estimate_normals(plane, k=10)
    assert n.shape == plane.shape
    assert_on(n, device, dtype)
    n, plane = n.cpu(), plane.cpu()
    assert torch.allclose(n[:, 2].abs(), torch.ones(len(n), dtype=dtype), atol=1e-4)
    sph = _sphere(dtype=dtype)
    n = estimate_normals(sph, k=12, orient="outward")
    cos = (n * sph).sum(1)
    assert cos.min() > 0.97  # outward = radial, sign included
    cyl = _cylinder(dtype=dtype)
    n = estimate_normals(cyl, k=12, orient="outward")
    radial = torch.cat([cyl[:, :2], torch.zeros(len(cyl), 1, dtype=dtype)], 1)
    assert (n * radial).sum(1).min() > 0.95
    assert torch.allclose(n.norm(dim=1), torch.ones(len(n), dtype=dtype), atol=1e-5)


def test_normals_viewpoint_and_mst():
    plane = _plane()
    n = estimate_normals(plane, k=10, orient="viewpoint", viewpoint=(0.0, 0.0, -5.0))
    assert (n[:, 2] < -0.999).all()
    sph = _sphere()
    n = estimate_normals(sph, k=12, orient="viewpoint", viewpoint=torch.zeros(3))
    assert ((n * sph).sum(1) < -0.97).all()  # inward, toward the centre
    # MST propagation: consistent on a closed surface (all outward or all inward)
    n = estimate_normals(sph, k=12, orient="mst")
    cos = (n * sph).sum(1)
    assert (cos > 0.97).all() or (cos < -0.97).all()
    n = estimate_normals(_cylinder(), k=12, orient="mst")
    cyl = _cylinder()
    radial = torch.cat([cyl[:, :2], torch.zeros(len(cyl), 1, dtype=cyl.dtype)], 1)
    cos = (n * radial).sum(1)
    assert (cos > 0.95).all() or (cos < -0.95).all()
    # the root of the propagation (largest z) points up on a plane
    assert (estimate_normals(plane, k=10, orient="mst")[:, 2] > 0.999).all()


def test_normals_against_open3d_fixture():
    data = np.load(FIXTURES / "open3d_normals_knn10.npy")
    pts, ref = torch.from_numpy(data[:, :3]), torch.from_numpy(data[:, 3:])
    ours = estimate_normals(pts, k=10, orient="viewpoint", viewpoint=(0.0, 0.0, 2.0))
    cos = (ours * ref).sum(1)
    assert cos.abs().min() > 0.99
    assert (cos > 0).all()  # same orientation toward the camera
    ours32 = estimate_normals(pts.float(), k=10, orient="viewpoint", viewpoint=(0.0, 0.0, 2.0))
    assert ((ours32.double() * ref).sum(1) > 0.99).all()


def test_normals_ragged_and_inputs():
    a, b = _sphere(300, seed=1), _plane(120, seed=2)
    pcs = Pointclouds([a, b, torch.zeros(0, 3, dtype=a.dtype)])
    out = estimate_normals(pcs, k=8, orient="outward")
    assert out.shape == (3, 300, 3)
    assert torch.allclose(out[0], estimate_normals(a, k=8, orient="outward"))
    assert torch.allclose(out[1, :120], estimate_normals(b, k=8, orient="outward"))
    assert (out[1, 120:] == 0).all() and (out[2] == 0).all()
    # padded tensor + lengths (garbage in the padding is not read)
    pad = torch.full((2, 300, 3), float("nan"), dtype=a.dtype)
    pad[0], pad[1, :120] = a, b
    out2 = estimate_normals(pad, k=8, orient="outward", lengths=torch.tensor([300, 120]))
    assert torch.allclose(out2, out[:2])
    # empty
    assert estimate_normals(torch.zeros(0, 3), k=5).shape == (0, 3)
    assert estimate_normals(Pointclouds([torch.zeros(0, 3)]), k=5).shape == (1, 0, 3)
    # duplicates: a finite unit vector
    dup = torch.ones(10, 3)
    n = estimate_normals(dup, k=5)
    assert torch.isfinite(n).all() and torch.allclose(n.norm(dim=1), torch.ones(10))


def test_normals_errors():
    p = _plane(20)
    with pytest.raises(InputError, match="k: expected an int >= 3"):
        estimate_normals(p, k=2)
    with pytest.raises(InputError, match="k: expected at most .* \\(20\\), got 21"):
        estimate_normals(p, k=21)
    with pytest.raises(InputError, match="points: expected finite"):
        estimate_normals(torch.tensor([[0.0, 0, 0], [1, 1, float("nan")], [0, 1, 0]]), k=3)
    with pytest.raises(InputError, match="orient"):
        estimate_normals(p, k=3, orient="inward")
    with pytest.raises(InputError, match="viewpoint"):
        estimate_normals(p, k=3, orient="viewpoint", viewpoint=(0.0, 1.0))
    with pytest.raises(InputError, match="points"):
        estimate_normals(torch.zeros(5, 2), k=3)


def test_normals_device(device):
    sph = _sphere()
    cpu = estimate_normals(sph, k=12, orient="mst")
    dev = estimate_normals(sph, k=12, orient="mst", device=device)
    assert_on(dev, device, sph.dtype)
    assert torch.allclose(dev.cpu(), cpu, atol=1e-8)


# ----------------------------------------------------------------------------------------- FPS


def fps_reference(x: torch.Tensor, s: int, start: int) -> list[int]:
    """The O(S·P) loop, one point at a time (first maximum on ties)."""
    m = x.shape[0]
    dist = [math.inf] * m
    out, last = [], start
    xs = x.tolist()
    dt = np.float32 if x.dtype == torch.float32 else np.float64
    arr = np.asarray(xs, dtype=dt)
    for _ in range(min(s, m)):
        out.append(last)
        best, arg = -1.0, 0
        for i in range(m):
            d = arr[i] - arr[last]
            dd = (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2]
            dist[i] = min(dist[i], dd)
            if dist[i] > best:
                best, arg = dist[i], i
        last = arg
    return out + [-1] * (s - len(out))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_fps_matches_reference(backend, device, dtype):
    if backend == "numba" and device != "cpu":
        pytest.skip("the numba backend is CPU-only")
    g = torch.Generator().manual_seed(3)
    clouds = [torch.rand(m, 3, generator=g, dtype=dtype) for m in (200, 57, 1, 0)]
    pcs = Pointclouds(clouds).to(device)
    res = farthest_point_sampling(pcs, 60, start_index=0, backend=backend)
    assert_on(res.points, device, dtype)
    assert_on(res.idx, device, torch.int64)
    res = type(res)(*(t.cpu() for t in res))
    assert res.idx.shape == (4, 60) and res.points.shape == (4, 60, 3)
    for b, c in enumerate(clouds):
        assert res.idx[b].tolist() == fps_reference(c, 60, 0)
        ok = res.idx[b] >= 0
        assert torch.equal(res.points[b][ok], c[res.idx[b][ok]])
        assert (res.points[b][~ok] == 0).all()
    # the samples of a cloud are distinct
    assert len(set(res.idx[0].tolist())) == 60


def test_fps_backends_agree_and_seed():
    x = torch.rand(3, 500, 3, generator=torch.Generator().manual_seed(0))
    a = farthest_point_sampling(x, 64, random_start=True, seed=7, backend="numba")
    b = farthest_point_sampling(x, 64, random_start=True, seed=7, backend="torch")
    assert torch.equal(a.idx, b.idx)
    c = farthest_point_sampling(x, 64, random_start=True, seed=7)
    assert torch.equal(a.idx, c.idx)
    starts = a.idx[:, 0].tolist()
    assert starts != [0, 0, 0]
    for bi in range(3):
        assert a.idx[bi].tolist() == fps_reference(x[bi], 64, starts[bi])
    single = farthest_point_sampling(x[0], 10, start_index=5)
    assert single.idx.shape == (10,) and single.idx[0] == 5


def test_fps_duplicates_and_errors():
    dup = torch.zeros(5, 3)
    r = farthest_point_sampling(dup, 3)
    assert r.idx.tolist() == fps_reference(dup, 3, 0) == [0, 0, 0]
    assert farthest_point_sampling(dup, 3, backend="torch").idx.tolist() == [0, 0, 0]
    with pytest.raises(InputError, match="num_samples"):
        farthest_point_sampling(dup, 0)
    with pytest.raises(InputError, match="start_index: expected < .* \\(5\\), got 5"):
        farthest_point_sampling(dup, 2, start_index=5)
    with pytest.raises(InputError, match="backend"):
        farthest_point_sampling(dup, 2, backend="cuda")
    with pytest.raises(InputError, match="points: expected finite"):
        farthest_point_sampling(torch.tensor([[0.0, 0, float("inf")]]), 1)


def test_fps_gradient_flows_to_points():
    x = torch.rand(1, 30, 3, dtype=torch.float64, requires_grad=True)
    farthest_point_sampling(x, 5).points.sum().backward()
    assert x.grad is not None and x.grad.sum() == 15


def test_fps_device(device):
    x = torch.rand(2, 300, 3)
    a = farthest_point_sampling(x, 32)
    b = farthest_point_sampling(x.to(device), 32)
    assert_on(b.idx, device)
    assert torch.equal(a.idx, b.idx.cpu())


# ---------------------------------------------------------------------------------- ball query


def ball_reference(x, y, r, k):
    """Brute force: the first k indices j with |x_i - y_j|² < r² (same float sum order)."""
    dt = np.float32 if x.dtype == torch.float32 else np.float64
    xa, ya = x.numpy().astype(dt), y.numpy().astype(dt)
    r2 = dt(r) ** 2 if dt is np.float64 else np.float32(float(r) ** 2)
    out = []
    for q in xa:
        row = []
        for j, p in enumerate(ya):
            d = q - p
            if (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2] < r2:
                row.append(j)
                if len(row) == k:
                    break
        out.append(row + [-1] * (k - len(row)))
    return out


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_ball_query_matches_reference(backend, device, dtype):
    if backend == "numba" and device != "cpu":
        pytest.skip("the numba backend is CPU-only")
    g = torch.Generator().manual_seed(5)
    p1 = [torch.rand(m, 3, generator=g, dtype=dtype) for m in (40, 13, 0, 5)]
    p2 = [torch.rand(m, 3, generator=g, dtype=dtype) for m in (300, 90, 20, 0)]
    res = ball_query(Pointclouds(p1).to(device), Pointclouds(p2).to(device), radius=0.2, K=8,
                     backend=backend)
    for t in res:
        assert_on(t, device, dtype if t.is_floating_point() else torch.int64)
    res = type(res)(*(t.cpu() for t in res))
    assert res.idx.shape == (4, 40, 8) and res.knn.shape == (4, 40, 8, 3)
    for b in range(4):
        m = len(p1[b])
        ref = ball_reference(p1[b], p2[b], 0.2, 8)
        assert res.idx[b, :m].tolist() == ref
        assert (res.idx[b, m:] == -1).all()
        ok = res.idx[b, :m] >= 0
        d = ((p1[b][:, None] - res.knn[b, :m]) ** 2).sum(-1)
        assert torch.allclose(res.dists[b, :m][ok], d[ok])
        assert (res.dists[b, :m][~ok] == 0).all() and (res.knn[b, :m][~ok] == 0).all()
        assert (res.dists[b, :m][ok] < 0.04 + 1e-6).all()


def test_ball_query_single_duplicates_and_errors():
    y = torch.zeros(6, 3)
    r = ball_query(torch.zeros(1, 3), y, radius=0.1, K=4)
    assert r.idx.tolist() == [[0, 1, 2, 3]] and r.dists.shape == (1, 4)
    r = ball_query(torch.zeros(1, 3), y, radius=0.1, K=10, backend="torch")
    assert r.idx.tolist() == [[0, 1, 2, 3, 4, 5, -1, -1, -1, -1]]
    assert ball_query(torch.zeros(0, 3), y, 0.1, 3).idx.shape == (0, 3)
    with pytest.raises(InputError, match="radius"):
        ball_query(y, y, 0.0, 3)
    with pytest.raises(InputError, match="K"):
        ball_query(y, y, 1.0, 0)
    with pytest.raises(InputError, match="p2: expected dtype"):
        ball_query(y, y.double(), 1.0, 2)
    with pytest.raises(InputError, match="p2: expected 2 clouds"):
        ball_query(torch.zeros(2, 3, 3), torch.zeros(1, 3, 3), 1.0, 2)
    with pytest.raises(InputError, match="p1: expected finite"):
        ball_query(torch.tensor([[float("nan"), 0, 0]]), y, 1.0, 2)


def test_ball_query_gradcheck():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 10, 3, generator=g, dtype=torch.float64, requires_grad=True)
    idx = ball_query(x, y, 0.6, 4).idx
    assert (idx >= 0).any() and (idx == -1).any()

    def f(a, b):
        r = ball_query(a, b, 0.6, 4)
        assert torch.equal(r.idx, idx)  # small steps keep the same neighbours
        return r.dists, r.knn

    assert torch.autograd.gradcheck(f, (x, y), eps=1e-7)


def test_ball_query_padding_is_not_read():
    x = torch.full((2, 5, 3), float("nan"), dtype=torch.float64)
    x[0, :3] = torch.rand(3, 3, dtype=torch.float64)
    x.requires_grad_(True)
    y = torch.rand(2, 20, 3, dtype=torch.float64)
    r = ball_query(x, y, 0.8, 4, lengths1=torch.tensor([3, 0]))
    assert (r.idx[0, 3:] == -1).all() and (r.idx[1] == -1).all()
    r.dists.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[:, 3:] == 0).all()


def test_ball_query_device(device):
    x, y = torch.rand(2, 50, 3), torch.rand(2, 400, 3)
    a = ball_query(x, y, 0.15, 16)
    b = ball_query(x.to(device), y.to(device), 0.15, 16)
    assert_on(b.dists, device, torch.float32)
    assert torch.equal(a.idx, b.idx.cpu())
    assert torch.allclose(a.dists, b.dists.cpu())
