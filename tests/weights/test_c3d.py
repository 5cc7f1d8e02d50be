"""C3D Sports-1M weights in the PyTorch port's layout (DavideA/c3d-pytorch ``c3d.pickle``) and
MMAction2's (``backbone.conv1a.conv.*`` ... ``cls_head.fc_cls.*``): the peers' networks are
re-implemented here from their documented layer lists, filled with the same random weights as
the converted model, and compared on a clip."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from spacetime.api import load_model
from spacetime.errors import FileFormatError
from spacetime.weights import convert_state_dict, convert_weights, read_peer_file
from spacetime.weights.c3d import SPORTS1M_CLASSES, sports1m_classes

FULL = (64, 128, 256, 512, 512)
SMALL = (4, 8, 8, 8, 8)


class PortC3D(nn.Module):
    """The port's network, from its layer list: conv1 (64) pool1 1x2x2, conv2 (128) pool2,
    conv3a/b (256) pool3, conv4a/b (512) pool4, conv5a/b (512) pool5 padded (0, 1, 1), fc6
    8192 -> 4096, fc7 4096 -> 4096, fc8 4096 -> 487; ReLU after every conv and fc6 / fc7,
    dropout after fc6 / fc7; the port's forward ends in a softmax (returned here as logits,
    compared after a softmax)."""

    def __init__(self, widths=FULL, fc=4096, classes=487):
        super().__init__()
        c1, c2, c3, c4, c5 = widths

        def conv(i, o):
            return nn.Conv3d(i, o, kernel_size=(3, 3, 3), padding=(1, 1, 1))

        self.conv1, self.conv2 = conv(3, c1), conv(c1, c2)
        self.conv3a, self.conv3b = conv(c2, c3), conv(c3, c3)
        self.conv4a, self.conv4b = conv(c3, c4), conv(c4, c4)
        self.conv5a, self.conv5b = conv(c4, c5), conv(c5, c5)
        self.fc6 = nn.Linear(c5 * 16, fc)
        self.fc7 = nn.Linear(fc, fc)
        self.fc8 = nn.Linear(fc, classes)
        self.c5 = c5

    def forward(self, x):
        relu = torch.relu
        x = nn.functional.max_pool3d(relu(self.conv1(x)), (1, 2, 2), (1, 2, 2))
        x = nn.functional.max_pool3d(relu(self.conv2(x)), 2, 2)
        x = nn.functional.max_pool3d(relu(self.conv3b(relu(self.conv3a(x)))), 2, 2)
        x = nn.functional.max_pool3d(relu(self.conv4b(relu(self.conv4a(x)))), 2, 2)
        x = nn.functional.max_pool3d(relu(self.conv5b(relu(self.conv5a(x)))), 2, 2,
                                     padding=(0, 1, 1))
        x = x.reshape(-1, self.c5 * 16)
        x = relu(self.fc7(relu(self.fc6(x))))  # dropout: identity in eval mode
        return self.fc8(x)


class _ConvModule(nn.Module):
    """mmcv ConvModule without norm: ``.conv`` then ReLU."""

    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv3d(i, o, kernel_size=(3, 3, 3), padding=(1, 1, 1))

    def forward(self, x):
        return torch.relu(self.conv(x))


class _MMBackbone(nn.Module):
    def __init__(self, widths=FULL, fc=4096):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.conv1a, self.conv2a = _ConvModule(3, c1), _ConvModule(c1, c2)
        self.conv3a, self.conv3b = _ConvModule(c2, c3), _ConvModule(c3, c3)
        self.conv4a, self.conv4b = _ConvModule(c3, c4), _ConvModule(c4, c4)
        self.conv5a, self.conv5b = _ConvModule(c4, c5), _ConvModule(c5, c5)
        self.fc6 = nn.Linear(c5 * 16, fc)
        self.fc7 = nn.Linear(fc, fc)

    def forward(self, x):
        mp = nn.functional.max_pool3d
        x = mp(self.conv1a(x), (1, 2, 2), (1, 2, 2))
        x = mp(self.conv2a(x), 2, 2)
        x = mp(self.conv3b(self.conv3a(x)), 2, 2)
        x = mp(self.conv4b(self.conv4a(x)), 2, 2)
        x = mp(self.conv5b(self.conv5a(x)), 2, 2, padding=(0, 1, 1)).flatten(start_dim=1)
        return torch.relu(self.fc7(torch.relu(self.fc6(x))))


class _I3DHead(nn.Module):
    def __init__(self, fc, classes):
        super().__init__()
        self.fc_cls = nn.Linear(fc, classes)

    def forward(self, x):  # spatial_type=None: dropout (eval: identity), view, fc_cls
        return self.fc_cls(x.view(x.shape[0], -1))


class MMRecognizer(nn.Module):
    """MMAction2's Recognizer3D with the C3D backbone and I3DHead (spatial_type None)."""

    def __init__(self, widths=FULL, fc=4096, classes=101):
        super().__init__()
        self.backbone = _MMBackbone(widths, fc)
        self.cls_head = _I3DHead(fc, classes)

    def forward(self, x):
        return self.cls_head(self.backbone(x))


def _randomise(module: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else p.numel()
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / fan_in ** 0.5)
    return module.state_dict()


def _clip(dtype=torch.float64, seed=1):
    return torch.rand(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(seed),
                      dtype=dtype)


