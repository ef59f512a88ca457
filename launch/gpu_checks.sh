#!/usr/bin/env bash
# The GPU checks of README's H200 rows, in one command for a one-GPU machine with a deadline
# (a lent device, a preemptible VM): the bench pairs against the PyTorch peer with the GPU
# alone, then long runs side by side until a deadline (SIGTERM: each saves its checkpoint),
# then `gendl.evaluate` on each checkpoint. Logs, metrics, evaluations and pictures (no
# checkpoints) end in $OUT; the last lines printed are the summary.
#
#   GENDL_MANUAL_DIR=../shared/data OUT=/tmp/gpu launch/gpu_checks.sh            # everything
#   PHASES=bench launch/gpu_checks.sh          # bench pairs only; PHASES=runs or nll likewise
#   DRY=1 launch/gpu_checks.sh                 # the same flow on a CPU, tiny budgets
#
# Phases: `bench` (wgan_gp, vae, pix2pix: peer then gendl; wgan_gp and pix2pix again with
# conv_impl=xla), `runs` (16-bar MusicVAE at both widths, two-layer IWAE k=50, conv_vae 20k
# and 60k; all tunes of the music21 corpus, so its 16-bar windows must be prepared, or are
# prepared first: ~15 min of parsing), `nll` (conv_vae 50k and two more seeds at 20k, each
# scored on all 10,000 test images). DEADLINE (seconds from the start, default 575) bounds
# `runs`: training stops at DEADLINE - 155 and evaluation at DEADLINE.
# Environment: PYTHON (default python3), PEER (the peer's interpreter, default $PYTHON),
# PEER_SCRIPT (default ../shared/bench/torch_ref.py), GENDL_MANUAL_DIR (MNIST, emoji/).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-/tmp/gendl_gpu_checks}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
T0=$(date +%s)
t() { echo "[t=$(( $(date +%s) - T0 ))s] $*"; }

PY=${PYTHON:-python3}
PEER=${PEER:-$PY}
PEER_SCRIPT=${PEER_SCRIPT:-$ROOT/../shared/bench/torch_ref.py}
PHASES=${PHASES:-bench runs nll}
DEADLINE=${DEADLINE:-575}
if [ "${DRY:-0}" = 1 ]; then
  DEV=cpu; STEPS_W=2; STEPS_V=20; STEPS_P=2; WIDTH=",cpu"; NLL_N=50; EVAL_N=(--num_examples=64)
  DEADLINE=100000; TRAIN_S=60; LONG=100; SHORT=50
  # The likelihood's default chunk (200 images x 500 samples) takes ~9 GB of host memory per
  # job on a CPU: three at once do not fit 24 GB.
  NLL_CHUNK=(--config.evals.likelihood.chunk_size=50)
else
  DEV=cuda; STEPS_W=200; STEPS_V=2000; STEPS_P=200; WIDTH=""; NLL_N=10000; EVAL_N=()
  TRAIN_S=240; LONG=50000; SHORT=20000; NLL_CHUNK=()
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
fi
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false  # several jobs share the GPU
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/gendl_jax_cache}
RUNS=$OUT/runs
mkdir -p "$RUNS"
has() { [[ " $PHASES " == *" $1 "* ]]; }

# Fail fast, before the long phases, if gendl cannot import or MNIST cannot be prepared.
t "import, prepare MNIST"
"$PY" -c "
import jax, gendl.main
from gendl.data import source
print('devices', jax.devices(), 'jax', jax.__version__)
source.prepare('mnist')" || exit 4

if has bench; then
  pair() {  # workload steps
    t "peer $1"
    timeout 120 "$PEER" "$PEER_SCRIPT" "$1" --steps "$2" --device "$DEV" 2>&1 | tail -1 | tee -a "$OUT/bench.txt"
    t "gendl $1"
    timeout 120 "$PY" -m gendl.bench --config="configs/$1.py" --steps="$2" 2>&1 | tail -1 | tee -a "$OUT/bench.txt"
  }
  pair wgan_gp $STEPS_W
  pair vae $STEPS_V
  pair pix2pix $STEPS_P
  for w in wgan_gp pix2pix; do  # conv.py's "auto" against XLA's own convolutions
    n=$STEPS_W; [ $w = pix2pix ] && n=$STEPS_P
    t "gendl $w conv_impl=xla"
    timeout 120 "$PY" -m gendl.bench --config="configs/$w.py" --steps="$n" --config.model.conv_impl=xla \
      2>&1 | tail -1 | tee -a "$OUT/bench.txt"
  done
