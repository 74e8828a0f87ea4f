#!/usr/bin/env bash
# The Slurm batch scripts on a real Slurm: starts a single-node Slurm on this machine (local_slurm.sh),
# submits a tiny data-parallel training job (train.sbatch, 2 MPI ranks), the same job again stopped by
# SIGUSR1 (as Slurm sends before a time limit) so that it checkpoints, requeues itself and resumes, and
# a 2-task search array (search-array.sbatch); waits for them, checks what they wrote (the requeued
# training must end with the same weights as the uninterrupted one) and stops every daemon it started.
# Usage: scripts/slurm/test_slurm.sh [BUILD_DIR]. Exit 77 (skipped) without root, Slurm or mpirun.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
BUILD="$(cd "${1:-build}" && pwd)"
for tool in slurmctld slurmd sbatch munged mungekey mpirun; do
  command -v "$tool" >/dev/null || { echo "test_slurm.sh: $tool is not installed: skipped"; exit 77; }
done
[[ $(id -u) -eq 0 ]] || { echo "test_slurm.sh: needs root to run slurmd: skipped"; exit 77; }
[[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] ||
  { echo "test_slurm.sh: dataset-fashion-mnist is not installed: skipped"; exit 77; }

WORK="$(mktemp -d /tmp/tinynas-slurm.XXXXXX)"
# shellcheck source=local_slurm.sh
source "$ROOT/scripts/slurm/local_slurm.sh"
cleanup() { local_slurm_stop; rm -rf "$WORK"; }
local_slurm_start "$WORK/slurm"
trap cleanup EXIT

fail() { echo "test_slurm.sh: FAIL: $*" >&2; for f in "$WORK"/jobs/*.out; do echo "== $f" >&2; cat "$f" >&2; done; exit 1; }

# Waits until the job (every task of an array) has left the queue; prints its final states.
wait_job() {
  local id="$1" deadline=$((SECONDS + ${2:-900}))
  while squeue -h -j "$id" 2>/dev/null | grep -q .; do
    ((SECONDS < deadline)) || fail "job $id still queued or running after ${2:-900} s"
    sleep 2
  done
  scontrol show job "$id" 2>/dev/null | grep -oE 'JobState=[A-Z_]+|ExitCode=[0-9:]+' | paste -sd' ' -
}

mkdir -p "$WORK/jobs"
cat >"$WORK/tiny.yaml" <<YAML
name: tiny
space: $ROOT/configs/spaces/fashion-mnist.yaml
mcu: stm32f746
data: {kind: fashion-mnist, holdout: 300, seed: 1}
supernet: {width: 0.2, resolutions: [24]}
train: {method: sandwich, epochs: 1, subnets_per_step: 3, batch_size: 32, threads: 1, recalibration_images: 64, max_steps_per_epoch: 100}
YAML
export TINYNAS="$BUILD/tinynas"
# Root in a container, and 2 ranks on a machine Open MPI may count as 1 slot.
export TINYNAS_MPIRUN_ARGS="--allow-run-as-root --oversubscribe"
export TINYNAS_SLURM_DIR="$ROOT/scripts/slurm"

# (a) training: 2 MPI ranks in one job.
train_id=$(cd "$WORK/jobs" && TINYNAS_CONFIG="$WORK/tiny.yaml" TINYNAS_OUT="$WORK/train" \
  sbatch --parsable --ntasks-per-node=2 --time=10:00 "$ROOT/scripts/slurm/train.sbatch")
# (b) a 2-task search array over a list, with the shipped supernet and predictor.
cat >"$WORK/searches.txt" <<LIST
# mcu sram flash options
stm32f746 12K 1M --no-firmware --generations 5
stm32f746 16K 512K --no-firmware --generations 5
LIST
search_id=$(cd "$ROOT" && TINYNAS_OUT_ROOT="$WORK/searches" \
  sbatch --parsable --array=0-1 --output="$WORK/jobs/%x-%A_%a.out" --time=15:00 \
  "$ROOT/scripts/slurm/search-array.sbatch" "$WORK/searches.txt")
# (c) the training job again, sent SIGUSR1 once it is under way.
stop_id=$(cd "$WORK/jobs" && TINYNAS_CONFIG="$WORK/tiny.yaml" TINYNAS_OUT="$WORK/requeued" \
  sbatch --parsable --ntasks-per-node=2 --time=10:00 "$ROOT/scripts/slurm/train.sbatch")
echo "submitted training job $train_id, search array $search_id, training job $stop_id (to be stopped)"
for _ in $(seq 1 600); do
  grep -q "epoch: " "$WORK/jobs/tinynas-train-$stop_id.out" 2>/dev/null && break
  sleep 1
done
scancel --batch --signal=USR1 "$stop_id"

state=$(wait_job "$train_id" 600)
echo "training job $train_id: $state"
[[ "$state" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "training job $train_id: $state"
for f in supernet.pt checkpoint.pt metrics.csv train.log; do
  [[ -s "$WORK/train/$f" ]] || fail "training wrote no $f"
done
grep -q "data-parallel training on 2 ranks" "$WORK"/jobs/tinynas-train-"$train_id".out ||
  fail "the training job did not run 2 ranks"
[[ $(wc -l <"$WORK/train/metrics.csv") -eq 2 ]] || fail "metrics.csv should hold a header and 1 epoch"

state=$(wait_job "$stop_id" 600)
echo "stopped training job $stop_id: $state"
[[ "$state" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "stopped training job $stop_id: $state"
scontrol show job "$stop_id" | grep -q "Restarts=1" || fail "job $stop_id was not requeued once"
log="$WORK/jobs/tinynas-train-$stop_id.out"
grep -q "stopped: SIGUSR1 at step" "$log" || fail "job $stop_id did not stop on SIGUSR1 with a checkpoint"
grep -q "resuming from" "$log" || fail "the requeued job $stop_id did not resume"
cmp -s "$WORK/train/supernet.pt" "$WORK/requeued/supernet.pt" ||
  fail "the stopped, requeued and resumed training did not end with the uninterrupted run's weights"

state=$(wait_job "$search_id" 900)
echo "search array $search_id: $state"
for task in 0 1; do
  st=$(scontrol show job "${search_id}_${task}" | grep -oE 'JobState=[A-Z_]+|ExitCode=[0-9:]+' | paste -sd' ' -)
  [[ "$st" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "search task $task: $st"
done
for d in search-stm32f746-12K-1M search-stm32f746-16K-512K; do
  for f in report.md summary.json winner.json evolution.json; do
    [[ -s "$WORK/searches/$d/$f" ]] || fail "$d has no $f"
  done
done
grep -q '"flash_bytes": 524288' "$WORK/searches/search-stm32f746-16K-512K/summary.json" ||
  fail "the second task did not search its own limits"
echo "test_slurm.sh: OK (training job, a stopped + requeued + resumed one, and a 2-task search array on a local Slurm)"
