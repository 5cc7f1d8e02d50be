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


def test_shapes_train_starts_from_converted_imagenet_encoder(peer, tmp_path, capsys):
    """``shapes.train(weights=...)`` / ``spacetime shapes train --weights``: the run's model
    takes the converted checkpoint's architecture (``encoder="resnet18"``) and its encoder
    weights; the decoder at another resolution keeps a fresh init and is logged."""
    from spacetime.api import shapes
    from spacetime.cli.main import main
    from spacetime.weights import convert_weights

    src, conv = tmp_path / "r18.pth", tmp_path / "vg.pt"
    torch.save(peer.float().state_dict(), src)
    peer.double()
    convert_weights(src, "torchvision", conv, model="voxel-gen", size=32)
    logs: list[str] = []
    common = dict(categories=["mug"], objects_per_category=2, views=1, image_size=32,
                  voxel_resolution=16, mesh_resolution=16, cache=tmp_path / "cache",
                  epochs=1, max_steps=1, batch_size=2, progress=False, tensorboard=False,
                  device="cpu")
    run = shapes.train("voxel-gen", weights=conv, log=logs.append, **common)
    assert run.spec.model_kwargs["encoder"] == "resnet18"
    # one SGD step moved the weights a little: the trunk still starts from ImageNet's
    w = run.model.encoder.backbone.layer1[0].conv1.weight.detach()
    assert torch.allclose(w, peer.layer1[0].conv1.weight.float(), atol=0.05)
    assert any(line.startswith(f"initial weights: {conv}") and "fresh init" in line
               for line in logs)
    with pytest.raises(InputError, match="holds a voxel-gen model; this run trains occnet"):
        shapes.train("occnet", weights=conv, log=None, **common)
    direct = shapes.train("occnet", weights=src, from_format="torchvision", log=None, **common)
    assert direct.spec.model_kwargs["encoder"] == "resnet18"  # straight from the torchvision file
    with pytest.raises(InputError, match="from_format: needs weights"):
        shapes.train("voxel-gen", from_format="torchvision", log=None, **common)
    assert main(["shapes", "train", "--model", "voxel-gen", "--weights", str(conv),
                 "--categories", "mug", "--objects-per-category", "2", "--views", "1",
                 "--image-size", "32", "--voxel-resolution", "16", "--mesh-resolution", "16",
                 "--cache", str(tmp_path / "cache"), "--epochs", "1", "--max-steps", "1",
                 "--batch-size", "2", "--no-progress", "--device", "cpu",
                 "--out", str(tmp_path / "run")]) == 0
    assert "initial weights:" in capsys.readouterr().out
