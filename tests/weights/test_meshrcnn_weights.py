"""Mesh R-CNN checkpoint conversion (spacetime.weights.meshrcnn).

Peer state dicts are built here with the exact key names and shapes of facebookresearch/meshrcnn
(detectron2 layout for Pix3D, ``shapenet/modeling`` for ShapeNet) and random values; they are
converted, loaded strictly into our models, and every converted part is compared in float64
with a re-implementation (below, written from the peers' layer lists) fed the *peer* tensors.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.shapes.convert import cubify
from spacetime.shapes.structures import Meshes
from spacetime.weights.meshrcnn import (
    MESHRCNN_KEY_MAP,
    build_meshrcnn_model,
    convert_meshrcnn_detectron2,
    meshrcnn_key,
    read_detectron2_checkpoint,
)

K_CLASSES = 9  # Pix3D
BLOCKS = {2: 3, 3: 4, 4: 6, 5: 3}  # ResNet-50
WIDTH = {2: (64, 256), 3: (128, 512), 4: (256, 1024), 5: (512, 2048)}  # bottleneck, out


def _w(g: torch.Generator, *shape: int, scale: float | None = None) -> torch.Tensor:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    s = (1.0 / fan_in) ** 0.5 if scale is None else scale
    return torch.randn(*shape, generator=g) * s


def _bn(sd: dict, p: str, c: int, g: torch.Generator) -> None:
    sd[p + ".weight"] = 0.5 + torch.rand(c, generator=g)
    sd[p + ".bias"] = 0.1 * torch.randn(c, generator=g)
    sd[p + ".running_mean"] = 0.1 * torch.randn(c, generator=g)
    sd[p + ".running_var"] = 0.5 + torch.rand(c, generator=g)


def _mesh_head(sd: dict, pre: str, in_dim: int, g: torch.Generator, offset: str,
               hidden: int = 128, stages: int = 3, convs: int = 3) -> None:
    for i in range(stages):
        s = f"{pre}stages.{i}."
        sd[s + "bottleneck.weight"] = _w(g, hidden, in_dim)
        sd[s + "bottleneck.bias"] = 0.1 * torch.randn(hidden, generator=g)
        for j in range(convs):
            d = hidden + 3 + (hidden if i > 0 and j == 0 else 0)
            for w in ("w0", "w1"):
                sd[s + f"gconvs.{j}.{w}.weight"] = _w(g, hidden, d, scale=0.1)
                sd[s + f"gconvs.{j}.{w}.bias"] = 0.1 * torch.randn(hidden, generator=g)
        sd[s + f"{offset}.weight"] = _w(g, 3, hidden + 3, scale=0.3)
        sd[s + f"{offset}.bias"] = 0.1 * torch.randn(3, generator=g)


def pix3d_peer_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A detectron2 Mesh R-CNN (configs/pix3d/meshrcnn_R50_FPN.yaml) state dict."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    b = "backbone.bottom_up."
    sd[b + "stem.conv1.weight"] = _w(g, 64, 3, 7, 7)
    _bn(sd, b + "stem.conv1.norm", 64, g)
    cin = 64
    for r, n in BLOCKS.items():
        mid, out = WIDTH[r]
        for k in range(n):
            p = f"{b}res{r}.{k}."
            if k == 0:
                sd[p + "shortcut.weight"] = _w(g, out, cin, 1, 1)
                _bn(sd, p + "shortcut.norm", out, g)
            sd[p + "conv1.weight"] = _w(g, mid, cin if k == 0 else out, 1, 1)
            sd[p + "conv2.weight"] = _w(g, mid, mid, 3, 3)
            sd[p + "conv3.weight"] = _w(g, out, mid, 1, 1)
            for c, ch in ((1, mid), (2, mid), (3, out)):
                _bn(sd, p + f"conv{c}.norm", ch, g)
        cin = out
    for r in (2, 3, 4, 5):
        sd[f"backbone.fpn_lateral{r}.weight"] = _w(g, 256, WIDTH[r][1], 1, 1)
        sd[f"backbone.fpn_lateral{r}.bias"] = 0.1 * torch.randn(256, generator=g)
        sd[f"backbone.fpn_output{r}.weight"] = _w(g, 256, 256, 3, 3)
        sd[f"backbone.fpn_output{r}.bias"] = 0.1 * torch.randn(256, generator=g)
    rp = "proposal_generator.rpn_head."
    for name, shape in (("conv", (256, 256, 3, 3)), ("objectness_logits", (3, 256, 1, 1)),
                        ("anchor_deltas", (12, 256, 1, 1))):
        sd[rp + name + ".weight"] = _w(g, *shape)
        sd[rp + name + ".bias"] = 0.1 * torch.randn(shape[0], generator=g)
    rh = "roi_heads."
    for name, shape in (("box_head.fc1", (1024, 256 * 49)), ("box_head.fc2", (1024, 1024)),
                        ("box_predictor.cls_score", (K_CLASSES + 1, 1024)),
                        ("box_predictor.bbox_pred", (4 * K_CLASSES, 1024)),
                        *[(f"mask_head.mask_fcn{k}", (256, 256, 3, 3)) for k in (1, 2, 3, 4)],
                        ("mask_head.deconv", (256, 256, 2, 2)),
                        ("mask_head.predictor", (K_CLASSES, 256, 1, 1)),
                        *[(f"voxel_head.voxel_fcn{k}", (256, 256, 3, 3)) for k in (1, 2, 3, 4)],
                        ("voxel_head.deconv", (256, 256, 2, 2)),
                        ("voxel_head.predictor", (24, 256, 1, 1)),
                        ("z_head.z_fc1", (1024, 256 * 49)), ("z_head.z_fc2", (1024, 1024)),
                        ("z_head.z_pred", (K_CLASSES, 1024))):
        fan = shape[0] if "deconv" in name else None  # ConvTranspose: (in, out, k, k)
        sd[rh + name + ".weight"] = _w(g, *shape) if fan is None else \
            torch.randn(*shape, generator=g) * (1.0 / (256 * 4)) ** 0.5
        sd[rh + name + ".bias"] = 0.1 * torch.randn(shape[1] if fan else shape[0], generator=g)
    _mesh_head(sd, rh + "mesh_head.", 256, g, "verts_offset")
    sd["pixel_mean"] = torch.tensor([103.530, 116.280, 123.675]).view(3, 1, 1)
    sd["pixel_std"] = torch.tensor([1.0, 1.0, 1.0]).view(3, 1, 1)
    return sd


def shapenet_peer_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """Mesh R-CNN's ShapeNet VoxMeshHead (configs/shapenet/voxmesh_R50.yaml) state dict."""
    from torchvision.models import resnet50

    g = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        tv = resnet50(weights=None).state_dict()  # names and shapes only
    sd: dict[str, torch.Tensor] = {}
    for k, m in tv.items():
        if k.startswith("fc."):
            continue
        if k.endswith("num_batches_tracked"):
            v = torch.tensor(100)
        elif k.endswith("running_mean") or k.endswith("bias"):
            v = 0.1 * torch.randn(m.shape, generator=g)
        elif k.endswith("running_var") or m.dim() == 1:  # BN variance / scale
            v = 0.5 + torch.rand(m.shape, generator=g)
        else:
            v = _w(g, *m.shape)
        k = re.sub(r"^conv1\.", "backbone.stem.0.", k)
        k = re.sub(r"^bn1\.", "backbone.stem.1.", k)
        k = re.sub(r"^layer(\d)\.", r"backbone.stage\1.", k)
        sd[k] = v
    for k in (1, 2, 3, 4):
        sd[f"voxel_head.voxel_fcn{k}.weight"] = _w(g, 256, 2048 if k == 1 else 256, 3, 3)
        sd[f"voxel_head.voxel_fcn{k}.bias"] = 0.1 * torch.randn(256, generator=g)
    sd["voxel_head.deconv.weight"] = torch.randn(256, 256, 2, 2, generator=g) / 32
    sd["voxel_head.deconv.bias"] = 0.1 * torch.randn(256, generator=g)
    sd["voxel_head.predictor.weight"] = _w(g, 48, 256, 1, 1)
    sd["voxel_head.predictor.bias"] = 0.1 * torch.randn(48, generator=g)
    _mesh_head(sd, "mesh_head.", 3840, g, "vert_offset")
    sd["K"] = torch.tensor([[2.1875, 0.0, 0.0, 0.0], [0.0, 2.1875, 0.0, 0.0],
                            [0.0, 0.0, -1.002002, -0.2002002], [0.0, 0.0, -1.0, 0.0]])
    return sd


