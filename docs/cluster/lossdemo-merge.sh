#!/bin/bash
# Draws the figures once every shard has finished; submit it with
#     sbatch --dependency=afterok:<array job id> lossdemo-merge.sh
# It reads the same LOSSDEMO_VENV, LOSSDEMO_RUNS and LOSSDEMO_PLAN as lossdemo-array.sh, and
# draws into docs/local/ under the directory it is submitted from (LOSSDEMO_FIGURES to change it).
#SBATCH --job-name=lossdemo-merge
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=00:30:00
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

# shellcheck disable=SC2086  # LOSSDEMO_PLAN holds several flags
python -m lossdemo.reproduce ${LOSSDEMO_PLAN:---full} --plots-only --no-progress --results-dir "$runs" \
    --figures-dir "${LOSSDEMO_FIGURES:-docs/local}"
