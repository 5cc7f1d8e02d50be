"""torchvision's ImageNet classifiers (ResNet-18 … 152, He et al. CVPR 2016; VGG-11 … 19 with
and without batch norm, Simonyan & Zisserman ICLR 2015) as the frame encoder and head of our
2D-per-frame video models.

The file is a state dict saved by ``torch.save(model.state_dict())`` (what torchvision's
``weights=`` downloads land as, e.g. ``resnet18-f37072fd.pth`` in ``~/.cache/torch/hub/
checkpoints``); the architecture is recognised from its key set. The models built for it take
``encoder=<arch>`` (:mod:`spacetime.video.models.image_encoders`), which lays torchvision's
modules out under ``encoder.``:

==================  =========================================  ==============================
torchvision key     ours                                       note
==================  =========================================  ==============================
``conv1.*`` …       ``encoder.conv1.*`` … ``encoder.layer4.*``  ResNet body
``layer4.*``
``fc.*``            ``fc.*``                                    ResNet head (1000 classes)
``features.*``      ``encoder.features.*``                      VGG convolutions
``classifier.0/3``  ``encoder.classifier.0/3``                  VGG fc6 / fc7
``classifier.6``    ``fc.*``                                    VGG fc8 (1000 classes)
==================  =========================================  ==============================

Target models (``model=``): ``single-frame`` (the default: each frame classified, the
probabilities averaged, Karpathy et al. 2014), ``late-fusion-pool`` (frame features averaged
over time, then the ImageNet head) and ``spatial-stream`` (the middle frame of a clip, the
two-stream network's appearance stream) and ``two-stream`` (family ``two-stream``: the spatial
stream takes the weights as they are, the temporal stream by the cross-modality initialisation
of Wang et al., "Temporal Segment Networks", ECCV 2016: the first conv's weights averaged over
the RGB channels and replicated to the ``2L`` flow channels, every other layer copied). Models
whose first layer or head has no ImageNet counterpart are refused: ``late-fusion-fc`` (an MLP
over all frames' maps), ``early-fusion`` (a ``3T``-channel first conv), ``temporal-stream``
alone, ``slow-fusion`` / ``c3d`` / video ResNets (3D convolutions) and the image → 3D shape
models without a global-code image encoder (``depth-fcn``, ``normal-fcn``, ``pixel2mesh``).

Shape models (family ``shapes``; ResNets only): ``voxel-gen``, ``voxel-tubes``, ``point-gen``,
``occnet``, ``matryoshka`` and ``octree-gen`` with ``encoder=<arch>``
(:class:`~spacetime.shapes.models.ResNetImageEncoder`) take the trunk as ``encoder.backbone.*``;
the ImageNet ``fc`` is ignored, our ``encoder.fc`` and decoder keep their random initialisation,
and the ImageNet normalisation runs inside the encoder (shape checkpoints have no input
normalisation of their own).

Inputs: RGB in ``[0, 1]`` normalised by the ImageNet mean ``(0.485, 0.456, 0.406)`` and std
``(0.229, 0.224, 0.225)``; frames resized to short side 256 and centre cropped to 224 (the
ImageNet evaluation recipe); 1000 classes in torchvision's order (names from torchvision).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import torch

from spacetime.checks import check_in, check_int
from spacetime.errors import InputError
from spacetime.weights.formats import (
    Converted,
    PeerFile,
    WeightFormat,
    class_names,
    our_key_for,
)

__all__ = [
    "TORCHVISION_FORMATS",
    "TORCHVISION_TARGETS",
    "SHAPE_TARGETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "torchvision_architecture",
    "convert_torchvision",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: our models that host a torchvision ImageNet classifier exactly
#: image → 3D shape models whose global image encoder can be a torchvision ResNet trunk
SHAPE_TARGETS = ("voxel-gen", "voxel-tubes", "point-gen", "occnet", "matryoshka",
                 "octree-gen")
#: the parts of each shape target that keep their random initialisation (besides encoder.fc)
_SHAPE_DECODERS = {
    "voxel-gen": ("fc.*", "decoder.*", "head.*"),
    "voxel-tubes": ("fc.*", "decoder.*", "head.*"),
    "point-gen": ("decoder.*",),
    "occnet": ("fc_p.*", "blocks.*", "bn_out.*", "fc_out.*"),
    "matryoshka": ("fc.*", "decoder.*", "head.*"),
    "octree-gen": ("fc.*", "base.*", "heads.*", "up.*"),
}
TORCHVISION_TARGETS = ("single-frame", "late-fusion-pool", "spatial-stream", "two-stream",
                       *SHAPE_TARGETS)
_REFUSED = {
    "late-fusion-fc": "its head is an MLP over every frame's feature map",
    "early-fusion": "its first conv takes 3T channels (all frames stacked)",
    "temporal-stream": "it reads 2L-channel optical-flow stacks (convert onto two-stream, "
                       "whose temporal stream gets the cross-modality initialisation)",
    "slow-fusion": "it is a 3D CNN",
    "c3d": "it is a 3D CNN (use --from c3d-sports1m or mmaction2-c3d)",
    "depth-fcn": "its encoder-decoder needs full-resolution skip features, not a ResNet trunk",
    "normal-fcn": "its encoder-decoder needs full-resolution skip features, not a ResNet trunk",
    "pixel2mesh": "it pools multi-scale VGG-16-style features at projected vertices",
}


@functools.cache
def _key_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """torchvision ``arch``'s state-dict keys and shapes (built on the meta device)."""
    import torch
    import torchvision

    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(weights=None)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def torchvision_architecture(peer: PeerFile) -> str:
    """The torchvision architecture whose key set the file has (``resnet18``, ``vgg16_bn``,
    ...): the exact match, else the closest one (the conversion then lists the differences)."""
    from spacetime.video.models.image_encoders import IMAGE_ENCODERS

    keys = set(peer.state_dict)
    best, score = IMAGE_ENCODERS[1], -1.0
    for arch in IMAGE_ENCODERS[1:]:
        theirs = set(_key_shapes(arch))
        if theirs == keys:
            return arch
        jaccard = len(theirs & keys) / max(1, len(theirs | keys))
        if jaccard > score:
            best, score = arch, jaccard
    return best


