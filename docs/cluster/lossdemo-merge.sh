#!/bin/bash
# Draws the figures once every shard has finished; submit it with
#     sbatch --dependency=afterok:<array job id> lossdemo-merge.sh
#SBATCH --job-name=lossdemo-merge
set -euo pipefail

python -m lossdemo.reproduce --full --plots-only --no-progress \
    --results-dir "${LOSSDEMO_RUNS:-$SCRATCH/lossdemo-runs}"
