#!/usr/bin/env bash
# Keyword spotting: the searched network against MLPerf Tiny's DS-CNN on a Speech Commands root. Trains
# the supernet of configs/experiments/kws.yaml, builds its accuracy predictor, searches under the budget,
# then trains every network for the same epochs with the same recipe: the searched winner fine-tuned from
# the supernet; DS-CNN (configs/networks/dscnn-kws.json, 64 channels) and DS-CNN widened to the largest
# width that fits the same budget, both from random weights. Each is exported with its MFCC front-end for
# the emulated Cortex-M7 (the STM32F746's core) and run there: test top-1 in float and int8, peak SRAM,
# Flash, instructions per 1 s clip (front-end included) and the energy per inference on an STM32F746.
#
# Usage: scripts/bench_kws.sh [SPEECH_ROOT] [BUILD_DIR]
#   SPEECH_ROOT   a Speech Commands root (default: one synthesized in the work folder by
#                 scripts/make_speech_set.sh --speakers $TINYNAS_BENCH_SPEAKERS --seed 1)
#   TINYNAS_BENCH_DIR              work folder (default build/bench-kws)
#   TINYNAS_BENCH_SPEAKERS         speakers of the synthesized root (default 120: 4,800 clips)
#   TINYNAS_BENCH_TRAIN_LIMIT      stop the supernet's training after this long (a `timeout` duration)
#                                  with a checkpoint; run the script again to continue (exit 3 until done)
#   TINYNAS_BENCH_SUPERNET_EPOCHS  the supernet's epochs (default: the experiment's)
#   TINYNAS_BENCH_EPOCHS           training epochs of every compared network (default 40)
#   TINYNAS_BENCH_LR               their learning rate (default 0.05 from the supernet, DS-CNN 0.1)
#   TINYNAS_BENCH_SAMPLES          subnets measured for the predictor (default 200)
#   TINYNAS_BENCH_BUDGET           the budget (default "--sram 64K --flash 256K", the experiment's)
#   A quick trial of the whole pipeline (figures meaningless): TINYNAS_BENCH_SPEAKERS=10
#   TINYNAS_BENCH_SUPERNET_EPOCHS=1 TINYNAS_BENCH_MAX_STEPS=2 TINYNAS_BENCH_EPOCHS=1 TINYNAS_BENCH_SAMPLES=15
# Every step writes its result in the work folder and is skipped when that result is there, so an
# interrupted run continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DATA="${1:-}"
BUILD="${2:-build}"
[[ "$DATA" == -h || "$DATA" == --help ]] && { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
[[ -z "$DATA" || -d "$DATA" ]] || { echo "bench_kws.sh: no such folder: $DATA" >&2; exit 2; }
source scripts/bench_lib.sh
bench_setup bench_kws.sh bench-kws
EPOCHS="${TINYNAS_BENCH_EPOCHS:-40}"
SAMPLES="${TINYNAS_BENCH_SAMPLES:-200}"
read -r -a BUDGET <<<"${TINYNAS_BENCH_BUDGET:---sram 64K --flash 256K}"
EVAL_IMAGES=-1  # the whole test split
EXPORT_MCU=qemu-m7
EXTRACT_FLAGS=(--test)

# 1. The data: the given root, or a synthesized one (made in a temporary folder, then renamed).
if [[ -z "$DATA" ]]; then
  DATA="$WORK/speech-commands"
  if [[ ! -d "$DATA" ]]; then
    log "synthesizing a Speech Commands root of ${TINYNAS_BENCH_SPEAKERS:-120} speakers"
    rm -rf "$DATA.tmp"
    scripts/make_speech_set.sh "$DATA.tmp" --speakers "${TINYNAS_BENCH_SPEAKERS:-120}" --seed 1 >"$WORK/speech-commands.log"
    mv "$DATA.tmp" "$DATA"
  fi
fi
DATA="$(cd "$DATA" && pwd -P)"
log "data: $DATA ($(find "$DATA" -name '*.wav' -not -path '*_background_noise_*' | wc -l) clips)"

# 2. The experiment, pinned: a copy of the shipped space and of the experiment, pointing at the data and
#    at the supernet trained here.
bench_pin_experiment configs/spaces/kws.yaml configs/experiments/kws.yaml "$DATA"

# 3-5. The supernet, its predictor, the search.
bench_train_supernet
bench_predictor
bench_search budget "${BUDGET[@]}"

# 6. DS-CNN as MLPerf Tiny gives it (64 channels), and widened in steps of 8 channels to the largest that
#    fits the same budget (peak SRAM and Flash as profile counts them, the front-end included).
DSCNN="$ROOT/configs/networks/dscnn-kws.json"
if [[ ! -f "$WORK/dscnn-wide.json" ]]; then
  log "widening DS-CNN to the budget: ${BUDGET[*]}"
  python3 - "$TN" "$EXPERIMENT" "$DSCNN" "$WORK" "${BUDGET[@]}" <<'PY'
import json, os, subprocess, sys
tn, experiment, dscnn, work, *budget = sys.argv[1:]
units = {"": 1, "K": 1024, "M": 1024 ** 2}
def size(text):
    text = text.upper().rstrip("B")
    return int(float(text.rstrip("KM")) * units[text[-1] if text[-1] in "KM" else ""])
limits = {budget[i]: size(budget[i + 1]) for i in range(0, len(budget), 2)}
base = json.load(open(dscnn))
best = None
for channels in range(64, 513, 8):
    net = json.loads(json.dumps(base))
    net["name"] = f"dscnn-{channels}"
    net["first_conv"]["out_channels"] = channels
    for b in net["blocks"]:
        b["in_channels"] = b["out_channels"] = channels
    net["classifier"]["in_features"] = channels
    path = os.path.join(work, f"dscnn-{channels}.json")
    json.dump(net, open(path, "w"), indent=1)
    t = json.loads(subprocess.run([tn, "--log-level", "warn", "profile", path, "--config", experiment, "--json"],
                                  check=True, capture_output=True, text=True).stdout)["totals"]
    os.remove(path)
    if t["peak_sram_bytes"] > limits.get("--sram", 1 << 62) or t["flash"]["total_bytes"] > limits.get("--flash", 1 << 62):
        break
    best = net
if best is None:
    sys.exit("bench_kws.sh: not even the 64-channel DS-CNN fits the budget")
tmp = os.path.join(work, "dscnn-wide.json.tmp")
json.dump(best, open(tmp, "w"), indent=1)
os.replace(tmp, os.path.join(work, "dscnn-wide.json"))
print(f"DS-CNN widened to {best['first_conv']['out_channels']} channels")
PY
fi

# 7. Every network trained for the same epochs, exported with its front-end and run on the Cortex-M7.
bench_train_and_export budget winner "$WORK/search-budget/winner.json"
bench_train_and_export budget dscnn "$DSCNN"
bench_train_and_export budget dscnn-wide "$WORK/dscnn-wide.json"

# 8. The table; energy = instructions / clock x supply voltage x run current of configs/mcu/stm32f746.yaml.
log "test top-1 after $EPOCHS epochs each; instructions on the emulated Cortex-M7, energy on an STM32F746"
python3 - "$WORK" "$ROOT/configs/mcu/stm32f746.yaml" <<'PY'
import glob, json, os, re, sys
mcu = open(sys.argv[2]).read()
clock_hz = float(re.search(r"clock_mhz: ([0-9.]+)", mcu).group(1)) * 1e6
watts = float(re.search(r"supply_voltage: ([0-9.]+)", mcu).group(1)) * float(re.search(r"run_current_ma: ([0-9.]+)", mcu).group(1)) / 1000
print("| network | float top-1 | int8 top-1 | peak SRAM | Flash | MACs | instructions (M7) | of which front-end | latency | energy |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for export in sorted(glob.glob(os.path.join(sys.argv[1], "networks", "*.export.txt"))):
    base = export[:-len(".export.txt")]
    text = open(export).read()
    acc = re.search(r"float ([0-9.]+) %, int8 ([0-9.]+) %", text)
    total = int(re.search(r"total: (\d+) instructions", text).group(1))
    frontend = int(re.search(r"\| front-end \| \w+ \| \| (\d+) \|", text).group(1))
    t = json.load(open(base + ".profile.json"))["totals"]
    seconds = total / clock_hz
    print(f"| {os.path.basename(base)[len('budget-'):]} | {acc.group(1)} % | {acc.group(2)} % | {t['peak_sram_bytes']:,} B "
          f"| {t['flash']['total_bytes']:,} B | {t['macs']:,} | {total:,} | {frontend:,} | {seconds * 1e3:.1f} ms "
          f"| {seconds * watts * 1e3:.2f} mJ |")
PY
