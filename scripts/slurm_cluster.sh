#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests and CI of `vae sweep --executor slurm`.
#
#   sudo scripts/slurm_cluster.sh start    munge key + munged, /etc/slurm/slurm.conf, slurmctld, slurmd
#   sudo scripts/slurm_cluster.sh status   exit 0 when the cluster answers and its node takes jobs
#   sudo scripts/slurm_cluster.sh stop     stop the daemons this script started (by their pid files)
#
# Needs root and Debian's `slurm-wlm` and `munge` packages (apt-get install slurm-wlm munge).
# The node and the partition are both named after the host's short name (`hostname -s`), reached
# on 127.0.0.1 so no DNS is needed; jobs run as the submitting user. `start` is idempotent: a
# cluster that already answers is left alone. It never overwrites a slurm.conf it did not write.
# No accounting daemon (slurmdbd): `sacct` answers "accounting storage is disabled"; vaecli reads
# job states from `squeue` instead.
set -euo pipefail

STATE=${VAECLI_SLURM_STATE:-/var/lib/vaecli-slurm}   # pid files, logs, spool of this cluster
CONF=/etc/slurm/slurm.conf
MARKER="# Written by vaecli scripts/slurm_cluster.sh: a one-node test cluster."
MUNGE_KEY=/etc/munge/munge.key
HOST=$(hostname -s)

say() { echo "slurm_cluster: $*" >&2; }
die() { say "$*"; exit 1; }

# alive PIDFILE: its process exists and is not a zombie (an exited daemon whose parent has not reaped it)
alive() {
  [ -f "$1" ] || return 1
  local pid state
  pid=$(cat "$1")
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != "Z" ]
}

require() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it starts munged, slurmctld and slurmd)"
  for tool in munged munge unmunge slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install slurm-wlm munge"
  done
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0  # a munged already answers (ours or the system's)
  fi
  if [ ! -s "$MUNGE_KEY" ]; then
    mkdir -p "$(dirname "$MUNGE_KEY")"
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  fi
  # munged refuses keys and directories that others could write; it runs as the munge user.
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  chown munge:munge "$MUNGE_KEY"
  chmod 0400 "$MUNGE_KEY"
  runuser -u munge -- munged
  touch "$STATE/munged.ours"  # so that `stop` stops it and nothing else
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged does not answer; see /var/log/munge/munged.log"
}

write_conf() {
  if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -qF "$MARKER"; then
    die "$CONF exists and was not written by this script; not touching a real cluster's config"
  fi
  # The node line as slurmd sees this machine (CPUs, sockets, cores, memory), addressed on loopback.
  local node
  node=$(slurmd -C | head -1)
  [[ "$node" == NodeName=* ]] || die "slurmd -C did not describe this machine: $node"
  mkdir -p "$(dirname "$CONF")" "$STATE/ctld" "$STATE/d"
  cat >"$STATE/slurm.conf.new" <<EOF
$MARKER
ClusterName=vaecli
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=30
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$HOST Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  if cmp -s "$STATE/slurm.conf.new" "$CONF"; then
    rm "$STATE/slurm.conf.new"
    return 1  # unchanged
  fi
  mv "$STATE/slurm.conf.new" "$CONF"
  return 0
}

node_ready() {
  local state
  state=$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -1)
  case "$state" in idle* | mixed* | allocated* | completing*) return 0 ;; *) return 1 ;; esac
}

stop_daemon() {  # stop_daemon NAME PIDFILE
  alive "$2" || return 0
  kill -TERM "$(cat "$2")"
  for _ in $(seq 100); do
    alive "$2" || return 0
    sleep 0.1
  done
  kill -KILL "$(cat "$2")" 2>/dev/null || true
}

start() {
  require
  mkdir -p "$STATE"
  start_munge
  if write_conf; then  # a new or changed config: (re)start our daemons with it
    stop_daemon slurmd "$STATE/slurmd.pid"
    stop_daemon slurmctld "$STATE/slurmctld.pid"
  fi
  alive "$STATE/slurmctld.pid" || slurmctld -i
  for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q "UP" && break
    sleep 0.1
  done
  scontrol ping 2>/dev/null | grep -q "UP" || die "slurmctld does not answer; see $STATE/slurmctld.log"
  alive "$STATE/slurmd.pid" || slurmd
  for _ in $(seq 150); do
    node_ready && break
    # A node left DOWN or DRAINED by an earlier run of the daemons is put back into service.
    sinfo -h -N -n "$HOST" -o %T 2>/dev/null | grep -Eq "down|drain" &&
      scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
    sleep 0.2
  done
  node_ready || die "node $HOST is not taking jobs ($(sinfo -h -N -o '%T %E' 2>&1)); see $STATE/slurmd.log"
  say "up: partition $HOST, node $HOST ($(sinfo -h -N -o %c) CPUs)"
}

drain() {  # cancel what is queued and wait for every job step to end, so no slurmstepd outlives slurmd
  alive "$STATE/slurmctld.pid" || return 0
  scancel --full --quiet --partition="$HOST" 2>/dev/null || true
  for _ in $(seq 300); do
    [ -z "$(squeue --noheader --partition="$HOST" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  say "jobs still in the queue after 30 s: $(squeue --noheader 2>&1 | head -3)"
}

stop() {
  drain
  stop_daemon slurmd "$STATE/slurmd.pid"
  stop_daemon slurmctld "$STATE/slurmctld.pid"
  if [ -f "$STATE/munged.ours" ]; then
    stop_daemon munged /run/munge/munged.pid
    rm -f "$STATE/munged.ours"
  fi
  say "stopped"
}

status() {
  scontrol ping 2>/dev/null | grep -q "UP" && node_ready
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
