#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine for tests/test_slurm.py (needs root; no systemd needed).
#
#   bash tests/slurm/start_cluster.sh                 install slurm-wlm + munge if missing, start the cluster
#   bash tests/slurm/start_cluster.sh --install-only  only install the packages (what .ci/run calls)
#   bash tests/slurm/stop_cluster.sh                  stop exactly the daemons started here and clean up
#
# The cluster: node `localhost` (127.0.0.1) with this machine's CPUs and memory, partitions `debug` (default) and
# `evsnn`, munge authentication, no slurmdbd (the executor plugin must poll with squeue). slurmctld and slurmd
# listen on ports 6817 and 6818 (6819, slurmdbd's, stays unused); these ports are global, so only one such cluster
# can run on a machine at a time.
#
# State (pid files, logs, spool) lives in $EVSNN_SLURM_STATE (default /run/evsnn-slurm); the config is written to
# /etc/slurm/slurm.conf because the plugin's job step strips SLURM_* variables, so SLURM_CONF would not reach the
# srun inside a job. An existing slurm.conf is saved and put back by stop_cluster.sh.
#
# The cluster belongs to $EVSNN_SLURM_OWNER (default: the calling process); while that process lives, another
# start answers 75 at once, so two test runs on one machine neither share nor kill each other's cluster.
# If the cluster does not come up, the daemons already started are stopped again before exiting.
#
# Exit status: 0 cluster up (node idle); 2 EVSNN_SLURM_STATE is not /run/evsnn-slurm[-NAME] (nothing done); 77 cannot run here (not root, no apt-get, install failed): skip;
# 75 this machine's test cluster is in use by another live process: retry later; 76 a SLURM cluster not started
# by this script holds ports 6817/6818: skip; 1 the cluster did not come up (daemon logs printed).
set -euo pipefail

STATE=${EVSNN_SLURM_STATE:-/run/evsnn-slurm}
# STATE comes from the environment and is removed with rm -rf as root: only /run/evsnn-slurm or
# /run/evsnn-slurm-NAME (root's own tmpfs, no '/' in NAME) is accepted, and never a symlink (bash builtins only)
check_state() {
  if [[ ! "$STATE" =~ ^/run/evsnn-slurm(-[A-Za-z0-9_.]+)?$ ]] || [ -L "$STATE" ]; then
    echo "$1: refusing EVSNN_SLURM_STATE='$STATE': it must be /run/evsnn-slurm or /run/evsnn-slurm-NAME and not a symlink" >&2
    exit 2
  fi
}
check_state start_cluster
CONF=/etc/slurm/slurm.conf
MARK="# written by evsnn tests/slurm/start_cluster.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

say() { echo "start_cluster: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }

export PATH="$PATH:/usr/sbin:/sbin"
[ "$(id -u)" = 0 ] || skip "needs root (starts munged, slurmctld and slurmd and writes $CONF)"

have_slurm() {
  local b
  for b in sbatch squeue sinfo scontrol scancel srun slurmctld slurmd munged munge unmunge; do
    command -v "$b" >/dev/null 2>&1 || return 1
  done
}

install_slurm() {
  have_slurm && return 0
  command -v apt-get >/dev/null 2>&1 || skip "sbatch/slurmctld/munged are missing and apt-get is unavailable; install SLURM (slurm-wlm) and munge by hand"
  say "installing slurm-wlm and munge with apt-get (about 30 s)"
  # keep the packages' maintainer scripts from starting daemons we would not own
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  # the log goes to a fresh private directory (mktemp -d: 0700, unguessable name), never to a fixed /tmp path
  # where a planted symlink would make root write elsewhere
  local logdir log
  logdir=$(mktemp -d "${TMPDIR:-/tmp}/evsnn-slurm-apt.XXXXXXXX") || skip "mktemp -d failed"
  log="$logdir/apt.log"
  local ok=0 apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge)
  if "${apt[@]}" >"$log" 2>&1; then
    ok=1
  elif env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 \
       && "${apt[@]}" >>"$log" 2>&1; then
    ok=1
  fi
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
  if [ "$ok" != 1 ]; then
    tail -n 20 "$log" >&2 || true
    skip "apt-get install slurm-wlm munge failed (log: $log)"
  fi
  rm -rf -- "$logdir"
  have_slurm || skip "slurm-wlm/munge installed but sbatch, slurmctld or munged still not found"
}

# one start (or install) at a time
mkdir -p "$(dirname "$STATE")"
exec 9>"$STATE.lock"
flock -w 180 9 || { say "BUSY: another start_cluster.sh holds $STATE.lock"; exit 75; }

