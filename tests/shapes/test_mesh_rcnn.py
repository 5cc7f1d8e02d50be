"""Mesh R-CNN: the K-space transform (round trip, agreement with the synthetic data's
``voxels_cam``), cubify back to the camera frame, head shapes, losses and presets, AP / F1
hand-computed cases, face-quality counts, and a tiny end-to-end single-object training run
through the engine whose mesh metrics improve over the untrained prediction."""

from __future__ import annotations

import math

import pytest
import torch

from spacetime.engine import TrainConfig, Trainer, build_loader
from spacetime.errors import InputError
from spacetime.shapes import Meshes, box_mesh, compare_meshes
from spacetime.shapes.datasets import SyntheticShapes, collate_3d
from spacetime.shapes.models.mesh_rcnn import (
    LOSS_PRESETS,
    DepthHead,
    MeshRCNNStep,
    MeshRefinementHead,
    VoxelHead,
    average_precision,
    box_intrinsics,
    box_iou,
    camera_to_kspace,
    contact_row,
    cubify_kspace,
    depth_range_from_box,
    detection_ap,
    euler_characteristic,
    evaluate_single,
    full_image_boxes,
    kspace_to_camera,
    kspace_voxels,
    loss_weights,
    mask_iou,
    mesh_quality,
    mesh_rcnn_loss,
    mesh_rcnn_single,
    overlay_predictions,
    save_png,
    second_view,
)
from spacetime.shapes.ops import vert_align

TINY = dict(image_size=32, widths=(8, 16, 32, 32), grid_size=16, voxel_hidden=16, hidden_dim=32,
            num_stages=2, num_convs=2)
DATA = dict(categories=["chair", "mug"], num_objects_per_category=4, views_per_object=2,
            image_size=32, num_points=512, mesh_resolution=24, voxel_resolution=16,
            progress=False, returns=("image", "K", "R", "t", "points", "mesh", "voxels_cam"))


def _K(n=2, s=32, f=None):
    f = float(s) if f is None else f
    return torch.tensor([[f, 0.0, (s - 1) / 2], [0.0, f, (s - 1) / 2], [0, 0, 1]]).expand(n, 3, 3)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return SyntheticShapes(tmp_path_factory.mktemp("mrcnn"), "train", **DATA)


# ----------------------------------------------------------------------------------- K-space
def _naive_to_kspace(p, K, box, dr, g):
    X, Y, Z = p.tolist()
    u = K[0][0] * X / Z + K[0][2]
    v = K[1][1] * Y / Z + K[1][2]
    return [(u - box[0]) * g / (box[2] - box[0]), (v - box[1]) * g / (box[3] - box[1]),
            (Z - dr[0]) * g / (dr[1] - dr[0])]


def test_kspace_round_trip_and_reference():
    torch.manual_seed(0)
    n, g = 3, 24
    K = torch.tensor([[[50.0, 0, 20], [0, 60, 15], [0, 0, 1]]]).expand(n, 3, 3).clone()
    K[1, 0, 0] = 80.0
    boxes = torch.tensor([[2.0, 3.0, 30.0, 25.0], [-0.5, -0.5, 39.5, 29.5], [10, 10, 12, 20]])
    dr = torch.tensor([[1.0, 3.0], [2.0, 2.5], [0.5, 9.0]], dtype=torch.float64)
    idx = torch.tensor([0, 0, 1, 2, 2, 1])
    pts = torch.rand(6, 3, dtype=torch.float64) * 2 - 1
    pts[:, 2] = pts[:, 2].abs() * 3 + 0.5
    k = camera_to_kspace(pts, K.double(), boxes.double(), dr, g, idx=idx)
    ref = torch.tensor([_naive_to_kspace(pts[i], K[idx[i]].tolist(), boxes[idx[i]].tolist(),
                                         dr[idx[i]].tolist(), g) for i in range(6)],
                       dtype=torch.float64)
    torch.testing.assert_close(k, ref)
    back = kspace_to_camera(k, K.double(), boxes.double(), dr, g, idx=idx)
    torch.testing.assert_close(back, pts, rtol=1e-10, atol=1e-10)
    # and the other way round, from grid coordinates
    c = torch.rand(6, 3, dtype=torch.float64) * g
    torch.testing.assert_close(
        camera_to_kspace(kspace_to_camera(c, K.double(), boxes.double(), dr, g, idx=idx),
                         K.double(), boxes.double(), dr, g, idx=idx), c)
    # gradients of the inverse (cubified vertices are moved in camera space)
    c.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: kspace_to_camera(x, K.double(), boxes.double(), dr, g, idx=idx), (c,))


