#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for dabench's integration tests and for trying sweeps.
#
#   scripts/slurm-local.sh install   # apt: Debian's slurm-wlm and munge (root; needs Debian's package registry)
#   scripts/slurm-local.sh start     # write slurm.conf, start munged, slurmctld, slurmd; wait for an idle node
#   scripts/slurm-local.sh stop      # scontrol shutdown; stop munged (each by the pid it recorded)
#   scripts/slurm-local.sh status    # daemons, sinfo, squeue
#
# Settings known to work on Debian 12 (slurm 22.05) without systemd or cgroups: ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none, SelectType=select/cons_tres, no accounting (submitit's `sacct` warnings are harmless),
# SlurmctldHost=<short hostname>(127.0.0.1), munged started first. One node: DABENCH_SLURM_CPUS CPUs (default 2)
# and the memory in /proc/meminfo. Job state is kept across stop/start (job ids keep increasing, so submitit's
# per-job files in an old sweep folder are never reused by a new job).
#
# The script writes /etc/slurm/slurm.conf only when that file is absent or was written by this script; it never
# touches a slurm.conf of a real installation.
set -euo pipefail

MARK="# written by dabench scripts/slurm-local.sh"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
STATE=/var/spool/slurm-dabench
LOGS=/var/log/slurm-dabench
RUN=/run/slurm-dabench
CPUS="${DABENCH_SLURM_CPUS:-2}"
HOST="$(hostname -s)"

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "needs root (it installs packages and runs the daemons); run it with sudo"; }

alive() {  # alive PIDFILE: the pid recorded there is a running process
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

cmd_install() {
    need_root
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        say "slurm and munge are installed ($(slurmctld -V))"
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    say "installing slurm-wlm and munge with apt-get"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    say "installed $(slurmctld -V)"
}

write_conf() {
    local mem
    mem=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; not touching a real installation's configuration"
    fi
    mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$LOGS" "$RUN"
    cat >"$CONF.tmp" <<EOF
$MARK
# A single-node cluster on localhost for tests; see the script for how to start and stop it.
ClusterName=dabench-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it may start again (default 120); short on a test cluster
AuthInfo=cred_expire=5
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2,sched_min_interval=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
# a preempted or requeued job gets SIGTERM, then SIGKILL after KillWait seconds (default 30); short on a test cluster
KillWait=2
MinJobAge=600
SlurmdParameters=config_overrides
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# a job that does not ask for memory gets an equal share per CPU, so that jobs without --mem share the node
DefMemPerCPU=$((mem / CPUS))
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munged is running"
        return
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && { say "munged started"; return; }
        sleep 0.2
    done
    die "munged did not come up (see /var/log/munge/munged.log)"
}

cmd_start() {
    need_root
    command -v slurmctld >/dev/null || die "slurm is not installed; run: $0 install"
    write_conf
    start_munge
    if alive "$RUN/slurmctld.pid"; then say "slurmctld is running"; else slurmctld; say "slurmctld started"; fi
    if alive "$RUN/slurmd.pid"; then say "slurmd is running"; else slurmd; say "slurmd started"; fi
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
        case "$state" in
            idle*|mixed*|allocated*) say "node $HOST is $state; partition debug is up"; return ;;
            down*|drain*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    die "node $HOST did not become idle (state: '${state:-unknown}'); see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE: SIGTERM the recorded pid and wait for it to exit
    local name=$1 pidfile=$2 pid
    alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || { say "$name stopped"; return 0; }; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    say "$name killed"
}

cmd_stop() {
    need_root
    if alive "$RUN/slurmctld.pid"; then
        scontrol shutdown >/dev/null 2>&1 || true
        for _ in $(seq 50); do
            alive "$RUN/slurmctld.pid" || alive "$RUN/slurmd.pid" || break
            sleep 0.2
        done
    fi
    stop_pidfile slurmd "$RUN/slurmd.pid"
    stop_pidfile slurmctld "$RUN/slurmctld.pid"
    stop_pidfile munged /run/munge/munged.pid
    say "stopped"
}

cmd_status() {
    local rc=0
    for d in slurmctld slurmd; do
        if alive "$RUN/$d.pid"; then say "$d: running (pid $(cat "$RUN/$d.pid"))"; else say "$d: stopped"; rc=1; fi
    done
    if alive /run/munge/munged.pid; then say "munged: running"; else say "munged: stopped"; rc=1; fi
    if [ $rc = 0 ]; then sinfo; squeue; fi
    return $rc
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
