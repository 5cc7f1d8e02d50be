"""vert_align: reference per-vertex bilinear lookup, out-of-image / behind-camera vertices,
layouts (Meshes, list, padded, packed), multi-scale maps, gradcheck, bad input."""

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes import CameraIntrinsics, Meshes, ico_sphere
from spacetime.shapes.ops import vert_align
from tests._matrix import assert_on, close


def _naive(feat, verts, K, image_size, padding_mode="zeros"):
    """Per-vertex Python loop: project, map to feature-cell coordinates, bilinear 4 taps."""
    c, h, w = feat.shape
    hi, wi = image_size
    out = torch.zeros(len(verts), c, dtype=feat.dtype)
    for p, (x, y, z) in enumerate(verts.tolist()):
        if z <= 1e-4:
            continue
        u = K[0, 0].item() * x / z + K[0, 2].item()
        v = K[1, 1].item() * y / z + K[1, 2].item()
        # image pixel centre u <-> feature coordinate (u + 0.5) * w / W - 0.5
        fu = (u + 0.5) * w / wi - 0.5
        fv = (v + 0.5) * h / hi - 0.5
        if padding_mode == "border":
            fu = min(max(fu, 0.0), w - 1.0)
            fv = min(max(fv, 0.0), h - 1.0)
        u0, v0 = math.floor(fu), math.floor(fv)
        a, b = fu - u0, fv - v0
        for dv, wv in ((0, 1 - b), (1, b)):
            for du, wu in ((0, 1 - a), (1, a)):
                uu, vv = u0 + du, v0 + dv
                if 0 <= uu < w and 0 <= vv < h:
                    out[p] += wu * wv * feat[:, vv, uu]
    return out


def _close(a, b, tol=1e-5):
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= tol, f"max abs diff {err:.3g}"


def _scene(n_verts=(40, 25), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    verts = []
    for v in n_verts:
        p = torch.rand(v, 3, generator=g, dtype=dtype) * 2 - 1
        p[:, 2] = p[:, 2] * 0.8 + 2.0  # in front, some outside the image
        verts.append(p * torch.tensor([1.6, 1.6, 1.0], dtype=dtype))
    return verts


K1 = torch.tensor([[20.0, 0, 15.5], [0, 22.0, 11.5], [0, 0, 1]], dtype=torch.float64)


@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("fh,fw", [(24, 32), (6, 8), (5, 11)])
def test_matches_naive(padding_mode, fh, fw, device, dtype):
    verts = _scene()
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 3, fh, fw, dtype=torch.float64, generator=g)
    K = torch.stack([K1, K1 * torch.tensor([[1.1, 1, 1], [1, 0.9, 1], [1, 1, 1]], dtype=K1.dtype)])
    out, valid = vert_align(feats.to(device, dtype), [v.to(device, dtype) for v in verts],
                            K.to(device, dtype), (24, 32), padding_mode=padding_mode,
                            return_mask=True)
    assert out.shape == (65, 3) and valid.shape == (65,)
    assert_on(out, device, dtype)
    assert_on(valid, device, torch.bool, "mask")
    ref = torch.cat([_naive(feats[i], verts[i], K[i], (24, 32), padding_mode) for i in range(2)])
    close(out, ref, dtype, **({"atol": 1e-10} if dtype == torch.float64 else {"atol": 1e-4}))
    out, valid = out.cpu(), valid.cpu()
    # some vertices project outside the image in this scene
    assert 0 < int(valid.sum()) < 65


def test_pixel_centres_exact():
    # a map as large as the image: a vertex projecting exactly on pixel centre (u, v) reads it
    feats = torch.arange(12.0).reshape(1, 1, 3, 4)
    K = CameraIntrinsics(10.0, 10.0, 1.0, 1.0)
    v = torch.tensor([[[0.2, 0.1, 1.0], [-0.1, -0.1, 1.0], [0.15, 0.05, 1.0]]])  # u,v=(3,2),(0,0)
    out = vert_align(feats, v, K, (3, 4))
    # third vertex: (u, v) = (2.5, 1.5), the mean of pixels 6, 7, 10, 11
    assert out[:, 0].tolist() == pytest.approx([11.0, 0.0, 8.5], abs=1e-5)


def test_behind_camera_zero_and_masked():
    feats = torch.ones(1, 2, 4, 4, requires_grad=True)
    v = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [50.0, 0, 1.0]],
                     requires_grad=True)
    out, valid = vert_align(feats, [v], K1.float(), (24, 32), return_mask=True)
    assert out[:2].abs().sum() == 0 and out[2].tolist() == [1.0, 1.0]
    assert out[3].abs().sum() == 0  # far outside: zero padding
    assert valid.tolist() == [False, False, True, False]
    out.sum().backward()
    assert torch.isfinite(v.grad).all() and v.grad[:2].abs().sum() == 0


