#!/usr/bin/env bash
# Regenerates the PyTorch cross-check references tests/data/crosscheck_<case>.json
# (docs/crosscheck.md): builds test_crosscheck, exports grokjit's initial
# weights and first batches for every case, runs tests/crosscheck/torch_reference.py
# with Debian's python3-torch, then runs the cross-check test against the new files.
#
#   scripts/regen-crosscheck.sh [--build-dir DIR] [--cases a,b] [--out-dir DIR]
#                               [--perturb NAME] [--no-test] [-j N]
#
# --perturb NAME writes a deliberately wrong reference (to see the test fail;
# see torch_reference.py --help); it needs --out-dir outside tests/data, and the
# test then runs against that folder (GROKJIT_CROSSCHECK_DATA) and should FAIL.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${root}/build/crosscheck"
cases=""
out_dir="${root}/tests/data"
perturb=""
run_test=1
jobs=2
python="${GROKJIT_TORCH_PYTHON:-/usr/bin/python3}"  # Debian's python3-torch lives here, not in a pyenv

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    --out-dir) out_dir="$2"; shift 2 ;;
    --perturb) perturb="$2"; shift 2 ;;
    --no-test) run_test=0; shift ;;
    -j) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "regen-crosscheck: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -n "${perturb}" && "$(realpath -m "${out_dir}")" == "$(realpath -m "${root}/tests/data")" ]]; then
  echo "regen-crosscheck: --perturb writes a wrong reference; give an --out-dir outside tests/data" >&2
  exit 2
fi
if ! "${python}" -c 'import torch, numpy' 2>/dev/null; then
  echo "regen-crosscheck: ${python} cannot import torch and numpy (apt-get install python3-torch python3-numpy," \
       "or set GROKJIT_TORCH_PYTHON)" >&2
  exit 1
fi

echo "== build test_crosscheck (${build_dir})"
if [[ ! -f "${build_dir}/build.ninja" ]]; then
  cmake -S "${root}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "${build_dir}" --target test_crosscheck -j "${jobs}"
test_bin="${build_dir}/tests/test_crosscheck"

export_dir="$(mktemp -d "${TMPDIR:-/tmp}/grokjit_crosscheck_export.XXXXXX")"
trap 'rm -rf "${export_dir}"' EXIT

echo "== export grokjit's init and batches -> ${export_dir}"
GROKJIT_CROSSCHECK_EXPORT="${export_dir}" GROKJIT_CROSSCHECK_CASES="${cases}" \
  "${test_bin}" --gtest_also_run_disabled_tests --gtest_filter='CrosscheckExport.*' --gtest_brief=1

echo "== PyTorch reference ($("${python}" -c 'import torch; print("torch", torch.__version__)'))"
py_args=(--export-dir "${export_dir}" --out-dir "${out_dir}")
[[ -n "${cases}" ]] && py_args+=(--cases "${cases}")
[[ -n "${perturb}" ]] && py_args+=(--perturb "${perturb}")
"${python}" "${root}/tests/crosscheck/torch_reference.py" "${py_args[@]}"

if [[ "${run_test}" == 1 ]]; then
  echo "== test_crosscheck against ${out_dir}"
  filter='Crosscheck*'
  if [[ -n "${cases}" ]]; then
    filter=""
    IFS=',' read -ra names <<< "${cases}"
    for n in "${names[@]}"; do filter+="*/${n}:*_${n}:"; done
  fi
  cd "${root}"
  GROKJIT_CROSSCHECK_DATA="${out_dir}" "${test_bin}" --gtest_filter="${filter}"
fi
