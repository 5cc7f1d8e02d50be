"""Unit tests of the shape models on random tensors: shapes, bad input, gradients, references."""

from __future__ import annotations

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.models import (
    MODEL_TASKS,
    SHAPE_MODEL_BUILDERS,
    ConditionalBatchNorm1d,
    OccupancyNetwork,
    OctreeOutput,
    activation_bytes,
    depth_fcn,
    extract_mesh,
    normal_fcn,
    occnet,
    octree_gen,
    octree_loss,
    octree_targets,
    pointnet,
    voxel_gen,
    voxel_tubes,
    voxels_to_shapenets_input,
    voxnet,
)
from spacetime.shapes.structures.octree import EMPTY, FULL, MIXED
from tests._matrix import assert_on, default_device_elsewhere

ENC = dict(encoder_widths=(8, 16), latent_dim=32)
#: tiny builder kwargs per model (shared with the training tests and the benchmark)
TINY: dict[str, dict] = {
    "depth-fcn": dict(widths=(8, 16), stem=4),
    "normal-fcn": dict(widths=(8, 16), stem=4),
    "voxnet": dict(num_classes=3, widths=(4, 8, 16)),
    "voxel-gen": dict(image_size=32, resolution=16, widths=(16, 8), **ENC),
    "voxel-tubes": dict(image_size=32, resolution=16, widths=(32, 16), **ENC),
    "matryoshka": dict(image_size=32, resolution=16, num_layers=2, widths=(32, 16), **ENC),
    "octree-gen": dict(image_size=32, resolution=16, base_resolution=4, channels=(16, 8, 8),
                       **ENC),
    "pointnet": dict(num_classes=3, widths=(8, 16, 32), fc=(16,)),
    "pointnet-seg": dict(num_classes=3, widths=(8, 16, 32), head=(16,)),
    "point-gen": dict(image_size=32, num_points=64, hidden=(32,), **ENC),
    "occnet": dict(image_size=32, hidden=16, num_blocks=2, **ENC),
    "pixel2mesh": dict(image_size=32, widths=(8, 16, 32, 32), hidden_dim=32, num_convs=2,
                       init_level=1),
}


def _images(n=2, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, s, s, generator=g)


def _box(n=2, r=16, lo=3, hi=11):
    v = torch.zeros(n, r, r, r, dtype=torch.bool)
    v[:, lo:hi, lo + 1:hi, lo:hi - 1] = True
    return v


def test_registry_complete():
    assert set(MODEL_TASKS) == set(TINY)
    assert set(MODEL_TASKS) <= set(SHAPE_MODEL_BUILDERS)
    for name in MODEL_TASKS:
        fn = SHAPE_MODEL_BUILDERS[name]
        m = fn(**TINY[name])
        assert sum(p.numel() for p in m.parameters()) > 0


def test_builders_keyword_only():
    with pytest.raises(TypeError):
        voxnet(3)  # type: ignore[misc]


# ----------------------------------------------------------------------------- shapes + backward
@pytest.mark.parametrize("name", ["depth-fcn", "normal-fcn", "voxel-gen", "voxel-tubes",
                                  "point-gen"])
def test_image_models_shapes_and_backward(name, device):
    torch.manual_seed(0)
    m = SHAPE_MODEL_BUILDERS[name](**TINY[name]).to(device)
    x = _images().to(device).requires_grad_(True)
    with default_device_elsewhere():
        y = m(x)
    assert_on(y, device, torch.float32)
    want = {"depth-fcn": (2, 1, 32, 32), "normal-fcn": (2, 3, 32, 32),
            "voxel-gen": (2, 16, 16, 16), "voxel-tubes": (2, 16, 16, 16),
            "point-gen": (2, 64, 3)}[name]
    assert tuple(y.shape) == want
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_depth_positive_and_normals_unit():
    torch.manual_seed(0)
    d = depth_fcn(**TINY["depth-fcn"])(_images())
    assert bool((d > 0).all())
    n = normal_fcn(**TINY["normal-fcn"])(_images())
    torch.testing.assert_close(n.norm(dim=1), torch.ones(2, 32, 32), atol=1e-5, rtol=0)


def test_fcn_any_size_multiple():
    m = depth_fcn(**TINY["depth-fcn"]).eval()
    assert m(torch.rand(1, 3, 24, 40)).shape == (1, 1, 24, 40)


