#!/usr/bin/env bash
# The ablation of docs/lstm_lm.md: the reference, then each regulariser added, then the tuned preset.
# Resumable: a finished run (metrics.json present) is skipped, an interrupted one resumes.
#   EPOCHS=2 TUNED_EPOCHS=3 OUT=runs/lstm_lm bash recipes/lstm_lm/run_ablation.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/lstm_lm}
EPOCHS=${EPOCHS:-2}
TUNED_EPOCHS=${TUNED_EPOCHS:-3}
DATA_DIR=${DATA_DIR:-../shared/data}
PY=${PY:-.venv/bin/python}
run() {
  local preset=$1 epochs=$2
  if [ -f "$OUT/$preset/metrics.json" ]; then echo "skip $preset (done)"; return; fi
  echo "$(date -u +%FT%TZ) start $preset ($epochs epochs)"
  "$PY" recipes/lstm_lm/train.py --preset "$preset" --data_dir "$DATA_DIR" --output_dir "$OUT/$preset" \
    --num_train_epochs "$epochs" --resume_from_checkpoint last --disable_tqdm true
  echo "$(date -u +%FT%TZ) end $preset"
}
for preset in reference ablation_0_base ablation_1_locked_dropout ablation_2_embedding_dropout ablation_3_weight_tying ablation_4_ar_tar; do
  run "$preset" "$EPOCHS"
done
[ "${SKIP_TUNED:-0}" = 1 ] || run tuned "$TUNED_EPOCHS"
