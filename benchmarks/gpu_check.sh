#!/usr/bin/env bash
# The project's GPU checks in one go, on a CUDA machine whose python3 already has torch (for a
# machine that cannot install packages: the embedded datasets' packages are not needed, the tests
# read mnist1d from its .npz cache). Prepare the cache once, on a machine with lossdemo installed:
#
#     mkdir -p .gpu-data && cp ~/.cache/lossdemo/mnist1d-v1.npz .gpu-data/   # run lossdemo once to make it
#
# then, from the repository root on the GPU machine (with .gpu-data/ copied along; it is git-ignored):
#
#     OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh
#
# It writes the GPU's name, the test log, the benchmark log and benchmarks/results/gpu.json into
# $OUT; gpu.json goes into this repository as the record of the measurement.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" LOSSDEMO_DATA_DIR="$PWD/.gpu-data"
OUT="${OUT:-/tmp/lossdemo-gpu-check}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" 2>&1 | tee -a "$OUT/gpu.txt"
# 1. Correctness where it matters: stacked runs equal single runs on CUDA; no host sync per step.
#    (-o addopts= drops the notebook plugin's flag: nbmake is not installed there.)
timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts= tests/test_speed_paths.py -k "cuda or stack" \
    2>&1 | tee "$OUT/tests.log"
# 2. Timings: one CIFAR-10-sized run in float32 and bf16, twelve stacked, and the projected comparison.
timeout 300 python3 benchmarks/gpu.py --epochs 2 --stack 12 2>&1 | tee "$OUT/benchmark.log"
cp benchmarks/results/gpu.json "$OUT/" 2>/dev/null || true