def test_normal_normalisation_gradcheck():
    """Backprop through the normalisation: gradcheck of a tiny NormalFCN in float64."""
    torch.manual_seed(0)
    m = normal_fcn(widths=(2,), stem=2).double().eval()
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["depth-fcn", "voxel-gen", "octree-gen", "point-gen", "occnet"])
def test_bad_images(name):
    m = SHAPE_MODEL_BUILDERS[name](**TINY[name])
    args = (torch.rand(2, 4, 16, 10),)
    with pytest.raises(InputError, match="images"):
        m(*args) if name != "occnet" else m(args[0], torch.rand(2, 5, 3))
    if name != "depth-fcn":  # fixed-size models reject other sizes
        with pytest.raises(InputError, match="32x32"):
            x = torch.rand(2, 3, 16, 16)
            m(x) if name != "occnet" else m(x, torch.rand(2, 5, 3))
    else:
        with pytest.raises(InputError, match="multiples of 4"):
            m(torch.rand(1, 3, 18, 16))
    with pytest.raises(InputError):
        m(torch.rand(3, 32, 32)) if name != "occnet" else m(torch.rand(3, 32, 32), None)


def test_resolution_errors():
    with pytest.raises(InputError, match="resolution"):
        voxel_gen(resolution=24)
    with pytest.raises(InputError, match="resolution"):
        voxel_tubes(resolution=20)
    with pytest.raises(InputError, match="resolution"):
        octree_gen(resolution=48, base_resolution=8)


# ----------------------------------------------------------------------------- classifiers
def test_voxnet_shapes_and_input():
    m = voxnet(**TINY["voxnet"]).eval()
    assert m(torch.rand(2, 30, 30, 30)).shape == (2, 3)
    assert m(torch.rand(2, 1, 30, 30, 30)).shape == (2, 3)
    with pytest.raises(InputError, match="voxels"):
        m(torch.rand(2, 1, 16, 16, 16))
    # paper geometry: 30 -> 13 -> 5 -> 2 with 48 / 160 / 512 filters
    full = voxnet(num_classes=10)
    assert full.classifier[-1].in_features == 512 * 8
    x = voxels_to_shapenets_input(_box(1, 16))
    assert x.shape == (1, 1, 30, 30, 30)
    assert x[..., :3].sum() == 0 and x[..., 27:].sum() == 0 and x.sum() > 0


def test_pointnet_permutation_invariant_and_grad():
    torch.manual_seed(0)
    m = pointnet(**TINY["pointnet"]).eval()
    pts = torch.rand(2, 40, 3)
    perm = torch.randperm(40)
    torch.testing.assert_close(m(pts), m(pts[:, perm]), atol=1e-5, rtol=1e-5)
    m.train()
    pts.requires_grad_(True)
    m(pts).sum().backward()
    assert torch.isfinite(pts.grad).all()
    no_t = pointnet(num_classes=3, widths=(8, 16), fc=(8,), input_transform=False)
    assert no_t.tnet is None and no_t(torch.rand(2, 5, 3)).shape == (2, 3)
    with pytest.raises(InputError, match="points"):
        m(torch.rand(2, 40, 2))
    nan = torch.rand(2, 40, 3)
    nan[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="points"):
        m(nan)


def test_pointnet_tnet_starts_identity():
    m = pointnet(**TINY["pointnet"]).eval()
    x = torch.rand(2, 3, 10)
    torch.testing.assert_close(m.tnet(x), torch.eye(3).expand(2, 3, 3))


def test_golden_outputs():
    """Fixed-seed outputs, so a refactor that changes numbers is noticed."""
    torch.manual_seed(0)
    m = pointnet(num_classes=2, widths=(4, 8), fc=(4,), dropout=0.0).eval()
    pts = torch.linspace(-1, 1, 30).reshape(1, 10, 3)
    out = m(pts)
    expected = torch.tensor([[0.08586644381284714, 0.05596277117729187]])
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- octree
def _naive_targets(vox: torch.Tensor, base: int) -> list[torch.Tensor]:
    r = vox.shape[1]
    out = []
    res = base
    while res <= r:
        k = r // res
        t = torch.zeros(vox.shape[0], res, res, res, dtype=torch.int64)
        for n in range(vox.shape[0]):
            for z in range(res):
                for y in range(res):
                    for x in range(res):
                        c = vox[n, z * k:(z + 1) * k, y * k:(y + 1) * k, x * k:(x + 1) * k]
                        t[n, z, y, x] = FULL if c.all() else (EMPTY if not c.any() else MIXED)
        out.append(t)
        res *= 2
    return out


