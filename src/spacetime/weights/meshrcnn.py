"""Mesh R-CNN's released checkpoints (facebookresearch/meshrcnn; Gkioxari, Malik & Johnson,
"Mesh R-CNN", ICCV 2019) → our Mesh R-CNN (:mod:`spacetime.shapes.models.mesh_rcnn`).

Two variants:

- ``"pix3d"``: the detectron2 model of ``configs/pix3d/meshrcnn_R50_FPN.yaml``
  (``meshrcnn_R50.pth``, ``meshrcnn_S2_R50.pth``): ResNet-50-FPN backbone (MSRA, stride in the
  1×1 convolutions, FrozenBN), RPN, box / mask heads, voxel head, mesh head, z head →
  :func:`~spacetime.shapes.models.mesh_rcnn.mesh_rcnn` (``backbone="resnet50-fpn"``) with the
  options :func:`convert_meshrcnn_detectron2` returns.
- ``"shapenet"``: the single-object model of ``configs/shapenet/voxmesh_R50.yaml``
  (``voxmesh_R50.pth``): torchvision ResNet-50 trunk + voxel head + mesh head →
  :func:`~spacetime.shapes.models.mesh_rcnn.mesh_rcnn_single` (``encoder="resnet50"``).

The renames are the regular expressions of :data:`MESHRCNN_KEY_MAP` (peer key → ours); the
value transforms are few and named in :func:`convert_meshrcnn_detectron2`'s docstring. Files
are read by :func:`read_detectron2_checkpoint` without running any code from them.

The returned builder arguments also set the geometry Mesh R-CNN works in: depth slices
uniform in 1 / Z (``depth_mode="inverse"``: its Pix3D unit box is a projective map of the
object's frustum, its ShapeNet voxels are in Blender's NDC), PyTorch3D's ``"topleft"`` cubify
corners, and for Pix3D meshes refined in the box's normalised space (``mesh_frame="box"``).
Every converted part is checked in float64 against re-implementations of the peer's layers
(``tests/weights/test_meshrcnn_weights.py``), the ShapeNet model end to end (image → voxels →
cubified mesh → three refinement stages).

What is *not* reproduced (``meta["not_converted"]``): our centre-depth head (``depth_head.*``)
has no counterpart in Mesh R-CNN, which predicts only the depth extent (its Pix3D evaluation
takes the centre depth from the ground truth) — it stays randomly initialised; grids with no
voxel above the threshold keep their most likely voxel (Mesh R-CNN: an empty mesh on Pix3D, a
filled central block on ShapeNet); detectron2's image resizing (PIL, on uint8) and its RPN /
NMS post-processing are torchvision's here, so detections can differ slightly.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from spacetime.errors import FileFormatError, InputError, MissingFileError

__all__ = [
    "MESHRCNN_KEY_MAP",
    "MESHRCNN_IGNORED",
    "DETECTRON2_PIXEL_MEAN_BGR",
    "SHAPENET_DEPTH_RANGE",
    "meshrcnn_key",
    "read_detectron2_checkpoint",
    "convert_meshrcnn_detectron2",
    "build_meshrcnn_model",
    "PIX3D_CLASSES",
    "MESHRCNN_FORMATS",
]

#: camera depths of Mesh R-CNN's ShapeNet voxel grid: Blender NDC z 0.67 … 0.92
#: (``shapenet/utils/coords.py``), ``Z = 0.2002002 / (1.002002 − z_ndc)``
SHAPENET_DEPTH_RANGE = (0.2002002 / (1.002002 - 0.67), 0.2002002 / (1.002002 - 0.92))

#: detectron2's default ``MODEL.PIXEL_MEAN`` (BGR, 0-255 pixel values; ``PIXEL_STD`` 1, 1, 1)
DETECTRON2_PIXEL_MEAN_BGR = (103.530, 116.280, 123.675)


def _stage_rules(prefix: str, ours: str) -> list[tuple[str, str]]:
    """detectron2 ResNet stages ``res2..res5`` → torchvision ``layer1..layer4``."""
    rules = []
    for r in (2, 3, 4, 5):
        d, o = f"{prefix}res{r}\\.(\\d+)\\.", f"{ours}layer{r - 1}.\\1."
        rules += [
            (d + r"conv([123])\.weight", o + r"conv\2.weight"),
            (d + r"conv([123])\.norm\.(weight|bias|running_mean|running_var)", o + r"bn\2.\3"),
            (d + r"shortcut\.weight", o + "downsample.0.weight"),
            (d + r"shortcut\.norm\.(weight|bias|running_mean|running_var)",
             o + r"downsample.1.\2"),
        ]
    return rules


_WB = r"(weight|bias)"

#: peer key (regular expression, matched in full) → our key (``re`` template), per variant.
#: The first matching rule wins; a key matching none is "unexpected" unless it matches
#: :data:`MESHRCNN_IGNORED`.
def _voxel_mesh_head_rules(prefix: str, offset: str) -> list[tuple[str, str]]:
    """The voxel and mesh heads' rules, the same in both variants but for the peer's key prefix
    (``roi_heads.`` in the detector) and the name of the vertex-offset layer."""
    return [
        # voxel head: voxel_fcn1..K (conv + ReLU in a Sequential), deconv, predictor
        *[(rf"{prefix}voxel_head\.voxel_fcn{k}\.{_WB}", f"voxel_head.convs.{2 * (k - 1)}"
           r".\1") for k in range(1, 9)],
        (rf"{prefix}voxel_head\.deconv\.{_WB}", r"voxel_head.up.\1"),
        (rf"{prefix}voxel_head\.predictor\.{_WB}", r"voxel_head.predictor.\1"),
        # mesh head: per stage bottleneck, graph convolutions, vertex offsets
        (rf"{prefix}mesh_head\.stages\.(\d+)\.bottleneck\.{_WB}",
         r"mesh_head.stages.\1.bottleneck.\2"),
        (rf"{prefix}mesh_head\.stages\.(\d+)\.gconvs\.(\d+)\.w([01])\.{_WB}",
         r"mesh_head.stages.\1.convs.\2.w\3.\4"),
        (rf"{prefix}mesh_head\.stages\.(\d+)\.{offset}\.{_WB}",
         r"mesh_head.stages.\1.refine.linear.\2"),
    ]


MESHRCNN_KEY_MAP: dict[str, tuple[tuple[str, str], ...]] = {
    "pix3d": tuple(
        [
            # ResNet-50 (detectron2 "bottom_up", FrozenBN "norm") → torchvision's, in MaskRCNN
            (r"backbone\.bottom_up\.stem\.conv1\.weight", "detector.backbone.body.conv1.weight"),
            (r"backbone\.bottom_up\.stem\.conv1\.norm\.(weight|bias|running_mean|running_var)",
             r"detector.backbone.body.bn1.\1"),
            *_stage_rules(r"backbone\.bottom_up\.", "detector.backbone.body."),
            # FPN: lateral (1×1) and output (3×3) convolutions of p2..p5
            *[(rf"backbone\.fpn_lateral{k}\.{_WB}", f"detector.backbone.fpn.inner_blocks.{k - 2}"
               r".0.\1") for k in (2, 3, 4, 5)],
            *[(rf"backbone\.fpn_output{k}\.{_WB}", f"detector.backbone.fpn.layer_blocks.{k - 2}"
               r".0.\1") for k in (2, 3, 4, 5)],
            # RPN head
            (rf"proposal_generator\.rpn_head\.conv\.{_WB}", r"detector.rpn.head.conv.0.0.\1"),
            (rf"proposal_generator\.rpn_head\.objectness_logits\.{_WB}",
             r"detector.rpn.head.cls_logits.\1"),
            (rf"proposal_generator\.rpn_head\.anchor_deltas\.{_WB}",
             r"detector.rpn.head.bbox_pred.\1"),
            # box head (2 FC) and predictor (background class moved first, see transforms)
            (rf"roi_heads\.box_head\.fc1\.{_WB}", r"detector.roi_heads.box_head.fc6.\1"),
            (rf"roi_heads\.box_head\.fc2\.{_WB}", r"detector.roi_heads.box_head.fc7.\1"),
            (rf"roi_heads\.box_predictor\.cls_score\.{_WB}",
             r"detector.roi_heads.box_predictor.cls_score.\1"),
            (rf"roi_heads\.box_predictor\.bbox_pred\.{_WB}",
             r"detector.roi_heads.box_predictor.bbox_pred.\1"),
            # mask head: 4 conv 3×3, deconv, 1×1 predictor
            *[(rf"roi_heads\.mask_head\.mask_fcn{k}\.{_WB}",
               f"detector.roi_heads.mask_head.{k - 1}" r".0.\1") for k in (1, 2, 3, 4)],
            (rf"roi_heads\.mask_head\.deconv\.{_WB}",
             r"detector.roi_heads.mask_predictor.conv5_mask.\1"),
            (rf"roi_heads\.mask_head\.predictor\.{_WB}",
             r"detector.roi_heads.mask_predictor.mask_fcn_logits.\1"),
            *_voxel_mesh_head_rules(r"roi_heads\.", "verts_offset"),
            # z head
            *[(rf"roi_heads\.z_head\.z_fc{k}\.{_WB}", f"z_head.fcs.{k - 1}" r".\1")
              for k in range(1, 9)],
            (rf"roi_heads\.z_head\.z_pred\.{_WB}", r"z_head.pred.\1"),
        ]
    ),
    "shapenet": tuple(
        [
            (r"backbone\.stem\.0\.weight", "encoder.body.conv1.weight"),
            (r"backbone\.stem\.1\.(weight|bias|running_mean|running_var|num_batches_tracked)",
             r"encoder.body.bn1.\1"),
            (r"backbone\.stage([1234])\.(.+)", r"encoder.body.layer\1.\2"),
            *_voxel_mesh_head_rules("", "vert_offset"),
        ]
    ),
}

#: peer keys read but not converted (buffers our models rebuild), per variant
MESHRCNN_IGNORED: dict[str, tuple[str, ...]] = {
    "pix3d": (r"pixel_mean", r"pixel_std",
              r"proposal_generator\.anchor_generator\.cell_anchors\.\d+"),
    "shapenet": (r"K",),
}

_COMPILED = {v: [(re.compile(p), t) for p, t in rules] for v, rules in MESHRCNN_KEY_MAP.items()}


def meshrcnn_key(key: str, variant: str = "pix3d") -> str | None:
    """Our key for the peer's ``key`` (``None``: no rule matches)."""
    _check_variant(variant)
    for pat, tmpl in _COMPILED[variant]:
        m = pat.fullmatch(key)
        if m:
            return m.expand(tmpl)
    return None


