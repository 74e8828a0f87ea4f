#!/usr/bin/env bash
# Data-parallel training throughput, 1 vs 2 MPI ranks on this machine, the gradient allreduce's share of
# the step, and a paper estimate for 8 and 32 nodes from the measured step and allreduce size.
# Usage: scripts/bench_distributed.sh [BUILD_DIR]
#   TINYNAS_BENCH_STEPS  training steps per run (default 40, batch 128 of the Fashion-MNIST config)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
STEPS="${TINYNAS_BENCH_STEPS:-40}"
TN="$BUILD/tinynas"
[[ -x "$TN" ]] || { echo "bench_distributed.sh: $TN not built" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench_distributed.sh: mpirun (openmpi-bin) is not installed" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
ARGS=(train --epochs 1 --max-steps-per-epoch "$STEPS")

# img/s of a run's epoch line; the allreduce line's share and floats.
img_s() { sed -nE 's/.*epoch 1 \(.*\): loss .*, ([0-9.]+) img\/s.*/\1/p' "$1" | tail -1; }
share() { sed -nE 's/.*gradient allreduce ([0-9.]+) % .*/\1/p' "$1" | tail -1; }
ms_step() { sed -nE 's/.*\(([0-9.]+) ms per step, ([0-9]+) floats\).*/\1/p' "$1" | tail -1; }
floats() { sed -nE 's/.*ms per step, ([0-9]+) floats\).*/\1/p' "$1" | tail -1; }

echo "== Fashion-MNIST supernet, sandwich rule (4 subnets per step), batch 128, $STEPS steps per run"
OMP_NUM_THREADS=2 "$TN" --threads 2 "${ARGS[@]}" --out "$WORK/p1t2" >"$WORK/p1t2.log" 2>&1
OMP_NUM_THREADS=1 "$TN" --threads 1 "${ARGS[@]}" --out "$WORK/p1t1" --batch-parts 2 >"$WORK/p1t1.log" 2>&1
"${MPIRUN[@]}" -np 2 -x OMP_NUM_THREADS=1 "$TN" --threads 1 "${ARGS[@]}" --out "$WORK/r2" >"$WORK/r2.log" 2>&1
a=$(img_s "$WORK/p1t2.log"); b=$(img_s "$WORK/p1t1.log"); c=$(img_s "$WORK/r2.log")
printf '%-44s %8s img/s\n' "1 process, 2 threads (LibTorch intra-op)" "$a"
printf '%-44s %8s img/s\n' "1 process, 1 thread, batch in 2 parts" "$b"
printf '%-44s %8s img/s  (%.2fx the 1-thread run, %.2fx the 2-thread run)\n' "2 MPI ranks x 1 thread (same 2 parts)" "$c" \
  "$(awk "BEGIN {print $c / $b}")" "$(awk "BEGIN {print $c / $a}")"
sh=$(share "$WORK/r2.log"); ms=$(ms_step "$WORK/r2.log"); n=$(floats "$WORK/r2.log")
echo "gradient allreduce (one fused buffer of $n floats = $(awk "BEGIN {printf \"%.2f\", $n * 4 / 1e6}") MB per step): $ms ms per step, $sh % of the training time"
cmp -s "$WORK/p1t1/supernet.pt" "$WORK/r2/supernet.pt" && echo "2 ranks and 1 process with 2 parts wrote identical supernet files" ||
  echo "note: the 2-rank and 1-process supernet files differ"

# Paper estimate, weak scaling (every node keeps the per-rank batch): a step is this machine's compute
# per rank plus a ring allreduce of the buffer, 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency.
step_ms=$(awk "BEGIN {print 128 / $c * 1000}")  # one step of the 2-rank run (each rank: 64 images)
compute_ms=$(awk "BEGIN {print $step_ms - $ms}")
echo "== estimate for more nodes (weak scaling: 64 images per rank per step, one rank per node;"
echo "   compute $(printf '%.1f' "$compute_ms") ms per step measured here; ring allreduce of $(awk "BEGIN {printf \"%.2f\", $n * 4 / 1e6}") MB)"
printf '%-8s %-26s %12s %14s %12s\n' nodes network "allreduce ms" "images/s" efficiency
for net in "10GbE 1.25e9 50e-6" "InfiniBand-EDR 12.5e9 2e-6"; do
  read -r name bw lat <<<"$net"
  for N in 2 8 32; do
    awk -v N="$N" -v bytes="$((n * 4))" -v bw="$bw" -v lat="$lat" -v comp="$compute_ms" -v name="$name" 'BEGIN {
      ar = (2 * (N - 1) / N * bytes / bw + 2 * (N - 1) * lat) * 1000
      step = comp + ar
      printf "%-8d %-26s %12.2f %14.0f %11.1f%%\n", N, name, ar, N * 64 / step * 1000, 100 * comp / step }'
  done
done