def test_kspace_bad_input():
    K = _K(1)
    with pytest.raises(InputError, match="depth_range"):
        camera_to_kspace(torch.ones(2, 3), K, torch.tensor([0.0, 0, 4, 4]),
                         torch.tensor([2.0, 1.0]), 8)
    with pytest.raises(InputError, match="boxes"):
        camera_to_kspace(torch.ones(2, 3), K, torch.tensor([4.0, 0, 4, 4]),
                         torch.tensor([1.0, 2.0]), 8)
    with pytest.raises(InputError, match="Z > 0"):
        camera_to_kspace(torch.tensor([[0.0, 0, -1]]), K, torch.tensor([0.0, 0, 4, 4]),
                         torch.tensor([1.0, 2.0]), 8)
    with pytest.raises(InputError, match="points"):
        camera_to_kspace(torch.ones(2, 2), K, torch.tensor([0.0, 0, 4, 4]),
                         torch.tensor([1.0, 2.0]), 8)
    with pytest.raises(InputError, match="K"):
        kspace_to_camera(torch.ones(2, 3), "K", torch.tensor([0.0, 0, 4, 4]),
                         torch.tensor([1.0, 2.0]), 8)


def test_kspace_voxels_match_synthetic_voxels_cam(data):
    """The dataset's camera-aligned voxels are K-space voxels with the whole image as box."""
    item = data[0]
    from spacetime.shapes.models.pixel2mesh import camera_frame_targets

    b = collate_3d([item])
    cam = camera_frame_targets(b)["meshes"]
    vox = kspace_voxels(cam, b["K"], full_image_boxes(1, 32), b["depth_range"], 16)
    assert vox.shape == (1, 16, 16, 16) and vox.dtype == torch.bool
    agree = (vox[0] == item["voxels_cam"]).float().mean()
    assert agree > 0.99, agree
    # cubify back: the cubified GT voxels lie close to the GT surface (camera frame)
    m = cubify_kspace(vox.float(), b["K"], full_image_boxes(1, 32), b["depth_range"])
    cm = compare_meshes(m, cam, num_samples=2000, scale="none", thresholds=[0.1])
    assert cm["F1@0.1"][0] > 0.8, cm  # within ~one voxel (≈ 0.11 units at 16³)


def test_cubify_kspace_box_and_keep_one():
    K = _K(2, 32)
    boxes = torch.tensor([[4.0, 6.0, 20.0, 30.0], [0.0, 0.0, 8.0, 8.0]])
    dr = torch.tensor([[2.0, 4.0], [1.0, 2.0]])
    probs = torch.zeros(2, 4, 4, 4)
    probs[0] = 1.0  # the whole grid → the box's frustum
    m = cubify_kspace(probs, K, boxes, dr)
    v = m.verts_list()[0]
    uv = v[:, :2] / v[:, 2:] * 32 + 15.5
    assert torch.allclose(uv[:, 0].min(), torch.tensor(4.0), atol=1e-4)
    assert torch.allclose(uv[:, 0].max(), torch.tensor(20.0), atol=1e-4)
    assert torch.allclose(uv[:, 1].min(), torch.tensor(6.0), atol=1e-4)
    assert torch.allclose(v[:, 2].min(), torch.tensor(2.0)) and v[:, 2].max() == 4.0
    # an all-empty grid keeps its most likely voxel: one cube (8 corners, 12 triangles)
    probs[1, 1, 2, 3] = 0.1
    m = cubify_kspace(probs, K, boxes, dr)
    assert m.num_faces_per_mesh().tolist() == [6 * 4 * 4 * 2, 12]
    assert len(cubify_kspace(probs, K, boxes, dr, keep_one=False).faces_list()[1]) == 0