def _imagenet_classes() -> list[str] | None:
    try:  # torchvision ships the 1000 names with its weight enums
        from torchvision.models._meta import _IMAGENET_CATEGORIES
    except ImportError:  # pragma: no cover - private module moved
        return None
    return list(_IMAGENET_CATEGORIES)


def convert_torchvision(
    peer: PeerFile,
    *,
    model: str = "single-frame",
    frames: int = 16,
    size: int = 224,
    classes: str | os.PathLike | Sequence[str] | None = None,
    num_flows: int | None = None,
    flow_method: str | None = None,
    fusion: str | None = None,
) -> Converted:
    """A torchvision ImageNet ResNet / VGG state dict → ``model`` with ``encoder=<arch>``.

    Args:
        model: ``single-frame``, ``late-fusion-pool``, ``spatial-stream`` or ``two-stream``.
        frames: clip length ``T`` stored in the preprocessing (frames read per clip; a
            two-stream model reads ``num_flows + 1``).
        size: crop size (default 224; the short side is resized to ``size * 256 / 224``).
        classes: output names (default: torchvision's ImageNet names for 1000 outputs).
        num_flows, flow_method, fusion: ``two-stream`` only (else an :class:`InputError`):
            ``L`` (default 10; the temporal stream's first conv takes ``2L`` channels), the
            flow estimator used at inference (default ``dis``) and the fusion (``average``).
    """
    two = {"num_flows": num_flows, "flow_method": flow_method, "fusion": fusion}
    if model == "two-stream":
        return _two_stream(peer, size, classes, 10 if num_flows is None else num_flows,
                           flow_method or "dis", fusion or "average")
    given = sorted(k for k, v in two.items() if v is not None)
    if given:
        raise InputError(f"{', '.join(given)}: two-stream options; model is {model!r}")
    if model in SHAPE_TARGETS:
        return _shape_model(peer, model, size)
    if model not in TORCHVISION_TARGETS:
        why = _REFUSED.get(model, "it has no ResNet / VGG-shaped 2D RGB encoder")
        raise InputError(f"model: torchvision ImageNet weights cannot be mapped onto {model!r} "
                         f"({why}); they fit {', '.join(TORCHVISION_TARGETS)}")
    check_int(frames, "frames", min_value=1)
    check_int(size, "size", min_value=32)
    arch = torchvision_architecture(peer)
    head = "fc" if arch.startswith("resnet") else "classifier.6"
    shape = peer.shape(f"{head}.weight")
    default_n = _key_shapes(arch)[f"{head}.weight"][0]
    n = shape[0] if shape is not None and len(shape) == 2 else default_n
    names = class_names(classes, int(n), _imagenet_classes() if n == 1000 else None)
    if head == "fc":
        renames = [("fc.", "fc."), ("", "encoder.")]
    else:
        renames = [("classifier.6.", "fc."), ("features.", "encoder.features."),
                   ("classifier.", "encoder.classifier.")]
    pre = {"kind": "crop", "frames": int(frames), "size": int(size),
           "resize_to": round(size * 256 / 224), "mean": list(IMAGENET_MEAN),
           "std": list(IMAGENET_STD)}
    return Converted({"num_classes": int(n), "encoder": arch}, names, renames, model=model,
                     preprocess=pre, notes=[f"architecture: torchvision {arch}"])


