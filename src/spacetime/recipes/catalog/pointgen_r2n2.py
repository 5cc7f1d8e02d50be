"""The point-set baseline (image → 1,024 points, Chamfer loss) on R2N2."""

from spacetime.recipes.catalog._data import MESH_IO_CAVEAT, R2N2, R2N2_PREPARE
from spacetime.recipes.record import Recipe, Target

_SRC = ("Pixel2Mesh, ECCV 2018, Table 1, PSG row (Pixel2Mesh protocol: F-score at τ = 1e-4 "
        "and 2τ on squared distances)")

RECIPE = Recipe(
    name="pointgen-r2n2",
    title="Single-view point-set generation (PSG-style) on ShapeNet / R2N2",
    paper="Fan, Su, Guibas: A Point Set Generation Network, CVPR 2017",
    family="shapes",
    model="point-gen",
    data=R2N2,
    train={
        "image_size": 128,
        "num_points": 1024,
        "model_kwargs": {"encoder_widths": [64, 128, 256, 512], "latent_dim": 1024,
                         "num_points": 1024},
        "epochs": 25,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 1e-4,
        "scheduler": "cosine",
        "num_workers": 8,
    },
    evaluate={"mesh_samples": 10000, "batch_size": 8},
    targets=(
        Target("mean/F1@0.1", 0.4858, 0.05, _SRC + ": F(τ) = 48.58", comparable=False),
        Target("mean/F1@0.3", 0.6978, 0.05, _SRC + ": F(2τ) = 69.78", comparable=False),
    ),
    gpu_hours=1.5,
    gpu_hours_basis=(
        "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in mixed "
        "precision; a training step costs 3x the forward FLOPs; forward 1.7 GFLOP per 128 px "
        "image (torch.utils.flop_counter); 756k views x 25 epochs = 19M -> 0.7 h of compute; "
        "data (surface samples) ~0.7 h with 8 workers. About 1.5 GPU-hours, rough (x2)."
        + MESH_IO_CAVEAT
    ),
    prepare=R2N2_PREPARE,
    differences="""\
- Scored with Mesh R-CNN's protocol (gt-10 scale, F1@0.1/0.3/0.5 on the predicted points):
  the reference numbers are under the Pixel2Mesh protocol (shown, `comparable=False`).
- PSG's two-branch (deconvolution + fully connected) decoder is a fully connected decoder here.
""",
    smoke={},
    smoke_evaluate={"mesh_samples": 500},
    smoke_reason="full-size model and image size; 500 evaluation samples",
)
