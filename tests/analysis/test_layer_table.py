"""Tests for spacetime.analysis.layer_table against the lecture's tables and naive references."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spacetime.analysis import LayerRow, LayerTable, format_layer_table, layer_table
from spacetime.errors import InputError
from spacetime.video.models import (
    c3d,
    late_fusion_fc,
    mc3_18,
    r2plus1d_18,
    r3d_18,
    single_frame,
    toy_early_fusion,
    toy_late_fusion,
    toy_slow_fusion,
)

LECTURE_INPUT = (3, 20, 64, 64)


def _rows(table, skip_fc=True):
    return [
        (r.name.split(".")[-1], r.output_shape, r.receptive_field)
        for r in table
        if not (skip_fc and r.name == "fc")
    ]


# ------------------------------------------------------------ the lecture's toy comparison


def test_lecture_late_fusion_table():
    t = layer_table(toy_late_fusion(num_classes=10), LECTURE_INPUT)
    assert _rows(t) == [
        ("input", (3, 20, 64, 64), (1, 1, 1)),
        ("conv1", (12, 20, 64, 64), (1, 3, 3)),
        ("pool1", (12, 20, 16, 16), (1, 6, 6)),
        ("conv2", (24, 20, 16, 16), (1, 14, 14)),
        ("gap", (24, 1, 1, 1), (20, 64, 64)),
    ]


def test_lecture_early_fusion_table():
    t = layer_table(toy_early_fusion(num_classes=10), LECTURE_INPUT)
    assert _rows(t) == [
        ("input", (3, 20, 64, 64), (1, 1, 1)),
        ("conv1", (12, 64, 64), (20, 3, 3)),
        ("pool1", (12, 16, 16), (20, 6, 6)),
        ("conv2", (24, 16, 16), (20, 14, 14)),
        ("gap", (24, 1, 1), (20, 64, 64)),
    ]


def test_lecture_slow_fusion_table():
    t = layer_table(toy_slow_fusion(num_classes=10), LECTURE_INPUT)
    # the slide prints the final size as 24 x 1 x 1; a 3D global pool keeps 24 x 1 x 1 x 1
    assert _rows(t) == [
        ("input", (3, 20, 64, 64), (1, 1, 1)),
        ("conv1", (12, 20, 64, 64), (3, 3, 3)),
        ("pool1", (12, 5, 16, 16), (6, 6, 6)),
        ("conv2", (24, 5, 16, 16), (14, 14, 14)),
        ("gap", (24, 1, 1, 1), (20, 64, 64)),
    ]
    fc = t[-1]
    assert fc.name == "fc" and fc.output_shape == (10,) and fc.macs == 24 * 10


def test_toy_macs_match_hand_count():
    t = layer_table(toy_slow_fusion(num_classes=10), LECTURE_INPUT)
    by = {r.name: r for r in t}
    assert by["encoder.conv1"].macs == 12 * 20 * 64 * 64 * 3 * 27
    assert by["encoder.conv2"].macs == 24 * 5 * 16 * 16 * 12 * 27
    assert by["encoder.pool1"].macs == 0
    lf = {r.name: r for r in layer_table(toy_late_fusion(num_classes=10), LECTURE_INPUT)}
    assert lf["encoder.conv1"].macs == 12 * 20 * 64 * 64 * 3 * 9  # every frame counted
    ef = {r.name: r for r in layer_table(toy_early_fusion(num_classes=10), LECTURE_INPUT)}
    assert ef["encoder.conv1"].macs == 12 * 64 * 64 * 60 * 9


# ------------------------------------------------------------------------------------ C3D

LECTURE_C3D = [
    # name, C x T x H x W, GMACs (the lecture's "MFLOPs" column)
    ("conv1", (64, 16, 112, 112), 1.04),
    ("pool1", (64, 16, 56, 56), None),
    ("conv2", (128, 16, 56, 56), 11.10),
    ("pool2", (128, 8, 28, 28), None),
    ("conv3a", (256, 8, 28, 28), 5.55),
    ("conv3b", (256, 8, 28, 28), 11.10),
    ("pool3", (256, 4, 14, 14), None),
    ("conv4a", (512, 4, 14, 14), 2.77),
    ("conv4b", (512, 4, 14, 14), 5.55),
    ("pool4", (512, 2, 7, 7), None),
    ("conv5a", (512, 2, 7, 7), 0.69),
    ("conv5b", (512, 2, 7, 7), 0.69),
]


@pytest.fixture(scope="module")
def c3d_table() -> LayerTable:
    with torch.device("meta"):
        model = c3d(num_classes=487)
    return layer_table(model, (3, 16, 112, 112))


def test_c3d_matches_lecture_table(c3d_table):
    by = {r.name: r for r in c3d_table}
    for name, shape, gmacs in LECTURE_C3D:
        assert by[name].output_shape == shape, name
        if gmacs is not None:
            assert round(by[name].macs / 1e9, 2) == gmacs, name
    # pool5: released C3D / MMAction2 (512 x 1 x 4 x 4); the lecture's 1 x 3 x 3 is an option
    assert by["pool5"].output_shape == (512, 1, 4, 4)
    assert [by[f].output_shape for f in ("fc6", "fc7", "fc8")] == [(4096,), (4096,), (487,)]
    # fc MACs follow from the sizes (the slide's 0.51 / 0.45 / 0.05 do not)
    assert [by[f].macs for f in ("fc6", "fc7", "fc8")] == [8192 * 4096, 4096 * 4096, 4096 * 487]


def test_c3d_totals(c3d_table):
    conv = sum(r.macs for r in c3d_table if r.name.startswith("conv"))
    assert conv == 38_496_632_832  # 38.50 G in the convolutions
    assert c3d_table.total_macs == 38_548_959_232  # MMAction2: "38.5 GFLOPs"
    assert round(c3d_table.total_macs / 1e9, 1) == 38.5
    assert c3d_table.total_params == 79_991_015  # 487 classes; 78,409,573 with 101
    assert sum(r.params for r in c3d_table) == c3d_table.total_params
    assert c3d_table[-1].receptive_field == (16, 112, 112)
    assert {r.name: r.receptive_field for r in c3d_table}["conv2"] == (5, 8, 8)


def test_c3d_lecture_pool5_variant():
    with torch.device("meta"):
        model = c3d(num_classes=101, pool5_padding=(0, 0, 0))
    by = {r.name: r for r in layer_table(model, (3, 16, 112, 112))}
    assert by["pool5"].output_shape == (512, 1, 3, 3)
    assert by["fc6"].macs == 4608 * 4096


@pytest.mark.parametrize(
    "builder, gmacs, params",
    # torchvision's documented GFLOPS (multiply-adds) and parameter counts at 3 x 16 x 112 x 112
    [(r3d_18, 40.70, 33_371_472), (mc3_18, 43.34, 11_695_440), (r2plus1d_18, 40.52, 31_505_325)],
)
def test_torchvision_totals_match_torchvision_docs(builder, gmacs, params):
    with torch.device("meta"):
        model = builder()
    t = layer_table(model, (3, 16, 112, 112))
    assert round(t.total_macs / 1e9, 2) == gmacs
    assert t.total_params == params
    assert t[-1].output_shape == (400,)


# ---------------------------------------------------- receptive field vs. a gradient reference


def _empirical_rf(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Extent of the input region that the centre output unit depends on (via autograd)."""
    x = torch.rand((1, *shape), dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre = tuple(s // 2 for s in y.shape[2:])
    y[(0, 0, *centre)].backward()
    support = x.grad[0].abs().sum(0) > 0
    extents = []
    for axis in range(support.dim()):
        other = tuple(a for a in range(support.dim()) if a != axis)
        idx = torch.nonzero(support.any(dim=other) if other else support).flatten()
        extents.append(int(idx.max() - idx.min() + 1))
    return tuple(extents)


def _positive(model: nn.Module) -> nn.Module:
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.1)
    return model


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Conv3d(1, 1, 3, padding=1), nn.AvgPool3d(2), nn.Conv3d(1, 1, 3, padding=1)],
        [
            nn.Conv3d(1, 1, (3, 5, 3), dilation=(1, 2, 1)),
            nn.AvgPool3d((1, 3, 2), stride=(1, 2, 2)),
            nn.Conv3d(1, 1, 3, stride=2),
            nn.Conv3d(1, 1, (1, 3, 3), dilation=2),
        ],
        [nn.Conv3d(1, 1, (5, 1, 1)), nn.AvgPool3d(3, stride=1), nn.Conv3d(1, 1, 2, stride=3)],
    ],
)
def test_receptive_field_matches_gradient_support(layers):
    model = _positive(nn.Sequential(*layers))
    shape = (1, 40, 48, 48)
    rows = layer_table(model, shape)
    assert rows[-1].receptive_field == _empirical_rf(model, shape)


