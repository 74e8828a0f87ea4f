#!/usr/bin/env bash
# Searched vs baseline after the same fine-tuning budget: runs the README's search (an SRAM-bound
# Fashion-MNIST budget), then fine-tunes the winner and the two scaled baselines from the supernet's
# weights for the same epochs and learning rate, and prints their top-1 on the Fashion-MNIST test split
# (which the search never sees) next to their SRAM and Flash.
# Usage: scripts/bench_finetune.sh [BUILD_DIR]
#   TINYNAS_BENCH_EPOCHS   fine-tuning epochs of every network (default 3)
#   TINYNAS_BENCH_LIMITS   search limits (default "--sram 12K --flash 1M")
#   TINYNAS_BENCH_SCRATCH=1  also train the three networks from random weights for the same epochs
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
EPOCHS="${TINYNAS_BENCH_EPOCHS:-3}"
read -r -a LIMITS <<<"${TINYNAS_BENCH_LIMITS:---sram 12K --flash 1M}"
TN="$BUILD/tinynas"
[[ -x "$TN" ]] || { echo "bench_finetune.sh: $TN not built" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== search ${LIMITS[*]} (no firmware)"
"$TN" --log-level warn search "${LIMITS[@]}" --no-firmware --out "$WORK/search" >"$WORK/search.txt"
cat "$WORK/search.txt"

# The networks and their arch files (their SRAM and Flash are in the search output above).
declare -A FILE=([searched]=winner.json [MobileNetV2]=baseline-mobilenetv2.json [ProxylessNAS]=baseline-proxylessnas.json)
run() {  # name mode(finetune|scratch)
  local name="$1" mode="$2" arch="$WORK/search/${FILE[$1]}"
  [[ -f "$arch" ]] || { printf '%-14s %-9s (does not fit the limits)\n' "$name" "$mode"; return; }
  local extra=()
  [[ "$mode" == scratch ]] && extra=(--from-scratch)
  local start end line
  start=$(date +%s.%N)
  line=$("$TN" --log-level warn extract --arch "$arch" --out "$WORK/$name-$mode.pt" --finetune "$EPOCHS" \
         "${extra[@]}" --test | tail -1)
  end=$(date +%s.%N)
  local holdout test
  holdout=$(sed -E 's/.*holdout top-1 ([0-9.]+) %.*/\1/' <<<"$line")
  test=$(sed -E 's/.*test top-1 ([0-9.]+) %.*/\1/' <<<"$line")
  printf '%-14s %-9s holdout %6s %%  test %6s %%  (%s epochs, %.0f s)\n' "$name" "$mode" "$holdout" "$test" "$EPOCHS" \
    "$(awk "BEGIN {print $end - $start}")"
  echo "$name $mode $test" >>"$WORK/results.txt"
}

echo "== fine-tuned from the supernet's weights, $EPOCHS epochs each, same learning rate"
for n in searched MobileNetV2 ProxylessNAS; do run "$n" finetune; done
if [[ "${TINYNAS_BENCH_SCRATCH:-0}" == 1 ]]; then
  echo "== trained from random weights, $EPOCHS epochs each"
  for n in searched MobileNetV2 ProxylessNAS; do run "$n" scratch; done
fi
echo "== test top-1, searched minus baseline (points)"
awk '{acc[$1" "$2]=$3; modes[$2]=1}
     END {for (m in modes) for (b in acc) { split(b, p, " ");
            if (p[2]==m && p[1]!="searched" && (("searched " m) in acc))
              printf "%-9s vs %-13s %+.2f\n", m, p[1], acc["searched " m]-acc[b] }}' "$WORK/results.txt"
