#!/usr/bin/env bash
# The latency model's accuracy: `tinynas calibrate` on the emulated Cortex-M4 and M7 over the
# Fashion-MNIST and MCUNet ImageNet spaces (30 subnets fit, 20 validate), printing each fit's
# per-kind errors and the whole-subnet validation error. Writes into a temporary folder, so the
# shipped configs/calibration/ models stay as they are.
# Usage: scripts/bench_calibration.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
[[ -x "$BUILD/tinynas" ]] || { echo "bench_calibration.sh: $BUILD/tinynas not built" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for mcu in qemu-m4 qemu-m7; do
  for config in fashion-mnist mcunet-imagenet; do
    echo "# $mcu, $config space"
    start=$(date +%s)
    "$BUILD/tinynas" --log-level warn calibrate --mcu "$mcu" --config "configs/experiments/$config.yaml" \
      --work "$out/work-$mcu-$config" --out "$out/$mcu-$config.yaml"
    echo "  wall time $(( $(date +%s) - start )) s"
  done
done
