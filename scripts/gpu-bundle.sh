#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh runs into .gpu-bundle/ (git-ignored), for a
# GPU machine that has the NVIDIA driver and the CUDA toolkit but neither LLVM
# nor Debian's libraries: the lent H100 of the device tool (docs/cuda.md,
# "Running the GPU checks"). Builds the release preset's grokjit and test_gpu,
# strips them, and adds every shared library they load except glibc's, the
# CUDA driver's and NVRTC (the GPU machine's own are used). About 45 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f build/release/build.ninja ] || cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target grokjit test_gpu
grep -q '^#define GROKJIT_HAVE_NVRTC 1' build/release/generated/grokjit/build_config.h ||
  { echo "gpu-bundle: build/release was configured without NVRTC (no CUDA toolkit at /usr/local/cuda)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp build/release/grokjit build/release/tests/test_gpu "$stage/bin/"
strip "$stage/bin/"*
# Libraries by soname as ldd resolves them here; glibc, the CUDA driver and
# NVRTC stay behind (libstdc++ and libgcc_s travel: the binaries and libLLVM
# were built against these).
ldd "$stage/bin/grokjit" "$stage/bin/test_gpu" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r soname path; do
    case "$soname" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libnvrtc*|libcuda.so*) ;;
      *) cp -L "$path" "$stage/lib/$soname" ;;
    esac
  done
git rev-parse --short=12 HEAD > "$stage/SOURCE" 2>/dev/null || echo unknown > "$stage/SOURCE"
git diff --quiet HEAD 2>/dev/null || sed -i 's/$/+changes/' "$stage/SOURCE"

mkdir -p .gpu-bundle
rm -f .gpu-bundle/grokjit-gpu.tar.xz
tar -C "$stage" -cf - . | xz -T0 -6 > .gpu-bundle/grokjit-gpu.tar.xz
size=$(stat -c %s .gpu-bundle/grokjit-gpu.tar.xz)
echo "gpu-bundle: .gpu-bundle/grokjit-gpu.tar.xz, $((size / 1048576)) MiB, from $(cat "$stage/SOURCE"):"
(cd "$stage" && find bin lib -type f | sort | sed "s/^/  /")
# The device tool carries at most 64 MiB with the working tree (about 5 MiB).
if [ "$size" -gt $((56 * 1048576)) ]; then
  echo "gpu-bundle: over 56 MiB: with the working tree it would not fit the device tool's 64 MiB" >&2
  exit 1
fi
