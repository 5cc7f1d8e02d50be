"""RAFT (large) fine-tuned from its FlyingChairs + FlyingThings weights, scored on KITTI-2015."""

from spacetime.recipes.record import Recipe, Target

_SRC = ("torchvision's raft_large C_T_V2 weights (FlyingChairs + FlyingThings), KITTI-2015 "
        "train: EPE 5.02, Fl-all 17.45 % (torchvision model documentation; RAFT, ECCV 2020, "
        "Table 1 gives 5.04 / 17.4)")

RECIPE = Recipe(
    name="raft-finetune",
    title="RAFT-large fine-tuning from C+T weights, evaluated on KITTI-2015 train (24 updates)",
    paper="Teed & Deng: RAFT, ECCV 2020 (Table 1, C+T rows)",
    family="flow",
    model="raft-large",
    data="synthetic-flow",
    train={
        # RAFT's Sintel / KITTI fine-tuning: AdamW 1.25e-4 (KITTI 1e-4), weight decay 1e-5,
        # one-cycle, gradient clip 1, 12 flow updates; crops 368 x 496 (Chairs) / 288 x 960
        # (KITTI); batch 6
        "init_checkpoint": "{data}/raft_large_C_T_V2-1bb1363a.pth",
        "size": [368, 496],
        "train_samples": 20000,
        "val_samples": 200,
        "num_flow_updates": 12,
        "epochs": 5,
        "batch_size": 6,
        "optimizer": "adamw",
        "lr": 1.25e-4,
        "weight_decay": 1e-5,
        "scheduler": "onecycle",
        "grad_clip": 1.0,
        "amp": False,
    },
    evaluate={"root": "{data}/KITTI2015/training", "layout": "kitti", "num_flow_updates": 24,
              "batch_size": 1},
    targets=(
        Target("epe", 5.02, 1.0, _SRC + " — fine-tuning on synthetic-flow must stay "
               "within 1 px of the starting weights", higher_is_better=False),
        Target("fl_all", 17.45, 3.0, _SRC + " (Fl-all in percent)", higher_is_better=False),
    ),
    gpu_hours=1.0,
    gpu_hours_basis=(
        "Assumptions: one A100/H100-class GPU sustains ~40 TFLOP/s on these networks in mixed "
        "precision; a training step costs 3x the forward FLOPs; not counted: RAFT-large at "
        "368 x 496 with 12 updates is ~100 GFLOP forward; 20k samples x 5 epochs = 100k -> "
        "0.2 h at the assumed rate, but RAFT's correlation lookups run far below it (x5); "
        "KITTI evaluation (200 pairs, 24 updates) takes minutes. About 1 GPU-hour, rough "
        "(x3)."
    ),
    prepare="""\
1. The RAFT C+T starting weights: torchvision's `raft_large_C_T_V2-1bb1363a.pth`
   (https://download.pytorch.org/models/raft_large_C_T_V2-1bb1363a.pth) as
   `DATA/raft_large_C_T_V2-1bb1363a.pth` (a state dict, read with `weights_only=True`).
2. KITTI-2015 scene flow, `data_scene_flow.zip` (https://www.cvlibs.net/datasets/kitti/
   eval_scene_flow.php), its `training/` folder as `DATA/KITTI2015/training/`
   (`image_2/<id>_10.png`, `<id>_11.png`, `flow_occ/<id>_10.png`; 200 pairs).

Layout:

    DATA/raft_large_C_T_V2-1bb1363a.pth
    DATA/KITTI2015/training/image_2/000000_10.png, 000000_11.png, …
    DATA/KITTI2015/training/flow_occ/000000_10.png, …
""",
    differences="""\
- The API trains RAFT on its built-in `synthetic-flow` pairs only (no FlyingChairs / Sintel /
  KITTI training loaders): this recipe checks that fine-tuning keeps the C+T quality on
  KITTI-2015 rather than reproducing the paper's Sintel / KITTI fine-tuned numbers.
- KITTI frames are scored at full resolution (padded to a multiple of 8), 24 updates.
""",
    smoke={"size": [128, 128], "train_samples": 2, "val_samples": 1, "num_flow_updates": 2},
    smoke_evaluate={"num_flow_updates": 2, "limit": 1},
    smoke_reason="128 x 128 crops, 2 flow updates (CPU time: one raft-large step at 368 x 496 "
                 "with 12 updates takes tens of seconds on two cores); one KITTI pair",
)
