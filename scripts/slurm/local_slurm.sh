#!/usr/bin/env bash
# A single-node Slurm on this machine, for tests: munged and slurmctld + slurmd on localhost, with a
# generated slurm.conf (this machine's CPUs and memory, no cgroups, no accounting), all under one
# temporary folder. Source it, then:
#   local_slurm_start DIR     start every daemon (state, logs and sockets in DIR); exports SLURM_CONF
#   local_slurm_stop          stop every daemon it started (also on exit: it installs a trap)
# Needs root (slurmd runs jobs as their users) and Debian's slurm-wlm + munge.

local_slurm_start() {
  LOCAL_SLURM_DIR="$1"
  local d="$LOCAL_SLURM_DIR"
  mkdir -p "$d"/{state,spool,log,munge}
  chmod 700 "$d/munge"
  # Munge: a fresh key and a private socket, so no system-wide munged is touched or needed.
  mungekey --create --keyfile="$d/munge/munge.key" --force
  chmod 600 "$d/munge/munge.key"
  munged --force --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/munged.seed"
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
  # Ports away from the defaults (6817/6818), so a Slurm already on the machine is not disturbed.
  cat >"$d/slurm.conf" <<CONF
ClusterName=tinynas-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${LOCAL_SLURM_PORT:-16817}
SlurmdPort=$(( ${LOCAL_SLURM_PORT:-16817} + 1 ))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=30
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  export SLURM_CONF="$d/slurm.conf"
  trap local_slurm_stop EXIT
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then return 0; fi
    sleep 1
  done
  echo "local_slurm.sh: the node did not become idle; logs in $d/log" >&2
  sinfo >&2 || true
  tail -n 20 "$d"/log/*.log >&2 || true
  return 1
}

local_slurm_stop() {
  local d="${LOCAL_SLURM_DIR:-}" f pid
  [[ -n "$d" ]] || return 0
  for f in "$d/slurmd.pid" "$d/slurmctld.pid" "$d/munge/munged.pid"; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  LOCAL_SLURM_DIR=""
}
