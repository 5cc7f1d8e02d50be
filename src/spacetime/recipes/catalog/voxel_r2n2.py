"""The voxel baseline (image encoder → 3D deconvolutions → 32³ occupancy) on R2N2."""

from spacetime.recipes.catalog._data import MESH_IO_CAVEAT, R2N2, R2N2_PREPARE
from spacetime.recipes.record import Recipe, Target

RECIPE = Recipe(
    name="voxel-r2n2",
    title="Single-view voxel prediction (3D-R2N2-style) on ShapeNet / R2N2, 32³ IoU",
    paper="Choy et al.: 3D-R2N2, ECCV 2016 (Table 1, single view)",
    family="shapes",
    model="voxel-gen",
    data=R2N2,
    train={
        # 3D-R2N2: 127 px images, 32³ voxels, Adam 1e-4, batch 36, 60k iterations
        # (≈ 2.6 epochs of the 840k views); we run 5 epochs of single views
        "image_size": 128,
        "voxel_resolution": 32,
        "model_kwargs": {"encoder_widths": [64, 128, 256, 512], "latent_dim": 1024},
        "epochs": 5,
        "batch_size": 36,
        "optimizer": "adam",
        "lr": 1e-4,
        "scheduler": "cosine",
        "num_workers": 8,
    },
    evaluate={"mesh_samples": 10000, "batch_size": 8},
    targets=(
        Target("mean/voxel_iou", 0.560, 0.05,
               "3D-R2N2, ECCV 2016, Table 1: single-view mean IoU 0.560 (Res3D-GRU-3)"),
    ),
    gpu_hours=0.5,
    gpu_hours_basis=(
        "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in mixed "
        "precision; a training step costs 3x the forward FLOPs; forward 3.5 GFLOP per 128 px "
        "image (torch.utils.flop_counter); 756k training views x 5 epochs = 3.8M -> 0.3 h of "
        "compute; PNG + binvox reading with 8 workers ~0.2 h. About 0.5 GPU-hour, rough (x2)."
        + MESH_IO_CAVEAT
    ),
    prepare=R2N2_PREPARE,
    differences="""\
- A feed-forward encoder-decoder (our `voxel-gen`) instead of 3D-R2N2's recurrent 3D-GRU; for
  one view the two are close in the paper's own ablations.
- IoU threshold: ours 0.5 on the predicted occupancy, 3D-R2N2's 0.4.
""",
    smoke={},
    smoke_evaluate={"mesh_samples": 500},
    smoke_reason="full-size model and image size; 500 evaluation samples",
)
