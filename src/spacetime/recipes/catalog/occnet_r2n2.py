"""Occupancy networks (image-conditioned implicit occupancy, marching cubes) on R2N2."""

from spacetime.recipes.catalog._data import MESH_IO_CAVEAT, R2N2, R2N2_PREPARE
from spacetime.recipes.record import Recipe, Target

_SRC = "Occupancy Networks, CVPR 2019, Table 1 (single-image reconstruction, ONet row)"

RECIPE = Recipe(
    name="occnet-r2n2",
    title="Occupancy networks on ShapeNet / R2N2 renderings: IoU, normal consistency",
    paper="Mescheder et al.: Occupancy Networks, CVPR 2019 (Table 1)",
    family="shapes",
    model="occnet",
    data=R2N2,
    train={
        # ONet: 224 px, ResNet-18 encoder, CBN decoder of 5 blocks of 256, 2,048 points per
        # shape, Adam 1e-4, batch 64
        "image_size": 224,
        "occ_samples": 2048,
        "voxel_resolution": 32,
        "model_kwargs": {"encoder_widths": [64, 128, 256, 512], "latent_dim": 256,
                         "hidden": 256, "num_blocks": 5, "conditioning": "cbn"},
        "epochs": 20,
        "batch_size": 64,
        "optimizer": "adam",
        "lr": 1e-4,
        "scheduler": "cosine",
        "num_workers": 8,
    },
    evaluate={"mesh_samples": 10000, "occ_resolution": 128, "batch_size": 8},
    targets=(
        Target("mean/iou", 0.571, 0.05, _SRC + ": IoU 0.571 (volumetric, on "
               "watertight meshes)", comparable=False),
        Target("mean/AbsNormalConsistency", 0.834, 0.05, _SRC + ": normal consistency 0.834",
               comparable=False),
    ),
    gpu_hours=10.0,
    gpu_hours_basis=(
        "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in mixed "
        "precision; a training step costs 3x the forward FLOPs; not counted: estimated ~13 "
        "GFLOP forward (encoder at 224 px ~10, decoder on 2,048 points ~3); 756k views x 20 "
        "epochs -> ~4 h of compute; evaluation decodes a 129³ grid per test view (210k views "
        "x ~2.7 TFLOP) -> ~4 h, plus marching cubes on the CPU. About 10 GPU-hours, rough "
        "(x3); evaluate a subset of views to cut it."
        + MESH_IO_CAVEAT
    ),
    prepare=R2N2_PREPARE,
    differences="""\
- ONet trains on occupancy of watertight re-meshed models and its own split; we sample
  occupancy from the R2N2 32³ voxels and use the R2N2 split: the numbers are shown for
  orientation (`comparable=False`).
- ONet's mesh extraction: 32³ + 2 levels of refinement (MISE); ours: marching cubes at
  `occ_resolution` 128.
- Encoder from scratch instead of an ImageNet ResNet-18.
""",
    smoke={"image_size": 64},
    smoke_evaluate={"mesh_samples": 500, "occ_resolution": 16},
    smoke_reason="image_size 64 instead of 224 and marching cubes at 16³ instead of 128³ "
                 "(CPU time of the decoder evaluated at 129³ points); 500 evaluation samples",
)
