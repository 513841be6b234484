#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run ctest.
# GPU tests skip with a message where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --preset release -j "$(nproc)" "$@"