@pytest.fixture(scope="module")
def pix3d():
    peer = pix3d_peer_state()
    state, meta = convert_meshrcnn_detectron2(peer, variant="pix3d")
    model = build_meshrcnn_model(meta).eval()
    model.load_state_dict(state, strict=True)
    return {"peer": {k: v.double() for k, v in peer.items()}, "state": state, "meta": meta,
            "model": model}


@pytest.fixture(scope="module")
def shapenet():
    peer = shapenet_peer_state()
    state, meta = convert_meshrcnn_detectron2(peer, variant="shapenet")
    model = build_meshrcnn_model(meta).eval()
    model.load_state_dict(state, strict=True)
    return {"peer": {k: v.double() if v.is_floating_point() else v for k, v in peer.items()},
            "state": state, "meta": meta, "model": model}


def _close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    ours, ref = ours.detach(), ref.detach()
    assert ours.shape == ref.shape
    scale = float(ref.abs().max()) or 1.0
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-9 * scale)


# ---------------------------------------------------------------- peer re-implementations


def ref_frozen_bn(x, sd, p):
    scale = sd[p + ".weight"] / torch.sqrt(sd[p + ".running_var"] + 1e-5)
    shift = sd[p + ".bias"] - sd[p + ".running_mean"] * scale
    return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


def ref_conv_norm(x, sd, p, stride=1, pad=0):
    return ref_frozen_bn(F.conv2d(x, sd[p + ".weight"], None, stride, pad), sd, p + ".norm")


def ref_resnet_fpn(img_bgr, sd):
    """detectron2 ResNet-50 (STRIDE_IN_1X1, FrozenBN) + FPN (sum fusion, nearest ×2, p6 =
    max-pool k1 s2) on a BGR 0-255 image, normalised with the checkpoint's pixel_mean/std."""
    x = (img_bgr - sd["pixel_mean"]) / sd["pixel_std"]
    b = "backbone.bottom_up."
    x = F.max_pool2d(F.relu(ref_conv_norm(x, sd, b + "stem.conv1", 2, 3)), 3, 2, 1)
    feats = []
    for r, n in BLOCKS.items():
        for k in range(n):
            p = f"{b}res{r}.{k}."
            s = 2 if (k == 0 and r > 2) else 1
            out = F.relu(ref_conv_norm(x, sd, p + "conv1", s))
            out = F.relu(ref_conv_norm(out, sd, p + "conv2", 1, 1))
            out = ref_conv_norm(out, sd, p + "conv3")
            short = ref_conv_norm(x, sd, p + "shortcut", s) if k == 0 else x
            x = F.relu(out + short)
        feats.append(x)

    def conv(t, name, pad=0):
        return F.conv2d(t, sd[name + ".weight"], sd[name + ".bias"], 1, pad)

    prev = conv(feats[3], "backbone.fpn_lateral5")
    outs = [conv(prev, "backbone.fpn_output5", 1)]
    for r in (4, 3, 2):
        prev = conv(feats[r - 2], f"backbone.fpn_lateral{r}") + F.interpolate(
            prev, scale_factor=2.0, mode="nearest")
        outs.insert(0, conv(prev, f"backbone.fpn_output{r}", 1))
    outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2, padding=0))
    return outs  # p2..p6


