#!/bin/bash
# One slice of the lossdemo plan per task of a Slurm job array. Submit with
#     sbatch lossdemo-array.sh
# then the merge, which waits for every task: sbatch --dependency=afterok:<array job id> lossdemo-merge.sh
#SBATCH --job-name=lossdemo
#SBATCH --array=1-8
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
set -euo pipefail

# --shard auto reads K and N from SLURM_ARRAY_TASK_ID, _MIN and _COUNT: to slice the plan
# differently, change --array above and nothing else. Every task must plan the same runs, so keep
# the profile and plan flags identical here and in lossdemo-merge.sh.
python -m lossdemo.reproduce --full --device cuda --no-progress \
    --results-dir "${LOSSDEMO_RUNS:-$SCRATCH/lossdemo-runs}" --shard auto
