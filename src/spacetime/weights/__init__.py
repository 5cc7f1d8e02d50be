"""Published weights of other projects, converted into spacetime checkpoints (nothing is
downloaded: the user brings the file).

==================  =========================================================================
``--from``          weights
==================  =========================================================================
``c3d-sports1m``    C3D on Sports-1M, the PyTorch port's ``c3d.pickle`` → ``c3d`` (487 classes)
``mmaction2-c3d``   MMAction2's C3D checkpoints (``backbone.conv1a.conv.*``, ``cls_head.*``)
``torchvision``     torchvision ImageNet ResNet / VGG → single-frame / late-fusion-pool /
                    spatial-stream with ``encoder=<arch>``
==================  =========================================================================

::

    from spacetime.weights import convert_weights
    report = convert_weights("c3d.pickle", "c3d-sports1m", "c3d_sports1m.pt")
    print(report)          # model, classes, the input normalisation stored, sha256

    from spacetime.api import load_model, video
    loaded = load_model("c3d_sports1m.pt")                       # no other input
    video.predict(loaded, "clip.mp4").top                          # Sports-1M classes

Each format states what its weights expect (:attr:`WeightFormat.preprocess`: clip length,
frame size, crop, mean / std, colour order); the checkpoint stores it, so ``predict`` and
``evaluate`` apply it. ``docs/weights.md`` lists where to get each file.
"""

from spacetime.weights.convert import (
    FORMATS,
    ConversionReport,
    convert_state_dict,
    convert_weights,
    format_table,
    read_peer_file,
)
from spacetime.weights.formats import Converted, PeerFile, WeightFormat

__all__ = [
    "FORMATS",
    "WeightFormat",
    "PeerFile",
    "Converted",
    "ConversionReport",
    "read_peer_file",
    "convert_state_dict",
    "convert_weights",
    "format_table",
]