def ref_conv_upsample_head(x, sd, pre, num_conv, fcn="mask_fcn"):
    for k in range(1, num_conv + 1):
        x = F.relu(F.conv2d(x, sd[f"{pre}{fcn}{k}.weight"], sd[f"{pre}{fcn}{k}.bias"], 1, 1))
    x = F.relu(F.conv_transpose2d(x, sd[pre + "deconv.weight"], sd[pre + "deconv.bias"], 2))
    return F.conv2d(x, sd[pre + "predictor.weight"], sd[pre + "predictor.bias"])


def ref_gconv(x, edges, sd, p):
    """PyTorch3D GraphConv (undirected): w0(x) + Σ_neighbours w1(x), both Linear with bias."""
    w0 = x @ sd[p + ".w0.weight"].T + sd[p + ".w0.bias"]
    w1 = x @ sd[p + ".w1.weight"].T + sd[p + ".w1.bias"]
    out = torch.zeros_like(w1)
    out = out.index_add(0, edges[:, 0], w1[edges[:, 1]])
    out = out.index_add(0, edges[:, 1], w1[edges[:, 0]])
    return w0 + out


def ref_stage_pix3d(feats, verts, nverts, edges, vert_feats, sd, p):
    """meshrcnn/modeling/roi_heads/mesh_head.py MeshRefinementStage.forward, per mesh vert_align
    (align_corners=True, padding "border", verts' x, y as grid coordinates)."""
    img = []
    for n, vs in enumerate(verts.split(nverts)):
        s = F.grid_sample(feats[n:n + 1], vs[None, None, :, :2], mode="bilinear",
                          padding_mode="border", align_corners=True)
        img.append(s[0, :, 0].T)
    img = F.relu(torch.cat(img) @ sd[p + "bottleneck.weight"].T + sd[p + "bottleneck.bias"])
    x = torch.cat([img, verts], 1) if vert_feats is None else torch.cat([vert_feats, img, verts], 1)
    for j in range(3):
        nopos = F.relu(ref_gconv(x, edges, sd, f"{p}gconvs.{j}"))
        x = torch.cat([nopos, verts], 1)
    deform = torch.tanh(x @ sd[p + "verts_offset.weight"].T + sd[p + "verts_offset.bias"])
    return verts + deform, nopos


BLENDER_K = torch.tensor([[2.1875, 0.0, 0.0, 0.0], [0.0, 2.1875, 0.0, 0.0],
                          [0.0, 0.0, -1.002002, -0.2002002], [0.0, 0.0, -1.0, 0.0]],
                         dtype=torch.float64)


def ref_stage_shapenet(maps, verts_gl, nverts, edges, vert_feats, sd, p):
    """shapenet/modeling/heads/mesh_head.py MeshRefinementStage.forward: project with Blender's
    K (project_verts, eps 0.1), flip y, vert_align (align_corners=True, zeros), features
    [image, position, previous]."""
    hom = torch.cat([verts_gl, torch.ones_like(verts_gl[:, :1])], 1) @ BLENDER_K.T
    w = hom[:, 3:]
    sign = torch.where(w == 0, torch.ones_like(w), w.sign())
    proj = hom[:, :3] / (sign * w.abs().clamp(min=0.1))
    proj = proj * torch.tensor([1.0, -1.0, 1.0], dtype=proj.dtype)
    img = []
    for n, vs in enumerate(proj.split(nverts)):
        img.append(torch.cat([F.grid_sample(m[n:n + 1], vs[None, None, :, :2],
                                            align_corners=True)[0, :, 0].T for m in maps], 1))
    img = F.relu(torch.cat(img) @ sd[p + "bottleneck.weight"].T + sd[p + "bottleneck.bias"])
    x = torch.cat([img, verts_gl] + ([] if vert_feats is None else [vert_feats]), 1)
    for j in range(3):
        nopos = F.relu(ref_gconv(x, edges, sd, f"{p}gconvs.{j}"))
        x = torch.cat([nopos, verts_gl], 1)
    deform = torch.tanh(x @ sd[p + "vert_offset.weight"].T + sd[p + "vert_offset.bias"])
    return verts_gl + deform, nopos


@torch.no_grad()
def ref_shapenet_backbone(img, sd):
    """shapenet/modeling/backbone.py: torchvision's ResNet-50 (ResNetBackbone wraps it) with the
    peer's tensors, on ImageNet-normalised input (the peer's data loader) → res2..res5."""
    from torchvision.models import resnet50

    with torch.device("meta"):
        tv = resnet50(weights=None)
    back = {}
    for k, v in sd.items():
        if k.startswith("backbone."):
            k2 = k.replace("backbone.stem.0.", "conv1.").replace("backbone.stem.1.", "bn1.")
            back[re.sub(r"^backbone\.stage(\d)\.", r"layer\1.", k2)] = v
    del tv.fc
    tv.load_state_dict(back, strict=True, assign=True)
    tv = tv.double().eval()
    x = (img - torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)) / \
        torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    x = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
    refs = []
    for layer in (tv.layer1, tv.layer2, tv.layer3, tv.layer4):
        x = layer(x)
        refs.append(x)
    return refs


