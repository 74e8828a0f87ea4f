#!/usr/bin/env bash
# Search quality on CIFAR-10 (MLPerf Tiny's image classification task) from a user's JPEG class folders:
# trains the supernet of configs/experiments/cifar10.yaml, builds its accuracy predictor (Kendall tau and
# the noise ceiling), searches under two budgets (an SRAM-bound one, and ResNet-8's own SRAM, Flash and
# latency: its instructions per inference on the emulated Cortex-M4 at the MCU's clock),
# then trains every network for the same epochs with the same recipe: the searched winner and the
# scaled MobileNetV2 / ProxylessNAS baselines fine-tuned from the supernet, MLPerf Tiny's ResNet-8
# (configs/networks/resnet8-cifar10.json) from random weights. Each is exported for the emulated
# Cortex-M4: holdout top-1 in float and int8, peak SRAM, Flash and instructions per inference.
#
# Usage: scripts/bench_cifar10.sh PATH_TO_TAR [BUILD_DIR]
#   PATH_TO_TAR holds train/<class>/*.jpg (CIFAR-10's 50,000 training images); the holdout (10,000
#   images, seeded) is carved from it, as the experiment says.
#   TINYNAS_BENCH_DIR           work folder (default build/bench-cifar10): data, supernet, searches, networks
#   TINYNAS_BENCH_TRAIN_LIMIT   stop the supernet's training after this long (a `timeout` duration, e.g.
#                               2h) with a checkpoint; run the script again to continue (exit 3 until done)
#   TINYNAS_BENCH_EPOCHS        training epochs of every compared network (default 15)
#   TINYNAS_BENCH_LR            their learning rate (default 0.05 from the supernet, ResNet-8 0.1)
#   TINYNAS_BENCH_SAMPLES       subnets measured for the predictor (default 300)
#   TINYNAS_BENCH_SRAM_BUDGET   the SRAM-bound budget (default "--sram 32K --flash 256K")
#   TINYNAS_BENCH_EVAL_IMAGES   holdout images of the float / int8 top-1 (default -1: all 10,000)
#   A quick trial of the whole pipeline (figures meaningless): TINYNAS_BENCH_SUPERNET_EPOCHS=1
#   TINYNAS_BENCH_MAX_STEPS=2 TINYNAS_BENCH_EPOCHS=1 TINYNAS_BENCH_SAMPLES=15 TINYNAS_BENCH_EVAL_IMAGES=100
# Every step writes its result in the work folder and is skipped when that result is there, so an
# interrupted run continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TAR="${1:-}"
BUILD="${2:-build}"
[[ -n "$TAR" ]] || { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ -f "$TAR" ]] || { echo "bench_cifar10.sh: no such file: $TAR" >&2; exit 2; }
source scripts/bench_lib.sh
bench_setup bench_cifar10.sh bench-cifar10
EPOCHS="${TINYNAS_BENCH_EPOCHS:-15}"
EXPORT_MCU=mps2-an386
EXTRACT_FLAGS=()
SAMPLES="${TINYNAS_BENCH_SAMPLES:-300}"
read -r -a SRAM_BUDGET <<<"${TINYNAS_BENCH_SRAM_BUDGET:---sram 32K --flash 256K}"
EVAL_IMAGES="${TINYNAS_BENCH_EVAL_IMAGES:--1}"

# 1. The data, unpacked once (into a temporary folder first, so a broken unpack is never taken as done).
if [[ ! -d "$WORK/data/train" ]]; then
  log "unpacking $TAR"
  rm -rf "$WORK/data.tmp"
  mkdir -p "$WORK/data.tmp"
  tar -xzf "$TAR" -C "$WORK/data.tmp"
  [[ -d "$WORK/data.tmp/train" ]] || { echo "bench_cifar10.sh: $TAR has no train/ folder" >&2; exit 2; }
  mv "$WORK/data.tmp" "$WORK/data"
fi

# 2. The experiment, pinned: a copy of the shipped space and of the experiment, pointing at the data and
#    at the supernet trained here.
bench_pin_experiment configs/spaces/cifar10.yaml configs/experiments/cifar10.yaml "$WORK/data"

# 3. The supernet, in chunks of TINYNAS_BENCH_TRAIN_LIMIT when set.
bench_train_supernet