def test_octree_targets_reference():
    g = torch.Generator().manual_seed(1)
    vox = torch.rand(2, 8, 8, 8, generator=g) > 0.7
    vox[0, :4, :4, :4] = True
    for a, b in zip(octree_targets(vox, 2), _naive_targets(vox, 2)):
        assert torch.equal(a, b)
    with pytest.raises(InputError, match="voxels"):
        octree_targets(torch.zeros(1, 12, 12, 12), 8)


def test_octree_teacher_forcing_and_dense():
    torch.manual_seed(0)
    m = octree_gen(**TINY["octree-gen"])
    vox = _box(2, 16, 3, 11)
    targets = octree_targets(vox, 4)
    out = m(_images(), targets)
    # the cells refined at each level are exactly the children of GT MIXED cells
    for lv in range(1, 3):
        n_mixed = int((targets[lv - 1] == MIXED).sum())
        assert out.coords[lv].shape == (8 * n_mixed, 4)
        assert out.logits[lv].shape[0] == 8 * n_mixed
    assert out.logits[-1].shape[1] == 2 and out.logits[0].shape[1] == 3
    loss = octree_loss(out, targets)
    loss.backward()
    assert torch.isfinite(loss)
    # GT states as "predictions" rebuild the GT grid exactly
    gt_states = [t[c[:, 0], c[:, 1], c[:, 2], c[:, 3]].to(torch.uint8)
                 for c, t in zip(out.coords, targets)]
    assert torch.equal(out.to_dense(gt_states) > 0.5, vox)
    # the Octree of the prediction round-trips
    oo = m.eval()(_images())
    assert isinstance(oo, OctreeOutput) and oo.resolution == 16
    assert torch.equal(oo.to_octree().to_dense(), oo.to_dense() > 0.5)


def test_octree_memory_below_dense():
    """Activation memory of an octree step grows with the boundary, the dense one with volume."""
    torch.manual_seed(0)
    r = 32
    img = _images(1)
    vox = torch.zeros(1, r, r, r, dtype=torch.bool)
    zz, yy, xx = torch.meshgrid(*[torch.arange(r)] * 3, indexing="ij")
    vox[0] = ((xx - 15.5) ** 2 + (yy - 15.5) ** 2 + (zz - 15.5) ** 2) < 10 ** 2
    oct_m = octree_gen(image_size=32, resolution=r, base_resolution=4, channels=(16, 16, 16, 16),
                       **ENC)
    dense_m = voxel_gen(image_size=32, resolution=r, widths=(16, 16, 16), **ENC)
    _, b_oct = activation_bytes(oct_m, img, octree_targets(vox, 4))
    _, b_dense = activation_bytes(dense_m, img)
    assert b_oct < b_dense / 2


# ----------------------------------------------------------------------------- occupancy
class _Sphere(OccupancyNetwork):
    """An occupancy 'network' whose field is an analytic sphere of radius ``r``."""

    def __init__(self, r=0.3, sharp=50.0):
        super().__init__(image_size=32, hidden=8, num_blocks=1, **ENC)
        self.r, self.sharp = r, sharp

    def encode(self, images):
        return torch.zeros(images.shape[0], self.latent_dim)

    def decode(self, points, code):
        return (self.r - points.norm(dim=-1)) * self.sharp


def test_occnet_shapes_conditioning_and_grad():
    torch.manual_seed(0)
    for cond in ("cbn", "concat"):
        m = occnet(conditioning=cond, **TINY["occnet"])
        pts = torch.rand(2, 20, 3, dtype=torch.float32, requires_grad=True)
        y = m(_images(), pts)
        assert y.shape == (2, 20)
        y.sum().backward()
        assert torch.isfinite(pts.grad).all()
    with pytest.raises(InputError, match="conditioning"):
        occnet(conditioning="film")
    with pytest.raises(InputError, match="points"):
        m(_images(), torch.rand(2, 20, 2))


def test_cbn_gradcheck():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm1d(4, 3).double()
    torch.nn.init.normal_(cbn.gamma.weight)
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cbn, (x, c))