def ref_voxel_to_world(verts_n):
    """shapenet/utils/coords.py voxel_to_world (+ blender_ndc_to_world): voxel space [-1, 1]³
    → Blender camera frame."""
    x, y, z = verts_n.unbind(1)
    zmin, zmax = 0.67, 0.92
    m = 2.0 / (zmax - zmin)
    b = -2.0 * zmin / (zmax - zmin) - 1
    y, z = -y, (z - b) / m
    zw = -0.2002002 / (-1.0 * z - -1.002002)
    return torch.stack([(-1.0 / 2.1875) * zw * x, (-1.0 / 2.1875) * zw * y, zw], 1)


def _test_meshes(seed: int, scale: float, shift: tuple[float, float, float]) -> Meshes:
    g = torch.Generator().manual_seed(seed)
    occ = torch.rand(2, 5, 5, 5, generator=g) > 0.55
    m = cubify(occ.double(), 0.5)
    verts = [(v / 5.0 * 2 - 1) * scale + torch.tensor(shift, dtype=torch.float64)
             for v in m.verts_list()]
    return Meshes(verts, m.faces_list())


# ------------------------------------------------------------------------------------ tests


def test_pix3d_loads_strictly(pix3d):
    meta = pix3d["meta"]
    # loaded with strict=True by the fixture; our depth head is a constant prior (1 unit wide)
    assert meta["depth_prior"] == sorted(k for k in pix3d["state"] if k.startswith("depth_head."))
    head = pix3d["model"].depth_head.float()
    z = head(torch.randn(3, 256, 12, 12), torch.tensor([0.5, 0.25, 2.0]))
    torch.testing.assert_close(z, torch.tensor([2.0, 4.0, 0.5]))
    with pytest.raises(InputError, match="object_size"):
        convert_meshrcnn_detectron2({k: v.float() for k, v in pix3d["peer"].items()},
                                    object_size=0.0)
    a = meta["builder_args"]
    assert (a["num_classes"], a["grid_size"], a["voxel_convs"], a["voxel_hidden"]) == \
        (9, 24, 4, 256)
    assert (a["num_stages"], a["num_convs"], a["hidden_dim"], a["mesh_roi_size"]) == (3, 3, 128, 14)
    assert a["z_head"] and a["z_roi_size"] == 7 and not a["z_class_agnostic"]
    assert meta["ignored"] == ["pixel_mean", "pixel_std"]
    # every peer tensor went somewhere: converted + ignored == peer
    assert meta["num_converted"] + len(meta["ignored"]) == len(pix3d["peer"])


def test_pix3d_backbone_fpn_rpn_match_detectron2(pix3d):
    model, sd = pix3d["model"], pix3d["peer"]
    det = model.detector
    g = torch.Generator().manual_seed(3)
    rgb = torch.rand(3, 64, 64, generator=g, dtype=torch.float64)
    bb = det.backbone.double()
    x = det.transform.normalize(rgb)[None]
    ours = list(bb(x).values())
    ref = ref_resnet_fpn((rgb * 255).flip(0)[None], sd)
    assert len(ours) == 5
    for o, r in zip(ours, ref):
        _close(o, r)
    head = det.rpn.head.double()
    obj, deltas = head(ours)
    for o, d, p in zip(obj, deltas, ref):
        t = F.relu(F.conv2d(p, sd["proposal_generator.rpn_head.conv.weight"],
                            sd["proposal_generator.rpn_head.conv.bias"], padding=1))
        _close(o, F.conv2d(t, sd["proposal_generator.rpn_head.objectness_logits.weight"],
                           sd["proposal_generator.rpn_head.objectness_logits.bias"]))
        _close(d, F.conv2d(t, sd["proposal_generator.rpn_head.anchor_deltas.weight"],
                           sd["proposal_generator.rpn_head.anchor_deltas.bias"]))
    # detectron2's cell anchors (not rounded), aspect ratio = h / w, same order
    for size, cell in zip((32, 64, 128, 256, 512), det.rpn.anchor_generator.cell_anchors):
        want = []
        for a in (0.5, 1.0, 2.0):
            w = (size * size / a) ** 0.5
            h = a * w
            want.append([-w / 2, -h / 2, w / 2, h / 2])
        torch.testing.assert_close(cell.double(), torch.tensor(want, dtype=torch.float64))


def test_pix3d_box_mask_heads_match_detectron2(pix3d):
    model, sd = pix3d["model"], pix3d["peer"]
    rh = model.detector.roi_heads.double()
    g = torch.Generator().manual_seed(4)
    x7 = torch.randn(3, 256, 7, 7, generator=g, dtype=torch.float64)
    with torch.no_grad():
        scores, deltas = rh.box_predictor(rh.box_head(x7))
    h = F.relu(x7.flatten(1) @ sd["roi_heads.box_head.fc1.weight"].T
               + sd["roi_heads.box_head.fc1.bias"])
    h = F.relu(h @ sd["roi_heads.box_head.fc2.weight"].T + sd["roi_heads.box_head.fc2.bias"])
    cls = h @ sd["roi_heads.box_predictor.cls_score.weight"].T \
        + sd["roi_heads.box_predictor.cls_score.bias"]
    box = h @ sd["roi_heads.box_predictor.bbox_pred.weight"].T \
        + sd["roi_heads.box_predictor.bbox_pred.bias"]
    _close(scores[:, 1:], cls[:, :K_CLASSES])  # foreground classes
    _close(scores[:, :1], cls[:, K_CLASSES:])  # background
    _close(F.softmax(scores, 1)[:, 1:], F.softmax(cls, 1)[:, :K_CLASSES])
    _close(deltas[:, 4:], box)
    assert float(deltas[:, :4].detach().abs().max()) == 0.0
    x14 = torch.randn(2, 256, 14, 14, generator=g, dtype=torch.float64)
    masks = rh.mask_predictor(rh.mask_head(x14))
    ref = ref_conv_upsample_head(x14, sd, "roi_heads.mask_head.", 4)
    assert masks.shape == (2, K_CLASSES + 1, 28, 28)
    _close(masks[:, 1:], ref)


