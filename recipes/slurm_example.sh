#!/bin/bash
# Train one spacetime recipe on M nodes x N GPUs with SLURM (docs/recipes.md).
#
#   sbatch --nodes 4 recipes/slurm_example.sh c3d-ucf101 /shared/data/ucf101
#
# Every node runs one torchrun agent; the agents meet at a c10d rendezvous on the first node;
# torchrun starts N processes per node (one per GPU) and sets RANK / WORLD_SIZE / LOCAL_RANK;
# spacetime trains data-parallel (batch_size is per process) and rank 0 alone writes the run
# directory, which must be on a shared file system, as must the data.
#SBATCH --job-name=spacetime-recipe
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail
RECIPE=${1:?usage: sbatch recipes/slurm_example.sh RECIPE DATA_DIR [OUT_DIR]}
DATA=${2:?usage: sbatch recipes/slurm_example.sh RECIPE DATA_DIR [OUT_DIR]}
OUT=${3:-runs/$RECIPE}
GPUS_PER_NODE=${SLURM_GPUS_ON_NODE:-8}
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
PORT=${PORT:-29500}

# 1. data preparation, sharded by rank across every process of the job and resumable
#    (two-stream-ucf101: the optical-flow cache; the other recipes have nothing to prepare)
srun torchrun --nnodes "$SLURM_NNODES" --nproc_per_node "$GPUS_PER_NODE" \
    --rdzv_backend c10d --rdzv_endpoint "$HEAD:$PORT" --rdzv_id "$SLURM_JOB_ID-prepare" \
    -m spacetime recipe run "$RECIPE" --data "$DATA" --out "$OUT" --prepare-only

# 2. training and evaluation (resubmit with --resume after a time-out: OUT/checkpoints/last.pt)
srun torchrun --nnodes "$SLURM_NNODES" --nproc_per_node "$GPUS_PER_NODE" \
    --rdzv_backend c10d --rdzv_endpoint "$HEAD:$PORT" --rdzv_id "$SLURM_JOB_ID" \
    -m spacetime recipe run "$RECIPE" --data "$DATA" --out "$OUT" --device cuda
