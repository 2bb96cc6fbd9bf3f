#!/usr/bin/env bash
# Multi-node training with SLURM: one task per GPU, Lightning reads the ranks from SLURM's environment.
#   sbatch scripts/slurm_train.sh experiment=dsprites model.reward=0.5
# Edit the resources below. run_dir must be on a filesystem every node sees (each node would otherwise
# pick its own timestamped folder). On pre-emption SLURM sends SIGTERM: the run saves last.ckpt and a
# requeued job continues with resume=<run_dir> (see the last line).
#SBATCH --job-name=informative-ot-gan
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=SIGTERM@120
#SBATCH --requeue
set -euo pipefail
cd "${SLURM_SUBMIT_DIR}"
source .venv/bin/activate
RUN_DIR="${RUN_DIR:-runs/slurm-${SLURM_JOB_ID}}"
ARGS=(trainer.accelerator=gpu trainer.devices="${SLURM_NTASKS_PER_NODE}" trainer.num_nodes="${SLURM_NNODES}"
      trainer.strategy=ddp)
if [ -f "${RUN_DIR}/checkpoints/last.ckpt" ]; then
  srun python train.py resume="${RUN_DIR}" "${ARGS[@]}"
else
  srun python train.py run_dir="${RUN_DIR}" "${ARGS[@]}" "$@"
fi
