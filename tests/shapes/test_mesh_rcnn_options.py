"""Options that let our Mesh R-CNN host the released checkpoints (spacetime.weights.meshrcnn):
GraphConv neighbour bias, vert_align align_corners, grid_align stages, inverse-depth K-space,
PyTorch3D "topleft" cubify, the box frame, builder checks. Each against a direct computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spacetime.errors import InputError
from spacetime.shapes.convert import cubify
from spacetime.shapes.models.mesh_rcnn import (
    MeshRCNNStep,
    ZHead,
    camera_to_kspace,
    cubify_kspace,
    kspace_to_camera,
    mesh_rcnn,
    mesh_rcnn_single,
)
from spacetime.shapes.models.mesh_rcnn.kspace import box_to_camera
from spacetime.shapes.models.mesh_rcnn.single import ResNet50Encoder
from spacetime.shapes.ops import GraphConv, MeshRefinementStage, vert_align
from spacetime.shapes.ops.refine import grid_align
from spacetime.shapes.structures import Meshes


@pytest.mark.parametrize("directed", [False, True])
def test_graph_conv_neighbor_bias_is_pytorch3d_layout(directed):
    torch.manual_seed(0)
    conv = GraphConv(5, 4, neighbor_bias=True, directed=directed).double()
    with torch.no_grad():
        conv.w1.bias.normal_()
    x = torch.randn(6, 5, dtype=torch.float64)
    edges = torch.tensor([[0, 1], [1, 2], [2, 0], [3, 4], [0, 4], [0, 1]])
    w0 = x @ conv.w0.weight.T + conv.w0.bias
    w1 = x @ conv.w1.weight.T + conv.w1.bias  # PyTorch3D: the bias is summed per neighbour
    want = w0.clone()
    for i, j in edges.tolist():
        want[i] += w1[j]
        if not directed:
            want[j] += w1[i]
    torch.testing.assert_close(conv(x, edges), want)
    assert GraphConv(5, 4).w1.bias is None  # default unchanged


def test_vert_align_align_corners():
    torch.manual_seed(1)
    feats = torch.randn(1, 3, 5, 7, dtype=torch.float64)
    verts = torch.tensor([[[0.1, -0.2, 2.0], [0.4, 0.3, 1.5], [-0.9, 0.0, 1.0]]],
                         dtype=torch.float64)
    K = torch.tensor([[20.0, 0, 9.5], [0, 20.0, 7.5], [0, 0, 1]], dtype=torch.float64)
    u = verts[0, :, 0] / verts[0, :, 2] * 20 + 9.5
    v = verts[0, :, 1] / verts[0, :, 2] * 20 + 7.5
    grid = torch.stack([(2 * u + 1) / 20 - 1, (2 * v + 1) / 16 - 1], 1)[None, None]
    for ac in (False, True):
        want = F.grid_sample(feats, grid, align_corners=ac)[0, :, 0].T
        got = vert_align(feats, verts, K, (16, 20), align_corners=ac)
        torch.testing.assert_close(got, want)


def _meshes():
    occ = torch.zeros(2, 3, 3, 3)
    occ[0, 1, 1, 1] = 1
    occ[1, 0, :2, :2] = 1
    m = cubify(occ.double(), 0.5)
    return Meshes([v / 1.5 - 1.2 for v in m.verts_list()], m.faces_list())


def test_grid_align_samples_vertex_xy():
    torch.manual_seed(2)
    meshes = _meshes()
    maps = [torch.randn(2, 3, 4, 4, dtype=torch.float64),
            torch.randn(2, 2, 6, 5, dtype=torch.float64)]
    got = grid_align(maps, meshes)
    rows = []
    for n, v in enumerate(meshes.verts_list()):
        rows.append(torch.cat([F.grid_sample(m[n:n + 1], v[None, None, :, :2], align_corners=True,
                                             padding_mode="border")[0, :, 0].T for m in maps],
                              1))
    torch.testing.assert_close(got, torch.cat(rows))
    with pytest.raises(InputError, match="padding_mode"):
        grid_align(maps, meshes, padding_mode="reflection")
    with pytest.raises(InputError, match="feature_maps"):
        grid_align([], meshes)
    with pytest.raises(InputError, match="align"):
        MeshRefinementStage(4, 0, 8, align="nearest")


def test_inverse_depth_kspace():
    K = torch.tensor([[50.0, 0, 20], [0, 40.0, 15], [0, 0, 1]], dtype=torch.float64)
    box = torch.tensor([[5.0, 2.0, 30.0, 28.0]], dtype=torch.float64)
    rng = torch.tensor([[1.0, 4.0]], dtype=torch.float64)
    g = 8
    harmonic = 2 / (1 / 1.0 + 1 / 4.0)
    pts = torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.2, 4.0], [-0.05, 0.1, harmonic]],
                       dtype=torch.float64)
    k = camera_to_kspace(pts, K, box, rng, g, depth_mode="inverse")
    torch.testing.assert_close(k[:, 2], torch.tensor([0.0, 8.0, 4.0], dtype=torch.float64))
    torch.testing.assert_close(kspace_to_camera(k, K, box, rng, g, depth_mode="inverse"), pts)
    lin = camera_to_kspace(pts, K, box, rng, g)
    torch.testing.assert_close(lin[:, :2], k[:, :2])  # x', y' do not depend on the mode
    with pytest.raises(InputError, match="depth_mode"):
        camera_to_kspace(pts, K, box, rng, g, depth_mode="log")


def test_cubify_topleft_and_box_frame():
    probs = torch.zeros(1, 4, 4, 4, dtype=torch.float64)
    probs[0, 0, 0, 0] = 0.9  # [d, h, w] = voxel at the origin corner
    K = torch.tensor([[50.0, 0, 20], [0, 50.0, 20], [0, 0, 1]], dtype=torch.float64)
    box = torch.tensor([[4.0, 4.0, 36.0, 36.0]], dtype=torch.float64)
    rng = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    b = cubify_kspace(probs, K, box, rng, align="topleft", frame="box")
    v = b.verts_packed()
    # PyTorch3D "topleft": corner c at 2c / (G - 1) - 1 -> {-1, -1/3}
    assert sorted(set(v[:, 0].tolist())) == pytest.approx([-1.0, -1.0 / 3])
    cam = cubify_kspace(probs, K, box, rng, align="topleft", depth_mode="inverse")
    torch.testing.assert_close(box_to_camera(b, K, box, rng, depth_mode="inverse").verts_packed(),
                               cam.verts_packed())
    corner = cubify_kspace(probs, K, box, rng, frame="box").verts_packed()
    assert sorted(set(corner[:, 0].tolist())) == pytest.approx([-1.0, -0.5])
    with pytest.raises(InputError, match="align"):
        cubify_kspace(probs, K, box, rng, align="center")
    with pytest.raises(InputError, match="frame"):
        cubify_kspace(probs, K, box, rng, frame="world")


def test_builder_checks():
    with pytest.raises(InputError, match="only for backbone 'resnet50-fpn'"):
        mesh_rcnn(num_classes=2, frozen_bn=True)
    with pytest.raises(InputError, match="image_mean, image_std"):
        mesh_rcnn(num_classes=2, image_mean=(0.5, 0.5, 0.5))
    with pytest.raises(InputError, match="mesh_frame"):
        mesh_rcnn(num_classes=2, mesh_frame="world")
    with pytest.raises(InputError, match="voxel_feature"):
        mesh_rcnn_single(voxel_feature=5)
    with pytest.raises(InputError, match="encoder"):
        mesh_rcnn_single(encoder="vgg")
    with pytest.raises(InputError, match="mean, std"):
        ResNet50Encoder(std=(0.0, 1.0, 1.0))
    with pytest.raises(InputError, match="depth_mode 'linear'"):
        MeshRCNNStep()(mesh_rcnn_single(num_stages=0, depth_mode="inverse"), {})
    m = mesh_rcnn(num_classes=3, mesh_roi_size=6, z_head=True, z_roi_size=3, z_fc_dim=16)
    assert m.mesh_pool is not None and isinstance(m.z_head, ZHead)
    assert m.z_head.pred.out_features == 3
    assert mesh_rcnn(num_classes=3).z_head is None


def test_zhead_shapes_and_extent():
    z = ZHead(4, 3, fc_dim=8, num_outputs=1)
    out = z(torch.randn(2, 4, 3, 3))
    assert out.shape == (2, 1)
    d = z.depth_extent(torch.tensor([[0.0], [100.0]]), torch.tensor([5, 0]),
                       torch.tensor([[0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 3.0]]))
    torch.testing.assert_close(d, torch.tensor([2.0, 2.0 * 1000 / 16]))  # clamped at log(62.5)
    with pytest.raises(InputError, match="feats"):
        z(torch.randn(2, 4, 5, 5))