def test_pix3d_voxel_z_heads_match_meshrcnn(pix3d):
    model, sd = pix3d["model"], pix3d["peer"]
    g = torch.Generator().manual_seed(5)
    x12 = torch.randn(2, 256, 12, 12, generator=g, dtype=torch.float64)
    ours = model.voxel_head.double()(x12)
    ref = ref_conv_upsample_head(x12, sd, "roi_heads.voxel_head.", 4, fcn="voxel_fcn")
    _close(ours, ref.reshape(2, 1, 24, 24, 24)[:, 0])  # (N, D, H, W), class-agnostic
    x7 = torch.randn(3, 256, 7, 7, generator=g, dtype=torch.float64)
    z = model.z_head.double()(x7)
    h = F.relu(x7.flatten(1) @ sd["roi_heads.z_head.z_fc1.weight"].T
               + sd["roi_heads.z_head.z_fc1.bias"])
    h = F.relu(h @ sd["roi_heads.z_head.z_fc2.weight"].T + sd["roi_heads.z_head.z_fc2.bias"])
    _close(z, h @ sd["roi_heads.z_head.z_pred.weight"].T + sd["roi_heads.z_head.z_pred.bias"])
    labels = torch.tensor([0, 4, 8])
    boxes = torch.tensor([[0, 0, 10, 20], [5, 5, 50, 45], [1, 2, 3, 4]], dtype=torch.float64)
    dz = model.z_head.depth_extent(z, labels, boxes)
    want = z[torch.arange(3), labels].clamp(max=np.log(1000 / 16)).exp() * boxes[:, 3].sub(
        boxes[:, 1])
    _close(dz, want)


def test_pix3d_mesh_head_matches_meshrcnn(pix3d):
    model, sd = pix3d["model"], pix3d["peer"]
    head = model.mesh_head.double()
    g = torch.Generator().manual_seed(6)
    feats = torch.randn(2, 256, 14, 14, generator=g, dtype=torch.float64)
    meshes = _test_meshes(7, 1.1, (0.0, 0.0, 0.0))  # box-normalised coords, some outside ±1
    assert float(meshes.verts_packed()[:, :2].abs().max()) > 1.0  # border padding exercised
    with torch.no_grad():
        ours = head([feats], meshes, None, None)
    verts, nv = meshes.verts_packed(), meshes.num_verts_per_mesh().tolist()
    edges = meshes.edges_packed()
    vf = None
    assert len(ours) == 3
    for i, out in enumerate(ours):
        verts, vf = ref_stage_pix3d(feats, verts, nv, edges, vf, sd,
                                    f"roi_heads.mesh_head.stages.{i}.")
        _close(out.verts_packed(), verts)
    assert float((ours[-1].verts_packed() - meshes.verts_packed()).abs().max()) > 0.05


def test_shapenet_encoder_voxel_head_match_meshrcnn(shapenet):

    model, sd = shapenet["model"], shapenet["peer"]
    a = shapenet["meta"]["builder_args"]
    assert (a["encoder"], a["voxel_feature"], a["grid_size"], a["voxel_convs"]) == \
        ("resnet50", -1, 48, 4)
    assert (a["num_stages"], a["num_convs"], a["hidden_dim"]) == (3, 3, 128)
    assert shapenet["meta"]["ignored"] == ["K"]
    g = torch.Generator().manual_seed(8)
    img = torch.rand(1, 3, 40, 40, generator=g, dtype=torch.float64)
    refs = ref_shapenet_backbone(img, sd)
    enc = model.encoder.double()
    with torch.no_grad():
        ours = enc(img)
    for o, r in zip(ours, refs):
        _close(o, r.detach())
    c5 = torch.randn(2, 2048, 5, 5, generator=g, dtype=torch.float64)
    vox = model.voxel_head.double()(c5)
    ref = ref_conv_upsample_head(F.interpolate(c5, size=24, mode="bilinear", align_corners=False),
                                 sd, "voxel_head.", 4, fcn="voxel_fcn")
    _close(vox, ref)


