#!/usr/bin/env bash
# Supernet throughput: training and evaluation images/s of the elastic supernet against a static copy of
# the same network, measured in one run (ratios hold on a noisy machine; absolute figures do not).
#   (a) once-for-all's upstream configuration: w 0.35, 32x32x3 random input, batch 128, 2 threads, SGD;
#   (b) the shipped Fashion-MNIST supernet's shape: w 0.5, 40x40x1, 10 classes.
# Then (a)'s two training figures against the same supernet in PyTorch (scripts/bench_ofa_pytorch.py,
# once-for-all's dynamic layers, channels-last), the two runs interleaved twice; it needs python3-torch
# (apt-get install python3-torch) and is skipped without it.
# Then shared cores: the two training figures of (a) on an idle machine and beside one busy process, with
# libgomp's spinning wait (its default, GOMP_SPINCOUNT=300000) and with OMP_WAIT_POLICY=PASSIVE, the
# policy tinynas starts with (TINYNAS_BENCH_SHARED=0 skips it).
# With TINYNAS_BENCH_ACCURACY=1 it also trains a static copy of the largest Fashion-MNIST subnet from
# scratch for as many epochs as the shipped supernet (about half an hour) and prints its test top-1 next to the
# supernet's largest subnet after BN recalibration.
# Usage: scripts/bench_supernet.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
[[ -x "$BUILD/bench_supernet" ]] || { echo "bench_supernet.sh: $BUILD/bench_supernet not built" >&2; exit 1; }
THREADS="${TINYNAS_BENCH_THREADS:-2}"

"$BUILD/bench_supernet" --threads "$THREADS" --width 0.35 --resolution 32 --channels 3 --classes 1000
"$BUILD/bench_supernet" --threads "$THREADS" --width 0.5 --resolution 40 --channels 1 --classes 10

PYTHON="${TINYNAS_BENCH_PYTHON:-/usr/bin/python3}"
if "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "against once-for-all in PyTorch (interleaved: tinynas, PyTorch, tinynas, PyTorch)"
  for round in 1 2; do
    OMP_WAIT_POLICY=PASSIVE "$BUILD/bench_supernet" --threads "$THREADS" --width 0.35 --resolution 32 --channels 3 \
      --classes 1000 --training-only 1 | tail -n +2 | sed "s/^ */  tinynas, round $round: /"
    OMP_WAIT_POLICY=PASSIVE "$PYTHON" scripts/bench_ofa_pytorch.py --threads "$THREADS" | tail -n +2 |
      sed "s/^ */  PyTorch, round $round: /"
  done
else
  echo "against once-for-all in PyTorch: skipped ($PYTHON has no torch; apt-get install python3-torch)"
fi

if [[ "${TINYNAS_BENCH_SHARED:-1}" == 1 ]]; then
  echo "shared cores: training img/s idle and beside one busy process, per OpenMP wait policy"
  busy_pid=
  trap '[[ -n "$busy_pid" ]] && kill "$busy_pid" 2>/dev/null || true' EXIT
  for policy in GOMP_SPINCOUNT=300000 OMP_WAIT_POLICY=PASSIVE; do
    for load in idle busy; do
      if [[ $load == busy ]]; then
        bash -c 'while :; do :; done' &
        busy_pid=$!
      fi
      env "$policy" "$BUILD/bench_supernet" --threads "$THREADS" --width 0.35 --resolution 32 --channels 3 \
        --classes 1000 --steps 5 --rounds 2 --training-only 1 | tail -n +2 | sed "s/^ */  $policy, $load: /"
      if [[ -n "$busy_pid" ]]; then
        kill "$busy_pid"
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=
      fi
    done
  done
fi

if [[ "${TINYNAS_BENCH_ACCURACY:-0}" == 1 ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  epochs=$(awk '/^train:/{t=1} t && /^  epochs:/{print $2; exit}' configs/experiments/fashion-mnist.yaml)
  echo "accuracy: the shipped supernet's largest subnet (r 40) vs a static copy trained from scratch for $epochs epochs"
  "$BUILD/tinynas" --log-level warn eval --arch largest --split test
  "$BUILD/tinynas" --log-level warn --threads "$THREADS" extract --arch largest --from-scratch --finetune "$epochs" \
    --lr 0.08 --test --out "$out/static-largest.pt"
fi
