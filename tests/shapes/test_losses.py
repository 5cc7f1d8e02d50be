"""Losses against loop references, with gradcheck in float64."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.losses import (
    chamfer_loss,
    chamfer_normal_loss,
    depth_l2_loss,
    mesh_edge_loss,
    mesh_laplacian_smoothing,
    mesh_normal_consistency,
    scale_invariant_depth_loss,
    surface_normal_loss,
    voxel_bce_loss,
)
from spacetime.shapes.metrics import chamfer_distance
from spacetime.shapes.structures import Meshes
from tests._matrix import check_op

D = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- point losses


def test_chamfer_loss_reduces_chamfer_distance():
    g = _gen()
    x, y = torch.rand(3, 7, 3, generator=g, dtype=D), torch.rand(3, 5, 3, generator=g, dtype=D)
    per = chamfer_distance(x, y)
    assert chamfer_loss(x, y).item() == pytest.approx(per.mean().item())
    assert chamfer_loss(x, y, reduction="sum").item() == pytest.approx(per.sum().item())
    assert torch.equal(chamfer_loss(x, y, reduction="none"), per)
    s = chamfer_loss(x, y, point_reduction="sum", reduction="none")
    assert torch.equal(s, chamfer_distance(x, y, reduction="sum"))
    with pytest.raises(InputError, match="reduction"):
        chamfer_loss(x, y, reduction="avg")


def _norm_naive(x, y, nx, ny):
    def one(a, b, na, nb):
        tot = 0.0
        for i in range(a.shape[0]):
            j = int(((b - a[i]) ** 2).sum(1).argmin())
            tot += abs(float(torch.dot(na[i], nb[j]) / (na[i].norm() * nb[j].norm())))
        return tot / a.shape[0]

    return -(one(x, y, nx, ny) + one(y, x, ny, nx))


def test_chamfer_normal_loss_matches_naive_and_grads():
    g = _gen(1)
    x, y = torch.rand(2, 6, 3, generator=g, dtype=D), torch.rand(2, 5, 3, generator=g, dtype=D)
    nx, ny = torch.randn(2, 6, 3, generator=g, dtype=D), torch.randn(2, 5, 3, generator=g, dtype=D)
    out = chamfer_normal_loss(x, y, nx, ny, reduction="none")
    assert torch.equal(out.chamfer, chamfer_distance(x, y))
    for b in range(2):
        assert out.normals[b].item() == pytest.approx(_norm_naive(x[b], y[b], nx[b], ny[b]))
    x.requires_grad_(True)
    y.requires_grad_(True)
    nx.requires_grad_(True)
    ny.requires_grad_(True)

    def f(a, b, na, nb):
        r = chamfer_normal_loss(a, b, na, nb)
        return r.chamfer, r.normals

    assert torch.autograd.gradcheck(f, (x, y, nx, ny))
    with pytest.raises(InputError, match="x_normals"):
        chamfer_normal_loss(x, y)


# ----------------------------------------------------------------------------- mesh losses


def _tet_and_grid():
    """A tetrahedron and a 3x3-vertex grid of 8 triangles (perturbed), as a batch of 2."""
    tv = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=D)
    tf = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    gv = torch.tensor([[x, y, 0.0] for y in range(3) for x in range(3)], dtype=D)
    gv[:, 2] = torch.tensor([0.0, 0.1, -0.2, 0.05, 0.3, 0.0, -0.1, 0.2, 0.1], dtype=D)
    quads = [(0, 1, 4, 3), (1, 2, 5, 4), (3, 4, 7, 6), (4, 5, 8, 7)]
    gf = torch.tensor([t for a, b, c, d in quads for t in ([a, b, c], [a, c, d])])
    return [tv, gv], [tf, gf]


def _edges_naive(f):
    return sorted(
        {
            tuple(sorted((int(a), int(b))))
            for t in f
            for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))
        }
    )


def test_mesh_edge_loss():
    vs, fs = _tet_and_grid()
    m = Meshes(vs, fs)
    per = mesh_edge_loss(m, reduction="none")
    for b in range(2):
        e = _edges_naive(fs[b])
        ref = sum(float(((vs[b][i] - vs[b][j]) ** 2).sum()) for i, j in e) / len(e)
        assert per[b].item() == pytest.approx(ref)
    assert mesh_edge_loss(m).item() == pytest.approx(per.mean().item())
    t = mesh_edge_loss(m, target_length=1.0, reduction="none")
    e = _edges_naive(fs[0])
    ref = sum((float((vs[0][i] - vs[0][j]).norm()) - 1) ** 2 for i, j in e) / len(e)
    assert t[0].item() == pytest.approx(ref)
    with pytest.raises(InputError, match="target_length"):
        mesh_edge_loss(m, target_length=-1.0)


def _laplacian_naive(v, f):
    nb = {i: set() for i in range(v.shape[0])}
    for i, j in _edges_naive(f):
        nb[i].add(j)
        nb[j].add(i)
    tot = 0.0
    for i in range(v.shape[0]):
        if nb[i]:
            mean = sum(v[j] for j in nb[i]) / len(nb[i])
            tot += float((mean - v[i]).norm())
    return tot / v.shape[0]


def test_mesh_laplacian_smoothing():
    vs, fs = _tet_and_grid()
    vs[1] = torch.cat([vs[1], torch.tensor([[5.0, 5, 5]], dtype=D)])  # isolated vertex
    per = mesh_laplacian_smoothing(Meshes(vs, fs), reduction="none")
    for b in range(2):
        assert per[b].item() == pytest.approx(_laplacian_naive(vs[b], fs[b]))


def _nc_naive(v, f):
    n = []
    for t in f:
        c = torch.linalg.cross(v[t[1]] - v[t[0]], v[t[2]] - v[t[0]])
        n.append(c / c.norm())
    vals = []
    for a in range(len(f)):
        for b in range(a + 1, len(f)):
            if len(set(f[a].tolist()) & set(f[b].tolist())) == 2:
                vals.append(1 - float(torch.dot(n[a], n[b])))
    return sum(vals) / len(vals)


def test_mesh_normal_consistency():
    vs, fs = _tet_and_grid()
    per = mesh_normal_consistency(Meshes(vs, fs), reduction="none")
    for b in range(2):
        assert per[b].item() == pytest.approx(_nc_naive(vs[b], fs[b]))
    flat = vs[1].clone()
    flat[:, 2] = 0
    assert mesh_normal_consistency(Meshes([flat], [fs[1]])).item() == pytest.approx(0.0, abs=1e-12)
    # a non-manifold edge shared by three faces: all three pairs count
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=D)
    f = torch.tensor([[0, 1, 2], [1, 0, 3], [0, 1, 4]])
    assert mesh_normal_consistency(Meshes([v], [f])).item() == pytest.approx(_nc_naive(v, f))


def test_mesh_losses_gradcheck():
    vs, fs = _tet_and_grid()
    base = Meshes(vs, fs)
    vp = base.verts_packed().detach().clone().requires_grad_(True)

    def f(v):
        m = base.update_packed(v)
        return mesh_edge_loss(m), mesh_laplacian_smoothing(m), mesh_normal_consistency(m)

    assert torch.autograd.gradcheck(f, (vp,))


def test_mesh_losses_empty_mesh():
    m = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)])
    for fn in (mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency):
        assert fn(m).item() == 0.0


# ----------------------------------------------------------------------------- dense losses


def test_depth_losses():
    g = _gen(2)
    gt = torch.rand(2, 1, 4, 5, generator=g, dtype=D) + 0.5
    pred = (gt + 0.3 * torch.randn(2, 1, 4, 5, generator=g, dtype=D)).clamp(0.1)
    valid = torch.rand(2, 4, 5, generator=g) > 0.3
    l2 = depth_l2_loss(pred, gt, valid, reduction="none")
    si = scale_invariant_depth_loss(pred, gt, valid, reduction="none")
    for b in range(2):
        m = valid[b]
        p, t = pred[b, 0][m], gt[b, 0][m]
        assert l2[b].item() == pytest.approx(float(((p - t) ** 2).mean()))
        d = [math.log(a) - math.log(c) for a, c in zip(p.tolist(), t.tolist())]
        n = len(d)
        ref = sum(x * x for x in d) / n - 0.5 * sum(d) ** 2 / n**2
        assert si[b].item() == pytest.approx(ref)
    # lam = 1 is invariant to a global scale of the prediction
    a = scale_invariant_depth_loss(pred, gt, valid, lam=1.0)
    b = scale_invariant_depth_loss(pred * 4, gt, valid, lam=1.0)
    assert a.item() == pytest.approx(b.item())
    p = pred.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda q: (depth_l2_loss(q, gt, valid), scale_invariant_depth_loss(q, gt, valid)), (p,)
    )
    with pytest.raises(InputError, match="gt: expected shape"):
        depth_l2_loss(pred, gt[:, :, :2])
    none_valid = torch.zeros(2, 4, 5, dtype=torch.bool)
    assert depth_l2_loss(pred, gt, none_valid).item() == 0.0


def test_surface_normal_loss():
    g = _gen(3)
    gt = torch.randn(2, 3, 3, 4, generator=g, dtype=D)
    assert surface_normal_loss(gt * 5, gt).item() == pytest.approx(-1.0)
    assert surface_normal_loss(-gt, gt).item() == pytest.approx(1.0)
    pred = torch.randn(2, 3, 3, 4, generator=g, dtype=D)
    valid = torch.rand(2, 3, 4, generator=g) > 0.5
    per = surface_normal_loss(pred, gt, valid, reduction="none")
    for b in range(2):
        cos = torch.nn.functional.cosine_similarity(pred[b], gt[b], dim=0)[valid[b]]
        assert per[b].item() == pytest.approx(-float(cos.mean()))
    p = pred.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q: surface_normal_loss(q, gt, valid), (p,))
    with pytest.raises(InputError, match=r"pred: expected shape \(N, 3, H, W\)"):
        surface_normal_loss(pred[:, :2], gt)


def test_voxel_bce_loss():
    g = _gen(4)
    logits = torch.randn(2, 3, 4, 5, generator=g, dtype=D)
    target = torch.rand(2, 3, 4, 5, generator=g) > 0.7
    per = voxel_bce_loss(logits, target, pos_weight=3.0, reduction="none")
    for b in range(2):
        s = torch.sigmoid(logits[b]).flatten().tolist()
        t = target[b].flatten().tolist()
        ref = -sum(3.0 * y * math.log(p) + (1 - y) * math.log(1 - p) for p, y in zip(s, t)) / len(s)
        assert per[b].item() == pytest.approx(ref)
    lg = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q: voxel_bce_loss(q, target.to(D)), (lg,))
    with pytest.raises(InputError, match="target: expected shape"):
        voxel_bce_loss(logits, target[:, :2])
    bad = logits.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="logits: expected finite"):
        voxel_bce_loss(bad, target)


# ----------------------------------------------------------------------------- device / dtype


def test_losses_device_dtype(device, dtype):
    """Every loss on ``device`` in ``dtype``: output and grads stay there, values match float64."""
    g = _gen(5)
    x, y = torch.rand(2, 6, 3, generator=g, dtype=D), torch.rand(2, 5, 3, generator=g, dtype=D)
    nx, ny = torch.randn(2, 6, 3, generator=g, dtype=D), torch.randn(2, 5, 3, generator=g, dtype=D)
    check_op(lambda a, b: chamfer_loss(a, b), (x, y), device, dtype)
    check_op(lambda a, b, na, nb: chamfer_normal_loss(a, b, na, nb), (x, y, nx, ny), device, dtype)
    vs, fs = _tet_and_grid()

    def mesh_losses(*v):
        m = Meshes(list(v), fs_dev(v[0].device))
        return mesh_edge_loss(m), mesh_laplacian_smoothing(m), mesh_normal_consistency(m)

    def fs_dev(dev):
        return [f.to(dev) for f in fs]

    check_op(mesh_losses, vs, device, dtype)
    gt = torch.rand(2, 1, 4, 5, generator=g, dtype=D) + 0.5
    pred = gt + 0.2 * torch.rand(2, 1, 4, 5, generator=g, dtype=D)
    valid = torch.rand(2, 4, 5, generator=g) > 0.3
    check_op(lambda p, t, v: (depth_l2_loss(p, t, v), scale_invariant_depth_loss(p, t, v)),
             (pred, gt, valid), device, dtype)
    n1, n2 = torch.randn(2, 3, 3, 4, generator=g, dtype=D), torch.randn(2, 3, 3, 4, generator=g,
                                                                        dtype=D)
    check_op(lambda a, b, v: surface_normal_loss(a, b, v), (n1, n2, valid[:, :3, :4]), device,
             dtype)
    logits = torch.randn(2, 3, 4, 5, generator=g, dtype=D)
    target = torch.rand(2, 3, 4, 5, generator=g) > 0.7
    check_op(lambda q, t: voxel_bce_loss(q, t, pos_weight=3.0), (logits, target), device, dtype)