fi

PIDS=()
train() {  # seconds name config flags...
  local seconds=$1 name=$2 cfg=$3
  shift 3
  (timeout -s TERM "$seconds" "$PY" -m gendl.main --config="$cfg" --workdir="$RUNS/$name" "$@" \
    > "$RUNS/$name.train.log" 2>&1; echo "train $name rc=$?" >> "$RUNS/$name.train.log") &
  PIDS+=($!)
}
evaluate() {  # seconds name flags...
  local seconds=$1 name=$2
  shift 2
  (timeout "$seconds" "$PY" -m gendl.evaluate --workdir="$RUNS/$name" "$@" > "$RUNS/$name.eval.log" 2>&1
    echo "eval $name rc=$?" >> "$RUNS/$name.eval.log") &
  PIDS+=($!)
}
join() { [ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"; PIDS=(); }  # a bare wait waits for tee too
left() { echo $(( $1 - ($(date +%s) - T0) )); }

if has runs; then
  s=$(left $((DEADLINE - 155))); [ "$s" -gt "$TRAIN_S" ] && s=$TRAIN_S; [ "$s" -lt 90 ] && s=90
  t "runs: training for $s s"
  m16=(--config.data.max_tunes=0 --config.checkpoint.every_steps=1000000
    --config.evals.melody.every_steps=1000000)
  train "$s" hier16 "configs/music_vae.py:hierdec_16bar$WIDTH" "${m16[@]}"
  train "$s" flat16 "configs/music_vae.py:flat_16bar$WIDTH" "${m16[@]}"
  train "$s" hier16_cpu configs/music_vae.py:hierdec_16bar,cpu "${m16[@]}" --config.batch_size=128
  train "$s" flat16_cpu configs/music_vae.py:flat_16bar,cpu "${m16[@]}" --config.batch_size=128
  train "$s" iwae2_k50 configs/iwae.py:two_layer,k50 --config.steps_per_call=100 \
    --config.evals.likelihood.every_steps=30000 --config.evals.likelihood.num_examples=1000 \
    --config.evals.reconstruction.every_steps=3000000 --config.evals.pictures.every_steps=3000000 \
    --config.log.sample_every_steps=3000000
  train "$s" conv_vae_20k configs/conv_vae.py --config.total_steps=20000
  train "$s" conv_vae_60k configs/conv_vae.py --config.total_steps=60000
  join
  s=$(left "$DEADLINE"); [ "$s" -lt 30 ] && s=30
  t "runs: evaluating for at most $s s"
  for r in hier16 flat16 hier16_cpu flat16_cpu; do evaluate "$s" "$r" "${EVAL_N[@]}"; done
  for r in iwae2_k50 conv_vae_20k conv_vae_60k; do
    evaluate "$s" "$r" --evals=likelihood --set=likelihood.num_examples="$NLL_N"
  done
  join
fi

if has nll; then
  t "nll: conv_vae to the end of its schedule"
  n=(--config.evals.likelihood.num_examples="$NLL_N" "${NLL_CHUNK[@]}")  # runs at the end
  train 900 conv_vae_50k configs/conv_vae.py --config.total_steps=$LONG "${n[@]}"
  train 900 conv_vae_20k_s1 configs/conv_vae.py --config.total_steps=$SHORT --config.seed=1 "${n[@]}"
  train 900 conv_vae_20k_s2 configs/conv_vae.py --config.total_steps=$SHORT --config.seed=2 "${n[@]}"
  join
fi

t "summary"
cat "$OUT/bench.txt" 2>/dev/null
for f in "$RUNS"/*.log; do
  [ -e "$f" ] || continue
  echo "== $(basename "$f")"
  grep -E "rc=|Stopped" "$f" | tail -2 | cut -c1-200
  grep -E "^\{" "$f" | tail -1 | cut -c1-400
done
grep -h "nll_k5000_n10000" "$RUNS"/*/metrics.jsonl 2>/dev/null | cut -c1-300
# Checkpoints stay in $RUNS; everything else in one archive, for machines that give back files.
tar czf "$OUT/runs.tgz" -C "$RUNS" --exclude=checkpoints . && t "end: $OUT/runs.tgz"
