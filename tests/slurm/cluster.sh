#!/usr/bin/env bash
# A one-node SLURM cluster on this machine for the tests: `cluster.sh start` (idempotent) or `cluster.sh stop`.
# Root only. Installs Debian's slurmctld/slurmd/munge when missing, claims more job slots than cores, exposes
# fake GPUs as gres (jobs see CUDA_VISIBLE_DEVICES), and runs without accounting: clients use the squeue
# status path (sacct is unavailable), and lets a requeued job start again within seconds (AuthInfo cred_expire
# 10 s: SLURM's default holds it 120 s; scheduling passes every 2 s, not 30-60 s). No systemd: daemons are
# started by hand; a changed configuration restarts them.
# Environment: ACTHASH_SLURM_CPUS (default 8), ACTHASH_SLURM_GPUS (default 2), ACTHASH_SLURM_MEM_MB (64000; not enforced).
set -euo pipefail
action=${1:-start}
node=$(hostname -s)
cpus=${ACTHASH_SLURM_CPUS:-8}
gpus=${ACTHASH_SLURM_GPUS:-2}
mem=${ACTHASH_SLURM_MEM_MB:-64000}
etc=/etc/slurm log=/var/log/slurm state=/var/lib/slurm gpudir=/run/acthash-fakegpu

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pid() {
  [ -s "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

if [ "$action" = stop ]; then
  stop_pid /run/slurmd.pid; stop_pid /run/slurmctld.pid; stop_pid /run/munge/munged.pid
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "cluster.sh: must run as root" >&2; exit 1; }
if ! [ -x /usr/sbin/slurmctld ] || ! [ -x /usr/sbin/slurmd ] || ! command -v sbatch >/dev/null || ! [ -x /usr/sbin/munged ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
  || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
install -d -o slurm -g slurm -m 0755 "$log" "$state" "$state/slurmctld" "$state/slurmd"
install -d -m 0755 "$gpudir"
for i in $(seq 0 $((gpus - 1))); do [ -c "$gpudir/gpu$i" ] || mknod -m 0666 "$gpudir/gpu$i" c 1 3; done

conf=$(mktemp)
cat > "$conf" <<CONF
ClusterName=acthash-test
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
MinJobAge=600
SlurmdParameters=config_overrides
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=${state}/slurmd
StateSaveLocation=${state}/slurmctld
SlurmctldLogFile=${log}/slurmctld.log
SlurmdLogFile=${log}/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} Gres=gpu:${gpus} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$conf" "$etc/slurm.conf"; then  # daemons read their configuration at start
  stop_pid /run/slurmd.pid; stop_pid /run/slurmctld.pid
fi
mv "$conf" "$etc/slurm.conf" && chmod 0644 "$etc/slurm.conf"
printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s/gpu[0-%s]\n' "$node" "$gpudir" "$((gpus - 1))" > "$etc/gres.conf"

alive /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
for _ in $(seq 40); do munge -n | unmunge >/dev/null 2>&1 && break; sleep 0.25; done
alive /run/slurmctld.pid || /usr/sbin/slurmctld
alive /run/slurmd.pid || /usr/sbin/slurmd
for _ in $(seq 120); do
  st=$(sinfo -h -n "$node" -o '%T' 2>/dev/null | head -1 || true)
  case "$st" in
    idle|mixed|allocated|completing) echo "cluster up: node $node $st, $cpus CPUs, $gpus GPUs"; exit 0 ;;
    down*|drain*) scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
echo "cluster.sh: node $node not idle (state: ${st:-none})" >&2
tail -n 20 "$log/slurmctld.log" "$log/slurmd.log" >&2 || true
exit 1
