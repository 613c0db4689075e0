#!/bin/bash
# One slice of the lossdemo plan per task of a Slurm job array. Submit with
#     sbatch lossdemo-array.sh
# then the merge, which waits for every task: sbatch --dependency=afterok:<array job id> lossdemo-merge.sh
#
# Set before submitting, or leave the defaults:
#   LOSSDEMO_VENV  the virtual environment with lossdemo installed (default: ~/lossdemo/.venv)
#   LOSSDEMO_RUNS  the results directory every task shares (default: $SCRATCH/lossdemo-runs, or
#                  ~/lossdemo-runs on a cluster without $SCRATCH)
#   LOSSDEMO_PLAN  the plan flags, the same for every task and the merge (default: --full)
#   LOSSDEMO_DEVICE where each task trains (default: cuda, the GPU it was given)
#SBATCH --job-name=lossdemo
#SBATCH --array=1-8
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --time=04:00:00
set -euo pipefail

venv="${LOSSDEMO_VENV:-$HOME/lossdemo/.venv}"
runs="${LOSSDEMO_RUNS:-${SCRATCH:-$HOME}/lossdemo-runs}"
if [ -f "$venv/bin/activate" ]; then
    source "$venv/bin/activate"
fi
if ! python -c "import lossdemo, torch" 2>/dev/null; then
    echo "lossdemo is not installed for $(command -v python); set LOSSDEMO_VENV to the environment that has it" >&2
    exit 1
fi

# --shard auto reads K and N from SLURM_ARRAY_TASK_ID, _MIN and _COUNT: to slice the plan
# differently, change --array above and nothing else. A CUDA device that does not work is an error,
# never a silent CPU run.
# shellcheck disable=SC2086  # LOSSDEMO_PLAN holds several flags
python -m lossdemo.reproduce ${LOSSDEMO_PLAN:---full} --device "${LOSSDEMO_DEVICE:-cuda}" --no-progress \
    --results-dir "$runs" --shard auto