class _PerFrame(nn.Module):
    """2D layers applied frame by frame, output back as (N, C, T, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        y = self.body(x.transpose(1, 2).reshape(n * t, c, h, w))
        return y.reshape(n, t, *y.shape[1:]).transpose(1, 2)


def test_per_frame_receptive_field_matches_gradient_support():
    model = _positive(_PerFrame())
    shape = (1, 6, 30, 30)
    rows = layer_table(model, shape)
    assert rows[-1].output_shape == (1, 6, 12, 12)
    assert rows[-1].receptive_field == _empirical_rf(model, shape) == (1, 8, 8)


# --------------------------------------------------------------------- layouts and edge cases


def test_single_frame_reports_per_frame_vectors():
    t = layer_table(single_frame(num_classes=5, channels=(4, 8)), (3, 8, 32, 32))
    by = {r.name: r for r in t}
    assert by["encoder.conv1"].output_shape == (4, 8, 32, 32)
    assert by["gap"].output_shape == (8, 8, 1, 1)
    assert by["fc"].output_shape == (5, 8)  # (classes, T): one prediction per frame
    assert by["fc"].receptive_field == (1, 32, 32)
    assert by["fc"].macs == 8 * 8 * 5


def test_late_fusion_fc_sees_everything():
    m = late_fusion_fc(num_classes=5, channels=(4,), num_frames=4, frame_size=(16, 16))
    by = {r.name: r for r in layer_table(m, (3, 4, 16, 16))}
    assert by["mlp.fc1"].output_shape == (512,)
    assert by["mlp.fc1"].receptive_field == (4, 16, 16)
    assert by["mlp.fc1"].macs == 4 * 4 * 8 * 8 * 512


def test_all_layers_and_totals():
    m = single_frame(num_classes=5, channels=(4,))
    short = layer_table(m, (3, 2, 8, 8))
    full = layer_table(m, (3, 2, 8, 8), all_layers=True)
    assert {r.layer for r in full} >= {"ReLU", "BatchNorm2d", "Dropout"}
    assert "ReLU" not in {r.layer for r in short}
    assert short.total_macs == full.total_macs == sum(r.macs for r in full)
    assert short.total_params == full.total_params == sum(p.numel() for p in m.parameters())
    assert all(isinstance(r, LayerRow) for r in short)


def test_leaf_model_and_state_restored():
    conv = nn.Conv3d(3, 2, 3, padding=1)
    conv.train()
    rows = layer_table(conv, (3, 4, 5, 6))
    assert [r.name for r in rows] == ["input", "Conv3d"]
    assert rows[1].output_shape == (2, 4, 5, 6) and rows[1].macs == 2 * 4 * 5 * 6 * 3 * 27
    assert conv.training and conv.weight.device.type == "cpu"
    assert len(conv._forward_hooks) == 0
    # mixed train / eval submodules (e.g. frozen batch norm) keep their own modes
    m = single_frame(num_classes=3, channels=(4,))
    m.encoder.bn1.eval()
    layer_table(m, (3, 2, 8, 8))
    assert m.training and m.encoder.conv1.training and not m.encoder.bn1.training


def test_bad_arguments():
    m = toy_slow_fusion(num_classes=3)
    with pytest.raises(InputError, match=r"input_shape: expected \(C, T, H, W\), \(C, H, W\) or"):
        layer_table(m, (3, 64, 64, 64, 64))
    with pytest.raises(InputError, match=r"expected shape \(N, 3, T, H, W\), got \(1, 3, 64\)"):
        layer_table(m, (3, 64))  # a point-set shape for a clip model: the model says so
    with pytest.raises(InputError, match=r"expected shape \(N, 3, T, H, W\)"):
        layer_table(m, (3, 64, 64))  # an image shape for a clip model: the model says so
    with pytest.raises(InputError, match=r"input_shape\[1\]"):
        layer_table(m, (3, 0, 64, 64))
    with pytest.raises(InputError, match="model: expected an nn.Module"):
        layer_table("c3d", (3, 16, 112, 112))
    with pytest.raises(InputError, match="all_layers"):
        layer_table(m, LECTURE_INPUT, all_layers="yes")
    with pytest.raises(InputError, match="unit"):
        format_layer_table(layer_table(m, LECTURE_INPUT), unit="K")
    with pytest.raises(InputError, match=r"\(1D\) is not supported"):
        layer_table(_Conv1dOnClip(), (3, 4, 5, 6))
    with pytest.raises(InputError, match=r"forward failed on meta tensors of shape"):
        layer_table(nn.Conv2d(3, 3, 3), (3, 4, 5, 6))


class _Conv1dOnClip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.flatten(2))


def test_format_layer_table(c3d_table):
    text = format_layer_table(c3d_table)
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "size", "RF", "(T", "x", "H", "x", "W)",
                                "GMACs", "params"]
    conv2 = next(line for line in lines if line.startswith("conv2 "))
    assert "128 x 16 x 56 x 56" in conv2 and "11.10" in conv2 and "221,312" in conv2
    assert lines[-1].split() == ["total", "38.55", "79,991,015"]
    small = format_layer_table(layer_table(toy_slow_fusion(num_classes=10), LECTURE_INPUT))
    assert "MMACs" in small.splitlines()[0]
    gap = next(line for line in small.splitlines() if line.startswith("encoder.conv1"))
    assert "79.63" in gap and math.isclose(12 * 20 * 64 * 64 * 81 / 1e6, 79.63, abs_tol=5e-3)
    # plain list of rows (no totals attribute) still formats, summing the rows
    plain = format_layer_table(list(c3d_table), unit="M")
    assert plain.splitlines()[-1].split()[1] == f"{c3d_table.total_macs / 1e6:.2f}"


def test_image_models_reproduce_torchvision_published_costs():
    """2D models take ``(C, H, W)``: torchvision's published GFLOPS (multiply-adds) of AlexNet
    (0.71) and VGG-16 (15.47) at 224², and AlexNet's textbook receptive fields."""
    import torchvision

    with torch.device("meta"):
        alexnet = torchvision.models.alexnet()
        vgg16 = torchvision.models.vgg16()
    a = layer_table(alexnet, (3, 224, 224))
    v = layer_table(vgg16, (3, 224, 224))
    assert round(a.total_macs / 1e9, 2) == 0.71 and round(v.total_macs / 1e9, 2) == 15.47
    assert a.total_params == 61_100_840 and v.total_params == 138_357_544
    conv1 = next(r for r in a if r.name == "features.0")
    assert conv1.output_shape == (64, 55, 55) and conv1.receptive_field == (1, 11, 11)
    assert next(r for r in a if r.name == "features.3").receptive_field == (1, 51, 51)
    text = format_layer_table(a)
    assert "RF (H x W)" in text and "11 x 11" in text
    with pytest.raises(InputError, match=r"read as \(P, D\) points"):
        layer_table(alexnet, (224, 224))


