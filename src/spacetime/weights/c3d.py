"""C3D weights trained on Sports-1M (Tran et al., "Learning Spatiotemporal Features with 3D
Convolutional Networks", ICCV 2015), in the two layouts people download, onto our
:class:`~spacetime.video.models.C3D` (whose layer names and shapes are the released network's:
eight ``3x3x3`` convs, pool5 padded ``(0, 1, 1)`` to ``512 x 1 x 4 x 4``, fc6 8192 → 4096).

``c3d-sports1m``: the PyTorch port ``c3d.pickle`` (DavideA/c3d-pytorch, a ``torch.save``\\ d state
dict of its ``C3D`` module): ``conv1``, ``conv2``, ``conv3a``/``b``, ``conv4a``/``b``,
``conv5a``/``b`` (``.weight`` ``(C_out, C_in, 3, 3, 3)``, ``.bias``), ``fc6`` ``(4096, 8192)``,
``fc7`` ``(4096, 4096)``, ``fc8`` ``(487, 4096)``: the names are ours, one to one. The port's
``predict.py`` feeds RGB frames with values in ``[0, 255]``, resized to ``112 x 200`` and centre
cropped to ``112 x 112``, 16 frames, no mean subtraction; the 487 outputs are the Sports-1M
classes in the order of its ``labels.txt`` (shipped here as ``sports1m_labels.txt``).

``mmaction2-c3d``: an MMAction2 recogniser checkpoint (``{"meta", "state_dict"}``):
``backbone.conv1a.conv.weight``, ``backbone.conv2a.conv.*``, ``backbone.conv3a.conv.*`` …
``backbone.conv5b.conv.*`` (``ConvModule``), ``backbone.fc6.*``, ``backbone.fc7.*`` and the head
``cls_head.fc_cls.*`` ``(C, 4096)`` (I3DHead, ``spatial_type=None``: dropout then the linear
layer, as our fc8). Its configs read RGB frames (decord), short side 128 (``128 x 171``),
centre crop 112, 16 frames, and subtract ``mean=[104, 117, 128]`` with ``std=[1, 1, 1]`` on the
``[0, 255]`` scale. A file with no classifier (a backbone-only pretrain) is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

from spacetime.errors import FileFormatError
from spacetime.weights.formats import (
    Converted,
    PeerFile,
    WeightFormat,
    check_peer_shape,
    class_names,
)

__all__ = [
    "C3D_FORMATS",
    "SPORTS1M_CLASSES",
    "sports1m_classes",
    "convert_c3d_port",
    "convert_mmaction2_c3d",
]

_CONVS = ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
_MM_CONVS = ("conv1a", "conv2a", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
_INPUT = (16, 112, 112)
#: number of Sports-1M classes
SPORTS1M_CLASSES = 487


def sports1m_classes() -> list[str]:
    """The 487 Sports-1M class names, in the order of the released network's outputs."""
    text = resources.files("spacetime.weights").joinpath("sports1m_labels.txt").read_text(
        encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _c3d_kwargs(peer: PeerFile, conv_keys: Sequence[str], fc_keys: tuple[str, str, str]
                ) -> dict[str, object]:
    """Our builder arguments from the peer's shapes: block widths (the outputs of the five
    ``conv_keys``: conv1, conv2, conv3a, conv4a, conv5a), fc width, classes; pool5 padding from
    fc6's input size."""
    widths = [check_peer_shape(peer, k, rank=5)[0] for k in conv_keys]
    fc6 = check_peer_shape(peer, fc_keys[0], rank=2)
    fc8 = check_peer_shape(peer, fc_keys[2], rank=2)
    c5 = widths[-1]
    by_input = {c5 * 1 * 4 * 4: [0, 1, 1], c5 * 1 * 3 * 3: [0, 0, 0]}
    if fc6[1] not in by_input:
        raise FileFormatError(
            f"{peer.source}: {fc_keys[0]} takes {fc6[1]} inputs; C3D's pool5 gives "
            f"{c5} x 1 x 4 x 4 = {c5 * 16} (the released network) or {c5} x 1 x 3 x 3 = "
            f"{c5 * 9} (unpadded) for 16 x 112 x 112 clips")
    return {"num_classes": fc8[0], "channels": widths, "fc_dim": fc6[0],
            "input_size": list(_INPUT), "pool5_padding": by_input[fc6[1]]}


def convert_c3d_port(
    peer: PeerFile, *, classes: str | os.PathLike | Sequence[str] | None = None
) -> Converted:
    """The PyTorch port's ``c3d.pickle`` → our ``c3d`` (same key names).

    ``classes``: names of the outputs (a list or a text file); default: Sports-1M's 487 when
    the file has 487 outputs, else ``class_000``, ...
    """
    kwargs = _c3d_kwargs(peer, [f"{c}.weight" for c in _CONVS if not c.endswith("b")],
                         ("fc6.weight", "fc7.weight", "fc8.weight"))
    n = int(kwargs["num_classes"])
    names = class_names(classes, n, sports1m_classes() if n == SPORTS1M_CLASSES else None)
    return Converted(kwargs, names, renames=[(f"{k}.", f"{k}.") for k in
                                              (*_CONVS, "fc6", "fc7", "fc8")])


def _mm_classes(peer: PeerFile, n: int) -> list[str] | None:
    """Class names an MMAction2 checkpoint carries (``meta.dataset_meta.classes``), if any."""
    meta = peer.extras.get("meta")
    if isinstance(meta, dict):
        for holder in (meta.get("dataset_meta"), meta):
            if isinstance(holder, dict):
                for key in ("classes", "CLASSES"):
                    got = holder.get(key)
                    if isinstance(got, (list, tuple)) and len(got) == n and all(
                            isinstance(c, str) for c in got):
                        return list(got)
    return None


def convert_mmaction2_c3d(
    peer: PeerFile, *, classes: str | os.PathLike | Sequence[str] | None = None
) -> Converted:
    """An MMAction2 C3D recogniser checkpoint → our ``c3d``.

    Keys with or without the recogniser's ``backbone.`` prefix are read; the classifier is
    ``cls_head.fc_cls`` (or ``fc8`` in a Sports-1M file). ``classes``: names of the outputs;
    default: the names the checkpoint's ``meta`` carries, Sports-1M's for 487 outputs, else
    ``class_000``, ... (pass UCF101's ``classInd.txt`` for the UCF101 model).
    """
    sd = peer.state_dict
    pre = "backbone." if any(k.startswith("backbone.") for k in sd) else ""
    head = next((h for h in ("cls_head.fc_cls", "fc8") if f"{h}.weight" in sd), None)
    if head is None:
        raise FileFormatError(
            f"{peer.source}: no classifier (cls_head.fc_cls.weight or fc8.weight): it holds a "
            f"C3D backbone only ({len(sd)} tensors); spacetime converts whole classifiers")
    kwargs = _c3d_kwargs(peer, [f"{pre}{c}.conv.weight" for c in _MM_CONVS if c.endswith("a")],
                         (f"{pre}fc6.weight", f"{pre}fc7.weight", f"{head}.weight"))
    n = int(kwargs["num_classes"])
    default = _mm_classes(peer, n) or (sports1m_classes() if n == SPORTS1M_CLASSES else None)
    names = class_names(classes, n, default)
    renames = [(f"{pre}{m}.conv.", f"{o}.") for m, o in zip(_MM_CONVS, _CONVS)]
    renames += [(f"{pre}fc6.", "fc6."), (f"{pre}fc7.", "fc7."), (f"{head}.", "fc8.")]
    notes = []
    if classes is None and default is None:
        notes.append(f"class names: the file names none; pass classes=FILE (e.g. UCF101's "
                     f"classInd.txt) for the names of the {n} outputs")
    return Converted(kwargs, names, renames=renames, notes=notes)


_PORT_PRE = {"kind": "crop", "frames": 16, "size": 112, "resize_to": 112,
             "mean": [0.0, 0.0, 0.0], "std": [1 / 255] * 3}
_MM_PRE = {"kind": "crop", "frames": 16, "size": 112, "resize_to": 128,
           "mean": [104 / 255, 117 / 255, 128 / 255], "std": [1 / 255] * 3}

#: the C3D entries of :data:`spacetime.weights.FORMATS`
C3D_FORMATS = {
    "c3d-sports1m": WeightFormat(
        name="c3d-sports1m",
        description="C3D trained on Sports-1M, the PyTorch port's c3d.pickle "
                    "(DavideA/c3d-pytorch; 487 classes)",
        family="video", model="c3d", converter=convert_c3d_port, preprocess=_PORT_PRE,
        source="http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle "
               "(linked from https://github.com/DavideA/c3d-pytorch)",
        expects="RGB in [0, 255], no mean subtraction; 16 frames; short side 112, centre "
                "crop 112 x 112 (the port's predict.py)"),
    "mmaction2-c3d": WeightFormat(
        name="mmaction2-c3d",
        description="C3D checkpoint of MMAction2 (backbone.conv1a.conv.* ... "
                    "cls_head.fc_cls.*), e.g. Sports-1M-pretrained, fine-tuned on UCF101",
        family="video", model="c3d", converter=convert_mmaction2_c3d, preprocess=_MM_PRE,
        source="https://download.openmmlab.com/mmaction/recognition/c3d/"
               "c3d_sports1m_16x1x1_45e_ucf101_rgb/"
               "c3d_sports1m_16x1x1_45e_ucf101_rgb_20201021-26655025.pth "
               "(configs/recognition/c3d in open-mmlab/mmaction2)",
        expects="RGB, mean [104, 117, 128], std [1, 1, 1] on [0, 255]; 16 frames; short side "
                "128 (128 x 171), centre crop 112 x 112"),
}
