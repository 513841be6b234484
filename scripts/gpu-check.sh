#!/usr/bin/env bash
# The checks that need a GPU, as one command for a lent GPU machine (the
# device tool's H100; docs/cuda.md, "Running the GPU checks"). Runs from the
# repository root there, with .gpu-bundle/ carried (scripts/gpu-bundle.sh):
#   the GPU tests (tests/gpu), `doctor`, `kernels --backend cuda` (registers,
#   spills), `bench --backend cuda` for AdamW and Muon (fusion on and off,
#   device events, CUDA graph), the PyTorch peer on the GPU (bench/peer_bench.py
#   --device cuda), a training run to grokking, and the sweep pack gain
#   (quick.json as lone runs, then in packs of 5).
# Writes at most 8 files under $OUT (else out/gpu-check): check.log with
# everything, and the JSON of each step. The steps run most important first,
# each under its own time limit and all within GPU_CHECK_BUDGET seconds
# (default 540, inside the device tool's 600 s a command): a step that would
# start with less than 15 s left is skipped and counted as failed. The whole
# should take about 5 minutes with NVRTC compiling cold on 16 cores (an
# estimate: it has not run on a GPU yet).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu-check}
mkdir -p "$out"
budget=${GPU_CHECK_BUDGET:-540}
failed=0

# step NAME SECONDS OUTFILE|- COMMAND...: runs COMMAND under a time limit (cut
# to what is left of the budget), its stdout to $out/OUTFILE (or the log), and
# says how it ended.
step() {
  local name=$1 limit=$2 file=$3 t0=$SECONDS rc left=$((budget - SECONDS))
  shift 3
  if [ $left -lt 15 ]; then
    echo "=== $name: skipped, ${left}s of the ${budget}s budget left"
    failed=$((failed + 1))
    return
  fi
  [ "$limit" -le "$left" ] || limit=$left
  echo "=== $name (limit ${limit}s): $*"
  if [ "$file" = - ]; then timeout "$limit" "$@"; else timeout "$limit" "$@" > "$out/$file"; fi
  rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || failed=$((failed + 1))
}

main() {
  local bundle=.gpu-bundle/grokjit-gpu.tar.xz
  [ -f "$bundle" ] || { echo "gpu-check: $bundle missing: run scripts/gpu-bundle.sh here and carry .gpu-bundle"; exit 2; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  tar -C "$work" -xJf "$bundle" || { echo "gpu-check: could not unpack $bundle"; exit 2; }
  # The bundle's libraries for its two binaries only (wrappers), not for the
  # machine's own programs (python3 and torch want Ubuntu's libstdc++); NVRTC
  # from the machine's CUDA toolkit, libcuda.so.1 (dlopen) from the driver's
  # folder where ld.so.cache lacks it.
  local libs="$work/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:/usr/local/nvidia/lib64"
  for b in grokjit test_gpu; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' "$libs" "$work/bin/$b" > "$work/$b"
    chmod +x "$work/$b"
  done
  export GROKJIT_CACHE_DIR="$work/cache"
  local gj=$work/grokjit bins="$work/bin/grokjit $work/bin/test_gpu"

  echo "bundle from $(cat "$work/SOURCE"), checkout at $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  step machine 30 - sh -c 'nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; ldd --version | head -1; nproc'
  step libraries 10 - env LD_LIBRARY_PATH="$libs" sh -c "ldd $bins | grep -E 'not found|LLVM|nvrtc'; ! ldd $bins | grep -q 'not found'"
  step doctor 60 - "$gj" doctor
  if ! timeout 60 "$gj" doctor --json 2>/dev/null | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["gpu"] else 1)'; then
    echo "gpu-check: no usable GPU here (doctor's gpu_reason above): nothing else is run"
    exit 3
  fi
  step gpu-tests 300 - "$work/test_gpu" --gtest_output="json:$out/gpu-tests.json"
  step bench-adamw 300 bench-add-adamw-cuda.json "$gj" bench specs/add-adamw.json --backend cuda --steps 200 --warmup 20 --json
  step bench-muon 300 bench-add-muon-cuda.json "$gj" bench specs/add-muon.json --backend cuda --steps 200 --warmup 20 --json
  # Recomputation instead of stores (GROKJIT_RECOMPUTE, off by default until measured): against bench-adamw.
  step bench-adamw-recompute 120 bench-add-adamw-cuda-recompute.json env GROKJIT_RECOMPUTE=on "$gj" bench specs/add-adamw.json --backend cuda --fusion on --steps 200 --warmup 20 --json
  step train 300 - "$gj" train specs/add-muon.json --backend cuda --out "$work/run-add-muon"
  cp "$work/run-add-muon/summary.json" "$out/train-add-muon-cuda.json" 2>/dev/null
  for pack in 1 5; do
    step "sweep-pack-$pack" 300 - "$gj" sweep specs/sweeps/quick.json --backend cuda --pack $pack --out "$work/quick-pack$pack"
  done
  # Packed runs round differently from lone ones (as on the CPU), so the
  # grokking epochs are listed side by side rather than required to be equal.
  step sweep-packs-compared 30 - python3 - "$work/quick-pack1/results.jsonl" "$work/quick-pack5/results.jsonl" <<'PY'
import json, sys
def epochs(path):
    return {r["id"]: (r.get("summary") or {}).get("grokking_epoch") for r in map(json.loads, open(path))}
alone, packed = map(epochs, sys.argv[1:3])
for run_id in sorted(alone):
    print(f"{run_id:40} alone {alone[run_id]!s:>5}  packed {packed.get(run_id)!s:>5}")
print(sum(alone[k] == packed.get(k) for k in alone), "of", len(alone), "runs grokked at the same epoch")
PY
  step peer-cuda 300 peer-cuda.json python3 bench/peer_bench.py --device cuda --grokjit "$gj" --rounds 2 --steps 30 --json
  step kernels 300 kernels-add-adamw-cuda.json "$gj" kernels specs/add-adamw.json --backend cuda --json
  echo "gpu-check: $failed step(s) failed; results in $out"
  [ $failed -eq 0 ]
}

# tee inside the pipeline, so the log is whole when the script exits.
main 2>&1 | tee "$out/check.log"
exit "${PIPESTATUS[0]}"