def test_model_layer_table_by_name():
    from spacetime.analysis import model_layer_table, table_model_names

    names = table_model_names()
    assert {"alexnet", "vgg16", "c3d", "voxel-gen", "voxnet", "depth-fcn"} <= set(names)
    c3d_rows = model_layer_table("c3d")
    assert c3d_rows.input_shape == (3, 16, 112, 112)
    assert round(c3d_rows.total_macs / 1e9, 2) == 38.55
    # transposed convolutions: every input element feeds prod(k) outputs per output map
    gen = model_layer_table("voxel-gen", model_kwargs={"latent_dim": 8})
    up = next(r for r in gen if r.layer.startswith("ConvTranspose3d"))
    assert up.macs == (128 * 4 ** 3) * 128 * 4 ** 3  # in_elems (128 x 4³) * C_out * k³
    with pytest.raises(InputError, match="pixel2mesh takes an image, the camera K"):
        model_layer_table("pixel2mesh")
    with pytest.raises(InputError, match="name: expected one of"):
        model_layer_table("resnet-9000")
    with pytest.raises(InputError, match="does not take 'bogus'"):
        model_layer_table("c3d", model_kwargs={"bogus": 1})
    with pytest.raises(InputError, match="alexnet cannot be built"):
        model_layer_table("alexnet", model_kwargs={"bogus": 1})