def test_border_mode_outside_repeats_edge():
    feats = torch.arange(16.0).reshape(1, 1, 4, 4)
    K = CameraIntrinsics(1.0, 1.0, 1.5, 1.5)
    v = torch.tensor([[[100.0, 0.0, 1.0]]])  # far right, row centre 1.5
    out = vert_align(feats, v, K, 4, padding_mode="border")
    assert out.item() == pytest.approx((7.0 + 11.0) / 2)


def test_layouts_agree_and_padded_output():
    verts = _scene((7, 3, 0), dtype=torch.float32)
    feats = torch.randn(3, 4, 8, 8)
    ref = vert_align(feats, verts, K1.float(), (24, 32))
    assert ref.shape == (10, 4)
    meshes = Meshes(verts, [torch.zeros(0, 3, dtype=torch.int64)] * 3)
    _close(vert_align(feats, meshes, K1.float(), (24, 32)), ref)
    packed = torch.cat(verts)
    _close(vert_align(feats, packed, K1.float(), (24, 32), num_verts=[7, 3, 0]), ref)
    pad, m = vert_align(feats, verts, K1.float(), (24, 32), return_packed=False, return_mask=True)
    assert pad.shape == (3, 7, 4) and m.shape == (3, 7)
    _close(pad[0], ref[:7])
    _close(pad[1, :3], ref[7:])
    assert pad[1, 3:].abs().sum() == 0 and pad[2].abs().sum() == 0 and not m[2].any()
    # padded (N, V, 3) input: every row counts
    full = torch.stack([verts[0], verts[0]])
    out = vert_align(feats[:2], full, K1.float(), (24, 32))
    _close(out[:7], ref[:7])


def test_multiscale_concat_and_intrinsics_object():
    verts = _scene((5, 6), dtype=torch.float32)
    maps = [torch.randn(2, 3, 12, 16), torch.randn(2, 5, 3, 4)]
    K = CameraIntrinsics.from_K(K1.float())
    out = vert_align(maps, verts, K, (24, 32))
    assert out.shape == (11, 8)
    _close(out[:, :3], vert_align(maps[0], verts, K1.float(), (24, 32)))
    _close(out[:, 3:], vert_align(maps[1], verts, K1.float()[None], (24, 32)))


def test_ico_sphere_in_front():
    sphere = ico_sphere(1).offset_verts(torch.tensor([0.0, 0.0, 3.0])).extend(2)
    out = vert_align(torch.ones(2, 4, 8, 8), sphere, K1.float(), (24, 32), padding_mode="border")
    assert out.shape == (84, 4) and torch.allclose(out, torch.ones_like(out))


def test_empty_meshes():
    out = vert_align(torch.randn(1, 3, 4, 4), [torch.zeros(0, 3)], K1.float(), 8)
    assert out.shape == (0, 3)


def test_gradcheck():
    verts = _scene((4, 3))
    feats = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    v = torch.cat(verts).requires_grad_(True)
    K = K1.clone()

    def fn(f, vv):
        return vert_align(f, vv, K, (24, 32), num_verts=[4, 3])

    assert torch.autograd.gradcheck(fn, (feats, v), eps=1e-6, atol=1e-6)

    def fn_border(f, vv):
        return vert_align(f, vv, K, (24, 32), num_verts=[4, 3], padding_mode="border")

    assert torch.autograd.gradcheck(fn_border, (feats, v), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"feats": torch.randn(2, 3, 4)}, "feats"),
        ({"feats": []}, "feats"),
        ({"verts": [torch.zeros(3, 3)]}, "verts: expected 2 meshes"),
        ({"verts": torch.zeros(6, 3)}, "num_verts"),
        ({"num_verts": [2, 2], "verts": torch.zeros(6, 3)}, "num_verts"),
        ({"K": torch.zeros(3, 3, 3)}, "K"),
        ({"K": "cam"}, "K"),
        ({"K": torch.zeros(3, 3)}, "focal"),
        ({"image_size": (0, 4)}, "image_size"),
        ({"padding_mode": "reflect"}, "padding_mode"),
        ({"verts": [torch.zeros(2, 2), torch.zeros(2, 2)]}, "verts"),
        ({"verts": [torch.full((2, 3), math.nan), torch.zeros(2, 3)]}, "verts"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"feats": torch.randn(2, 3, 4, 4), "verts": [torch.ones(2, 3), torch.ones(1, 3)],
            "K": K1.float(), "image_size": 8}
    args.update(kwargs)
    f, v, k, s = args.pop("feats"), args.pop("verts"), args.pop("K"), args.pop("image_size")
    with pytest.raises(InputError, match=match):
        vert_align(f, v, k, s, **args)
