#!/usr/bin/env bash
# Fuzzes every reader of user input with libFuzzer under ASan + UBSan (the harnesses of tests/fuzz/):
# sizes and durations, space / experiment / MCU YAML, arch JSON, zoo JSON, ONNX import and tinynas
# (.pt) files, NumPy inputs and WAV clips. Each starts from a seed corpus of the project's own files and runs SECONDS (default 60).
# Prints executions and findings per harness; exits 1 when any harness found a crash, leak, timeout
# or out-of-memory input (saved under BUILD/findings/, replay: BUILD/fuzz/HARNESS FILE).
#   scripts/fuzz.sh [SECONDS] [HARNESS ...]
#   TINYNAS_FUZZ_BUILD_DIR=DIR    build and corpora somewhere else than build-fuzz/
# Needs clang and libclang-rt-14-dev (scripts/setup.sh installs them) and the packages of the main build.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }
all=(fuzz_sizes fuzz_space_yaml fuzz_experiment_yaml fuzz_mcu_yaml fuzz_arch_json fuzz_zoo_json fuzz_onnx fuzz_tinynas_file fuzz_npy fuzz_wav)
if (($#)); then harnesses=("$@"); else harnesses=("${all[@]}"); fi
for h in "${harnesses[@]}"; do
  [[ " ${all[*]} " == *" $h "* ]] || { echo "fuzz.sh: unknown harness '$h' (known: ${all[*]})" >&2; exit 2; }
done

build="$(realpath -m "${TINYNAS_FUZZ_BUILD_DIR:-build-fuzz}")"
# -O1 -g with assertions on: the usual libFuzzer build (fast enough, exact stack traces).
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DTINYNAS_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" --target fuzzers -j "$(nproc)"

# Seeds: the project's own files of each kind (the corpus folders keep what earlier runs found).
seed() {  # seed HARNESS FILE...
  local harness="$1"; shift
  mkdir -p "$build/corpus/$harness"
  for f in "$@"; do
    [[ -f "$f" ]] && cp "$f" "$build/corpus/$harness/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
  done
  return 0
}
mkdir -p "$build/corpus/fuzz_sizes"
for s in 320K 320KB 320KiB 1M 1.5MB 1G 4096 64k 200ms "200 ms" 0.2s 200 1e3ms 2.5e-1s; do
  printf '%s' "$s" > "$build/corpus/fuzz_sizes/seed-$(printf '%s' "$s" | tr -c 'A-Za-z0-9.' _)"
done
seed fuzz_space_yaml configs/spaces/*.yaml
seed fuzz_experiment_yaml configs/experiments/*.yaml supernet/pretrained/*/experiment.yaml
seed fuzz_mcu_yaml configs/mcu/*.yaml configs/calibration/*.yaml
seed fuzz_arch_json supernet/pretrained/*/archs/*.json
seed fuzz_zoo_json search_space/zoo/mcunet/*.json
# ONNX: the models the engine imports, from ONNX's own test data (Debian's libonnx-testdata).
onnx_data=/usr/share/libonnx-testdata/data
seed fuzz_onnx $onnx_data/node/test_{conv,gemm,averagepool,globalaveragepool,maxpool,relu,clip,add,batchnorm,flatten,reshape,softmax,qlinearconv,quantizelinear,dequantizelinear,matmul,concat,split,slice,gather,prelu,resize,upsample}*/model.onnx \
  $onnx_data/pytorch-converted/*/model.onnx
# .npy inputs: arrays NumPy writes, when python3-numpy is installed.
mkdir -p "$build/corpus/fuzz_npy"
/usr/bin/python3 -c "
import numpy as np, sys
d = sys.argv[1]
np.save(d + '/seed-batch.npy', np.zeros((2, 3, 4, 5), np.float32))
np.save(d + '/seed-one.npy', np.ones((3, 4, 5), np.float64))
np.save(d + '/seed-vectors.npy', np.arange(6, dtype=np.float32).reshape(2, 3))
np.save(d + '/seed-ints.npy', np.zeros((1, 3), np.int32))
" "$build/corpus/fuzz_npy" 2> /dev/null || true
# tinynas files: a subnet written by the Release build's `tinynas extract` when there is one, and the
# shipped trained supernet.
if [[ -x build/tinynas && ! -f "$build/corpus/fuzz_tinynas_file/seed-subnet.pt" ]]; then
  mkdir -p "$build/corpus/fuzz_tinynas_file"
  build/tinynas extract --arch smallest --resolution 24 --out "$build/corpus/fuzz_tinynas_file/seed-subnet.pt" > /dev/null
fi
seed fuzz_tinynas_file supernet/pretrained/*/supernet.pt
# WAV clips sox writes: the accepted form (16 kHz mono 16-bit) and refused ones (8 kHz, stereo, float).
if command -v sox > /dev/null; then
  mkdir -p "$build/corpus/fuzz_wav"
  sox -n -r 16000 -c 1 -b 16 "$build/corpus/fuzz_wav/seed-mono.wav" synth 0.05 sine 440
  sox -n -r 8000 -c 1 -b 16 "$build/corpus/fuzz_wav/seed-8khz.wav" synth 0.05 sine 440
  sox -n -r 16000 -c 2 -b 16 "$build/corpus/fuzz_wav/seed-stereo.wav" synth 0.05 sine 440
  sox -n -r 16000 -c 1 -e floating-point -b 32 "$build/corpus/fuzz_wav/seed-float.wav" synth 0.05 sine 440
fi

export TINYNAS_DATA_DIR="$build/share/tinynas"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
scratch="$build/tmp.$$"  # the harnesses' input files; one per run of this script
mkdir -p "$build/findings" "$build/logs" "$scratch"
failed=0
printf '%-22s %12s %9s %9s\n' harness executions exec/s findings
for h in "${harnesses[@]}"; do
  before=$(find "$build/findings" -name "$h-*" | wc -l)
  # Bad input must be refused quickly and within a few GB: a slower (30 s) or larger input is a finding;
  # units slower than libFuzzer's default report of 10 s are timing noise on a shared machine.
  TMPDIR="$scratch" "$build/fuzz/$h" "$build/corpus/$h" -max_total_time="$seconds" -timeout=30 -report_slow_units=30 \
    -rss_limit_mb=4096 -malloc_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$build/findings/$h-" \
    > "$build/logs/$h.log" 2>&1 || true
  after=$(find "$build/findings" -name "$h-*" | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/logs/$h.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/logs/$h.log" | tail -1)
  printf '%-22s %12s %9s %9s\n' "$h" "${execs:-?}" "${rate:-?}" "$((after - before))"
  if ((after > before)) || [[ -z "$execs" ]]; then
    failed=1
    echo "fuzz.sh: $h: see $build/logs/$h.log" >&2
    grep -m 20 -E "ERROR|SUMMARY|==[0-9]+==|runtime error|terminate called|what\(\)" "$build/logs/$h.log" >&2 || true
  fi
done
rm -rf "$scratch"
exit "$failed"