install_slurm
if [ "${1:-}" = "--install-only" ]; then say "slurm-wlm and munge are installed"; exit 0; fi

# the cluster belongs to the process that asked for it (the caller, or EVSNN_SLURM_OWNER)
OWNER=${EVSNN_SLURM_OWNER:-$PPID}

if [ -d "$STATE" ]; then
  old=$(cat "$STATE/owner" 2>/dev/null || true)
  if [ -n "$old" ] && [ "$old" != "$OWNER" ] && [ -d "/proc/$old" ]; then
    say "BUSY: the test cluster in $STATE belongs to the running process $old"
    exit 75
  fi
  # ours, or left by a run that was killed: stop it first (start is idempotent)
  say "state of an earlier cluster found in $STATE, stopping it first"
  EVSNN_SLURM_STATE="$STATE" bash "$HERE/stop_cluster.sh" --force || true
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 6817 6818; do
  if port_busy "$port"; then
    say "SKIP: port $port is in use: a SLURM cluster not started by this script runs on this machine"
    exit 76
  fi
done

# from here on a failure stops what was started
# shellcheck disable=SC2154  # rc is assigned inside the trap
trap 'rc=$?; if [ $rc -ne 0 ]; then EVSNN_SLURM_STATE="$STATE" bash "$HERE/stop_cluster.sh" --force || true; fi' EXIT
umask 022
mkdir -p "$STATE/ctld" "$STATE/spool" /etc/slurm
chmod 755 "$STATE"
echo "$OWNER" >"$STATE/owner"
# a random token in every daemon's environment, so stop_cluster.sh finds exactly the processes started here
# (including slurmstepd, which slurmd spawns and which outlives it)
TOKEN="$(date +%s)-$$-$RANDOM"
echo "$TOKEN" >"$STATE/token"
export EVSNN_SLURM_MARK="$TOKEN"

# ---- munge: reuse a working munged, else start one as user munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "a munged is already running, using it"
else
  getent passwd munge >/dev/null || skip "user munge does not exist (the munge package did not install cleanly)"
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  for d in /run/munge /var/lib/munge /var/log/munge; do
    mkdir -p "$d"
    chown munge:munge "$d"
  done
  chmod 755 /run/munge
  chmod 700 /var/lib/munge /var/log/munge
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  runuser -u munge -- env EVSNN_SLURM_MARK="$TOKEN" munged --pid-file=/run/munge/munged.pid --force 9>&-
  for _ in $(seq 50); do
    [ -s /run/munge/munged.pid ] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n | unmunge >/dev/null || { say "munged did not start"; exit 1; }
  cp /run/munge/munged.pid "$STATE/munged.pid"
fi

# ---- slurm.conf for one node: this machine's CPUs and memory, but at least 2 CPUs and 16 GB, so that the rules'
# declared requests (up to 2 threads and 8000 MB) fit on a small machine too; config_overrides makes slurmd accept
# the configured values. Nothing enforces memory here (no cgroups), and the demo needs far less than declared.
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)
[ "$CPUS" -ge 2 ] || CPUS=2
[ "$MEM_MB" -ge 16384 ] || MEM_MB=16384
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  cp -p "$CONF" "$STATE/slurm.conf.orig"
fi
cat >"$CONF" <<EOF
$MARK; stop_cluster.sh removes it
ClusterName=evsnn
SlurmctldHost=localhost
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
# no slurmdbd: sacct has nothing to query; snakemake polls with squeue, which sees finished jobs for MinJobAge s
# (the executor plugin needs MinJobAge >= 3x slurm-init-seconds-before-status-checks). 3600 s, not SLURM's default
# 300 s: tests/test_slurm.py reads every job's final state from squeue after the whole run, which takes longer
# than 300 s on a slow machine (the first job would be purged: a KeyError); the test also polls during the run.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
SlurmdTimeout=60
SlurmdParameters=config_overrides
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
# a second, non-default partition: the test selects it through SLURM_PARTITION
PartitionName=evsnn Nodes=localhost Default=NO MaxTime=INFINITE State=UP
EOF
chmod 644 "$CONF"

# ---- daemons (both daemonise and write their pid files)
slurmctld 9>&-
slurmd -N localhost 9>&-

fail() {
  say "$*"
  for f in slurmctld.log slurmd.log; do
    echo "---- $STATE/$f" >&2
    tail -n 30 "$STATE/$f" >&2 || true
  done
  exit 1
}
for _ in $(seq 120); do
  state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.25
done
[ "$state" = idle ] || fail "node localhost is not idle after 30 s (sinfo: '${state:-no answer}')"
say "cluster up: node localhost idle ($CPUS CPUs, $MEM_MB MB), partitions debug (default) and evsnn, state in $STATE"