def _shape_model(peer: PeerFile, model: str, size: int) -> Converted:
    """A torchvision ResNet's trunk as the image encoder of a global-code shape model
    (``encoder=<arch>``); the ImageNet ``fc`` is dropped, everything else of ours (the encoder's
    ``fc`` to the code, the decoder) stays randomly initialised."""
    arch = torchvision_architecture(peer)
    if not arch.startswith("resnet"):
        raise InputError(f"model: {model} takes a torchvision ResNet trunk (resnet18 ... "
                         f"resnet152) as its image encoder; the file holds {arch}")
    from spacetime.shapes.models.tasks import MODEL_TASKS

    pre = {"image_size": int(size), "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
           "normalised_by": "model"}
    notes = [f"architecture: torchvision {arch} trunk (conv1 ... layer4) as {model}'s "
             "encoder.backbone; the ImageNet classifier fc is ignored",
             "randomly initialised: encoder.fc (trunk features -> code) and the decoder; "
             "ImageNet mean / std are applied inside the model (inputs: RGB in [0, 1])"]
    return Converted({"encoder": arch, "image_size": int(size)}, [],
                     [("", "encoder.backbone.")], model=model, preprocess=pre,
                     family="shapes", ignore=["fc.*"], notes=notes,
                     keep_init=["encoder.fc.*", *_SHAPE_DECODERS[model]],
                     options={"task": MODEL_TASKS[model], "use_gt_depth": True})


def _two_stream(peer: PeerFile, size: int, classes: Any, num_flows: int, flow_method: str,
                fusion: str) -> Converted:
    """Both streams of ``two-stream`` from one ImageNet classifier: the spatial stream takes
    it as is, the temporal stream by cross-modality initialisation (Wang et al., ECCV 2016)."""
    from spacetime.video.flow.estimate import FLOW_METHODS

    check_int(num_flows, "num_flows", min_value=1)
    check_in(fusion, "fusion", ("average", "linear"))
    check_in(flow_method, "flow_method", tuple(FLOW_METHODS))
    base = convert_torchvision(peer, model="spatial-stream", frames=num_flows + 1, size=size,
                               classes=classes)
    arch = base.model_kwargs["encoder"]
    first = "conv1.weight" if arch.startswith("resnet") else "features.0.weight"
    tensors = dict(peer.state_dict)
    tensors.update({f"temporal.{k}": v for k, v in peer.state_dict.items()})
    renames = [(f"temporal.{a}", f"temporal.{b}") for a, b in base.renames]
    renames += [(a, f"spatial.{b}") for a, b in base.renames]
    ours_first = f"temporal.{our_key_for(first, base.renames)}"

    def cross_modality(w: torch.Tensor) -> torch.Tensor:  # (O, 3, k, k) -> (O, 2L, k, k)
        if w.dim() != 4:
            return w  # mis-shaped: reported by the key check
        return w.mean(dim=1, keepdim=True).expand(-1, 2 * num_flows, -1, -1).contiguous()

    kwargs = {**base.model_kwargs, "num_flows": int(num_flows), "fusion": fusion}
    options = {"num_flows": int(num_flows), "flow_method": flow_method, "flow_dir": None,
               "fusion": fusion}
    note = (f"temporal stream: cross-modality initialisation (Wang et al. 2016, TSN): "
            f"{first} averaged over RGB and replicated to {2 * num_flows} flow channels, every "
            "other layer copied; spatial stream: the ImageNet weights as they are")
    transforms = {ours_first: cross_modality}
    return Converted(kwargs, base.classes, renames, model="two-stream",
                     preprocess=base.preprocess, family="two-stream", options=options,
                     tensors=tensors, transforms=transforms, notes=[*base.notes, note])


_TV_PRE = {"kind": "crop", "frames": 16, "size": 224, "resize_to": 256,
           "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}

#: the torchvision entry of :data:`spacetime.weights.FORMATS`
TORCHVISION_FORMATS = {
    "torchvision": WeightFormat(
        name="torchvision",
        description="torchvision ImageNet classifier state dict (resnet18 ... resnet152, "
                    "vgg11 ... vgg19_bn) as the frame encoder + head of single-frame / "
                    "late-fusion-pool / spatial-stream / two-stream (temporal stream: "
                    "cross-modality init), or the ResNet trunk of voxel-gen / voxel-tubes / "
                    "point-gen / occnet / matryoshka / octree-gen",
        family="video", model="single-frame", converter=convert_torchvision,
        preprocess=_TV_PRE,
        source="https://download.pytorch.org/models/resnet18-f37072fd.pth (and the other "
               "URLs in torchvision's weight enums, e.g. ResNet18_Weights.IMAGENET1K_V1.url)",
        expects="RGB in [0, 1], ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, "
                "0.225); short side 256, centre crop 224; any clip length"),
}
