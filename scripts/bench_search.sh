#!/usr/bin/env bash
# The search's inner loop: accuracy-predictor and cost-model queries per second, and the evolution's
# wall time at MCUNet's defaults (30 generations x 100) with the shipped predictor.
# Usage: scripts/bench_search.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
[[ -x "$BUILD/bench_search" ]] || { echo "bench_search.sh: $BUILD/bench_search not built" >&2; exit 1; }
"$BUILD/bench_search"