def test_box_intrinsics_align_roi_features():
    """vert_align on a crop of a feature map with box intrinsics = vert_align on the full map."""
    torch.manual_seed(0)
    s, r = 32, 8
    K = _K(1, s)
    feat = torch.arange(s * s, dtype=torch.float64).reshape(1, 1, s, s)  # linear ramp
    box = torch.tensor([[7.5, 3.5, 23.5, 19.5]], dtype=torch.float64)  # 16×16 px, 2 px per cell
    crop = torch.nn.functional.avg_pool2d(feat[:, :, 4:20, 8:24], 2)  # (1, 1, 8, 8)
    Kb = box_intrinsics(K.double(), box, r)
    uv = torch.tensor([[10.0, 6.0], [14.5, 12.0], [20.0, 16.0]], dtype=torch.float64)
    z = torch.tensor([2.0, 3.0, 2.5], dtype=torch.float64)
    verts = torch.cat([(uv - 15.5) / 32 * z[:, None], z[:, None]], 1)
    got = vert_align(crop, [verts], Kb, r)
    want = vert_align(feat, [verts], K.double(), s)
    torch.testing.assert_close(got, want)


def test_depth_range_from_box():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    dr = depth_range_from_box(boxes, torch.tensor([4.0]), _K(1, 32, 40.0), margin=1.0)
    torch.testing.assert_close(dr, torch.tensor([[3.0, 5.0]]))


# ----------------------------------------------------------------------------------- heads
def test_head_shapes():
    vh = VoxelHead(8, 12, hidden=8, num_convs=1)
    assert vh(torch.rand(3, 8, 7, 7)).shape == (3, 12, 12, 12)
    assert vh(torch.rand(0, 8, 6, 6)).shape == (0, 12, 12, 12)
    with pytest.raises(InputError, match="even"):
        VoxelHead(8, 11)
    with pytest.raises(InputError, match="feats"):
        vh(torch.rand(3, 4, 7, 7))
    dh = DepthHead(8, hidden=4)
    d = dh(torch.rand(3, 8, 7, 7), torch.tensor([0.1, 0.2, 0.4]))
    assert d.shape == (3,) and bool((d > 0).all())
    mh = MeshRefinementHead(8, hidden_dim=16, num_stages=2, num_convs=1)
    cube = box_mesh()
    meshes = Meshes([cube.verts_list()[0] * 0.5 + torch.tensor([0, 0, 3.0])] * 2,
                    [cube.faces_list()[0]] * 2)
    out = mh([torch.rand(2, 8, 8, 8)], meshes, _K(2, 16), 16)
    assert len(out) == 2 and all(m.verts_packed().shape == (16, 3) for m in out)
    # zero-initialised vertex refinement: an untrained head leaves the mesh in place
    torch.testing.assert_close(out[-1].verts_packed(), meshes.verts_packed())


def test_single_model_shapes_and_bad_input():
    torch.manual_seed(0)
    model = mesh_rcnn_single(**TINY)
    out = model(torch.rand(2, 3, 32, 32), _K())
    assert out.voxel_logits.shape == (2, 16, 16, 16)
    assert len(out.meshes) == 2 and len(out.initial) == 2
    assert out.meshes[-1].num_verts_per_mesh().tolist() == out.initial.num_verts_per_mesh(
    ).tolist()
    # init_voxels replaces the prediction (one voxel → one cube)
    init = torch.zeros(2, 16, 16, 16)
    init[:, 8, 8, 8] = 1
    out = model(torch.rand(2, 3, 32, 32), _K(), torch.tensor([[2.0, 3.0]] * 2), init)
    assert out.initial.num_faces_per_mesh().tolist() == [12, 12]
    voxel_only = mesh_rcnn_single(**dict(TINY, num_stages=0))
    assert voxel_only(torch.rand(1, 3, 32, 32), _K(1)).meshes == []
    with pytest.raises(InputError, match="depth_range"):
        model(torch.rand(2, 3, 32, 32), _K(), torch.ones(3, 2))
    with pytest.raises(InputError, match="image_size"):
        mesh_rcnn_single(**dict(TINY, image_size=40))
    with pytest.raises(InputError, match="depth_radius"):
        mesh_rcnn_single(**dict(TINY, init_depth=1.0, depth_radius=2.0))