def test_shapenet_mesh_head_matches_meshrcnn(shapenet):
    model, sd = shapenet["model"], shapenet["peer"]
    head = model.mesh_head.double()
    g = torch.Generator().manual_seed(9)
    maps = [torch.randn(2, c, s, s, generator=g, dtype=torch.float64)
            for c, s in ((256, 35), (512, 18), (1024, 9), (2048, 5))]
    meshes = _test_meshes(10, 0.35, (0.05, -0.02, 1.0))  # OpenCV camera frame, z forward
    W = 137
    f = 2.1875 * W / 2
    K = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (W - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    with torch.no_grad():
        ours = head(maps, meshes, K, (W, W))
    flip = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    verts_gl = meshes.verts_packed() * flip  # Blender camera frame (OpenGL axes)
    nv, edges = meshes.num_verts_per_mesh().tolist(), meshes.edges_packed()
    vf = None
    for i, out in enumerate(ours):
        verts_gl, vf = ref_stage_shapenet(maps, verts_gl, nv, edges, vf, sd,
                                          f"mesh_head.stages.{i}.")
        _close(out.verts_packed() * flip, verts_gl)
    assert float((ours[-1].verts_packed() - meshes.verts_packed()).abs().max()) > 0.05


def test_key_map_is_total_and_injective(pix3d, shapenet):
    for variant, fx in (("pix3d", pix3d), ("shapenet", shapenet)):
        ours = [meshrcnn_key(k, variant) for k in fx["peer"]]
        mapped = [o for o in ours if o is not None]
        assert len(mapped) == len(set(mapped))
        assert len(ours) - len(mapped) == len(fx["meta"]["ignored"])
    assert set(MESHRCNN_KEY_MAP) == {"pix3d", "shapenet"}
    assert meshrcnn_key("backbone.bottom_up.res4.5.conv2.norm.running_var") == \
        "detector.backbone.body.layer3.5.bn2.running_var"
    assert meshrcnn_key("roi_heads.voxel_head.voxel_fcn3.weight") == "voxel_head.convs.4.weight"
    with pytest.raises(InputError, match="variant"):
        meshrcnn_key("x", "coco")


def test_errors_name_keys_and_shapes(pix3d):
    peer = {k: v.float() for k, v in pix3d["peer"].items()}
    bad = dict(peer)
    del bad["roi_heads.mesh_head.stages.1.gconvs.2.w1.bias"]
    with pytest.raises(InputError, match=r"missing 1 .*mesh_head\.stages\.1\.convs\.2\.w1\.bias: "
                                         r"\(128,\)"):
        convert_meshrcnn_detectron2(bad)
    bad = dict(peer)
    bad["roi_heads.keypoint_head.conv1.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"unexpected 1 peer keys: roi_heads\.keypoint_head"):
        convert_meshrcnn_detectron2(bad)
    bad = dict(peer)
    bad["backbone.fpn_output3.weight"] = torch.zeros(256, 256, 1, 1)
    with pytest.raises(InputError, match=r"mis-shaped 1: backbone\.fpn_output3\.weight -> "
                                         r"detector\.backbone\.fpn\.layer_blocks\.1\.0\.weight: "
                                         r"expected \(256, 256, 3, 3\).*got \(256, 256, 1, 1\)"):
        convert_meshrcnn_detectron2(bad)
    bad = dict(peer)
    bad["backbone.bottom_up.stem.conv1.weight"] = torch.zeros(64)  # BGR flip needs rank 4
    with pytest.raises(InputError, match=r"mis-shaped 1: backbone\.bottom_up\.stem\.conv1\."
                                         r"weight -> detector\.backbone\.body\.conv1\.weight: "
                                         r"got \(64,\)"):
        convert_meshrcnn_detectron2(bad)
    with pytest.raises(InputError, match="variant"):
        convert_meshrcnn_detectron2(peer, variant="coco")
    with pytest.raises(InputError, match="non-empty"):
        convert_meshrcnn_detectron2({})
    with pytest.raises(InputError, match="cls_score"):
        convert_meshrcnn_detectron2({"backbone.fpn_output3.weight": torch.zeros(1)})


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # would create a file if anything from the pickle ran
        return (open, (self.marker, "w"))


def test_read_pkl_numpy_only(tmp_path):
    good = tmp_path / "model_final.pkl"
    arrays = {"backbone.fpn_output2.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
              "roi_heads.box_predictor.cls_score.bias": np.zeros(3, dtype=np.float64)}
    good.write_bytes(pickle.dumps({"model": arrays, "__author__": "Detectron2 Model Zoo"}))
    sd = read_detectron2_checkpoint(good)
    assert sorted(sd) == sorted(arrays)
    assert sd["backbone.fpn_output2.weight"].dtype == torch.float32
    torch.testing.assert_close(sd["backbone.fpn_output2.weight"],
                               torch.arange(6.0).reshape(2, 3))
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"model": {"w": np.zeros(2)}, "x": _Evil(str(marker))}))
    with pytest.raises(FileFormatError, match=r"refused.*open.*nothing from the file"):
        read_detectron2_checkpoint(evil)
    assert not marker.exists()
    obj = tmp_path / "obj.pkl"
    from fractions import Fraction

    obj.write_bytes(pickle.dumps({"model": {"w": Fraction(1, 3)}}))
    with pytest.raises(FileFormatError, match=r"fractions\.Fraction"):
        read_detectron2_checkpoint(obj)
    objarr = tmp_path / "objarr.pkl"
    objarr.write_bytes(pickle.dumps({"model": {"w": np.array([None, 1], dtype=object)}}))
    with pytest.raises(FileFormatError, match="dtype object"):
        read_detectron2_checkpoint(objarr)
    blobs = tmp_path / "c2.pkl"
    blobs.write_bytes(pickle.dumps({"blobs": {"conv1_w": np.zeros(2)}}))
    with pytest.raises(FileFormatError, match="Detectron1"):
        read_detectron2_checkpoint(blobs)
    (tmp_path / "trunc.pkl").write_bytes(pickle.dumps({"model": {}})[:5])
    with pytest.raises(FileFormatError, match="not a readable pickle"):
        read_detectron2_checkpoint(tmp_path / "trunc.pkl")
    with pytest.raises(MissingFileError):
        read_detectron2_checkpoint(tmp_path / "absent.pkl")


def test_read_pth_unwraps(tmp_path):
    t = torch.arange(4.0)
    torch.save({"model": {"a.weight": t}, "iteration": 3}, tmp_path / "d2.pth")
    assert list(read_detectron2_checkpoint(tmp_path / "d2.pth")) == ["a.weight"]
    torch.save({"best_states": {"model": {"module.mesh_head.x": t}}, "t": 1,
                "metrics": {"loss": [1.0]}}, tmp_path / "shapenet.pth")
    assert list(read_detectron2_checkpoint(tmp_path / "shapenet.pth")) == ["mesh_head.x"]
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="weights_only=True"):
        read_detectron2_checkpoint(tmp_path / "junk.pth")
    torch.save({"model": {}}, tmp_path / "empty.pth")
    with pytest.raises(FileFormatError, match="no tensors"):
        read_detectron2_checkpoint(tmp_path / "empty.pth")


