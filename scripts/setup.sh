#!/usr/bin/env bash
# Installs the Debian packages grokjit needs (idempotent; quiet when all are
# there). The CUDA toolkit at /usr/local/cuda is part of the machine image:
# detected by CMake, never installed here. `scripts/setup.sh --bench` also
# installs PyTorch for bench/peer_bench.py.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  llvm-19-dev libzstd-dev zlib1g-dev      # CPU backend: LLVM 19 ORC JIT
  libcli11-dev nlohmann-json3-dev         # CLI and JSON specs
  libgtest-dev                            # tests
  libboost-dev                            # Boost.Math: statistics in reports
  libeigen3-dev                           # SVD for spectra, polar factors, effective rank
  libopenblas-dev                         # benchmark baseline only (bench/)
  gnuplot-nox                             # report plots (SVG/PNG)
  python3                                 # scripts/, checkpoint interop tests
)

# --bench: also Debian's PyTorch for the peer benchmark (bench/peer_bench.py).
# Large (some 300 MB installed with its libraries), so not in the default set.
case "${1:-}" in
  "") ;;
  --bench) packages+=(python3-torch python3-numpy) ;;
  *) echo "setup: unknown argument '$1' (the only option is --bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