# ----------------------------------------------------------------------------------- losses
def test_loss_presets_and_terms():
    assert LOSS_PRESETS["best"]["edge_weight"] == 0 and LOSS_PRESETS["pretty"]["edge_weight"] > 0
    assert loss_weights("pretty", chamfer_weight=2)["chamfer_weight"] == 2.0
    with pytest.raises(InputError, match="preset"):
        loss_weights("nice")
    with pytest.raises(InputError, match="unknown"):
        loss_weights("best", lap_weight=1.0)
    torch.manual_seed(0)
    cube = box_mesh()
    m = Meshes([cube.verts_list()[0]], [cube.faces_list()[0]])
    from spacetime.shapes import sample_points_from_meshes

    p, nrm = sample_points_from_meshes(m, 3000, return_normals=True)
    logits = torch.zeros(1, 4, 4, 4, requires_grad=True)
    best = mesh_rcnn_loss(logits, torch.ones(1, 4, 4, 4), [m], p, nrm, preset="best",
                          num_samples=3000)
    pretty = mesh_rcnn_loss(logits, torch.ones(1, 4, 4, 4), [m], p, nrm, preset="pretty",
                            num_samples=3000)
    assert math.isclose(float(best.voxel.detach()), math.log(2), rel_tol=1e-5)
    assert float(best.chamfer) < 0.01  # same surface
    assert float((pretty.total - best.total).detach()) == pytest.approx(
        0.2 * float(best.edge), rel=1e-3)
    best.total.backward()
    assert logits.grad is not None
    with pytest.raises(InputError, match="gt_points"):
        mesh_rcnn_loss(logits, torch.ones(1, 4, 4, 4), [m], None, None)


# ----------------------------------------------------------------------------------- metrics
def test_average_precision_hand_computed():
    s = torch.tensor([0.9, 0.8, 0.7])
    assert average_precision(s, torch.tensor([True, True, True]), 3) == 1.0  # perfect
    # TP, FP, TP of 2 GT: recall 0.5 @ p 1, recall 1 @ p 2/3 → 0.5 + 0.5 · 2/3
    assert average_precision(s, torch.tensor([True, False, True]), 2) == pytest.approx(5 / 6)
    # FP first: envelope 2/3 for recall ≤ 1 → 2/3 ... of 3 GT only 2 found: (2/3) · (2/3)
    assert average_precision(s, torch.tensor([False, True, True]), 3) == pytest.approx(4 / 9)
    # order follows the scores, not the input order
    assert average_precision(torch.tensor([0.1, 0.9]), torch.tensor([False, True]), 1) == 1.0
    assert average_precision(torch.empty(0), torch.empty(0, dtype=torch.bool), 2) == 0.0
    assert math.isnan(average_precision(s, torch.tensor([False] * 3), 0))
    with pytest.raises(InputError, match="true positives"):
        average_precision(s, torch.tensor([True] * 3), 2)
    with pytest.raises(InputError, match="is_tp"):
        average_precision(s, torch.tensor([True]), 2)


def test_box_and_mask_iou():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 7, 1.0, 0], [0, 0.25, 0]]))
    ma = torch.zeros(1, 4, 4, dtype=torch.bool)
    ma[0, :2, :2] = True
    mb = torch.zeros(2, 4, 4, dtype=torch.bool)
    mb[0, :2, :] = True
    torch.testing.assert_close(mask_iou(ma, mb), torch.tensor([[0.5, 0.0]]))


def _scene_meshes(offsets):
    cube = box_mesh()
    v, f = cube.verts_list()[0], cube.faces_list()[0]
    return Meshes([v * 0.5 + torch.tensor(o) for o in offsets], [f] * len(offsets))