def test_shapenet_end_to_end_matches_meshrcnn(shapenet):
    """Image → voxel logits → PyTorch3D-style cubify in Mesh R-CNN's NDC voxel space → world
    → 3 refinement stages, against our single model with the converted weights (its voxel
    predictor cut to 8 depth slices, converted alone, to keep the mesh small)."""
    from spacetime.shapes.models.mesh_rcnn import MeshRCNNSingle, VoxelHead

    g8 = torch.Generator().manual_seed(11)
    sd = dict(shapenet["peer"])
    sd["voxel_head.predictor.weight"] = _w(g8, 8, 256, 1, 1, scale=0.02).double()
    sd["voxel_head.predictor.bias"] = torch.linspace(-2.0, 1.0, 8, dtype=torch.float64)
    vox_peer = {k: v for k, v in sd.items() if k.startswith("voxel_head.")}
    a = shapenet["meta"]["builder_args"]
    vox = VoxelHead(2048, 8, hidden=256, num_convs=4).double()
    vox.load_state_dict({meshrcnn_key(k, "shapenet")[len("voxel_head."):]: v
                         for k, v in vox_peer.items()})
    base = shapenet["model"]
    model = MeshRCNNSingle(base.encoder.double(), vox, base.mesh_head.double(),
                           cubify_thresh=a["cubify_thresh"], init_depth=a["init_depth"],
                           depth_radius=a["depth_radius"], voxel_feature=a["voxel_feature"],
                           depth_mode=a["depth_mode"], cubify_align=a["cubify_align"]).eval()
    W = 64
    f = 2.1875 * W / 2
    K = torch.tensor([[[f, 0, (W - 1) / 2], [0, f, (W - 1) / 2], [0, 0, 1]]], dtype=torch.float64)
    img = torch.rand(1, 3, W, W, generator=g8, dtype=torch.float64)
    with torch.no_grad():
        out = model(img, K)
    maps = ref_shapenet_backbone(img, sd)
    logits = ref_conv_upsample_head(F.interpolate(maps[-1], size=4, mode="bilinear",
                                                  align_corners=False), sd, "voxel_head.", 4,
                                    fcn="voxel_fcn")
    _close(out.voxel_logits, logits)
    occ = logits.sigmoid() > 0.2
    assert 0 < int(occ.sum()) < occ.numel()
    grid = cubify(occ.double(), 0.5)  # same topology; PyTorch3D "topleft" corner positions:
    verts_gl = ref_voxel_to_world(grid.verts_packed() * 2.0 / (8 - 1) - 1.0)
    flip = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    _close(out.initial.verts_packed() * flip, verts_gl)
    nv, edges = grid.num_verts_per_mesh().tolist(), grid.edges_packed()
    vf = None
    for i, m in enumerate(out.meshes):
        verts_gl, vf = ref_stage_shapenet(maps, verts_gl, nv, edges, vf, sd,
                                          f"mesh_head.stages.{i}.")
        _close(m.verts_packed() * flip, verts_gl)


def test_pix3d_scene_model_runs_in_box_space(pix3d):
    """The converted detector + shape heads run end to end (64 px image, 2 detections); the
    cubified meshes, built in the box's normalised space, project back into their boxes."""
    import copy

    from spacetime.shapes.models.mesh_rcnn import VoxelHead

    model = copy.deepcopy(pix3d["model"]).float().eval()  # other tests made parts float64
    det = model.detector
    det.transform.min_size, det.transform.max_size = (64,), 64
    det.roi_heads.detections_per_img, det.roi_heads.score_thresh = 2, 0.0
    state = {k: v for k, v in pix3d["state"].items() if k.startswith("voxel_head.")}
    state["voxel_head.predictor.weight"] = 0.01 * state["voxel_head.predictor.weight"][:8]
    state["voxel_head.predictor.bias"] = torch.linspace(-2.0, 1.0, 8)
    model.voxel_head = VoxelHead(256, 8, hidden=256, num_convs=4)  # a small grid: 8 slices
    model.voxel_head.load_state_dict({k[len("voxel_head."):]: v for k, v in state.items()})
    with torch.no_grad():
        for k in (det.rpn.head.bbox_pred, det.roi_heads.box_predictor.bbox_pred):
            k.weight.zero_()  # no box regression: detections are (clipped) anchors
            k.bias.zero_()
    assert (model.mesh_frame, model.depth_mode, model.cubify_align) == ("box", "inverse",
                                                                       "topleft")
    g = torch.Generator().manual_seed(12)
    img = torch.rand(3, 64, 64, generator=g)
    K = torch.tensor([[70.0, 0, 31.5], [0, 70.0, 31.5], [0, 0, 1]])
    with torch.no_grad():
        out = model([img], K[None])[0]
    n = len(out["boxes"])
    assert n == 2 and out["dz"].shape == (2,) and bool((out["dz"] > 0).all())
    assert out["voxels"].shape == (2, 8, 8, 8) and len(out["meshes"]) == 2
    # box_to_camera keeps each vertex on the ray of its box position: the projections of the
    # refined vertices lie in the box, up to the "topleft" stretch G / (G - 1) and the
    # refinement offsets (< 1 normalised unit per stage, 3 stages)
    for i in range(n):
        v = out["meshes"][i].verts_packed().double()
        assert bool(torch.isfinite(v).all())
        uv = v[:, :2] / v[:, 2:] * 70.0 + 31.5
        x0, y0, x1, y1 = out["boxes"][i].double()
        un = 2 * (uv[:, 0] - x0) / (x1 - x0) - 1
        vn = 2 * (uv[:, 1] - y0) / (y1 - y0) - 1
        assert float(torch.cat([un, vn]).abs().max()) < 1.0 + 2.0 / 7 + 3.0