def _assert_close(a, b, atol):
    diff = (a - b).abs().max().item()
    assert diff <= atol, f"max abs difference {diff:.3g} > {atol:.1g}"


def test_port_file_full_size_matches_the_port(tmp_path):
    """The real key/shape set (78 M parameters, legacy torch.save file as published in 2017),
    converted through the file, loaded with no other input, same output as the port."""
    peer = PortC3D().eval()
    sd = _randomise(peer)
    assert sum(v.numel() for v in sd.values()) == 79_991_015
    src = tmp_path / "c3d.pickle"
    torch.save(sd, src, _use_new_zipfile_serialization=False)
    t0 = time.perf_counter()
    report = convert_weights(src, "c3d-sports1m", tmp_path / "c3d.pt")
    seconds = time.perf_counter() - t0
    assert report.num_parameters == 79_991_015 and report.num_classes == 487
    assert seconds < 60
    loaded = load_model(tmp_path / "c3d.pt", device="cpu")
    assert loaded.spec.model == "c3d" and loaded.classes == sports1m_classes()
    assert loaded.classes[:3] == ["boomerang", "boxing", "bowling"]
    assert loaded.spec.model_kwargs["pool5_padding"] == [0, 1, 1]
    x = _clip(torch.float32)
    with torch.no_grad():
        ours, theirs = loaded.model(x), peer(x)
    scale = theirs.abs().max().item()
    _assert_close(ours.softmax(1), theirs.softmax(1), 1e-5)
    _assert_close(ours / scale, theirs / scale, 1e-5)


def test_port_float64_exact():
    """Same key names, small widths, float64: the outputs agree to 1e-6."""
    peer = PortC3D(SMALL, fc=16, classes=487).double().eval()
    model, meta, _ = convert_state_dict(_randomise(peer), "c3d-sports1m")
    assert meta["model_kwargs"]["channels"] == list(SMALL)
    x = _clip()
    with torch.no_grad():
        _assert_close(model.double()(x), peer(x), 1e-6)


def test_mmaction2_full_key_set_and_float64_exact(tmp_path):
    """MMAction2's recogniser checkpoint ({meta, state_dict}): the full-size key/shape set maps
    one to one; at small widths (same names) the outputs agree in float64."""
    with torch.device("meta"):
        full = MMRecognizer().state_dict()
    assert "backbone.conv1a.conv.weight" in full and full["cls_head.fc_cls.weight"].shape == (
        101, 4096)
    small = MMRecognizer(SMALL, fc=16, classes=101).double().eval()
    sd = _randomise(small, seed=3)
    src = tmp_path / "c3d_ucf101.pth"
    torch.save({"meta": {"mmcv_version": "1.1.4", "config": "model = dict(...)"},
                "state_dict": sd}, src)
    peer = read_peer_file(src)
    assert peer.wrapper == "state_dict" and "meta" in peer.extras
    model, meta, notes = convert_state_dict(peer, "mmaction2-c3d")
    assert meta["classes"][0] == "class_000" and len(meta["classes"]) == 101
    assert any("classInd" in n for n in notes)
    x = _clip(seed=4)
    with torch.no_grad():
        _assert_close(model.double()(x), small(x), 1e-6)
    # the full-size names and shapes: every key lands (meta tensors: no memory)
    from spacetime.weights.convert import FORMATS, _rename
    from spacetime.weights.formats import PeerFile

    conv = FORMATS["mmaction2-c3d"].converter(PeerFile(dict(full)))
    assert conv.model_kwargs == {"num_classes": 101, "channels": list(FULL), "fc_dim": 4096,
                                 "input_size": [16, 112, 112], "pool5_padding": [0, 1, 1]}
    from spacetime.video.models import c3d

    with torch.device("meta"):
        expected = c3d(num_classes=101).state_dict()
    ours, _ = _rename(PeerFile(dict(full)), conv, expected, FORMATS["mmaction2-c3d"], "c3d")
    assert set(ours) == set(expected)


def test_mmaction2_classes_from_file_and_meta(tmp_path):
    small = MMRecognizer(SMALL, fc=16, classes=3)
    sd = _randomise(small)
    ind = tmp_path / "classInd.txt"
    ind.write_text("1 ApplyEyeMakeup\n2 ApplyLipstick\n3 Archery\n")
    _, meta, _ = convert_state_dict(sd, "mmaction2-c3d", classes=ind)
    assert meta["classes"] == ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]
    src = tmp_path / "mm.pth"
    torch.save({"meta": {"dataset_meta": {"classes": ["a", "b", "c"]}}, "state_dict": sd}, src)
    _, meta, _ = convert_state_dict(read_peer_file(src), "mmaction2-c3d")
    assert meta["classes"] == ["a", "b", "c"]
    with pytest.raises(Exception, match="names 2 classes; the weights have 3"):
        convert_state_dict(sd, "mmaction2-c3d", classes=["a", "b"])


def test_mmaction2_backbone_only_is_refused():
    sd = _randomise(MMRecognizer(SMALL, fc=16, classes=3).backbone)
    with pytest.raises(FileFormatError, match="no classifier"):
        convert_state_dict(sd, "mmaction2-c3d")


def test_sports1m_class_list():
    names = sports1m_classes()
    assert len(names) == SPORTS1M_CLASSES == len(set(names))
    assert names[54] == "tennis" and names[-1] == "model aircraft"
