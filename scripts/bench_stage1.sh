#!/usr/bin/env bash
# Stage-1 throughput: subnets sampled + planned per second on MCUNet's full grid (108 spaces,
# w 0.2..1.0 x r 48..224) at m = 1000, with all cores and with one, measured in one run.
# Usage: scripts/bench_stage1.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}/tinynas"
[[ -x "$BIN" ]] || { echo "bench_stage1.sh: $BIN not built (run scripts/setup.sh)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rate() {  # threads
  "$BIN" --log-level warn --threads "$1" optimize-space --config configs/experiments/mcunet-imagenet.yaml \
    --sram 320K --flash 1M --samples 1000 --out "$out/t$1" >/dev/null
  local j="$out/t$1/summary.json"
  field() { grep -o "\"$1\": [0-9.e+-]*" "$j" | head -n 1 | awk '{print $2}'; }
  echo "$(field subnets) $(field seconds) $(field subnets_per_second)"
}
all=$(nproc)
for t in "$all" 1 "$all"; do
  read -r n s r < <(rate "$t")
  echo "stage1 threads=$t subnets=$n seconds=$s subnets_per_second=$r"
done
echo "target: >= 20000 subnets/s on 2 cores"
