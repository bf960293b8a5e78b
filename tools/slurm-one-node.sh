#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests that submit job arrays (issue 20).
#
#   tools/slurm-one-node.sh          # install (as root, when missing), configure, start, wait until the node is idle
#   tools/slurm-one-node.sh stop     # stop the daemons this script started
#
# Idempotent: when `sinfo` already shows an idle node it does nothing. It installs Debian's slurm-wlm and munge with
# apt-get when run as root and they are missing; writes a minimal slurm.conf (one node: this machine's CPUs and memory
# as `slurmd -C` reports them; proctrack/linuxproc and task/none, which need no cgroups and so work in a container;
# state, spool, pid and log files under $SHARPLENS_SLURM_STATE, default /var/tmp/sharplens-slurm); starts munged,
# slurmctld and slurmd; and waits (at most 90 s) until `sinfo` shows the node idle. A slurm.conf it did not write is
# never replaced: on a machine with a real cluster the script only waits for that cluster.
# Exit status: 0 when the cluster is up, 1 when it could not be brought up (the reason on stderr).
set -euo pipefail

state=${SHARPLENS_SLURM_STATE:-/var/tmp/sharplens-slurm}
conf=${SLURM_CONF:-/etc/slurm/slurm.conf}
marker="# written by sharplens tools/slurm-one-node.sh"

fail() { echo "slurm-one-node: $*" >&2; exit 1; }

node_idle() { sinfo -h -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }

stop_daemons() {
  local f pid
  for f in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

if [ "${1:-}" = stop ]; then stop_daemons; exit 0; fi

if command -v sinfo >/dev/null && node_idle; then
  echo "slurm-one-node: the cluster is up"; sinfo; exit 0
fi

# 1. The packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "Slurm is not installed and this is not root: install slurm-wlm and munge"
  command -v apt-get >/dev/null || fail "Slurm is not installed and there is no apt-get"
  echo "slurm-one-node: installing slurm-wlm and munge" >&2
  apt-get update -qq >/dev/null 2>&1 || true
  # policy-rc.d 101: the packages' postinst must not start services through an init system the container lacks
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
    || { [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d; fail "apt-get install slurm-wlm munge failed"; }
  [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
fi

mkdir -p "$state" || fail "cannot create $state"

# 2. munge: a key (the package makes one; make it if absent) and the daemon.
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  key=/etc/munge/munge.key
  if [ ! -s "$key" ]; then
    [ "$(id -u)" = 0 ] || fail "no $key and this is not root"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile="$key" --force
    else dd if=/dev/urandom of="$key" bs=1 count=128 status=none; fi
    chown munge:munge "$key" 2>/dev/null || true; chmod 400 "$key"
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if [ "$(id -u)" = 0 ] && id munge >/dev/null 2>&1; then
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid || fail "munged did not start (see /var/log/munge/munged.log)"
  else
    munged --pid-file=/run/munge/munged.pid || fail "munged did not start"
  fi
  cp /run/munge/munged.pid "$state/munged.pid" 2>/dev/null || true
  for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n </dev/null | unmunge >/dev/null 2>&1 || fail "munge does not work (munge -n | unmunge)"
fi

# 3. slurm.conf: one node, this machine.
if [ -e "$conf" ] && ! grep -qF "$marker" "$conf"; then
  echo "slurm-one-node: $conf was not written by this script; using it as it is" >&2
else
  host=$(hostname -s)
  # `slurmd -C` prints "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  node=$(slurmd -C | head -1) || fail "slurmd -C failed"
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node"); mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  [ -n "$cpus" ] && [ -n "$mem" ] || fail "cannot read CPUs and RealMemory from: $node"
  mkdir -p "$(dirname "$conf")" "$state/spool" "$state/ctld"
  tmp="$conf.tmp.$$"
  cat > "$tmp" <<EOF
$marker
ClusterName=sharplens
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  if [ -e "$conf" ] && cmp -s "$tmp" "$conf"; then rm -f "$tmp"; else mv "$tmp" "$conf"; fi
fi

# 4. The daemons (each only when not already running).
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running "$state/slurmctld.pid" || slurmctld || fail "slurmctld did not start (see $state/slurmctld.log)"
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
running "$state/slurmd.pid" || slurmd || fail "slurmd did not start (see $state/slurmd.log)"

# 5. Wait for the node. A node left DOWN or DRAINED by an earlier run (a restart) is resumed.
for i in $(seq 90); do
  node_idle && { echo "slurm-one-node: the cluster is up"; sinfo; exit 0; }
  if [ $((i % 10)) = 5 ] && sinfo -h -o '%t' 2>/dev/null | grep -Eq '^(down|drain|drng)'; then
    scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true
  fi
  sleep 1
done
fail "the node is not idle after 90 s: $(sinfo -h -o '%t %E' 2>&1 | head -1); logs in $state"
