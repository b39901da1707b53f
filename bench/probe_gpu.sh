#!/usr/bin/env bash
# The GPU half of issue 5 in one call per part (run from the repository root on a CUDA machine):
#   bench/probe_gpu.sh check   # tests/test_probe_cuda.py: CUDA graphs, compile, bf16/channels_last, late NaN replay, OOM
#   bench/probe_gpu.sh bench   # bench/bench_probe.py: ResNet-56 probe vs hand-written step, compile/graphs, RN50 vs torchvision
#   bench/probe_gpu.sh bn      # the degradation experiment with batch norm  -> reports/probe/gpu_bn/
#   bench/probe_gpu.sh nobn    # the same nets without batch norm           -> reports/probe/gpu_nobn/
#   bench/probe_gpu.sh all     # all four, the checks first (stops if they fail)
# STEPS (default 2000) and BATCH (default 128) override the experiments' length and batch.
# On the lent GPU machine (no venv there): ../shared/gpu/prepare.sh here first, carry .gpu, then
#   source .gpu/activate; PY=python3 bench/probe_gpu.sh all
set -euo pipefail
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-2000}
BATCH=${BATCH:-128}
NETS="cifar/plain20 cifar/plain56 cifar/resnet20 cifar/resnet56"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA here: run this on a GPU machine')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
part=${1:-all}
if [[ $part == check || $part == all ]]; then
  "$PY" -m pytest -q -p no:cacheprovider tests/test_probe_cuda.py
fi
if [[ $part == bench || $part == all ]]; then
  "$PY" bench/bench_probe.py --json reports/probe/gpu_bench.json
fi
if [[ $part == bn || $part == all ]]; then
  "$PY" -m archc probe $NETS --device cuda --steps "$STEPS" --batch "$BATCH" --log-every 50 --no-progress \
    --cuda-graphs --title "Training probe with batch norm (GPU run)" -o reports/probe/gpu_bn
fi
if [[ $part == nobn || $part == all ]]; then
  "$PY" -m archc probe $NETS --device cuda --steps "$STEPS" --batch "$BATCH" --log-every 50 --no-progress \
    --cuda-graphs --set defaults.norm=none --title "Training probe without batch norm (GPU run)" -o reports/probe/gpu_nobn
fi
