#!/usr/bin/env bash
# Patch-based inference (MCUNetV2) on the model zoo: the layer-wise arena, the patch schedule that
# `--patch auto --max-extra-macs 15` picks with its arena and extra MACs, the cheapest schedule reaching a
# 3x smaller arena, and the instructions per inference of both firmwares on the emulated Cortex-M7 (QEMU
# mps2-an500, -icount shift=0, exact and repeatable), whose outputs must equal the layer-wise integer
# reference's bit for bit. Random weights: neither memory nor instructions depend on them.
# Usage: scripts/bench_patch.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
[[ -x "$BUILD/bench_patch" ]] || { echo "bench_patch.sh: $BUILD/bench_patch not built" >&2; exit 1; }
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null; then
  echo "bench_patch.sh: needs gcc-arm-none-eabi and qemu-system-arm (scripts/setup.sh installs them)" >&2
  exit 1
fi
"$BUILD/bench_patch" --board mps2-an500
