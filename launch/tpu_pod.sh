#!/usr/bin/env bash
# Runs the same `python -m gendl.main` on every worker of a Cloud TPU pod slice (one process
# per worker VM); jax.distributed reads the slice's topology from the TPU metadata server.
#
#   launch/tpu_pod.sh TPU_NAME ZONE gs://BUCKET/runs/wgan_gp --config=configs/wgan_gp.py
#
# The workdir must be shared by all workers: checkpoints are written by every process
# together, metrics and images by process 0. gendl writes through the ordinary file API, so
# the bucket is mounted with gcsfuse at the same path on every worker (/mnt/gcs/BUCKET) and
# the run's --workdir is that path. Running the command again resumes, as on one machine.
#
# Environment: GENDL_DIR, the gendl checkout on the workers (default ~/gendl; copy it there
# first, e.g. with `gcloud compute tpus tpu-vm scp --recurse --worker=all`); PYTHON (default
# python3); GENDL_HEARTBEAT_TIMEOUT (seconds, default 60); GCLOUD_FLAGS (extra flags for
# gcloud, e.g. "--project=my-project").
set -euo pipefail

if [[ $# -lt 3 || $3 != gs://?* ]]; then
  echo "usage: $0 TPU_NAME ZONE gs://BUCKET/PATH --config=CONFIG [more gendl.main flags]" >&2
  exit 2
fi
tpu=$1
zone=$2
workdir_url=$3
shift 3
path=${workdir_url#gs://}
bucket=${path%%/*}
mount=/mnt/gcs/$bucket
workdir=$mount${path#"$bucket"}

gendl_dir=${GENDL_DIR:-'~/gendl'}
python=${PYTHON:-python3}
# Arguments are quoted for the remote shell one by one, so spaces and quotes survive ssh.
args=$(printf ' %q' "$@" "--workdir=$workdir")
remote="set -e
if ! mountpoint -q $(printf '%q' "$mount"); then
  sudo mkdir -p $(printf '%q' "$mount")
  sudo gcsfuse --implicit-dirs --dir-mode=777 --file-mode=666 -o allow_other $(printf '%q' "$bucket") $(printf '%q' "$mount")
fi
cd $gendl_dir
GENDL_DISTRIBUTED=1 GENDL_HEARTBEAT_TIMEOUT=${GENDL_HEARTBEAT_TIMEOUT:-60} $(printf '%q' "$python") -m gendl.main$args"

# shellcheck disable=SC2086  # GCLOUD_FLAGS is a list of flags
exec gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all ${GCLOUD_FLAGS:-} \
  --command="$remote"