# 4. The accuracy predictor: Kendall tau on held-out subnets and the noise ceiling.
bench_predictor

# 5. ResNet-8's budget: its peak SRAM (arena + stack) and Flash on the experiment's MCU.
RESNET8="$ROOT/configs/networks/resnet8-cifar10.json"
"$TN" --log-level warn profile "$RESNET8" --config "$EXPERIMENT" --json >"$WORK/resnet8-profile.json"
read -r R8_SRAM R8_FLASH MCU_NAME < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]
print(t["peak_sram_bytes"], t["flash"]["total_bytes"], t["mcu"])' "$WORK/resnet8-profile.json")
# Its latency: instructions per inference on the emulated core at the MCU's clock, which is how the
# latency model counts time. Random weights give the trained network's count: the weights only choose
# between requantization paths, and ResNet-8's counts are the same either way.
if [[ ! -f "$WORK/resnet8-instructions.txt" ]]; then
  "$TN" --log-level warn export --config "$EXPERIMENT" --arch "$RESNET8" --random-weights --mcu "$EXPORT_MCU" --run-qemu \
    --force --out "$WORK/resnet8-random.bundle" | sed -n 's/^total: \([0-9]*\) instructions.*/\1/p' >"$WORK/resnet8-instructions.tmp"
  [[ -s "$WORK/resnet8-instructions.tmp" ]] || { echo "bench_cifar10.sh: no instruction count for ResNet-8" >&2; exit 1; }
  mv "$WORK/resnet8-instructions.tmp" "$WORK/resnet8-instructions.txt"
fi
R8_INSTRUCTIONS="$(cat "$WORK/resnet8-instructions.txt")"
CLOCK_MHZ="$(sed -n 's/^clock_mhz: *\([0-9.]*\).*/\1/p' "configs/mcu/$MCU_NAME.yaml" 2>/dev/null)"
[[ -n "$CLOCK_MHZ" ]] || { echo "bench_cifar10.sh: no clock_mhz in configs/mcu/$MCU_NAME.yaml" >&2; exit 1; }
R8_LATENCY="$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / (float(sys.argv[2]) * 1e3):.3f}ms")' "$R8_INSTRUCTIONS" "$CLOCK_MHZ")"
log "ResNet-8's budget: SRAM $R8_SRAM B, Flash $R8_FLASH B, latency $R8_LATENCY ($R8_INSTRUCTIONS instructions at $CLOCK_MHZ MHz)"

# 6. The searches.
bench_search sram-bound "${SRAM_BUDGET[@]}"
bench_search resnet8-budget --sram "$R8_SRAM" --flash "$R8_FLASH" --latency "$R8_LATENCY"

# 7. Every network trained for the same epochs, then exported and run on the emulated Cortex-M4.
for budget in sram-bound resnet8-budget; do
  for name in winner baseline-mobilenetv2 baseline-proxylessnas; do
    if [[ -f "$WORK/search-$budget/$name.json" ]]; then
      bench_train_and_export "$budget" "$name" "$WORK/search-$budget/$name.json"
    fi
  done
done
bench_train_and_export resnet8-budget resnet8 "$RESNET8"

# 8. The table.
log "holdout top-1 after $EPOCHS epochs each, on the emulated Cortex-M4"
python3 - "$WORK" <<'EOF'
import glob, json, os, re, sys
print("| budget | network | float top-1 | int8 top-1 | peak SRAM | Flash | MACs | instructions (M4) | per MAC |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for export in sorted(glob.glob(os.path.join(sys.argv[1], "networks", "*.export.txt"))):
    base = export[:-len(".export.txt")]
    stem = os.path.basename(base)
    budget = "resnet8-budget" if stem.startswith("resnet8-budget-") else "sram-bound"
    text = open(export).read()
    acc = re.search(r"float ([0-9.]+) %, int8 ([0-9.]+) %", text)
    instructions = int(re.search(r"total: (\d+) instructions", text).group(1))
    t = json.load(open(base + ".profile.json"))["totals"]
    print(f"| {budget} | {stem[len(budget) + 1:]} | {acc.group(1)} % | {acc.group(2)} % | {t['peak_sram_bytes']:,} B "
          f"| {t['flash']['total_bytes']:,} B | {t['macs']:,} | {instructions:,} | {instructions / t['macs']:.2f} |")
EOF
