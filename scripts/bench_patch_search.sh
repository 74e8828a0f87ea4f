#!/usr/bin/env bash
# The search with patch-based inference (MCUNetV2) on the shipped Fashion-MNIST supernet: at each SRAM
# budget (1 MB of Flash, STM32F746), the winner layer by layer, with `--patch` over the embedded default's
# space, and with patch search over its receptive-field-redistributed space
# (configs/experiments/fashion-mnist-patch.yaml: 3x3 kernels and two blocks in the first stage). Each
# winner is exported and, with the toolchain and QEMU, run on the emulated Cortex-M7 against the host.
# Usage: scripts/bench_patch_search.sh [BUILD_DIR] [BUDGETS (default "32K 8K 6K")]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
BUDGETS="${2:-32K 8K 6K}"
[[ -x "$BUILD/tinynas" ]] || { echo "bench_patch_search.sh: $BUILD/tinynas not built" >&2; exit 1; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
echo "| SRAM limit | search | r | MACs | schedule | SRAM | Flash | latency | energy | predicted top-1 | holdout top-1 | firmware | seconds |"
echo "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"
for budget in $BUDGETS; do
  for run in "layer-wise|configs/experiments/fashion-mnist.yaml|" \
             "--patch|configs/experiments/fashion-mnist.yaml|--patch" \
             "--patch, redistributed space|configs/experiments/fashion-mnist-patch.yaml|"; do
    IFS='|' read -r label config flag <<<"$run"
    dir="$OUT/$budget-${label//[^a-z]/}"
    start=$(date +%s.%N)
    code=0
    # shellcheck disable=SC2086  # $flag is empty or one flag
    "$BUILD/tinynas" --log-level warn search --sram "$budget" --flash 1M --config "$config" $flag --out "$dir" \
      >"$dir.log" 2>&1 || code=$?
    seconds=$(awk "BEGIN {printf \"%.0f\", $(date +%s.%N) - $start}")
    if [[ $code -eq 2 ]]; then
      echo "| $budget | $label | no subnet meets the budget (exit 2) | | | | | | | | | | $seconds |"
      continue
    elif [[ $code -ne 0 ]]; then
      echo "bench_patch_search.sh: search at $budget ($label) failed:" >&2; tail -5 "$dir.log" >&2; exit 1
    fi
    row=$(grep -m1 '^| searched (tinynas) |' "$dir/report.md")
    firmware=$(grep -m1 -o 'bit-identical[^.]*' "$dir/report.md" || echo "not run")
    echo "| $budget | $label | ${row#| searched (tinynas) | } ${firmware} | $seconds |"
  done
done