def test_point_model_receptive_field_is_one_point_until_the_max_pool():
    """PointNet (Qi et al. 2017): the shared MLP sees one point (RF 1 pt), the layers after the
    symmetric max see all P points; MACs of a shared 1x1 conv are P * C_in * C_out."""
    from spacetime.analysis import model_layer_table

    rows = model_layer_table("pointnet", (512, 3))
    assert rows[0].name == "input" and rows[0].output_shape == (512, 3)
    mlp = [r for r in rows if r.name.startswith("mlp.")]
    assert [r.output_shape for r in mlp][-1] == (1024, 512)
    assert all(r.receptive_field == (1, 1, 1) for r in mlp)
    assert mlp[-1].macs == 512 * 128 * 1024
    head = [r for r in rows if r.name.startswith("classifier.")]
    assert head and all(r.receptive_field == (1, 1, 512) for r in head)
    text = format_layer_table(rows)
    assert "RF (points)" in text and "512 pts" in text and "1 pts" in text
    seg = model_layer_table("pointnet-seg")  # tabled without its integer category input
    assert seg[-1].output_shape[1] == 1024 and seg[-1].receptive_field == (1, 1, 1)


def test_several_inputs_two_stream_and_occupancy_network():
    """Two inputs by name: each row's receptive field is measured in the input its data path
    comes from, and ``inputs`` lists every input it depends on (the late fusion: both)."""
    from spacetime.analysis import model_layer_table

    rows = model_layer_table("two-stream", {"rgb": (3, 64, 64), "flow": (10, 64, 64)},
                             model_kwargs={"fusion": "linear"})
    assert rows.inputs == {"rgb": (3, 64, 64), "flow": (10, 64, 64)}
    assert [r.name for r in rows[:2]] == ["input:rgb", "input:flow"]
    conv = {r.name: r for r in rows if r.name.endswith("encoder.conv1")}
    assert conv["spatial.encoder.conv1"].source == "rgb"
    assert conv["temporal.encoder.conv1"].source == "flow"
    assert conv["temporal.encoder.conv1"].params == 10 * 64 * 9  # num_flows=5 from the shape
    fuse = next(r for r in rows if r.name == "fuse_fc")
    assert fuse.inputs == ("rgb", "flow") and fuse.receptive_field == (1, 64, 64)
    text = format_layer_table(rows)
    assert "from" in text.splitlines()[0] and "rgb+flow" in text and "(flow)" in text
    with pytest.raises(InputError, match="takes 2 inputs"):
        model_layer_table("two-stream", (3, 64, 64))
    with pytest.raises(InputError, match="2L channels"):
        model_layer_table("two-stream", {"rgb": (3, 64, 64), "flow": (9, 64, 64)})

    occ = model_layer_table("occnet")
    assert list(occ.inputs) == ["images", "points"]
    decoder = [r for r in occ if r.name.startswith("blocks.0.fc")]
    assert decoder and all(r.inputs == ("images", "points") and r.source == "points"
                           for r in decoder)
    assert all(r.receptive_field == (1, 1, 1) for r in decoder)  # one query point each
    encoder = next(r for r in occ if r.name == "encoder.fc")
    assert encoder.inputs == ("images",) and encoder.receptive_field == (1, 64, 64)


def test_modules_first_imported_while_tabling_keep_cpu_constants():
    """Builders run under ``torch.device("meta")``; a module they import lazily (pointnet-seg
    reads the part names from the procedural shapes) must not create its constants on meta."""
    import subprocess
    import sys

    code = ("from spacetime.analysis import model_layer_table\n"
            "model_layer_table('pointnet-seg')\n"
            "from spacetime.shapes.datasets import procedural\n"
            "assert procedural._RX.device.type == 'cpu', procedural._RX.device\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