def _homography(src, dst):
    """4-point DLT (h33 = 1), as Mesh R-CNN's ProjectiveTransform.estimate."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    h = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64),
                           torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).view(3, 3)


def ref_unit_box(verts, box, zrange, f, px, py):
    """meshrcnn/utils/shape.py box2D_to_cuboid3D + cuboid3D_to_unitbox3D and
    structures/mesh.py batch_crop_meshes_within_box for one object: Mesh R-CNN's Pix3D camera
    frame (x left, y up, z forward; K = [f, px, py], image 2px × 2py) → the box's unit cube."""
    w, h = 2 * px, 2 * py
    x1, y1, x2, y2 = box
    x1p, y1p, x2p, y2p = w - 1 - x1 - px, h - 1 - y1 - py, w - 1 - x2 - px, h - 1 - y2 - py
    z0, z1 = zrange
    dst = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
    hxz = _homography([(x2p * z0 / f, z0), (x1p * z0 / f, z0), (x2p * z1 / f, z1),
                       (x1p * z1 / f, z1)], dst)
    hyz = _homography([(y2p * z0 / f, z0), (y1p * z0 / f, z0), (y2p * z1 / f, z1),
                       (y1p * z1 / f, z1)], dst)

    def apply(hm, a, b):
        p = torch.stack([a, b, torch.ones_like(a)], 1) @ hm.T
        return p[:, :2] / p[:, 2:]

    pxz = apply(hxz, verts[:, 0], verts[:, 2])
    pyz = apply(hyz, verts[:, 1], verts[:, 2])
    out = torch.stack([pxz[:, 0], pyz[:, 0], pxz[:, 1]], 1)
    return out * torch.tensor([-1.0, -1.0, 1.0], dtype=torch.float64)  # "align to image"


def test_box_space_is_meshrcnn_unit_box():
    """Our K-space with inverse-depth slices, G = 2, shifted by -1 (cubify_kspace
    frame="box", box_to_camera) is Mesh R-CNN's Pix3D unit box, once its camera frame (x left,
    y up) and its principal point (box coordinates: w/2 - 1, h/2 - 1) are accounted for."""
    from spacetime.shapes.models.mesh_rcnn import box_to_camera, camera_to_kspace

    f, px, py = 600.0, 320.0, 240.0
    box = (200.0, 150.0, 380.0, 330.0)
    zr = (2.0, 3.1)
    g = torch.Generator().manual_seed(13)
    z = 2.0 + 1.1 * torch.rand(50, generator=g, dtype=torch.float64)
    u = 180 + 220 * torch.rand(50, generator=g, dtype=torch.float64)
    v = 140 + 200 * torch.rand(50, generator=g, dtype=torch.float64)
    cx, cy = px - 1, py - 1
    cam = torch.stack([(u - cx) * z / f, (v - cy) * z / f, z], 1)  # OpenCV frame
    ref = ref_unit_box(cam * torch.tensor([-1.0, -1.0, 1.0], dtype=torch.float64), box, zr, f,
                       px, py)
    K = torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1]], dtype=torch.float64)
    b = torch.tensor([box], dtype=torch.float64)
    r = torch.tensor([zr], dtype=torch.float64)
    ours = camera_to_kspace(cam, K, b, r, 2, depth_mode="inverse") - 1.0
    _close(ours, ref)
    back = box_to_camera(Meshes([ref], [torch.zeros(0, 3, dtype=torch.long)]), K, b, r,
                         depth_mode="inverse")
    _close(back.verts_packed(), cam)


def test_formats_entry_converts_through_convert_state_dict(shapenet, tmp_path):
    """The registered ``meshrcnn-shapenet`` format: through convert_state_dict (strict load, the
    checkpoint meta of family meshrcnn), then a file through convert_weights, rebuilt with
    ``spacetime.api.load_model`` and no flags."""
    from spacetime.api import load_model
    from spacetime.weights import FORMATS, PeerFile, convert_state_dict, convert_weights
    from spacetime.weights.meshrcnn import PIX3D_CLASSES

    assert {"meshrcnn-pix3d", "meshrcnn-shapenet"} <= set(FORMATS)
    peer = {k: v.float() if v.is_floating_point() else v for k, v in shapenet["peer"].items()}
    model, meta, notes = convert_state_dict(PeerFile(dict(peer)), "meshrcnn-shapenet")
    assert (meta["family"], meta["model"]) == ("meshrcnn", "mesh-rcnn-single")
    assert meta["model_kwargs"]["grid_size"] == 48 and meta["classes"] == []
    ours = model.state_dict()
    for k, v in shapenet["state"].items():
        assert torch.equal(ours[k], v), k
    assert any("empty voxel grids" in n for n in notes)
    assert len(PIX3D_CLASSES) == K_CLASSES

    src, out = tmp_path / "voxmesh_R50.pth", tmp_path / "converted.pt"
    torch.save({"model": peer}, src)
    convert_weights(src, "meshrcnn-shapenet", out)
    loaded = load_model(out, device="cpu")
    assert loaded.spec.family == "meshrcnn" and loaded.spec.model == "mesh-rcnn-single"
    reloaded = loaded.model.state_dict()
    for k, v in shapenet["state"].items():
        assert torch.equal(reloaded[k], v.to(reloaded[k].dtype)), k
