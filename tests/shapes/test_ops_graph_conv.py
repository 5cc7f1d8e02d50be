"""GraphConv / graph_conv / neighbor_sum: dense-adjacency reference, ragged packed batches,
directed edges, gradcheck, bad input."""

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes import Meshes, ico_sphere
from spacetime.shapes.ops import GraphConv, graph_conv, neighbor_sum
from tests._matrix import ALL_FLOATS, assert_on, close


def _dense_reference(feats, edges, w0, w1, b, directed=False):
    """f' = f W0^T + A f W1^T + b with a dense (V, V) adjacency built by a Python loop."""
    v = feats.shape[0]
    A = torch.zeros(v, v, dtype=feats.dtype)
    for i, j in edges.tolist():
        A[i, j] += 1
        if not directed:
            A[j, i] += 1
    out = feats @ w0.t() + A @ feats @ w1.t()
    return out if b is None else out + b


def _close(a, b, tol=1e-10):
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= tol, f"max abs diff {err:.3g}"


def _batch():
    s = ico_sphere(1, dtype=torch.float64)
    tet_v = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    tet_f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Meshes([s.verts_list()[0], tet_v], [s.faces_list()[0], tet_f])


@pytest.mark.dtypes(*ALL_FLOATS)  # half precision is claimed (index_add path)
@pytest.mark.parametrize("cin,cout", [(5, 3), (3, 7)])
@pytest.mark.parametrize("directed", [False, True])
def test_matches_dense_reference(cin, cout, directed, device, dtype):
    m = _batch()
    g = torch.Generator().manual_seed(0)
    f = torch.randn(m.verts_packed().shape[0], cin, dtype=torch.float64, generator=g)
    conv = GraphConv(cin, cout, directed=directed, init="default").double()
    ref = _dense_reference(f, m.edges_packed(), conv.w0.weight, conv.w1.weight, conv.w0.bias,
                           directed).detach()
    conv, m, f = conv.to(device, dtype), m.to(device, dtype), f.to(device, dtype).requires_grad_()
    out = conv(f, m)
    assert out.shape == (46, cout)
    assert_on(out, device, dtype)
    # half precision: products of O(1) values summed over <= 7 neighbours, rounded per step
    close(out, ref, dtype, **({} if dtype.itemsize > 2 else dict(atol=0.1, rtol=0.05)))
    out.sum().backward()
    assert_on(f.grad, device, dtype, "feats.grad")
    assert_on(conv.w1.weight.grad, device, dtype, "w1.grad")
    # meshes of the batch do not talk to each other: output of mesh 1 only depends on its rows
    f2 = f.detach().clone()
    f2[:42] = 0
    assert torch.equal(conv(f2, m)[42:], out[42:])


def test_neighbor_sum_duplicates_and_isolated():
    f = torch.tensor([[1.0], [10.0], [100.0], [1000.0]])
    e = torch.tensor([[0, 1], [0, 1], [1, 2]])
    assert neighbor_sum(f, e)[:, 0].tolist() == [20.0, 102.0, 10.0, 0.0]
    assert neighbor_sum(f, e, directed=True)[:, 0].tolist() == [20.0, 100.0, 0.0, 0.0]
    assert neighbor_sum(f, torch.zeros(0, 2, dtype=torch.int64)).abs().sum() == 0


def test_functional_no_bias_and_init():
    m = _batch()
    f = torch.randn(46, 4, dtype=torch.float64)
    w0, w1 = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    _close(graph_conv(f, m.edges_packed(), w0, w1), _dense_reference(f, m.edges_packed(), w0,
                                                                       w1, None))
    conv = GraphConv(64, 32)
    assert conv.w0.bias.abs().sum() == 0 and conv.w0.weight.std() < 0.02
    assert GraphConv(3, 2, bias=False).w0.bias is None
    assert "directed=False" in repr(conv)


def test_gradcheck():
    m = _batch()
    f = torch.randn(46, 3, dtype=torch.float64, requires_grad=True)
    w0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    w1 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    e = m.edges_packed()
    assert torch.autograd.gradcheck(lambda x, a, c, d: graph_conv(x, e, a, c, d), (f, w0, w1, b))
    assert torch.autograd.gradcheck(
        lambda x, a, c: graph_conv(x, e, a, c, directed=True), (f, w0, w1)
    )
    conv = GraphConv(3, 5).double()
    assert torch.autograd.gradcheck(lambda x: conv(x, e), (f,))


def test_empty_graph():
    conv = GraphConv(3, 2)
    out = conv(torch.zeros(0, 3), torch.zeros(0, 2, dtype=torch.int64))
    assert out.shape == (0, 2)


@pytest.mark.parametrize(
    "feats,edges,match",
    [
        (torch.randn(4, 2), torch.tensor([[0, 1]]), "feats"),
        (torch.randn(4, 3), torch.tensor([[0, 4]]), r"edges: expected vertex indices in \[0, 3\]"),
        (torch.randn(4, 3), torch.tensor([[-1, 2]]), "edges"),
        (torch.randn(4, 3), torch.tensor([[0.0, 1.0]]), "edges"),
        (torch.randn(4, 3), torch.tensor([0, 1]), "edges"),
        (torch.randn(4, 3), [[0, 1]], "edges"),
        (torch.randint(0, 3, (4, 3)), torch.tensor([[0, 1]]), "feats"),
    ],
)
def test_bad_input(feats, edges, match):
    with pytest.raises(InputError, match=match):
        GraphConv(3, 2)(feats, edges)


def test_bad_construction():
    with pytest.raises(InputError, match="in_features"):
        GraphConv(0, 2)
    with pytest.raises(InputError, match="init"):
        GraphConv(2, 2, init="xavier")
    with pytest.raises(InputError, match="w1"):
        graph_conv(torch.randn(3, 2), torch.tensor([[0, 1]]), torch.randn(4, 2), torch.randn(4, 3))


def test_low_precision_fallback_matches():
    m = _batch()
    f = torch.randn(46, 4)
    e = m.edges_packed()
    ref = neighbor_sum(f, e)
    low = neighbor_sum(f.bfloat16(), e).float()
    assert (low - ref).abs().max() < 0.1
    assert neighbor_sum(f.double(), e).dtype == torch.float64
