#!/usr/bin/env bash
# Stop the single-node SLURM cluster that tests/slurm/start_cluster.sh started, and clean its state.
#
# Cancels the cluster's jobs, then ends exactly the processes start_cluster.sh started: slurmctld, slurmd and
# munged by their pid files, and any slurmstepd left behind; each is checked to carry the random token that
# start_cluster.sh put into its environment, so a reused pid or someone else's daemon is never touched.
# Removes the state directory and the /etc/slurm/slurm.conf it wrote (putting back a config it had saved).
# A munged that was already running before start_cluster.sh is left alone. Safe to call twice.
# EVSNN_SLURM_STATE must be /run/evsnn-slurm or /run/evsnn-slurm-NAME (exit status 2 otherwise, nothing touched).
# Only the cluster's owner (EVSNN_SLURM_OWNER, default: the calling process) stops it while the owner lives;
# `stop_cluster.sh --force` stops it regardless.
set -uo pipefail

STATE=${EVSNN_SLURM_STATE:-/run/evsnn-slurm}
# STATE comes from the environment and is removed with rm -rf as root: only /run/evsnn-slurm or
# /run/evsnn-slurm-NAME (root's own tmpfs, no '/' in NAME) is accepted, and never a symlink (bash builtins only)
check_state() {
  if [[ ! "$STATE" =~ ^/run/evsnn-slurm(-[A-Za-z0-9_.]+)?$ ]] || [ -L "$STATE" ]; then
    echo "$1: refusing EVSNN_SLURM_STATE='$STATE': it must be /run/evsnn-slurm or /run/evsnn-slurm-NAME and not a symlink" >&2
    exit 2
  fi
}
check_state stop_cluster
CONF=/etc/slurm/slurm.conf
MARK="# written by evsnn tests/slurm/start_cluster.sh"
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "stop_cluster: $*" >&2; }

if [ ! -d "$STATE" ]; then
  say "nothing to stop ($STATE does not exist)"
  exit 0
fi
TOKEN=$(cat "$STATE/token" 2>/dev/null || true)
OWNER=$(cat "$STATE/owner" 2>/dev/null || true)
if [ "${1:-}" != "--force" ] && [ -n "$OWNER" ] && [ "$OWNER" != "${EVSNN_SLURM_OWNER:-$PPID}" ] && [ -d "/proc/$OWNER" ]; then
  say "not stopping: the cluster in $STATE belongs to the running process $OWNER (--force stops it anyway)"
  exit 75
fi

ours() {  # ours PID: the process exists and carries our token
  [ -n "$TOKEN" ] && [ -r "/proc/$1/environ" ] &&
    tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qxF "EVSNN_SLURM_MARK=$TOKEN"
}

stop_pids() {  # stop_pids PID...: SIGTERM, wait up to 10 s, then SIGKILL
  local pid pids=() alive
  for pid in "$@"; do ours "$pid" && pids+=("$pid"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  for _ in $(seq 100); do
    alive=()
    for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  say "killing ${alive[*]} (did not end on SIGTERM)"
  kill -KILL "${alive[@]}" 2>/dev/null
  sleep 0.2
}

pidfile() { [ -s "$STATE/$1" ] && cat "$STATE/$1"; }

ctld=$(pidfile slurmctld.pid || true)
if [ -n "$ctld" ] && ours "$ctld"; then
  # cancel what still runs, so slurmstepd and the job processes end through SLURM
  jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    say "cancelling jobs $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 60); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
fi

# shellcheck disable=SC2046  # unquoted: a missing pid file gives no argument
stop_pids $(pidfile slurmd.pid) $(pidfile slurmctld.pid)
# leftovers that carry the token (slurmstepd spawned by our slurmd)
left=()
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$pid" = $$ ] && continue
  ours "$pid" && [ "$pid" != "$(pidfile munged.pid)" ] && left+=("$pid")
done
if [ ${#left[@]} -gt 0 ]; then
  say "ending leftover processes ${left[*]}"
  stop_pids "${left[@]}"
fi
# shellcheck disable=SC2046
stop_pids $(pidfile munged.pid)

if [ -e "$CONF" ] && grep -qF "$MARK" "$CONF"; then
  if [ -e "$STATE/slurm.conf.orig" ]; then
    cp -p "$STATE/slurm.conf.orig" "$CONF"
  else
    rm -f "$CONF"
  fi
fi
check_state stop_cluster  # again, right before the only rm -rf
rm -rf -- "$STATE"
say "stopped"
