#!/usr/bin/env bash
# Issue 12's device work as ONE call on the lent GPU machine, most valuable parts first, each under its own
# time limit, results packed into $OUT/results.tgz after every part (so a call cut short still returns them):
#   1. tests/probe/test_cuda.py without the torch.compile tests (CUDA graphs, bf16/channels_last, late NaN, OOM)
#   2. --experiment degradation       at 32x32, batch 128, STEPS steps -> reports/probe/gpu_degradation/
#   3. --experiment degradation-nobn  likewise                         -> reports/probe/gpu_degradation-nobn/
#   4. bench/bench_probe.py A (eager and CUDA-graph probe vs hand-written step), B (ResNet-50 vs torchvision), C
#   5. the torch.compile tests, 6. the compiled probe step (each compile takes tens of seconds)
# Here (CPU):  ../shared/gpu/prepare.sh   then device run, carry [".gpu"]:
#   source .gpu/activate; PY=python3 bash bench/probe_gpu.sh
# On a machine without CUDA it says so and stops. STEPS (1000), BATCH (128), BUDGET (seconds, 470) override.
set -uo pipefail
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-1000}
BATCH=${BATCH:-128}
BUDGET=${BUDGET:-470}
DEST=${OUT:-/tmp/probe_gpu_out}
mkdir -p "$DEST/logs"
SECONDS=0
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA here: run this on a GPU machine')" || exit 1
machine=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
torchv=$("$PY" -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda)")
echo "machine: $machine; torch $torchv; $(nproc) CPU cores" | tee "$DEST/logs/machine.txt"
cat > "$DEST/logs/notes.md" <<NOTES
Run on the lent GPU machine: $machine, torch $torchv, in one call of \`bench/probe_gpu.sh\`
(issue 12): the lecture preset at CIFAR size (\`--set input.size=32\`), batch $BATCH, $STEPS steps, eager with bf16
autocast and channels_last (the probe's CUDA defaults). The data is still scikit-learn's digits (the GPU machine
reaches no network, so CIFAR-10 could not be fetched there), brought to 32x32.
NOTES
status=()
pack() { tar czf "$DEST/results.tgz" -C . $(ls -d reports/probe/gpu_* 2>/dev/null) -C "$DEST" logs 2>/dev/null; }
part() {  # part NAME LIMIT_S COMMAND...: runs if time is left, logs, records the exit status
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - SECONDS))
  if (( left < 20 )); then status+=("$name: not run (no time left)"); return; fi
  (( limit > left )) && limit=$left
  echo "=== $name (limit ${limit}s, at ${SECONDS}s)"
  timeout --kill-after=5 "$limit" "$@" > "$DEST/logs/$name.txt" 2>&1
  local rc=$?
  tail -n 25 "$DEST/logs/$name.txt"
  status+=("$name: exit $rc after $((SECONDS))s")
  pack
}
experiment() {  # experiment NAME LIMIT_S
  part "$1" "$2" "$PY" -m archc probe --experiment "$1" --device cuda --set input.size=32 --batch "$BATCH" \
    --steps "$STEPS" --no-progress --notes "$DEST/logs/notes.md" -o "reports/probe/gpu_$1"
}
part checks 110 "$PY" -m pytest -q -p no:cacheprovider -rA tests/probe/test_cuda.py -k "not compiled"
experiment degradation 130
experiment degradation-nobn 90
part bench 110 "$PY" bench/bench_probe.py --compile-modes "" --json "$DEST/logs/bench.json"
part checks_compile 60 "$PY" -m pytest -q -p no:cacheprovider -rA tests/probe/test_cuda.py -k compiled
part bench_compile 80 "$PY" bench/bench_probe.py --skip BC --rounds 1 --compile-modes default --json "$DEST/logs/bench_compile.json"
echo "=== summary after ${SECONDS}s"
printf '%s\n' "${status[@]}" | tee "$DEST/logs/summary.txt"
pack
