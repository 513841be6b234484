#!/usr/bin/env bash
# The main job on the CPU: install what is missing, build, train the default
# spec until it groks. Extra arguments go to `grokjit train`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# --overwrite: running the main job again replaces its previous run.
exec build/release/grokjit train specs/add-adamw.json --out runs/add-adamw --overwrite "$@"