def _check_variant(variant: str) -> None:
    if variant not in MESHRCNN_KEY_MAP:
        raise InputError(f"variant: expected one of {sorted(MESHRCNN_KEY_MAP)}, got {variant!r}")


# ================================================================================= reading


class _NumpyUnpickler(pickle.Unpickler):
    """Rebuilds plain containers and numpy arrays only; any other global is refused before it
    is imported (so no code named by the file runs)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def _to_tensor(value: Any, key: str, source: str) -> torch.Tensor:
    import numpy as np

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind not in "fiub":
            raise FileFormatError(f"{source}: {key!r} is a numpy array of dtype {value.dtype}, "
                                  "expected a numeric array")
        return torch.from_numpy(np.ascontiguousarray(value))
    raise FileFormatError(f"{source}: {key!r} is a {type(value).__name__}, expected a tensor or "
                          "a numpy array")


def _unwrap(obj: Any, source: str) -> Mapping[str, Any]:
    """The state dict inside a detectron2 / Mesh R-CNN checkpoint."""
    if not isinstance(obj, Mapping):
        raise FileFormatError(f"{source}: expected a dict, got {type(obj).__name__}")
    if "blobs" in obj and "model" not in obj:
        raise FileFormatError(f"{source}: a Caffe2 Detectron1 'blobs' file; only detectron2 "
                              "checkpoints ({'model': ...}) are supported")
    if "best_states" in obj and isinstance(obj["best_states"], Mapping):  # ShapeNet trainer
        obj = obj["best_states"]
    for key in ("model", "state_dict"):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    return obj


def read_detectron2_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a detectron2 / Mesh R-CNN checkpoint → ``{name: tensor}`` (CPU), running no code
    from the file.

    - ``.pth`` / ``.pt``: ``torch.load(weights_only=True)``; the state dict is taken from
      ``"model"`` (detectron2's ``DetectionCheckpointer``), ``"best_states"["model"]`` (Mesh
      R-CNN's ShapeNet trainer) or ``"state_dict"``; a ``module.`` prefix (DataParallel) is
      removed.
    - ``.pkl``: a pickle of ``{"model": {name: numpy array}, "__author__": ...}`` (detectron2's
      model zoo, read as detectron2 does with ``encoding="latin1"``) through an unpickler that
      only rebuilds numpy arrays, dtypes and plain containers; anything else is refused.

    Raises:
        MissingFileError: no such file. FileFormatError: unreadable, not a checkpoint, or the
        pickle names a global outside the whitelist (the error names it).
    """
    from spacetime.fileio import read_file_bytes

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{os.fspath(path)}: no such file")
    src = os.fspath(path)
    data = read_file_bytes(p)
    if p.suffix.lower() == ".pkl":
        try:
            obj = _NumpyUnpickler(io.BytesIO(data), encoding="latin1").load()
        except pickle.UnpicklingError as exc:
            msg = str(exc)
            if msg.startswith("refused global"):
                raise FileFormatError(
                    f"{src}: refused: the pickle names {msg[len('refused global '):]!r}; only "
                    "numpy arrays and plain containers are read from .pkl checkpoints (nothing "
                    "from the file was run)") from None
            raise FileFormatError(f"{src}: not a readable pickle ({msg})") from None
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                ImportError, MemoryError) as exc:
            raise FileFormatError(f"{src}: not a readable pickle ({type(exc).__name__}: "
                                  f"{exc})") from None
    else:
        try:
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError,
                TypeError, AttributeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FileFormatError(f"{src}: not a torch checkpoint readable with "
                                  f"weights_only=True ({first})") from None
    state = _unwrap(obj, src)
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if not isinstance(k, str):
            raise FileFormatError(f"{src}: expected string keys, got {k!r}")
        name = k
        while name.startswith("module."):
            name = name[len("module."):]
        out[name] = _to_tensor(v, k, src)
    if not out:
        raise FileFormatError(f"{src}: the checkpoint holds no tensors")
    return out


