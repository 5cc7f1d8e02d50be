"""torchvision ImageNet ResNet trunks as the image encoder of the global-code image → 3D shape
models (``encoder="resnet18"``): torchvision's own resnet18 is the peer (random weights)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from spacetime.errors import InputError
from spacetime.shapes.models import SHAPE_MODEL_BUILDERS, shape_task
from spacetime.weights import convert_state_dict
from tests.weights.test_torchvision import _assert_close, _peer

MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)


def _trunk(peer: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """torchvision's resnet up to the global average pool on ImageNet-normalised images."""
    body = torch.nn.Sequential(*list(peer.children())[:-1])  # drop fc
    return body((images - MEAN) / STD).flatten(1)


@pytest.fixture(scope="module")
def peer():
    return _peer("resnet18", seed=11)


def test_voxel_gen_encoder_is_torchvision_trunk(peer):
    model, meta, notes = convert_state_dict(peer.state_dict(), "torchvision", model="voxel-gen",
                                            size=64)
    assert meta["family"] == "shapes" and meta["model"] == "voxel-gen"
    assert meta["model_kwargs"]["encoder"] == "resnet18"
    assert meta["model_kwargs"]["image_size"] == 64
    assert meta["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    assert meta["preprocess"]["normalised_by"] == "model"
    assert meta["options"]["task"] == "voxels"
    assert any("ignored 2 tensors (fc.weight, fc.bias)" in n for n in notes)
    assert any("randomly initialised" in n for n in notes)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(12))
    enc = model.double().encoder
    with torch.no_grad():  # the trunk (normalisation inside) equals torchvision's
        _assert_close(enc.trunk(images).mean(dim=(2, 3)), _trunk(peer, images))
        code = torch.relu(enc.fc(_trunk(peer, images)))
        _assert_close(enc(images), code)
        assert model(images).shape == (2, 32, 32, 32)


def test_occnet_converts_trains_one_step_and_reloads(peer, tmp_path):
    from spacetime.api import load_model
    from spacetime.weights import convert_weights

    src = tmp_path / "r18.pth"
    torch.save(peer.float().state_dict(), src)
    peer.double()
    report = convert_weights(src, "torchvision", tmp_path / "occ.pt", model="occnet", size=64)
    assert report.family == "shapes" and report.model == "occnet"
    loaded = load_model(tmp_path / "occ.pt", device="cpu")
    model = loaded.model
    assert loaded.spec.model_kwargs["encoder"] == "resnet18"
    torch.testing.assert_close(model.encoder.backbone.layer4[1].conv2.weight,
                               peer.layer4[1].conv2.weight.float())
    g = torch.Generator().manual_seed(13)
    batch = {"image": torch.rand(2, 3, 64, 64, generator=g),
             "occ_points": torch.rand(2, 64, 3, generator=g) - 0.5,
             "occ_labels": (torch.rand(2, 64, generator=g) > 0.5).float()}
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = model.fc_out.weight.detach().clone()
    loss, _ = shape_task("occnet")(model, batch)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.fc_out.weight)


def test_shape_model_encoder_options():
    with pytest.raises(InputError, match="conv-stack encoder only"):
        SHAPE_MODEL_BUILDERS["voxel-gen"](encoder="resnet18", encoder_widths=(8, 16))
    with pytest.raises(InputError, match="encoder"):
        SHAPE_MODEL_BUILDERS["occnet"](encoder="vgg11")
    with torch.device("meta"):
        vgg = torchvision.models.vgg11(weights=None).state_dict()
    with pytest.raises(InputError, match="ResNet trunk"):
        convert_state_dict(dict(vgg), "torchvision", model="point-gen")
    with pytest.raises(InputError, match="multi-scale"):
        convert_state_dict(_peer("resnet18").state_dict(), "torchvision", model="pixel2mesh")


@pytest.mark.parametrize("target", ["voxel-tubes", "point-gen", "matryoshka", "octree-gen"])
def test_other_global_code_models_take_the_trunk(peer, target):
    model, meta, _ = convert_state_dict(peer.state_dict(), "torchvision", model=target, size=64)
    assert meta["model_kwargs"]["encoder"] == "resnet18"
    torch.testing.assert_close(model.encoder.backbone.conv1.weight, peer.conv1.weight.float())
