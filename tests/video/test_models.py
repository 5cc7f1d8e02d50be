"""Tests for spacetime.video.models: shapes, backward, input errors, golden output, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.video.models import (
    C3D,
    MODEL_BUILDERS,
    Conv3d,
    EarlyFusion,
    LateFusionPool,
    SingleFrame,
    c3d,
    conv_stack_2d,
    conv_stack_3d,
    early_fusion,
    infer_output_shape,
    late_fusion_fc,
    late_fusion_pool,
    load_video_checkpoint,
    mc3_18,
    r2plus1d_18,
    r3d_18,
    single_frame,
    slow_fusion,
    toy_early_fusion,
    toy_late_fusion,
    toy_slow_fusion,
)
from tests._matrix import assert_on, default_device_elsewhere

# name -> (builder kwargs for a tiny variant, input shape)
TINY = {
    "single-frame": (dict(channels=(4, 8)), (2, 3, 8, 32, 32)),
    "late-fusion-fc": (
        dict(channels=(4, 8), num_frames=8, frame_size=(32, 32), hidden=(16,)),
        (2, 3, 8, 32, 32),
    ),
    "late-fusion-pool": (dict(channels=(4, 8)), (2, 3, 8, 32, 32)),
    "early-fusion": (dict(channels=(4, 8), num_frames=8), (2, 3, 8, 32, 32)),
    "slow-fusion": (dict(channels=(4, 8)), (2, 3, 8, 32, 32)),
    "c3d": (
        dict(channels=(4, 8, 8, 8, 8), fc_dim=16, input_size=(16, 32, 32)),
        (2, 3, 16, 32, 32),
    ),
}
TORCHVISION = {"r3d-18": r3d_18, "r2plus1d-18": r2plus1d_18, "mc3-18": mc3_18}


def assert_close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    diff = (a - b).abs()
    rel = diff / b.abs().clamp_min(1e-12)
    assert torch.allclose(a, b, atol=atol, rtol=rtol), (
        f"max abs diff {diff.max().item():.3g}, max rel diff {rel.max().item():.3g}"
    )


def test_builder_names():
    assert set(MODEL_BUILDERS) == {
        "single-frame",
        "late-fusion-fc",
        "late-fusion-pool",
        "early-fusion",
        "slow-fusion",
        "c3d",
        "r3d-18",
        "r2plus1d-18",
        "mc3-18",
        "spatial-stream",
        "temporal-stream",
        "two-stream",
        "toy-late-fusion",
        "toy-early-fusion",
        "toy-slow-fusion",
    }


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_models_shape_and_backward(name, device):
    """Forward + backward on ``device`` (one dtype, float32: the models are the heavy tests)."""
    torch.manual_seed(0)
    kwargs, shape = TINY[name]
    model = MODEL_BUILDERS[name](num_classes=5, **kwargs).to(device)
    x = torch.randn(shape, device=device)
    with default_device_elsewhere():
        y = model(x)
    assert y.shape == (shape[0], 5)
    assert_on(y, device, torch.float32)
    assert torch.isfinite(y).all()
    loss = F.cross_entropy(y, torch.tensor([0, 3], device=device))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_models_empty_batch_and_nan(name):
    kwargs, shape = TINY[name]
    model = MODEL_BUILDERS[name](num_classes=5, **kwargs).eval()
    assert model(torch.zeros(0, *shape[1:])).shape == (0, 5)
    # NaN is not checked per call (cost); it propagates instead of crashing
    x = torch.zeros(1, *shape[1:])
    x[0, 0, 0, 0, 0] = float("nan")
    assert torch.isnan(model(x)).any()


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_models_reject_bad_clips(name):
    kwargs, shape = TINY[name]
    model = MODEL_BUILDERS[name](num_classes=5, **kwargs)
    with pytest.raises(InputError, match=r"x: expected shape \(N, 3, T, H, W\)"):
        model(torch.randn(shape[1:]))  # no batch dim
    with pytest.raises(InputError, match=r"x: expected shape \(N, 3, T, H, W\)"):
        model(torch.randn(shape[0], 4, *shape[2:]))
    with pytest.raises(InputError, match="floating-point"):
        model(torch.zeros(shape, dtype=torch.int64))
    with pytest.raises(InputError, match="expected a torch.Tensor"):
        model(shape)


def test_fixed_size_models_name_the_mismatch():
    kwargs, _ = TINY["late-fusion-fc"]
    m = late_fusion_fc(num_classes=5, **kwargs)
    with pytest.raises(InputError, match=r"built for T=8 frames .*T=6"):
        m(torch.randn(1, 3, 6, 32, 32))
    with pytest.raises(InputError, match=r"built for frames of H x W = 32 x 32"):
        m(torch.randn(1, 3, 8, 32, 40))
    e = early_fusion(num_classes=5, channels=(4,), num_frames=8)
    with pytest.raises(InputError, match=r"EarlyFusion was built for T=8 frames"):
        e(torch.randn(1, 3, 4, 32, 32))
    e(torch.randn(1, 3, 8, 20, 24))  # any H, W is fine
    kwargs, _ = TINY["c3d"]
    c = c3d(num_classes=5, **kwargs)
    with pytest.raises(InputError, match=r"C3D was built for T=16 frames"):
        c(torch.randn(1, 3, 8, 32, 32))
    with pytest.raises(InputError, match=r"C3D was built for frames of H x W = 32 x 32"):
        c(torch.randn(1, 3, 16, 64, 64))


def test_builders_reject_bad_arguments():
    with pytest.raises(InputError, match="num_classes"):
        single_frame(num_classes=0, channels=(4,))
    with pytest.raises(InputError, match="num_classes"):
        c3d(num_classes=2.5, channels=(1, 1, 1, 1, 1), fc_dim=2, input_size=(16, 16, 16))
    with pytest.raises(InputError, match="dropout"):
        late_fusion_pool(num_classes=3, channels=(4,), dropout=1.0)
    with pytest.raises(InputError, match=r"channels\[1\]"):
        slow_fusion(num_classes=3, channels=(4, 0))
    with pytest.raises(InputError, match="channels"):
        conv_stack_2d(())
    with pytest.raises(InputError, match="pools: expected 2"):
        conv_stack_3d((4, 4), pools=[(2, 2, 2)])
    with pytest.raises(InputError, match="channels: expected 5 block widths"):
        c3d(num_classes=3, channels=(4, 4, 4))
    with pytest.raises(InputError, match=r"too small for C3D's five pools"):
        c3d(num_classes=3, channels=(1, 1, 1, 1, 1), fc_dim=2, input_size=(8, 32, 32))
    with pytest.raises(InputError, match="num_frames"):
        early_fusion(num_classes=3, num_frames=0)
    with pytest.raises(InputError, match="too small"):
        late_fusion_fc(num_classes=3, channels=(2, 2, 2), num_frames=2, frame_size=(4, 4))


def test_infer_output_shape_allocates_nothing():
    enc = conv_stack_2d((4, 8))
    assert infer_output_shape(enc, (5, 3, 33, 20)) == (5, 8, 8, 5)
    assert enc.training  # mode restored
    assert enc.conv1.weight.device.type == "cpu"


def test_single_frame_averages_probabilities():
    torch.manual_seed(0)
    m = single_frame(num_classes=4, channels=(4, 8)).eval()
    x = torch.randn(2, 3, 5, 16, 16)
    frame_logits = m.frame_logits(x)
    assert frame_logits.shape == (2, 5, 4)
    # reference: each frame on its own through the 2D CNN, then mean of softmax
    ref_frames = torch.stack(
        [torch.flatten(m.gap(m.encoder(x[:, :, t])), 1) @ m.fc.weight.T + m.fc.bias
         for t in range(5)],
        dim=1,
    )
    assert_close(frame_logits, ref_frames, atol=1e-5)
    out = m(x)
    assert_close(out.exp(), torch.softmax(ref_frames, -1).mean(1), atol=1e-6)
    assert_close(out.exp().sum(-1), torch.ones(2))
    y = torch.tensor([1, 2])
    assert_close(F.cross_entropy(out, y), F.nll_loss(out, y))


def test_single_frame_trains_with_nll_loss():
    """Bright vs dark clips: a few SGD steps on the averaged log-probabilities separate them."""
    torch.manual_seed(0)
    m = single_frame(num_classes=2, channels=(4,))
    x = torch.cat([torch.full((4, 3, 3, 8, 8), -1.0), torch.full((4, 3, 3, 8, 8), 1.0)])
    x = x + 0.1 * torch.randn_like(x)
    y = torch.tensor([0] * 4 + [1] * 4)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        loss = F.nll_loss(m(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    assert loss.item() < 0.5 * first
    assert (m(x).argmax(1) == y).all()


def test_single_frame_one_frame_is_log_softmax():
    torch.manual_seed(0)
    m = single_frame(num_classes=3, channels=(4,)).eval()
    x = torch.randn(1, 3, 1, 8, 8)
    assert_close(m(x), torch.log_softmax(m.frame_logits(x)[:, 0], -1))


def test_late_fusion_pool_matches_reference():
    torch.manual_seed(0)
    m = late_fusion_pool(num_classes=3, channels=(4, 6)).eval()
    x = torch.randn(2, 3, 4, 16, 16)
    feats = torch.stack([m.encoder(x[:, :, t]) for t in range(4)], dim=1)  # (N, T, D, H', W')
    ref = feats.mean(dim=(1, 3, 4)) @ m.fc.weight.T + m.fc.bias
    assert_close(m(x), ref, atol=1e-6)
    assert isinstance(m, LateFusionPool)


def test_early_fusion_channel_order():
    """Channel c * T + t of the fused image is colour c of frame t."""
    t_len = 3
    m = EarlyFusion(nn.Identity(), t_len, 3 * t_len, num_classes=3 * t_len).eval()
    with torch.no_grad():
        m.fc.weight.copy_(torch.eye(3 * t_len))
        m.fc.bias.zero_()
    x = torch.randn(2, 3, t_len, 5, 5)
    out = m(x)
    ref = torch.stack([x[:, c, t].mean((-1, -2)) for c in range(3) for t in range(t_len)], 1)
    assert_close(out, ref)


def test_toy_models_match_lecture_layers():
    lf = toy_late_fusion(num_classes=10)
    ef = toy_early_fusion(num_classes=10)
    sf = toy_slow_fusion(num_classes=10)
    assert lf.encoder.conv1.in_channels == 3 and lf.encoder.conv2.out_channels == 24
    assert ef.encoder.conv1.in_channels == 60  # 3 * T for T = 20 (the slide writes 3*10)
    assert sf.encoder.conv1.kernel_size == (3, 3, 3) and sf.encoder.pool1.kernel_size == 4
    x = torch.randn(1, 3, 20, 64, 64)
    for m in (lf, ef, sf):
        assert m(x).shape == (1, 10)


def test_c3d_default_layout_on_meta():
    with torch.device("meta"):
        m = c3d(num_classes=487)
        lecture = c3d(num_classes=487, pool5_padding=(0, 0, 0))
    assert isinstance(m, C3D)
    assert m.pool5_shape == (512, 1, 4, 4) and m.fc6.in_features == 8192
    assert lecture.pool5_shape == (512, 1, 3, 3) and lecture.fc6.in_features == 4608
    assert sum(p.numel() for p in m.parameters()) == 79_991_015
    with torch.device("meta"):
        ucf = c3d(num_classes=101)
    assert sum(p.numel() for p in ucf.parameters()) == 78_409_573  # MMAction2's "78.4 M"
    x = torch.empty(2, 3, 16, 112, 112, device="meta")
    assert m.features(x).shape == (2, 512, 1, 4, 4)
    assert m(x).shape == (2, 487)


def test_golden_output_toy_slow_fusion():
    """Fixed seed -> fixed logits, so a refactor that changes numbers is noticed."""
    torch.manual_seed(0)
    m = toy_slow_fusion(num_classes=3, width=2).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 8, 16, 16, generator=g)
    with torch.no_grad():
        y = m(x)
    expected = torch.tensor(GOLDEN_SLOW_FUSION)
    assert_close(y, expected, atol=1e-6, rtol=1e-4)


GOLDEN_SLOW_FUSION = [
    [0.0381789804, -0.0345600396, 0.0338443853],
    [0.0376859233, -0.0341365039, 0.0324958116],
]


# ---------------------------------------------------------------- torchvision video ResNets


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_models_build_with_num_classes(name):
    torch.manual_seed(0)
    m = MODEL_BUILDERS[name](num_classes=7)
    assert m.fc.out_features == 7
    with torch.no_grad():
        y = m.eval()(torch.randn(1, 3, 4, 32, 32))
    assert y.shape == (1, 7)


def test_torchvision_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    src = mc3_18(num_classes=7)
    path = tmp_path / "mc3.pt"
    torch.save(src.state_dict(), path)
    dst = mc3_18(num_classes=7, checkpoint=path)
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert torch.equal(a, b), k
    # the same file wrapped as {"state_dict": ...} with DataParallel's "module." prefix
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, wrapped)
    dst2 = mc3_18(num_classes=7, checkpoint=wrapped)
    assert torch.equal(dst2.fc.weight, src.fc.weight)


def test_torchvision_checkpoint_head_of_other_size_is_replaced(tmp_path):
    torch.manual_seed(0)
    src = mc3_18(num_classes=7)
    state = src.state_dict()
    state["fc.weight"] = torch.zeros(9, 512)
    state["fc.bias"] = torch.zeros(9)
    path = tmp_path / "nine.pt"
    torch.save(state, path)
    dst = mc3_18(num_classes=7)
    skipped = load_video_checkpoint(dst, path)
    assert skipped == ["fc.weight", "fc.bias"]
    assert dst.fc.out_features == 7 and dst.fc.weight.abs().sum() > 0
    assert torch.equal(dst.stem[0].weight, src.stem[0].weight)


def test_torchvision_checkpoint_errors(tmp_path):
    with pytest.raises(MissingFileError, match="no such file"):
        r3d_18(num_classes=3, checkpoint=tmp_path / "absent.pt")
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(FileFormatError, match="not a readable torch checkpoint"):
        mc3_18(num_classes=3, checkpoint=bad)
    notdict = tmp_path / "list.pt"
    torch.save([1, 2, 3], notdict)
    with pytest.raises(FileFormatError, match="does not hold a state dict"):
        mc3_18(num_classes=3, checkpoint=notdict)
    other = tmp_path / "other.pt"
    torch.save({"stem.0.weight": torch.zeros(2, 2), "foo": torch.zeros(1)}, other)
    with pytest.raises(FileFormatError, match=r"missing: .*unexpected: foo.*shape mismatch"):
        mc3_18(num_classes=3, checkpoint=other)


def test_no_cuda_calls_in_source():
    import spacetime.video.models as pkg

    for f in Path(pkg.__path__[0]).glob("*.py"):
        assert ".cuda(" not in f.read_text(), f


@pytest.mark.parametrize("name", ["single-frame", "early-fusion", "late-fusion-fc"])
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    kwargs, _ = TINY[name]
    kwargs = {**kwargs, "channels": (2,), "norm": False}
    if name == "late-fusion-fc":
        kwargs.update(num_frames=2, frame_size=(4, 4), hidden=(3,), dropout=0.0)
    elif name == "early-fusion":
        kwargs.update(num_frames=2)
    m = MODEL_BUILDERS[name](num_classes=3, **kwargs).double()
    x = torch.randn(1, 3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,), eps=1e-6, atol=1e-5)


def test_param_count_sanity():
    m = single_frame(num_classes=5, channels=(4,), norm=False)
    # conv 3*4*9 + 4, fc 4*5 + 5
    assert sum(p.numel() for p in m.parameters()) == 3 * 4 * 9 + 4 + 4 * 5 + 5
    assert math.isclose(m(torch.randn(1, 3, 2, 8, 8)).exp().sum().item(), 1.0, rel_tol=1e-6)
    assert isinstance(m, SingleFrame)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3, padding=1),
        dict(kernel_size=(1, 3, 2), stride=(1, 2, 2), dilation=(1, 1, 2), padding=(0, 1, 0)),
        dict(kernel_size=3, groups=2, bias=False),
    ],
)
def test_onednn_conv3d_matches_nn_conv3d(kwargs, device, dtype):
    torch.manual_seed(0)
    ref = nn.Conv3d(4, 6, **kwargs).to(device, dtype)
    ours = Conv3d(4, 6, **kwargs).to(device, dtype)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(1, 4, 5, 9, 10, dtype=dtype, device=device, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y_ref, y = ref(x), ours(x2)
    assert_on(y, device, dtype)
    assert_close(y, y_ref, atol=1e-5)
    g = torch.randn_like(y)
    y_ref.backward(g)
    y.backward(g)
    assert_close(x2.grad, x.grad, atol=1e-4)
    assert_close(ours.weight.grad, ref.weight.grad, atol=1e-4, rtol=1e-4)
    # channels_last_3d input and the meta device both work
    xc = x.detach().contiguous(memory_format=torch.channels_last_3d)
    assert_close(ours(xc).detach(), y_ref.detach(), atol=1e-5)
    with torch.device("meta"):
        meta = Conv3d(4, 6, **kwargs).to(dtype)
    assert meta(torch.empty(1, 4, 5, 9, 10, device="meta", dtype=dtype)).shape == y.shape
