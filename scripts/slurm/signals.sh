# Sourced by the batch scripts: runs a command in the background and forwards the batch shell's
# SIGUSR1 / SIGTERM to it as SIGUSR1, so that tinynas checkpoints and exits with code 3 (mpirun passes
# SIGUSR1 on to every rank). The scripts ask Slurm for --signal=B:USR1@SECONDS: the signal goes to the
# batch shell, which also reaches ranks that mpirun started outside any job step.
#   run_forwarding_signals CMD ARGS...   returns the command's exit code
run_forwarding_signals() {
  "$@" &
  local pid=$! rc=0
  trap 'echo "batch script: SIGUSR1, asking for a checkpoint"; kill -USR1 '"$pid"' 2>/dev/null' USR1
  trap 'echo "batch script: SIGTERM, asking for a checkpoint"; kill -USR1 '"$pid"' 2>/dev/null' TERM
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break  # a trapped signal interrupted the wait: wait again
  done
  trap - USR1 TERM
  return "$rc"
}

# Requeues this job (or array task) after a checkpointed stop (exit code 3).
requeue_if_stopped() {
  local rc="$1" id="${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}"
  id="${id:-$SLURM_JOB_ID}"
  if [[ "$rc" -eq 3 ]]; then
    echo "batch script: stopped with a checkpoint; requeueing $id"
    scontrol requeue "$id"
  fi
}
