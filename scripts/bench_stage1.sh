#!/usr/bin/env bash
# Stage-1 throughput: subnets sampled + planned per second on MCUNet's full grid (108 spaces,
# w 0.2..1.0 x r 48..224) at m = 1000, with all cores and with one, measured in one run; then with
# patch search on (search: {patch: true}), over MCUNet's space and its redistributed one, where every
# subnet that does not fit layer by layer has its patch schedules planned.
# Usage: scripts/bench_stage1.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}/tinynas"
[[ -x "$BIN" ]] || { echo "bench_stage1.sh: $BIN not built (run scripts/setup.sh)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rate() {  # threads [config]
  local config="${2:-configs/experiments/mcunet-imagenet.yaml}" run="$out/t$1-$(basename "${2:-plain}" .yaml)"
  "$BIN" --log-level warn --threads "$1" optimize-space --config "$config" \
    --sram 320K --flash 1M --samples 1000 --out "$run" >/dev/null
  local j="$run/summary.json"
  field() { grep -o "\"$1\": [0-9.e+-]*" "$j" | head -n 1 | awk '{print $2}'; }
  echo "$(field subnets) $(field seconds) $(field subnets_per_second)"
}
all=$(nproc)
for t in "$all" 1 "$all"; do
  read -r n s r < <(rate "$t")
  echo "stage1 threads=$t subnets=$n seconds=$s subnets_per_second=$r"
done
echo "target: >= 20000 subnets/s on 2 cores"
for space in mcunet-imagenet mcunet-imagenet-redistributed; do
  sed -e "s|^space: .*|space: $PWD/configs/spaces/$space.yaml|" configs/experiments/mcunet-imagenet.yaml >"$out/$space-patch.yaml"
  printf 'search:\n  patch: true\n' >>"$out/$space-patch.yaml"
  read -r n s r < <(rate "$all" "$out/$space-patch.yaml")
  echo "stage1 patch search, space $space: threads=$all subnets=$n seconds=$s subnets_per_second=$r"
done
