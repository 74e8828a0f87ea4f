#!/usr/bin/env bash
# The search's inner loop: accuracy-predictor and cost-model queries per second, and the evolution's
# wall time at MCUNet's defaults (30 generations x 100) with the shipped predictor; then the README's
# whole search (stage 1, evolution, re-measurements, baselines, firmware run in QEMU) timed end to end.
# Usage: scripts/bench_search.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
[[ -x "$BUILD/bench_search" ]] || { echo "bench_search.sh: $BUILD/bench_search not built" >&2; exit 1; }
"$BUILD/bench_search"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
echo "== the README example: tinynas search --sram 12K --flash 1M"
start=$(date +%s.%N)
"$BUILD/tinynas" --log-level warn search --sram 12K --flash 1M --out "$OUT/search"
end=$(date +%s.%N)
echo "whole search: $(awk "BEGIN {printf \"%.1f\", $end - $start}") s on $(nproc) cores"
