#!/usr/bin/env bash
# The int8 engine on an emulated Cortex-M4 and Cortex-M7 (QEMU mps2-an386 / mps2-an500, -icount
# shift=0): instructions per MAC of single layers (the shapes the CMSIS-NN figures describe and the
# small-map, small-channel and classifier shapes of MCU networks) and of whole networks with random
# weights (three MCUNet zoo networks and a visual-wake-words one), with their arena, stack peak, Flash
# and instructions per op type. Instruction counts are exact and repeatable, so the
# figures do not depend on the machine's load. With TINYNAS_BENCH_ACCURACY=1 it also reports float vs
# int8 top-1 of the shipped Fashion-MNIST network on the whole test split.
# Usage: scripts/bench_engine.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
[[ -x "$BUILD/bench_engine" ]] || { echo "bench_engine.sh: $BUILD/bench_engine not built" >&2; exit 1; }
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null; then
  echo "bench_engine.sh: needs gcc-arm-none-eabi and qemu-system-arm (scripts/setup.sh installs them)" >&2
  exit 1
fi
"$BUILD/bench_engine" --board mps2-an386
echo
"$BUILD/bench_engine" --board mps2-an500  # the same source on the Cortex-M7

if [[ "${TINYNAS_BENCH_ACCURACY:-0}" == 1 ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  for arch in largest smallest; do
    echo "float vs int8, the shipped supernet's $arch subnet, whole test split:"
    "$BUILD/tinynas" --log-level warn export --arch "$arch" --mcu stm32h743 --eval-images -1 --out "$out/$arch" |
      grep "top-1"
  done
fi
