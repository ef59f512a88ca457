#!/usr/bin/env bash
# Runs gendl as N cooperating processes on this machine, the way a multi-host job runs (one
# process per host): jax.distributed with the coordinator on loopback, CPU collectives
# through gloo. Every argument after N goes to `python -m gendl.main` unchanged.
#
#   launch/local.sh 2 --config=configs/wgan_gp.py:smoke --workdir=/tmp/mp
#   XLA_FLAGS=--xla_force_host_platform_device_count=4 launch/local.sh 2 ...   # 2 x 4 CPU devices
#
# Environment: PYTHON (default python), GENDL_COORDINATOR_PORT (default: a free port),
# GENDL_HEARTBEAT_TIMEOUT (seconds until a silent process is declared dead, default 60).
# SIGTERM/SIGINT are passed on to every process (they checkpoint together and exit 143).
# When one process fails, the others are stopped; the exit code is the first failure's.
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 NUM_PROCESSES --config=CONFIG --workdir=DIR [more gendl.main flags]" >&2
  exit 2
fi
n=$1
shift
python=${PYTHON:-python}
port=${GENDL_COORDINATOR_PORT:-$("$python" -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

pids=()
stop_all() { kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap stop_all TERM INT

for ((i = 0; i < n; i++)); do
  GENDL_COORDINATOR_ADDRESS=127.0.0.1:$port GENDL_NUM_PROCESSES=$n GENDL_PROCESS_ID=$i \
    "$python" -m gendl.main "$@" &
  pids+=($!)
done

# Poll rather than `wait -n`: a trapped signal interrupts wait, and bash < 5.1 cannot say
# which process a `wait -n` reaped.
rc=0
running=("${pids[@]}")
while ((${#running[@]})); do
  sleep 1
  still=()
  for p in "${running[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      still+=("$p")
      continue
    fi
    status=0
    wait "$p" || status=$?
    if ((status != 0 && rc == 0)); then
      rc=$status
      # 143 is a preemption the others are handling too; any other failure stops them.
      if ((status != 143)); then stop_all; fi
    fi
  done
  running=("${still[@]}")
done
exit "$rc"