def test_detection_ap_perfect_and_wrong():
    """A perfect prediction scores box, mask and mesh AP = 1 (and F1 = 1); wrong labels,
    shifted meshes and duplicates are penalised as hand-computed."""
    boxes = torch.tensor([[0.0, 0, 4, 4], [4, 4, 8, 8]])
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = True
    masks[1, 4:, 4:] = True
    gt_m = _scene_meshes([(0.0, 0, 3), (1.0, 1, 4)])
    gt = [{"boxes": boxes, "labels": torch.tensor([0, 1]), "masks": masks, "meshes": gt_m}]
    perfect = [{"boxes": boxes, "labels": torch.tensor([0, 1]), "scores": torch.tensor([.9, .8]),
                "masks": masks, "meshes": gt_m}]
    res = detection_ap(perfect, gt, class_names=["a", "b"])
    assert res["box_AP"] == res["mask_AP"] == res["mesh_AP"] == 1.0
    assert res["mesh_AP/a"] == 1.0 and res["box_AP/b"] == 1.0
    cm = compare_meshes(gt_m, gt_m)  # independent samples of the same surface
    assert float(cm["F1@0.5"].min()) == 1.0 and float(cm["F1@0.3"].min()) > 0.98
    # right boxes, but the second mesh moved far away and a duplicate of the first box
    moved = _scene_meshes([(0.0, 0, 3), (3.0, 1, 4), (0.0, 0, 3)])
    pred = [{"boxes": torch.cat([boxes, boxes[:1]]), "labels": torch.tensor([0, 1, 0]),
             "scores": torch.tensor([0.9, 0.8, 0.7]), "masks": torch.cat([masks, masks[:1]]),
             "meshes": moved}]
    res = detection_ap(pred, gt)
    # class 0: TP then FP (duplicate) of 1 GT → AP 1; class 1 box TP → 1, mesh FP → 0
    assert res["box_AP"] == 1.0 and res["mesh_AP/0"] == 1.0 and res["mesh_AP/1"] == 0.0
    assert res["mesh_AP"] == 0.5
    # wrong label: a false positive even with a perfect box
    wrong = [dict(perfect[0], labels=torch.tensor([1, 0]))]
    assert detection_ap(wrong, gt, kinds=("box",))["box_AP"] == 0.0
    with pytest.raises(InputError, match="targets"):
        detection_ap(perfect, gt + gt)
    with pytest.raises(InputError, match="kinds"):
        detection_ap(perfect, gt, kinds=("voxel",))


def test_mesh_quality_counts_folds():
    cube = box_mesh()
    q = mesh_quality(Meshes([cube.verts_list()[0]], [cube.faces_list()[0]]))
    assert q["degenerate_faces"].tolist() == [0] and q["folded_faces"].tolist() == [0]
    # a flat quad folded onto itself: two triangles with opposite normals across the diagonal
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 2, 2]])
    f = torch.tensor([[0, 1, 2], [0, 2, 1], [0, 1, 4]])
    v2 = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]])
    f2 = torch.tensor([[0, 1, 2], [0, 1, 3]])  # a zero-area (collinear) face
    q = mesh_quality(Meshes([v, v2], [f, f2]))
    assert q["folded_faces"].tolist()[0] >= 2
    assert q["degenerate_faces"].tolist() == [0, 1]
    assert q["degenerate_share"][1] == 0.5


