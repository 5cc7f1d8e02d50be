"""torchvision ImageNet ResNet / VGG state dicts as the encoder + head of our per-frame video
models: torchvision's own modules are the peer (random weights, real key/shape sets)."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from spacetime.errors import InputError
from spacetime.video.models import single_frame
from spacetime.video.models.image_encoders import IMAGE_ENCODERS
from spacetime.weights import convert_state_dict
from spacetime.weights.formats import PeerFile
from spacetime.weights.torchvision_backbones import torchvision_architecture


def _peer(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None).double().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


def _frames_logits(peer, clip):
    """torchvision on each frame of ``clip`` ``(N, 3, T, H, W)``: ``(N, T, C)``."""
    n, _, t, h, w = clip.shape
    frames = clip.transpose(1, 2).reshape(n * t, 3, h, w)
    return peer(frames).reshape(n, t, -1)


def _assert_close(a, b, atol=1e-6):
    diff = (a - b).abs().max().item()
    assert diff <= atol, f"max abs difference {diff:.3g} > {atol:.1g}"


@pytest.mark.parametrize("arch", ["resnet18", "vgg11"])
def test_single_frame_equals_torchvision_per_frame(arch):
    peer = _peer(arch)
    model, meta, notes = convert_state_dict(peer.state_dict(), "torchvision")
    assert meta["model"] == "single-frame" and meta["model_kwargs"]["encoder"] == arch
    assert meta["classes"][0] == "tench" and len(meta["classes"]) == 1000
    assert meta["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    assert meta["preprocess"]["std"] == [0.229, 0.224, 0.225]
    assert meta["preprocess"]["size"] == 224 and meta["preprocess"]["resize_to"] == 256
    clip = torch.rand(2, 3, 3, 64, 64, dtype=torch.float64, generator=torch.Generator()
                      .manual_seed(1))
    with torch.no_grad():
        ours = model.double()(clip)
        ref = _frames_logits(peer, clip).log_softmax(-1).logsumexp(1) - math.log(3)
    _assert_close(ours, ref)


def test_late_fusion_pool_and_spatial_stream_resnet18():
    peer = _peer("resnet18", seed=2)
    clip = torch.rand(1, 3, 4, 64, 64, dtype=torch.float64, generator=torch.Generator()
                      .manual_seed(3))
    n, _, t, h, w = clip.shape
    late, meta, _ = convert_state_dict(peer.state_dict(), "torchvision", model="late-fusion-pool",
                                       frames=4, size=112)
    assert meta["preprocess"]["frames"] == 4 and meta["preprocess"]["resize_to"] == 128
    body = torch.nn.Sequential(*list(peer.children())[:-2])
    with torch.no_grad():
        feats = body(clip.transpose(1, 2).reshape(n * t, 3, h, w)).mean(dim=(2, 3))
        ref = peer.fc(feats.reshape(n, t, -1).mean(1))
        _assert_close(late.double()(clip), ref)
        spatial, meta, _ = convert_state_dict(peer.state_dict(), "torchvision",
                                              model="spatial-stream")
        _assert_close(spatial.double()(clip), peer(clip[:, :, t // 2]))


def test_architecture_recognised_from_the_key_set():
    for arch in IMAGE_ENCODERS[1:]:
        with torch.device("meta"):
            sd = getattr(torchvision.models, arch)(weights=None).state_dict()
        assert torchvision_architecture(PeerFile(dict(sd))) == arch


def test_refused_targets_and_changed_channels():
    sd = _peer("resnet18").state_dict()
    for target in ("late-fusion-fc", "early-fusion", "temporal-stream", "c3d", "pixel2mesh"):
        with pytest.raises(InputError, match="cannot be mapped onto"):
            convert_state_dict(sd, "torchvision", model=target)
    with pytest.raises(InputError, match="num_flows: two-stream options"):
        convert_state_dict(sd, "torchvision", model="spatial-stream", num_flows=4)
    with pytest.raises(InputError, match="flow_method"):
        convert_state_dict(sd, "torchvision", model="two-stream", flow_method="nope")
    with pytest.raises(InputError, match="conv-stack encoder only"):
        single_frame(num_classes=3, encoder="resnet18", channels=(8, 16))


def test_other_head_size_and_classes(tmp_path):
    peer = _peer("resnet18")
    peer.fc = torch.nn.Linear(512, 5).double()
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\nd\ne\n")
    model, meta, _ = convert_state_dict(peer.state_dict(), "torchvision", classes=names)
    assert meta["classes"] == list("abcde") and meta["model_kwargs"]["num_classes"] == 5


def test_predict_applies_imagenet_normalisation(tmp_path):
    from spacetime.api import load_model, video
    from spacetime.video.io import read_video, write_video
    from spacetime.video.transforms import center_crop, short_side_resize
    from spacetime.weights import convert_weights

    peer = _peer("resnet18", seed=4).float()
    src = tmp_path / "resnet18.pth"
    torch.save(peer.state_dict(), src)
    convert_weights(src, "torchvision", tmp_path / "sf.pt", frames=2, size=64)
    loaded = load_model(tmp_path / "sf.pt", device="cpu")
    pre = loaded.spec.preprocess
    assert (pre["frames"], pre["size"], pre["resize_to"]) == (2, 64, 73)
    g = torch.Generator().manual_seed(0)
    write_video(tmp_path / "clip.mp4", (torch.rand(2, 3, 48, 64, generator=g) * 255)
                .to(torch.uint8), fps=4)
    got = video.predict(loaded, tmp_path / "clip.mp4", num_clips=1, topk=2)
    frames = read_video(tmp_path / "clip.mp4", size=pre["resize_to"]).float() / 255
    frames = center_crop(short_side_resize(frames, pre["resize_to"]), 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():  # ImageNet normalisation per frame, torchvision's network, mean prob
        want = peer((frames - mean) / std).softmax(1).mean(0)
    torch.testing.assert_close(got.probabilities, want, atol=1e-5, rtol=1e-4)
    assert got.top[0]["class"] == loaded.classes[int(want.argmax())]


def test_two_stream_spatial_exact_temporal_cross_modality():
    from spacetime.video.models import TwoStream

    peer = _peer("resnet18", seed=5)
    model, meta, notes = convert_state_dict(peer.state_dict(), "torchvision", model="two-stream",
                                            num_flows=2, size=64)
    assert isinstance(model, TwoStream) and meta["family"] == "two-stream"
    assert meta["model_kwargs"]["encoder"] == "resnet18"
    assert meta["options"] == {"num_flows": 2, "flow_method": "dis", "flow_dir": None,
                               "fusion": "average"}
    assert meta["preprocess"]["frames"] == 3
    assert any("cross-modality" in n for n in notes)
    model = model.double()
    g = torch.Generator().manual_seed(6)
    rgb = torch.rand(2, 3, 64, 64, dtype=torch.float64, generator=g)
    flow = torch.randn(2, 4, 64, 64, dtype=torch.float64, generator=g)
    with torch.no_grad():
        _assert_close(model.spatial(rgb), peer(rgb))
        w = peer.conv1.weight  # (64, 3, 7, 7): RGB mean, replicated to 2L = 4 channels
        want = w.mean(dim=1, keepdim=True).repeat(1, 4, 1, 1).float().double()  # stored float32
        assert torch.equal(model.temporal.encoder.conv1.weight, want)
        # every other layer copied: the temporal stream = torchvision with the new conv1
        ref = _peer("resnet18", seed=5)
        ref.conv1 = torch.nn.Conv2d(4, 64, 7, 2, 3, bias=False).double()
        ref.conv1.weight.copy_(want)
        _assert_close(model.temporal(flow), ref(flow - flow.mean(dim=(2, 3), keepdim=True)))


def test_two_stream_load_model_and_predict_normalise_rgb_not_flow(tmp_path):
    from spacetime.api import load_model, video
    from spacetime.video.flow.estimate import estimate_flow_batch
    from spacetime.video.io import read_video, write_video
    from spacetime.video.transforms import center_crop, short_side_resize
    from spacetime.weights import convert_weights

    src = tmp_path / "r18.pth"
    torch.save(_peer("resnet18", seed=7).float().state_dict(), src)
    report = convert_weights(src, "torchvision", tmp_path / "ts.pt", model="two-stream",
                             num_flows=1, size=64)
    assert report.family == "two-stream" and report.model == "two-stream"
    loaded = load_model(tmp_path / "ts.pt", device="cpu")
    pre = loaded.spec.preprocess
    assert loaded.family == "two-stream" and loaded.spec.options["num_flows"] == 1
    assert pre["mean"] == [0.485, 0.456, 0.406] and pre["std"] == [0.229, 0.224, 0.225]
    g = torch.Generator().manual_seed(8)
    write_video(tmp_path / "clip.mp4", (torch.rand(2, 3, 48, 64, generator=g) * 255)
                .to(torch.uint8), fps=4)
    seen = {}
    streams = loaded.model.stream_logits

    def spy(rgb, flow):
        seen.update(rgb=rgb, flow=flow)
        return streams(rgb, flow)

    loaded.model.stream_logits = spy
    got = video.predict(loaded, tmp_path / "clip.mp4", num_clips=1, topk=1)
    frames = read_video(tmp_path / "clip.mp4", size=pre["resize_to"]).float() / 255
    frames = center_crop(short_side_resize(frames, pre["resize_to"]), 64)
    mean = torch.tensor(pre["mean"]).view(3, 1, 1)
    std = torch.tensor(pre["std"]).view(3, 1, 1)
    torch.testing.assert_close(seen["rgb"][0], (frames[0] - mean) / std)  # ImageNet-normalised
    want = estimate_flow_batch(frames[:1], frames[1:], "dis").reshape(1, 2, 64, 64)
    torch.testing.assert_close(seen["flow"], want)  # raw flow (pixels), not normalised
    assert got.top[0]["class"] in loaded.classes
