"""VertexRefine, subdivide_meshes_and_features and MeshRefinementStage."""

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes import Meshes, ico_sphere, subdivide_meshes
from spacetime.shapes.ops import (
    MeshRefinementStage,
    VertexRefine,
    subdivide_meshes_and_features,
)
from tests._matrix import assert_on, close


def _two_meshes():
    s = ico_sphere(0)
    tet_v = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
    tet_f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Meshes([s.verts_list()[0] + torch.tensor([0, 0, 3.0]), tet_v + 2.0],
                  [s.faces_list()[0], tet_f])


def test_vertex_refine_identity_at_init_and_formula():
    m = _two_meshes()
    ref = VertexRefine(5)
    f = torch.randn(16, 5)
    out = ref(m, f)
    assert isinstance(out, Meshes) and torch.equal(out.verts_packed(), m.verts_packed())
    assert torch.equal(out.faces_packed(), m.faces_packed())
    with torch.no_grad():
        ref.linear.weight.normal_()
        ref.linear.bias.normal_()
    v = m.verts_packed()
    expect = v + torch.tanh(torch.cat([f, v], 1) @ ref.linear.weight.t() + ref.linear.bias)
    assert torch.allclose(ref(v, f), expect, atol=1e-6)
    moved = ref(m, f)
    assert torch.allclose(moved.verts_packed(), expect, atol=1e-6)
    assert moved.num_verts_per_mesh().tolist() == [12, 4]
    assert ((moved.verts_packed() - v).abs() <= 1).all()


def test_vertex_refine_gradcheck_and_bad_input():
    ref = VertexRefine(2).double()
    with torch.no_grad():
        ref.linear.weight.normal_()
    v = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    f = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ref, (v, f))
    with pytest.raises(InputError, match="feats"):
        ref(v, torch.randn(6, 3, dtype=torch.float64))
    with pytest.raises(InputError, match="verts"):
        ref(v[:, :2], f)
    with pytest.raises(InputError, match="verts"):
        ref([v], f)


def test_subdivide_features_match_vertex_positions():
    m = _two_meshes()
    new, f = subdivide_meshes_and_features(m, m.verts_packed() * 2)
    ref = subdivide_meshes(m)
    assert torch.equal(new.verts_packed(), ref.verts_packed())
    assert torch.allclose(f, 2 * ref.verts_packed())
    assert new.num_verts_per_mesh().tolist() == [42, 10]
    same, none = subdivide_meshes_and_features(m)
    assert none is None and same.num_faces_per_mesh().tolist() == [80, 16]
    with pytest.raises(InputError, match="feats"):
        subdivide_meshes_and_features(m, torch.randn(15, 2))


def test_refinement_stage_shapes_and_backward():
    torch.manual_seed(0)
    m = _two_meshes()
    maps = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    K = torch.tensor([[10.0, 0, 7.5], [0, 10.0, 7.5], [0, 0, 1]])
    s1 = MeshRefinementStage(10, 0, 8, num_convs=2)
    m1, f1 = s1(maps, m, K, 16)
    assert f1.shape == (16, 8) and m1.num_verts_per_mesh().tolist() == [12, 4]
    s2 = MeshRefinementStage(10, 8, 8, num_convs=1)
    with torch.no_grad():
        s2.refine.linear.weight.normal_()
    m2, f2 = s2(maps, m1, K, 16, f1)
    assert f2.shape == (16, 8)
    m2.verts_packed().sum().backward()
    assert s1.bottleneck.weight.grad is not None and s2.convs[0].w0.weight.grad is not None
    with pytest.raises(InputError, match="vert_feats"):
        s2(maps, m1, K, 16)
    with pytest.raises(InputError, match="num_convs"):
        MeshRefinementStage(4, 0, 8, num_convs=0)


def test_stage_matches_float64_cpu(device, dtype):
    """The whole stage (vert_align, graph convs, refine, subdivide) on ``device`` in ``dtype``
    against the float64 CPU result; outputs and grads stay on the device in the dtype."""
    torch.manual_seed(0)
    m = _two_meshes().to(dtype=torch.float64)
    maps = [torch.randn(2, 4, 8, 8, dtype=torch.float64), torch.randn(2, 6, 4, 4,
                                                                       dtype=torch.float64)]
    K = torch.tensor([[10.0, 0, 7.5], [0, 10.0, 7.5], [0, 0, 1]], dtype=torch.float64)
    stage = MeshRefinementStage(10, 0, 8, num_convs=2).double()
    with torch.no_grad():
        stage.refine.linear.weight.normal_()
    m_ref, f_ref = stage(maps, m, K, 16)
    stage = stage.to(device, dtype)
    maps = [x.to(device, dtype).requires_grad_() for x in maps]
    m_dev, f_dev = stage(maps, m.to(device, dtype), K.to(device, dtype), 16)
    assert_on(f_dev, device, dtype, "vert_feats")
    assert_on(m_dev.verts_packed(), device, dtype, "verts")
    close(f_dev, f_ref, dtype, atol=1e-4)
    close(m_dev.verts_packed(), m_ref.verts_packed(), dtype, atol=1e-4)
    new, f = subdivide_meshes_and_features(m_dev, f_dev)
    assert_on(f, device, dtype, "subdivided feats")
    assert_on(new.verts_packed(), device, dtype, "subdivided verts")
    assert_on(new.faces_packed(), device, torch.int64, "subdivided faces")
    (f.sum() + new.verts_packed().sum()).backward()
    assert_on(maps[0].grad, device, dtype, "maps.grad")
    assert_on(stage.bottleneck.weight.grad, device, dtype, "bottleneck.grad")
