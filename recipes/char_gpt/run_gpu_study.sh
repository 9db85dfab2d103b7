#!/usr/bin/env bash
# The full-length study on one GPU, the variants side by side. The study's model (4 layers, 256
# wide, batch 128 of 128 characters) is expected to leave a large GPU mostly idle, a step being
# bound by kernel launches and Python rather than arithmetic. So the variants' pipelines share the
# GPU at once, each one `run_full_study.sh` (pretrain -> finetune -> evaluate dev/test ->
# finetuning chosen on held-out questions -> analysis), and the table should take about the time
# of its slowest row (not yet measured on a GPU; tested on the CPU).
#   bash recipes/char_gpt/run_gpu_study.sh [DATA_DIR] [OUT]
#   VARIANTS="vanilla perceiver" EXTRA="--pretrain_lr 6e-4" bash recipes/char_gpt/run_gpu_study.sh
# $VARIANTS, $EXTRA, $PRETRAIN_EXTRA, $SELECT_* and $PYTHON mean what they mean for
# run_full_study.sh; each variant gets $THREADS CPU threads (default: the cores / the variants).
# Each variant logs to OUT/<variant>.out; a rerun resumes every variant where it stopped.
# The exit status is non-zero when any variant failed.
set -euo pipefail
{
DATA=${1:-../shared/data}
OUT=${2:-runs/gpu}
VARIANTS=${VARIANTS:-"vanilla perceiver synthesizer"}
read -r -a variants <<< "$VARIANTS"
share=$(( $(nproc) / ${#variants[@]} ))
THREADS=${THREADS:-$(( share > 0 ? share : 1 ))}
PYTHON=${PYTHON:-python}
HERE=$(dirname "$0")
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null || true' TERM INT
pids=()
for v in "${variants[@]}"; do
  # No CPU lock: the pipelines are meant to run together.
  VARIANTS="$v" LOCK="" OMP_NUM_THREADS="$THREADS" bash "$HERE/run_full_study.sh" "$DATA" "$OUT" \
    > "$OUT/$v.out" 2>&1 &
  pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${variants[$i]}")
done
# One table for all variants (each pipeline wrote one when it finished; the last may predate others).
"$PYTHON" "$HERE/summarize_study.py" "$OUT" --data_dir "$DATA" > "$OUT/summary.log" 2>&1 \
  || echo "summary failed, see $OUT/summary.log"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_gpu_study.sh: failed: ${failed[*]} (see $OUT/<variant>.out)" >&2
  exit 1
fi
echo "run_gpu_study.sh: done; table in $OUT/study.md"
exit
}
