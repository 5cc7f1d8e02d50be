"""spacetime.video.transforms: shapes, layouts, determinism, references, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch

from spacetime.errors import InputError
from spacetime.video.transforms import (
    KINETICS_MEAN,
    KINETICS_STD,
    CenterCrop,
    Compose,
    ConvertLayout,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ShortSideResize,
    ToFloat,
    center_crop,
    convert_layout,
    crop,
    hflip,
    normalize,
    resize,
    short_side_resize,
    to_float,
    video_eval_transform,
    video_train_transform,
)
from tests._matrix import assert_on, check_op, close, default_device_elsewhere


def _clip(T=3, H=24, W=32, seed=0, dtype=torch.uint8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (T, 3, H, W), generator=g, dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype) / 255


def _naive_bilinear(img, h, w):
    """Reference bilinear upsampling with half-pixel centres (align_corners=False), loops."""
    H, W = img.shape
    out = torch.empty(h, w, dtype=img.dtype)
    for i in range(h):
        for j in range(w):
            y = min(max((i + 0.5) * H / h - 0.5, 0), H - 1)
            x = min(max((j + 0.5) * W / w - 0.5, 0), W - 1)
            y0, x0 = math.floor(y), math.floor(x)
            y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * (1 - dx) * img[y0, x0] + (1 - dy) * dx * img[y0, x1]
                         + dy * (1 - dx) * img[y1, x0] + dy * dx * img[y1, x1])
    return out


def test_to_float_and_layout():
    x = _clip()
    f = to_float(x)
    assert f.dtype == torch.float32 and torch.allclose(f * 255, x.float())
    assert to_float(f, torch.float64).dtype == torch.float64
    c = convert_layout(f)
    assert c.shape == (3, 3, 24, 32) and torch.equal(convert_layout(c, "CTHW", "TCHW"), f)
    batch = torch.stack([f, f])
    assert convert_layout(batch).shape == (2, 3, 3, 24, 32)
    with pytest.raises(InputError, match="dtype: expected a floating-point dtype"):
        to_float(x, torch.int32)
    with pytest.raises(InputError, match="clip: expected uint8 or a float dtype"):
        to_float(x.long())


def test_resize_matches_naive_bilinear_upsampling():
    x = _clip(T=1, H=5, W=4, dtype=torch.float64)
    y = resize(x, (9, 7))
    ref = _naive_bilinear(x[0, 1], 9, 7)
    diff = (y[0, 1] - ref).abs().max()
    assert diff < 1e-12, f"max abs diff {diff}"


def test_resize_uint8_batch_and_short_side():
    x = _clip()
    y = resize(x, 12)
    assert y.shape == (3, 3, 12, 12) and y.dtype == torch.uint8
    const = torch.full((2, 3, 10, 20), 77, dtype=torch.uint8)
    assert resize(const, (5, 7)).eq(77).all()
    assert short_side_resize(x, 12).shape == (3, 3, 12, 16)
    assert short_side_resize(x.transpose(-1, -2), 12).shape == (3, 3, 16, 12)
    assert short_side_resize(torch.zeros(2, 4, 3, 240, 320), 128).shape == (2, 4, 3, 128, 171)
    assert resize(x, (24, 32)) is x
    assert resize(torch.zeros(0, 3, 8, 8), 4).shape == (0, 3, 4, 4)


def test_crops_flip_reference():
    x = _clip()
    assert torch.equal(crop(x, 2, 3, 5, 6), x[:, :, 2:7, 3:9])
    assert torch.equal(center_crop(x, (20, 20)), x[:, :, 2:22, 6:26])
    assert torch.equal(hflip(x)[..., 0], x[..., -1])
    with pytest.raises(InputError, match="crop: expected a window inside the 24x32 frame"):
        crop(x, 20, 0, 5, 5)
    with pytest.raises(InputError, match="size: expected a crop no larger than the 24x32 frame"):
        center_crop(x, 30)
    with pytest.raises(InputError, match="size: expected a crop no larger"):
        RandomCrop(40)(x)


def test_normalize_reference_both_layouts():
    x = _clip(dtype=torch.float64)
    y = normalize(x, KINETICS_MEAN, KINETICS_STD)
    for c in range(3):
        ref = (x[:, c] - KINETICS_MEAN[c]) / KINETICS_STD[c]
        assert torch.allclose(y[:, c], ref)
    yc = normalize(convert_layout(x), layout="CTHW")
    assert torch.allclose(convert_layout(yc, "CTHW", "TCHW"), y)
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    assert normalize(nan).isnan().sum() == 1  # NaN stays local
    with pytest.raises(InputError, match="clip: expected a float clip"):
        normalize(_clip())
    with pytest.raises(InputError, match="mean/std: expected 3 values"):
        normalize(x, (0.5,), (0.5,))
    with pytest.raises(InputError, match="std: expected values > 0"):
        normalize(x, (0, 0, 0), (1, 0, 1))


def test_random_transforms_seeded_and_consistent_over_time():
    frame = _clip(T=1)
    x = frame.expand(5, -1, -1, -1).clone()  # all frames identical
    t = Compose([RandomCrop(16), RandomHorizontalFlip()])
    a = t(x, generator=torch.Generator().manual_seed(1))
    b = t(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (5, 3, 16, 16)
    assert all(torch.equal(a[0], a[i]) for i in range(5))  # same window for every frame
    outs = {t(x, generator=torch.Generator().manual_seed(s)).float().sum().item()
            for s in range(20)}
    assert len(outs) > 5
    flips = [torch.equal(RandomHorizontalFlip(0.5)(x, torch.Generator().manual_seed(s)), x)
             for s in range(40)]
    assert 5 < sum(flips) < 35
    assert torch.equal(RandomHorizontalFlip(1.0)(x), hflip(x))
    with pytest.raises(InputError, match="p: expected a probability"):
        RandomHorizontalFlip(2)


def test_default_pipelines_lecture_sizes():
    x = torch.randint(0, 256, (16, 3, 240, 320), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    train = video_train_transform()(x, generator=g)
    test = video_eval_transform()(x)
    assert train.shape == test.shape == (3, 16, 112, 112) and train.dtype == torch.float32
    batch = video_eval_transform(layout="TCHW")(torch.stack([x[:2], x[2:4]]))
    assert batch.shape == (2, 2, 3, 112, 112)
    assert "RandomCrop" in repr(video_train_transform())
    pipe = Compose([ToFloat(), Resize(20), ShortSideResize(16), CenterCrop(8),
                    Normalize(layout="TCHW"), ConvertLayout(), lambda c: c * 2])
    assert pipe(_clip(T=1)).shape == (3, 1, 8, 8)  # one-frame clip, plain callables allowed


def test_bad_inputs():
    with pytest.raises(InputError, match=r"clip: expected shape \(\*, A, B, H, W\)"):
        hflip(torch.zeros(3, 8, 8))
    with pytest.raises(InputError, match="clip: expected a torch.Tensor"):
        resize([[1]], 2)
    with pytest.raises(InputError, match="size: expected an int or"):
        Resize((1, 2, 3))
    with pytest.raises(InputError, match="interpolation: expected one of"):
        resize(_clip(), 4, interpolation="lanczos")
    with pytest.raises(InputError, match="layout: expected one of"):
        Normalize(layout="NCHW")


def test_gradcheck_float64():
    x = torch.rand(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: resize(v, (4, 9)), (x,))
    assert torch.autograd.gradcheck(lambda v: normalize(v, (0.1, 0.2, 0.3), (1, 2, 3)), (x,))
    assert torch.autograd.gradcheck(lambda v: convert_layout(center_crop(hflip(v), 3)), (x,))


def test_device_dtype(device, dtype):
    """Every transform keeps the clip's device and float dtype (uint8 clips become ``dtype``
    through to_float) and matches float64 on the CPU; random ones draw from a CPU generator."""
    g = torch.Generator().manual_seed(3)
    clip = torch.rand(4, 3, 12, 16, generator=g, dtype=torch.float64)
    for fn in (lambda c: resize(c, (9, 10)), lambda c: short_side_resize(c, 8),
               lambda c: crop(c, 1, 2, 5, 6), lambda c: center_crop(c, 6), hflip,
               lambda c: normalize(c), lambda c: convert_layout(c)):
        check_op(fn, (clip,), device, dtype)
    u8 = torch.randint(0, 256, (4, 3, 24, 32), generator=g, dtype=torch.uint8)
    with default_device_elsewhere():
        f = to_float(u8.to(device), dtype)
        train = video_train_transform(16, 20)(u8.to(device), generator=torch.Generator()
                                              .manual_seed(0))
        test = video_eval_transform(16, 20)(u8.to(device))
    assert_on(f, device, dtype)
    assert_on(train, device, torch.float32)
    assert_on(test, device, torch.float32)
    ref = video_train_transform(16, 20)(u8, generator=torch.Generator().manual_seed(0))
    close(train, ref, torch.float32, atol=1e-4)