# ================================================================================ converting


def _shape(sd: Mapping[str, torch.Tensor], key: str, rank: int) -> tuple[int, ...]:
    if key not in sd:
        raise InputError(f"state_dict: missing {key!r}, needed to infer the architecture")
    s = tuple(sd[key].shape)
    if len(s) != rank:
        raise InputError(f"state_dict: {key!r} expected rank {rank}, got shape {s}")
    return s


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.fullmatch(k)] if m})


def _infer_pix3d(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    k1 = _shape(sd, "roi_heads.box_predictor.cls_score.weight", 2)[0]
    num_classes = k1 - 1
    if num_classes < 1:
        raise InputError(f"state_dict: roi_heads.box_predictor.cls_score.weight has {k1} rows, "
                         "expected >= 2 (classes + background)")
    box = _shape(sd, "roi_heads.box_predictor.bbox_pred.weight", 2)[0]
    if box != 4 * num_classes:
        raise InputError(f"state_dict: roi_heads.box_predictor.bbox_pred.weight expected "
                         f"{4 * num_classes} rows (class-specific boxes), got {box}")
    nv = _count(sd, r"roi_heads\.voxel_head\.voxel_fcn(\d+)\.weight")
    vdim = _shape(sd, "roi_heads.voxel_head.deconv.weight", 4)[1]
    grid = _shape(sd, "roi_heads.voxel_head.predictor.weight", 4)[0]
    stages = _count(sd, r"roi_heads\.mesh_head\.stages\.(\d+)\.bottleneck\.weight")
    convs = _count(sd, r"roi_heads\.mesh_head\.stages\.0\.gconvs\.(\d+)\.w0\.weight")
    hidden = _shape(sd, "roi_heads.mesh_head.stages.0.bottleneck.weight", 2)[0] if stages else 128
    args: dict[str, Any] = dict(
        num_classes=num_classes, backbone="resnet50-fpn", image_size=800, max_size=1333,
        grid_size=grid, roi_size=12, mesh_roi_size=14, voxel_hidden=vdim, voxel_convs=nv,
        hidden_dim=hidden, num_stages=stages, num_convs=max(convs, 1), cubify_thresh=0.2,
        detections_per_img=100, score_thresh=0.05, frozen_bn=True, stride_in_1x1=True,
        round_anchors=False, image_mean=None, image_std=None,
        mesh_stage_options={"align": "grid", "align_corners": True, "padding_mode": "border",
                            "neighbor_bias": True},
        depth_mode="inverse", cubify_align="topleft", mesh_frame="box",
    )
    if grid % 2 or grid > 256:
        raise InputError(f"state_dict: roi_heads.voxel_head.predictor has {grid} outputs; only "
                         "class-agnostic voxel heads (CLS_AGNOSTIC_VOXEL: one output per depth "
                         "slice, an even number) are supported")
    if "roi_heads.z_head.z_pred.weight" in sd:
        nz = _count(sd, r"roi_heads\.z_head\.z_fc(\d+)\.weight")
        zout, zdim = _shape(sd, "roi_heads.z_head.z_pred.weight", 2)
        zin = _shape(sd, "roi_heads.z_head.z_fc1.weight", 2)[1] if nz else 256
        zroi = math.isqrt(zin // 256) if zin % 256 == 0 else 0
        if nz != 2 or zroi * zroi * 256 != zin or zout not in (1, num_classes):
            raise InputError("state_dict: roi_heads.z_head: expected 2 FC layers on 256 × R × R "
                             f"features and 1 or {num_classes} outputs, got {nz} layers, input "
                             f"{zin}, {zout} outputs")
        args.update(z_head=True, z_roi_size=zroi, z_fc_dim=zdim, z_class_agnostic=zout == 1)
    return args


def _infer_shapenet(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    nv = _count(sd, r"voxel_head\.voxel_fcn(\d+)\.weight")
    vdim = _shape(sd, "voxel_head.deconv.weight", 4)[1]
    grid = _shape(sd, "voxel_head.predictor.weight", 4)[0]
    stages = _count(sd, r"mesh_head\.stages\.(\d+)\.bottleneck\.weight")
    convs = _count(sd, r"mesh_head\.stages\.0\.gconvs\.(\d+)\.w0\.weight")
    hidden = _shape(sd, "mesh_head.stages.0.bottleneck.weight", 2)[0] if stages else 128
    zn, zf = SHAPENET_DEPTH_RANGE
    return dict(image_size=137, encoder="resnet50", voxel_feature=-1, grid_size=grid,
                voxel_hidden=vdim, voxel_convs=nv, hidden_dim=hidden, num_stages=stages,
                num_convs=max(convs, 1), cubify_thresh=0.2,
                mesh_stage_options={"align": "project", "align_corners": True,
                                    "padding_mode": "zeros", "neighbor_bias": True},
                depth_mode="inverse", cubify_align="topleft", init_depth=(zn + zf) / 2,
                depth_radius=(zf - zn) / 2)


def _first_gconv_perm(in_dim: int, hidden: int, variant: str) -> torch.Tensor:
    """Column order: our first graph convolution of a stage > 0 takes ``[image, previous,
    position]``; Mesh R-CNN's Pix3D head ``[previous, image, position]``, its ShapeNet head
    ``[image, position, previous]``. Returns ``idx`` with ``ours = theirs[:, idx]``."""
    h = hidden
    if in_dim != 2 * h + 3:
        return torch.arange(in_dim)
    if variant == "pix3d":
        return torch.cat([torch.arange(h, 2 * h), torch.arange(0, h), torch.arange(2 * h,
                                                                                   2 * h + 3)])
    return torch.cat([torch.arange(0, h), torch.arange(h + 3, 2 * h + 3), torch.arange(h, h + 3)])


def _transforms(variant: str, peer: Mapping[str, torch.Tensor], args: Mapping[str, Any]
                ) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Our key → value transform (after renaming); keys not listed are copied."""
    t: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    hidden = args["hidden_dim"]
    pre = "mesh_head.stages"
    rx = re.compile(r"mesh_head\.stages\.(\d+)\.convs\.(\d+)\.w[01]\.weight")
    for k in peer:
        ours = meshrcnn_key(k, variant)
        if ours is None:
            continue
        m = rx.fullmatch(ours)
        if m and int(m.group(1)) > 0 and int(m.group(2)) == 0:
            perm = _first_gconv_perm(peer[k].shape[1], hidden, variant)
            t[ours] = _compose(t.get(ours), lambda w, p=perm: w[:, p])
    if variant == "pix3d":
        d = "detector.roi_heads."
        # detectron2: background is the LAST class; torchvision: the first (index 0)
        t[d + "box_predictor.cls_score.weight"] = lambda w: torch.cat([w[-1:], w[:-1]])
        t[d + "box_predictor.cls_score.bias"] = lambda b: torch.cat([b[-1:], b[:-1]])
        # detectron2 predicts boxes / masks for foreground classes only: add the background's
        t[d + "box_predictor.bbox_pred.weight"] = lambda w: torch.cat([w.new_zeros(4, w.shape[1]),
                                                                       w])
        t[d + "box_predictor.bbox_pred.bias"] = lambda b: torch.cat([b.new_zeros(4), b])
        t[d + "mask_predictor.mask_fcn_logits.weight"] = lambda w: torch.cat(
            [w.new_zeros(1, *w.shape[1:]), w])
        t[d + "mask_predictor.mask_fcn_logits.bias"] = lambda b: torch.cat([b.new_zeros(1), b])
        # BGR (detectron2's INPUT.FORMAT) → RGB input channels
        t["detector.backbone.body.conv1.weight"] = lambda w: w.flip(1)
    else:
        # Mesh R-CNN's ShapeNet meshes are in Blender's camera frame (OpenGL: y up, z backward),
        # ours in OpenCV's (y down, z forward): p_cv = S p_gl, S = diag(1, -1, -1). Positions
        # enter every graph convolution and the offset layer as the last 3 input columns, and
        # the offsets come out in the frame of the positions (tanh is odd).
        flip = torch.tensor([1.0, -1.0, -1.0])

        def cols(w: torch.Tensor) -> torch.Tensor:
            w = w.clone()
            w[:, -3:] = w[:, -3:] * flip.to(w)
            return w

        for k in peer:
            ours = meshrcnn_key(k, variant)
            if ours is None or not ours.startswith(pre):
                continue
            if re.fullmatch(r"mesh_head\.stages\.\d+\.convs\.\d+\.w[01]\.weight", ours):
                t[ours] = _compose(t.get(ours), cols)
            elif ours.endswith("refine.linear.weight"):
                t[ours] = _compose(t.get(ours), lambda w: cols(w) * flip.to(w)[:, None])
            elif ours.endswith("refine.linear.bias"):
                t[ours] = _compose(t.get(ours), lambda b: b * flip.to(b))
    return t


def _compose(first: Callable[[torch.Tensor], torch.Tensor] | None,
             then: Callable[[torch.Tensor], torch.Tensor]
             ) -> Callable[[torch.Tensor], torch.Tensor]:
    return then if first is None else (lambda x: then(first(x)))


def _expected_shapes(variant: str, args: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Our state dict's key → shape for ``args``, built on the meta device (no memory)."""
    # import everything the builders use first: module-level tensors created by a first import
    # inside the meta-device context would be meta tensors for the rest of the process
    import torchvision.models.detection  # noqa: F401

    import spacetime.shapes  # noqa: F401
    import spacetime.shapes.models.mesh_rcnn  # noqa: F401

    with torch.device("meta"):
        model = build_meshrcnn_model({"variant": variant, "builder_args": dict(args)})
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _fmt(items: list[str], limit: int = 12) -> str:
    head = ", ".join(items[:limit])
    return head + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def convert_meshrcnn_detectron2(
    state_dict: Mapping[str, torch.Tensor], *, variant: str = "pix3d",
    object_size: float = 1.0,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Convert a Mesh R-CNN state dict (:func:`read_detectron2_checkpoint`'s output, peer key
    names) into ours.

    Renames follow :data:`MESHRCNN_KEY_MAP`; the value transforms are:

    - ``pix3d``: the first convolution's input channels reversed (detectron2 reads BGR, ours
      RGB); the box classifier's background row moved from last (detectron2) to first
      (torchvision); zero background rows added to the class-specific box regressor and mask
      predictor (detectron2 has none);
    - both: the columns of each stage's first graph convolution reordered (previous-stage
      features, image features and positions come in another order);
    - ``shapenet``: the position columns / offset rows of the mesh head multiplied by
      ``diag(1, -1, -1)`` (Blender's OpenGL camera frame → our OpenCV frame).

    Our scene model's centre-depth head (``depth_head.*``) has no counterpart in Mesh R-CNN
    (its z head predicts only the depth extent; its evaluation takes the centre depth from the
    ground truth). ``pix3d`` fills it with a constant prior instead of random values: zero
    weights and output bias ``log(object_size)``, i.e. every object is taken to be
    ``object_size`` scene units wide (``Z = object_size / max(box w / fx, box h / fy)``;
    Pix3D: metres). Listed in ``meta["not_converted"]``.

    Returns:
        ``(state, meta)``: ``state`` loads with ``strict=True`` into
        ``build_meshrcnn_model(meta)``; ``meta`` has ``variant``, ``builder``
        (``"mesh_rcnn"`` / ``"mesh_rcnn_single"``), ``builder_args`` (the keyword arguments
        that rebuild the architecture: classes, channels, stages, grid, cubify threshold,
        RoI sizes, detectron2 options), ``preprocess`` (input colour order, scale, mean / std,
        image size, intrinsics convention), ``not_converted`` and ``ignored`` (peer keys read
        but not needed).

    Raises:
        InputError: unknown ``variant``; missing peer keys (each with the key it maps to and
        its expected shape), unexpected peer keys, or mis-shaped tensors (key, expected and
        received shapes), all listed in one message.
    """
    _check_variant(variant)
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise InputError("state_dict: expected a non-empty {name: tensor} mapping, got "
                         f"{type(state_dict).__name__}")
    sd = {k: v for k, v in state_dict.items()}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise InputError(f"state_dict[{k!r}]: expected a tensor, got {type(v).__name__}")
    args = _infer_pix3d(sd) if variant == "pix3d" else _infer_shapenet(sd)
    preprocess: dict[str, Any]
    if variant == "pix3d":
        mean_bgr = tuple(float(x) for x in sd["pixel_mean"].flatten()) if "pixel_mean" in sd \
            else DETECTRON2_PIXEL_MEAN_BGR
        std_bgr = tuple(float(x) for x in sd["pixel_std"].flatten()) if "pixel_std" in sd \
            else (1.0, 1.0, 1.0)
        if len(mean_bgr) != 3 or len(std_bgr) != 3 or min(std_bgr) <= 0:
            raise InputError(f"state_dict: pixel_mean / pixel_std expected 3 values (std > 0), "
                             f"got {mean_bgr}, {std_bgr}")
        # ours: RGB in [0, 1] → (x − mean / 255) / (std / 255) == detectron2's (255 x − mean) / std
        args["image_mean"] = [m / 255.0 for m in reversed(mean_bgr)]
        args["image_std"] = [s / 255.0 for s in reversed(std_bgr)]
        preprocess = {
            "input": "RGB in [0, 1] (the converter reversed the first convolution's channels; "
                     "detectron2 itself reads BGR 0-255)",
            "detectron2_pixel_mean_bgr": list(mean_bgr),
            "detectron2_pixel_std_bgr": list(std_bgr),
            "image_mean": args["image_mean"], "image_std": args["image_std"],
            "min_size": 800, "max_size": 1333,
            "intrinsics": "K of the image in pixels (Pix3D's focal length and principal point)",
        }
    else:
        preprocess = {
            "input": "RGB in [0, 1], normalised inside the model with ImageNet mean / std "
                     "(Mesh R-CNN's ShapeNet loader applies them)",
            "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
            "image_size": 137,
            "intrinsics": "Blender's: fx = fy = 1.09375 · W pixels, cx = (W − 1) / 2, "
                          "cy = (H − 1) / 2 (its NDC x = 2.1875 X / Z); 149.84 px at W = 137",
        }
        if "K" in sd and tuple(sd["K"].shape) == (4, 4):
            preprocess["blender_K"] = sd["K"].tolist()

    ignored_rx = [re.compile(p) for p in MESHRCNN_IGNORED[variant]]
    renamed: dict[str, torch.Tensor] = {}
    source_of: dict[str, str] = {}
    unexpected, ignored = [], []
    for k, v in sd.items():
        ours = meshrcnn_key(k, variant)
        if ours is None:
            (ignored if any(r.fullmatch(k) for r in ignored_rx) else unexpected).append(k)
            continue
        renamed[ours] = v
        source_of[ours] = k
    transforms = _transforms(variant, sd, args)
    out: dict[str, torch.Tensor] = {}
    unconvertible = []
    for k, v in renamed.items():
        try:
            out[k] = transforms[k](v) if k in transforms else v
        except (IndexError, RuntimeError, ValueError):  # wrong rank / size for the transform
            unconvertible.append(f"{source_of[k]} -> {k}: got {tuple(v.shape)}, which the "
                                 "conversion cannot reorder")

    expected = _expected_shapes(variant, args)
    prior = sorted(k for k in expected if k.startswith("depth_head."))
    missing = [k for k in expected if k not in renamed and k not in prior
               and not k.endswith("num_batches_tracked")]
    extra = [source_of[k] for k in out if k not in expected]
    bad = unconvertible + [f"{source_of[k]} -> {k}: expected {expected[k]} (after "
                           f"conversion), got {tuple(out[k].shape)}" for k in out
                           if k in expected and tuple(out[k].shape) != expected[k]]
    if missing or unexpected or extra or bad:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (our key: expected shape): "
                         + _fmt([f"{k}: {expected[k]}" for k in missing]))
        if unexpected or extra:
            ue = unexpected + extra
            parts.append(f"unexpected {len(ue)} peer keys: " + _fmt(ue))
        if bad:
            parts.append(f"mis-shaped {len(bad)}: " + _fmt(bad, 8))
        raise InputError(f"state_dict ({variant} Mesh R-CNN checkpoint): " + "; ".join(parts))
    if prior:
        if not (isinstance(object_size, (int, float)) and math.isfinite(object_size)
                and object_size > 0):
            raise InputError(f"object_size: expected a positive number, got {object_size!r}")
        for k in prior:  # constant centre-depth prior (see the docstring)
            out[k] = torch.zeros(expected[k])
        out["depth_head.net.4.bias"] = torch.full(expected["depth_head.net.4.bias"],
                                                  math.log(object_size))
    # BN counters of a trainable (non-frozen) ResNet are not in every checkpoint: start at 0
    for k, shp in expected.items():
        if k.endswith("num_batches_tracked") and k not in out:
            out[k] = torch.zeros(shp, dtype=torch.long)
    out = {k: v.detach().clone().contiguous() for k, v in out.items()}

    not_converted = ["empty voxel grids: Mesh R-CNN leaves the mesh empty (Pix3D) or fills "
                     "the central block (ShapeNet); ours keeps the most likely voxel"]
    if variant == "pix3d":
        not_converted.insert(0, "depth_head (our centre-depth head; Mesh R-CNN predicts only "
                                "the depth extent dz, its evaluation takes the centre depth "
                                "from the ground truth): a constant prior, every object "
                                f"{object_size:g} units wide (Z = {object_size:g} / apparent "
                                "size); the meshes' projection into the image does not depend "
                                "on it")
    meta = {
        "variant": variant,
        "builder": "mesh_rcnn" if variant == "pix3d" else "mesh_rcnn_single",
        "builder_args": args,
        "preprocess": preprocess,
        "depth_prior": sorted(prior),
        "classes": list(PIX3D_CLASSES) if variant == "pix3d"
        and args["num_classes"] == len(PIX3D_CLASSES) else [],
        "ignored": sorted(ignored),
        "not_converted": not_converted,
        "num_converted": len(renamed),
    }
    return out, meta


def build_meshrcnn_model(meta: Mapping[str, Any]) -> torch.nn.Module:
    """Our (randomly initialised) model for :func:`convert_meshrcnn_detectron2`'s ``meta``:
    :func:`~spacetime.shapes.models.mesh_rcnn.mesh_rcnn` (``pix3d``) or
    :func:`~spacetime.shapes.models.mesh_rcnn.mesh_rcnn_single` (``shapenet``) with
    ``meta["builder_args"]``."""
    from spacetime.shapes.models.mesh_rcnn import mesh_rcnn, mesh_rcnn_single

    variant = meta.get("variant")
    _check_variant(str(variant))
    args = dict(meta["builder_args"])
    return mesh_rcnn(**args) if variant == "pix3d" else mesh_rcnn_single(**args)


# ============================================================ spacetime.weights.FORMATS entries

#: Mesh R-CNN's Pix3D classes, in the order of its outputs (``meshrcnn/data/datasets/builtin.py``)
PIX3D_CLASSES = ("bed", "bookcase", "chair", "desk", "misc", "sofa", "table", "tool",
                 "wardrobe")


def _format_converter(variant: str) -> Callable[..., Any]:
    def convert(peer: Any, *, object_size: float = 1.0) -> Any:
        """:class:`~spacetime.weights.formats.PeerFile` → ``Converted`` for
        :func:`spacetime.weights.convert_state_dict`: :func:`convert_meshrcnn_detectron2`'s
        result as exact-key renames whose transforms return the converted tensors; our tensors
        without a peer counterpart (the depth prior, BN counters) are added to
        ``peer.state_dict`` under our own names."""
        from spacetime.weights.formats import Converted

        state, meta = convert_meshrcnn_detectron2(peer.state_dict, variant=variant,
                                                  object_size=object_size)
        renames: list[tuple[str, str]] = []
        transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
        used = set()
        for k in list(peer.state_dict):
            ours = meshrcnn_key(k, variant)
            if ours is not None and ours in state:
                renames.append((k, ours))
                transforms[ours] = lambda _t, v=state[ours]: v
                used.add(ours)
        for ours, v in state.items():
            if ours not in used:
                peer.state_dict[ours] = v
                renames.append((ours, ours))
        classes = list(PIX3D_CLASSES) if variant == "pix3d" else []
        if variant == "pix3d" and meta["builder_args"]["num_classes"] != len(classes):
            classes = [f"class{i}" for i in range(meta["builder_args"]["num_classes"])]
        return Converted(model_kwargs=dict(meta["builder_args"]), classes=classes,
                         renames=renames, model=meta["builder"].replace("_", "-"),
                         preprocess=dict(meta["preprocess"]), ignore=tuple(meta["ignored"]),
                         transforms=transforms, notes=list(meta["not_converted"]))

    convert.__name__ = f"convert_meshrcnn_{variant}"
    return convert


def _formats() -> dict[str, Any]:
    from spacetime.weights.formats import WeightFormat

    return {
        "meshrcnn-pix3d": WeightFormat(
            name="meshrcnn-pix3d",
            description="Mesh R-CNN on Pix3D (facebookresearch/meshrcnn, detectron2 R50-FPN + "
                        "voxel / mesh / z heads; 9 classes)",
            family="meshrcnn", model="mesh-rcnn", converter=_format_converter("pix3d"),
            preprocess={"image_mean": [123.675 / 255, 116.28 / 255, 103.53 / 255],
                        "image_std": [1 / 255] * 3, "min_size": 800, "max_size": 1333},
            source="https://dl.fbaipublicfiles.com/meshrcnn/pix3d/meshrcnn_R50.pth (S1), "
                   ".../pix3d/meshrcnn_S2_R50.pth (S2)",
            expects="RGB in [0, 1] (the converter reverses detectron2's BGR first "
                    "convolution); mean 255 x (0.485, 0.456, 0.406) in 0-255 terms, std 1; "
                    "shortest side 800, longest <= 1333; K in pixels"),
        "meshrcnn-shapenet": WeightFormat(
            name="meshrcnn-shapenet",
            description="Mesh R-CNN on ShapeNet (R2N2 renderings; voxmesh_R50.pth: ResNet-50 + "
                        "48^3 voxel head + mesh head, no detector)",
            family="meshrcnn", model="mesh-rcnn-single", converter=_format_converter("shapenet"),
            preprocess={"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                        "image_size": 137},
            source="https://dl.fbaipublicfiles.com/meshrcnn/shapenet/voxmesh_R50.pth",
            expects="RGB in [0, 1], 137 x 137, ImageNet mean / std (applied in the model); "
                    "K: fx = fy = 1.09375 W, cx = cy = (W - 1) / 2"),
    }


#: ``--from`` name → :class:`~spacetime.weights.formats.WeightFormat`, for
#: ``spacetime.weights.FORMATS`` (``{**MESHRCNN_FORMATS}``)
MESHRCNN_FORMATS: dict[str, Any] = _formats()
