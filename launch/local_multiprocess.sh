#!/usr/bin/env bash
# Runs gendl as N cooperating processes on this machine through jax.distributed, the way a
# multi-host job runs (one process per host). Useful to test multi-process code paths.
#   launch/local_multiprocess.sh 2 --config=configs/wgan_gp.py:smoke --workdir=/tmp/mp
set -euo pipefail
n=${1:?number of processes}; shift
port=${GENDL_COORDINATOR_PORT:-12355}
pids=()
for ((i = 0; i < n; i++)); do
  GENDL_COORDINATOR_ADDRESS=127.0.0.1:$port GENDL_NUM_PROCESSES=$n GENDL_PROCESS_ID=$i \
    python -m gendl.main "$@" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
