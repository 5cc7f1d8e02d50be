"""knn_points: tree and brute-force backends against a naive reference, padding, grads."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.shapes.metrics import knn_gather, knn_points, morton_order
from spacetime.shapes.structures import Pointclouds
from tests._matrix import assert_on, tolerance


def _knn_naive(x, y, lx, ly, K):
    """Full distance matrix per batch element with Python loops over the batch."""
    n, p1, _ = x.shape
    dists = torch.zeros(n, p1, K, dtype=x.dtype)
    idx = torch.full((n, p1, K), -1, dtype=torch.int64)
    for b in range(n):
        a, c = x[b, : lx[b]], y[b, : ly[b]]
        if a.shape[0] == 0:
            continue
        dists[b, : lx[b]] = float("inf")
        if c.shape[0] == 0:
            continue
        d = ((a[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        k = min(K, c.shape[0])
        v, i = d.sort(dim=1, stable=True)
        dists[b, : lx[b], :k] = v[:, :k]
        idx[b, : lx[b], :k] = i[:, :k]
    return dists, idx


def _close(a, b, atol=1e-6, rtol=1e-5):
    diff = (a - b).abs()
    finite = torch.isfinite(a) & torch.isfinite(b)
    assert torch.equal(torch.isinf(a), torch.isinf(b)), "inf pattern differs"
    d = diff[finite]
    assert torch.allclose(a[finite], b[finite], atol=atol, rtol=rtol), (
        f"max abs diff {d.max() if d.numel() else 0}"
    )


@pytest.mark.parametrize("backend", ["tree", "brute"])
@pytest.mark.parametrize("K", [1, 3])
def test_matches_naive_ragged(backend, K, device, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 40, 3, generator=g, dtype=torch.float64)
    y = torch.rand(4, 30, 3, generator=g, dtype=torch.float64)
    lx = torch.tensor([40, 0, 1, 25])
    ly = torch.tensor([30, 5, 0, 2])
    out = knn_points(x.to(device, dtype), y.to(device, dtype), lx.to(device), ly.to(device),
                     K=K, return_nn=True, backend=backend)
    for t in (out.dists, out.knn):
        assert_on(t, device, dtype)
    assert_on(out.idx, device, torch.int64)
    out = type(out)(*(t.cpu() for t in out))
    ref_d, ref_i = _knn_naive(x, y, lx, ly, K)
    assert out.dists.shape == (4, 40, K) and out.idx.shape == (4, 40, K)
    assert out.knn.shape == (4, 40, K, 3)
    _close(out.dists.double(), ref_d, **tolerance(dtype))
    assert torch.equal(out.idx, ref_i)  # random data: no ties
    # padding conventions
    assert (out.idx[1] == -1).all() and (out.dists[1] == 0).all()
    assert torch.isinf(out.dists[2, 0]).all() and (out.dists[2, 1:] == 0).all()
    if K == 3:
        assert torch.isinf(out.dists[3, :25, 2]).all() and (out.idx[3, :25, 2] == -1).all()
    assert (out.knn[out.idx == -1] == 0).all()


def test_tree_equals_brute_float32_large():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3000, 3, generator=g), torch.rand(2, 2500, 3, generator=g)
    a = knn_points(x, y, K=2, backend="tree")
    b = knn_points(x, y, K=2, backend="brute")
    assert torch.equal(a.dists, b.dists)
    assert torch.equal(a.idx, b.idx)


def test_ties_same_distance():
    x = torch.zeros(1, 1, 3)
    y = torch.tensor([[[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0]]])
    for backend in ("tree", "brute"):
        out = knn_points(x, y, K=1, backend=backend)
        assert out.dists.item() == 1.0 and 0 <= out.idx.item() < 3


def test_pointclouds_input_and_gather():
    pc1 = Pointclouds([torch.rand(5, 3), torch.rand(2, 3)])
    pc2 = Pointclouds([torch.rand(4, 3), torch.rand(6, 3)])
    out = knn_points(pc1, pc2, K=2)
    ref = knn_points(
        pc1.points_padded(),
        pc2.points_padded(),
        pc1.num_points_per_cloud(),
        pc2.num_points_per_cloud(),
        K=2,
    )
    assert torch.equal(out.idx, ref.idx)
    feats = pc2.points_padded()
    assert torch.allclose(
        knn_gather(feats, ref.idx)[:, :2], knn_points(pc1, pc2, K=2, return_nn=True).knn[:, :2]
    )


@pytest.mark.parametrize("backend", ["tree", "brute"])
def test_gradcheck(backend):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    lx, ly = torch.tensor([6, 4]), torch.tensor([5, 3])

    def f(a, b):
        return knn_points(a, b, lx, ly, K=2, backend=backend).dists

    assert torch.autograd.gradcheck(f, (x, y))


def test_grad_with_padding_is_finite():
    x = torch.rand(1, 4, 3, requires_grad=True)
    y = torch.rand(1, 3, 3)
    with torch.no_grad():
        x[0, 3] = float("nan")  # padding row, ignored
    d = knn_points(x, y, torch.tensor([3]), K=1).dists
    d.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[0, 3] == 0).all()


def test_bad_inputs():
    x = torch.rand(2, 5, 3)
    with pytest.raises(InputError, match=r"p2: expected shape \(N, P2, D\)"):
        knn_points(x, torch.rand(2, 5))
    with pytest.raises(InputError, match="N=2"):
        knn_points(x, torch.rand(3, 5, 3))
    with pytest.raises(InputError, match="D=3"):
        knn_points(x, torch.rand(2, 5, 2))
    bad = x.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="p1: expected finite"):
        knn_points(bad, x)
    with pytest.raises(InputError, match="K: expected an int >= 1"):
        knn_points(x, x, K=0)
    with pytest.raises(InputError, match=r"p1_lengths: expected values in \[0, 5\]"):
        knn_points(x, x, lengths1=torch.tensor([6, 1]))
    with pytest.raises(InputError, match="backend"):
        knn_points(x, x, backend="faiss")
    with pytest.raises(InputError, match="dtype"):
        knn_points(x, x.double())
    with pytest.raises(InputError, match="floating"):
        knn_points(x.long(), x.long())


def test_empty_and_single():
    out = knn_points(torch.rand(1, 0, 3), torch.rand(1, 4, 3))
    assert out.dists.shape == (1, 0, 1)
    out = knn_points(torch.rand(1, 3, 3), torch.rand(1, 0, 3))
    assert torch.isinf(out.dists).all() and (out.idx == -1).all()
    p = torch.tensor([[[1.0, 2.0, 3.0]]])
    out = knn_points(p, p + 1)
    assert out.dists.item() == 3.0 and out.idx.item() == 0


def test_morton_order_is_permutation():
    import numpy as np

    pts = np.random.default_rng(0).random((100, 3))
    o = morton_order(pts)
    assert sorted(o.tolist()) == list(range(100))
    assert morton_order(np.zeros((5, 3))).shape == (5,)


@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 4), st.integers(0, 10_000))
def test_property_tree_brute_agree(p1, p2, K, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, p1, 3, generator=g, dtype=torch.float64)
    y = torch.randn(1, p2, 3, generator=g, dtype=torch.float64)
    a = knn_points(x, y, K=K, backend="tree")
    b = knn_points(x, y, K=K, backend="brute")
    assert torch.equal(a.dists, b.dists)


def test_tree_distances_equal_autograd_recomputation():
    g = torch.Generator().manual_seed(5)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(1, 40_000, 3, generator=g).to(dtype)  # above the Morton-sort threshold
        y = torch.rand(1, 35_000, 3, generator=g).to(dtype)
        plain = knn_points(x, y, K=2)  # no grad: the tree's own distances
        xg = x.clone().requires_grad_(True)
        recomputed = knn_points(xg, y, K=2)  # grad: recomputed from gathered points
        assert torch.equal(plain.idx, recomputed.idx)
        assert torch.equal(plain.dists, recomputed.dists.detach())
        ref = knn_points(x[:, :200], y, K=2, backend="brute")  # the sorted path vs reference
        assert torch.equal(plain.idx[:, :200], ref.idx)
        assert torch.equal(plain.dists[:, :200], ref.dists)


def test_pair_threads_work_after_fork():
    """The 2-thread pool used for the two kNN directions must not hang in a forked child."""
    import multiprocessing as mp

    from spacetime.shapes.metrics import chamfer_and_f1

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(1, 5000, 3, generator=g), torch.rand(1, 5000, 3, generator=g)
    expected = chamfer_and_f1(x, y, 0.05).chamfer  # creates the pool in this process
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_chamfer_in_child, (x, y)).get(timeout=60)
    assert torch.equal(got, expected)


def _chamfer_in_child(x, y):
    from spacetime.shapes.metrics import chamfer_and_f1

    return chamfer_and_f1(x, y, 0.05).chamfer


def _brute_sq(x, y, K):
    """Reference squared distances in the sum order of the tree: (dx² + dy²) + dz² ...
    (rows in chunks to bound memory)."""
    k = min(K, y.shape[1])
    out = []
    for s in range(0, x.shape[1], 1000):
        diff = x[:, s : s + 1000, None, :] - y[:, None, :, :]
        sq = diff * diff
        d = sq[..., 0]
        for c in range(1, x.shape[-1]):
            d = d + sq[..., c]
        out.append(d.topk(k, dim=-1, largest=False, sorted=True).values)
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("D", [1, 2, 3, 5])
@pytest.mark.parametrize("K", [1, 4])
def test_tree_bit_identical_to_brute_force(dtype, D, K):
    """Many queries (several thread chunks), ties and duplicate points included."""
    g = torch.Generator().manual_seed(D * 10 + K)
    y = torch.randn(1, 2000, D, generator=g).to(dtype)
    y[:, 1000:1500] = torch.round(y[:, 1000:1500] * 2) / 2  # exact duplicates and ties
    x = torch.randn(1, 9000, D, generator=g).to(dtype)
    x[:, :500] = y[:, 1000:1500]  # queries sitting exactly on data points
    out = knn_points(x, y, K=K)
    ref = _brute_sq(x, y, K)
    assert torch.equal(out.dists, ref)
    got = knn_gather(y, out.idx)  # the indices point at points at exactly those distances
    assert torch.equal(_brute_sq(x[:, :, None, :].reshape(-1, 1, D), got.reshape(-1, K, D), K)
                       .reshape(1, -1, K), out.dists)
    assert all(len(set(r)) == K for r in out.idx[0].tolist())  # K distinct neighbours


@pytest.mark.parametrize("pts", ["same", "line", "plane", "cluster_and_outlier"])
def test_tree_degenerate_clouds(pts):
    """All points identical, collinear or coplanar, or a tight cluster plus one far outlier
    (the cluster shares one Morton cell: median splits take over): exact all the same."""
    g = torch.Generator().manual_seed(1)
    n = 3000
    if pts == "same":
        y = torch.ones(1, n, 3)
    elif pts == "line":
        y = torch.zeros(1, n, 3)
        y[..., 0] = torch.rand(n, generator=g)
    elif pts == "plane":
        y = torch.rand(1, n, 3, generator=g)
        y[..., 2] = 0.5
    else:
        y = torch.rand(1, n, 3, generator=g) * 1e-4
        y[0, 0] = 1000.0
    x = torch.rand(1, 6000, 3, generator=g)
    if pts == "cluster_and_outlier":
        x = x * 2e-4
    for K in (1, 3):
        assert torch.equal(knn_points(x, y, K=K).dists, _brute_sq(x, y, K))


def test_tree_results_do_not_depend_on_threads():
    from spacetime.shapes.metrics import chamfer_and_f1

    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(2, 20_000, 3, generator=g), torch.rand(2, 15_000, 3, generator=g)
    before = torch.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            res.append((knn_points(x, y, K=2), chamfer_and_f1(x, y, 0.01)))
    finally:
        torch.set_num_threads(before)
    for r in res[1:]:
        assert torch.equal(r[0].dists, res[0][0].dists)
        assert torch.equal(r[1].chamfer, res[0][1].chamfer)
        assert torch.equal(r[1].f1, res[0][1].f1)


def test_both_directions_match_one_direction_calls():
    """The shared-tree path (both directions, queries in tree order) equals two knn_points."""
    from spacetime.shapes.metrics.knn import nn_both_ways

    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(1, 6_000, 3, generator=g), torch.rand(1, 5_000, 3, generator=g)
    nn, _, _ = nn_both_ways(x, y)
    assert torch.equal(nn.d_xy, knn_points(x, y).dists[..., 0])
    assert torch.equal(nn.d_yx, knn_points(y, x).dists[..., 0])
    assert torch.equal(nn.d_xy, _brute_sq(x, y, 1)[..., 0])


def test_morton_order_matches_stable_argsort_of_codes():
    import numpy as np

    pts = np.random.default_rng(1).random((5000, 4))  # 4-D: the first three coordinates count
    pts[:100] = pts[100:200]  # duplicates: stable order
    q = ((pts[:, :3] - pts[:, :3].min(0)) * (1023 / np.ptp(pts[:, :3], 0).max())).astype(np.uint32)

    def spread(v):
        v = (v | (v << 16)) & 0x030000FF
        v = (v | (v << 8)) & 0x0300F00F
        v = (v | (v << 4)) & 0x030C30C3
        return (v | (v << 2)) & 0x09249249

    code = spread(q[:, 0]) | (spread(q[:, 1]) << 1) | (spread(q[:, 2]) << 2)
    assert np.array_equal(morton_order(pts), np.argsort(code, kind="stable"))
    assert np.array_equal(morton_order(np.zeros((7, 3))), np.arange(7))  # zero extent
    with pytest.raises(InputError, match="bits"):
        morton_order(pts, bits=11)


def test_batch_of_small_clouds_matches_brute_force():
    """Many batch elements (trees built in parallel across elements), ragged lengths."""
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(24, 700, 3, generator=g), torch.rand(24, 600, 3, generator=g)
    lx = torch.randint(0, 701, (24,), generator=g)
    ly = torch.randint(0, 601, (24,), generator=g)
    for K in (1, 3):
        tree = knn_points(x, y, lx, ly, K=K, backend="tree")
        brute = knn_points(x, y, lx, ly, K=K, backend="brute")
        assert torch.equal(tree.dists, brute.dists)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("D", [2, 3])
def test_one_big_tree_is_exact(threads, D):
    """One data cloud of 10k+ points: 2-D is split at medians everywhere, 3-D along Morton
    bits, its tree built while the queries are Morton-sorted."""
    g = torch.Generator().manual_seed(6)
    y = torch.rand(1, 12_000, D, generator=g)
    y[:, :3000] = torch.round(y[:, :3000] * 8) / 8  # ties across the root split
    x = torch.rand(1, 2_000, D, generator=g)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        out = knn_points(x, y, K=2)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(out.dists, _brute_sq(x, y, 2))


def test_concurrent_calls_from_user_threads():
    """Several Python threads sharing the kNN thread pool get their own, exact answers."""
    from concurrent.futures import ThreadPoolExecutor

    from spacetime.shapes.metrics import chamfer_and_f1

    g = torch.Generator().manual_seed(7)
    pairs = [(torch.rand(1, 9000, 3, generator=g), torch.rand(1, 8000, 3, generator=g))
             for _ in range(6)]
    expected = [chamfer_and_f1(x, y, 0.02) for x, y in pairs]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda p: chamfer_and_f1(p[0], p[1], 0.02), pairs))
    for e, r in zip(expected, got):
        assert torch.equal(e.chamfer, r.chamfer) and torch.equal(e.f1, r.f1)


def test_kernels_work_without_a_writable_numba_cache():
    """Read-only install and home: numba has no cache locator and raises at decoration time;
    the kernels must still import and run (uncached, with one warning)."""
    import subprocess
    import sys

    code = (
        "import warnings, torch\n"
        "import numba.core.caching as c\n"
        "c.CacheImpl._locator_classes = []\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    from spacetime.shapes.metrics import chamfer_distance\n"
        "    x = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]]); y = torch.tensor([[[0.0, 1, 0]]])\n"
        "    print(float(chamfer_distance(x, y)[0]))\n"
        "print(sum('NUMBA_CACHE_DIR' in str(m.message) for m in w))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split()
    assert float(lines[0]) == 2.5  # (1 + 2) / 2 + 1
    assert lines[1] == "1"  # warned once


def test_batch_split_into_groups_of_bounded_size(monkeypatch):
    """Large batches are processed in groups of at most _GROUP_POINTS points (same result)."""
    from spacetime.shapes.metrics import knn as knn_module

    g = torch.Generator().manual_seed(8)
    x, y = torch.rand(5, 900, 3, generator=g), torch.rand(5, 800, 3, generator=g)
    lx = torch.tensor([900, 0, 450, 900, 10])
    whole = knn_points(x, y, lx, K=2)
    monkeypatch.setattr(knn_module, "_GROUP_POINTS", 1000)  # about one element per group
    grouped = knn_points(x, y, lx, K=2)
    assert torch.equal(whole.dists, grouped.dists)
    assert torch.equal(whole.dists, knn_points(x, y, lx, K=2, backend="brute").dists)