# ----------------------------------------------------------------------------------- training
def test_step_and_training_improves_mesh_metrics(data):
    """~16 Adam steps per epoch × 15 on 16 synthetic views (32×32, 16³ voxels): Chamfer-L2 and
    F1@0.5 of the refined meshes beat the untrained prediction; the refined mesh beats its own
    cubified voxels."""
    torch.manual_seed(0)
    model = mesh_rcnn_single(**TINY)
    b = collate_3d([data[0], data[1]])
    loss, metrics = MeshRCNNStep(num_samples=100)(model, b)
    assert loss.dim() == 0 and set(metrics) >= {"chamfer", "voxel", "edge", "normal"}
    with pytest.raises(InputError, match="voxels_cam"):
        MeshRCNNStep()(model, {k: v for k, v in b.items() if k != "voxels_cam"})
    with pytest.raises(InputError, match="preset"):
        MeshRCNNStep(preset="ugly")
    loader = build_loader(data, 8, shuffle=True, seed=0, collate_fn=collate_3d)
    evl = build_loader(data, 8, shuffle=False, collate_fn=collate_3d)
    before = evaluate_single(model, evl, num_samples=1000)
    assert before["num_samples"] == 16 and "chair/F1@0.3" in before
    cfg = TrainConfig(epochs=15, optimizer="adam", lr=3e-3, progress=False, plot=False)
    hist = Trainer(model, loader, None, cfg, step_fn=MeshRCNNStep(num_samples=500)).fit()
    assert hist[-1]["train/voxel"] < hist[0]["train/voxel"]
    after = evaluate_single(model, evl, num_samples=1000)
    assert after["Chamfer-L2"] < 0.5 * before["Chamfer-L2"], (before, after)
    assert after["F1@0.5"] > before["F1@0.5"] + 0.1, (before, after)
    p2m = evaluate_single(model, evl, num_samples=500, protocol="pixel2mesh")
    assert set(p2m) >= {"F1@0.01", "F1@0.0141421"}
    with pytest.raises(InputError, match="protocol"):
        evaluate_single(model, evl, protocol="shapenet")


def test_euler_characteristic_sphere_and_torus():
    from spacetime.shapes import ico_sphere, torus_mesh

    assert euler_characteristic(ico_sphere(1)).tolist() == [2]
    assert euler_characteristic(torus_mesh()).tolist() == [0]


def test_mesh_genus_counts_components_and_handles():
    from spacetime.shapes import Meshes, ico_sphere, torus_mesh
    from spacetime.shapes.models.mesh_rcnn import mesh_genus

    s, t = ico_sphere(1), torus_mesh()
    sv, sf = s.verts_list()[0], s.faces_list()[0]
    tv, tf = t.verts_list()[0], t.faces_list()[0]
    # two disjoint spheres, a sphere + a torus, an empty mesh, a lone triangle
    two = Meshes([torch.cat([sv, sv + 3])], [torch.cat([sf, sf + len(sv)])])
    mixed = Meshes([torch.cat([sv, tv + 3])], [torch.cat([sf, tf + len(sv)])])
    c, g = mesh_genus(Meshes([sv, tv, torch.zeros(0, 3), sv[:3]],
                             [sf, tf, torch.zeros(0, 3, dtype=torch.int64),
                              torch.tensor([[0, 1, 2]])]))
    assert c.tolist() == [1, 1, 0, 1] and g.tolist() == [0, 1, 0, 0.5]
    assert mesh_genus(two)[0].tolist() == [2] and mesh_genus(two)[1].tolist() == [0]
    assert mesh_genus(mixed)[0].tolist() == [2] and mesh_genus(mixed)[1].tolist() == [1]
    # unreferenced vertices are ignored
    padded = Meshes([torch.cat([sv, torch.rand(5, 3)])], [sf])
    assert mesh_genus(padded)[0].tolist() == [1] and mesh_genus(padded)[1].tolist() == [0]


def test_pictures(tmp_path):
    m = _scene_meshes([(0.0, 0, 3)])
    K = _K(1, 32)[0]
    masks = torch.zeros(1, 32, 32, dtype=torch.bool)
    masks[0, 10:20, 10:20] = True
    img = torch.zeros(3, 32, 32)
    out = overlay_predictions(img, K, boxes=torch.tensor([[9.5, 9.5, 20.5, 20.5]]), masks=masks,
                              meshes=m)
    assert out.shape == (32, 32, 3)
    assert out[15, 15].sum() > 0  # mesh / mask drawn at the image centre
    assert out[10, 12].sum() > 0 and out[0, 0].sum() == 0  # box outline, untouched corner
    view = second_view(m, size=48)
    assert view.shape == (48, 48, 3)
    save_png(contact_row([out, view], 32), tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
    with pytest.raises(InputError, match="image"):
        overlay_predictions(torch.zeros(32, 32), K)