def test_extract_mesh_coarse_to_fine_equals_dense():
    s = _Sphere().eval()
    img = _images(1)
    fine = extract_mesh(s, img, resolution=32, coarse_resolution=8)
    dense = extract_mesh(s, img, resolution=32, coarse_resolution=8, refine=False)
    assert dense.num_evaluations == dense.dense_evaluations == 33 ** 3
    assert fine.num_evaluations < dense.num_evaluations / 3
    # same inside / outside labelling everywhere -> same mesh
    assert torch.equal(fine.probs > 0.5, dense.probs > 0.5)
    vf, vd = fine.meshes.verts_list()[0], dense.meshes.verts_list()[0]
    assert vf.shape == vd.shape
    torch.testing.assert_close(vf, vd, atol=1e-3, rtol=0)
    r = vf.norm(dim=1)
    assert float((r - 0.3).abs().max()) < 0.01  # the 1/2 level set is the sphere


def test_extract_mesh_empty_field():
    s = _Sphere(r=-1.0).eval()
    ex = extract_mesh(s, _images(2), resolution=16, coarse_resolution=4)
    assert [f.shape[0] for f in ex.meshes.faces_list()] == [0, 0]
    assert ex.num_evaluations == 2 * 5 ** 3  # nothing refined
    with pytest.raises(InputError, match="resolution"):
        extract_mesh(s, _images(1), resolution=24, coarse_resolution=16)
    with pytest.raises(InputError, match="threshold"):
        extract_mesh(s, _images(1), resolution=16, threshold=1.5)


# ----------------------------------------------------------------------------- step functions
def _random_batch(n=2, s=32, g=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(n, 3, s, s, generator=gen),
        "depth": 1 + torch.rand(n, s, s, generator=gen),
        "mask": torch.rand(n, s, s, generator=gen) > 0.3,
        "normal_map": torch.nn.functional.normalize(torch.randn(n, 3, s, s, generator=gen),
                                                    dim=1),
        "voxels": _box(n, g),
        "points": torch.rand(n, 50, 3, generator=gen) - 0.5,
        "occ_points": torch.rand(n, 30, 3, generator=gen) - 0.5,
        "occ_labels": torch.rand(n, 30, generator=gen) > 0.5,
        "label": torch.tensor([0, 2]),
        "part_labels": torch.randint(0, 21, (n, 50), generator=gen),
        # cameras + surface normals (pixel2mesh): object 2.4 in front of a 32-pixel-focal camera
        "K": torch.tensor([[32.0, 0, 15.5], [0, 32.0, 15.5], [0, 0, 1]]).expand(n, 3, 3),
        "R": torch.eye(3).expand(n, 3, 3),
        "t": torch.tensor([0.0, 0.0, 2.4]).expand(n, 3),
        "normals": torch.nn.functional.normalize(torch.randn(n, 50, 3, generator=gen), dim=-1),
    }


@pytest.mark.parametrize("name", sorted(TINY))
def test_shape_step_every_model(name, device):
    """Every model's training step (forward, losses, metrics) on ``device``; one dtype."""
    from spacetime.shapes.models import shape_task

    torch.manual_seed(0)
    model = SHAPE_MODEL_BUILDERS[name](**TINY[name]).to(device)
    step = shape_task(name)
    batch = {k: v.to(device) for k, v in _random_batch().items()}
    with default_device_elsewhere():
        loss, metrics = step(model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert_on(loss, device, torch.float32, "loss")
    loss.backward()
    assert all(p.grad is None or p.grad.device.type == torch.device(device).type
               for p in model.parameters())
    assert len(metrics) == (5 if name == "pixel2mesh" else 1)  # p2m: chamfer + loss terms
    assert all(torch.isfinite(torch.as_tensor(v)) for v in metrics.values())


def test_shape_step_depth_losses_and_voxel_resizing():
    from spacetime.shapes.models import resize_voxels, shape_task

    torch.manual_seed(0)
    model = depth_fcn(**TINY["depth-fcn"])
    b = _random_batch()
    l2, _ = shape_task("depth")(model, b)
    si, _ = shape_task("depth", depth_loss="scale-invariant")(model, b)
    assert torch.isfinite(l2) and torch.isfinite(si) and not torch.isclose(l2, si)
    with pytest.raises(InputError, match="depth_loss"):
        shape_task("depth", depth_loss="l1")
    # a 32³ target for a 16³ generator is resampled, covering the same cube
    v = _box(1, 32, 6, 22)
    r = resize_voxels(v, 16)
    assert r.shape == (1, 16, 16, 16) and r.sum() == (r > 0.5).sum()
    assert torch.equal(resize_voxels(v, 32) > 0.5, v)
