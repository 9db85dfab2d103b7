#!/usr/bin/env bash
# A minBERT system trained in under an hour of this project's 2-core CPU: single-task members
# (by default 8 x SST, 2 x Quora bi-encoder, 1 x Quora cross-encoder, 1 x STS: 59 min of training measured,
# docs/results.md; MiniLM backbone, bf16), each trained for a fixed number of epochs with no dev-based checkpoint
# selection, then averaged by ensemble.py. Restartable: a member whose folder holds a model is skipped.
# Training wall times (train_runtime) go to $OUT/walltimes.txt, their sum to $OUT/budget.txt.
#   bash recipes/multitask_bert/run_budget_ensemble.sh [DATA_DIR] [OUT]
#   SST_SEEDS="1 2 3" QUORA_SEEDS="1 2" STS_SEEDS="1" bash ...   # other member counts
#   QUORA_CROSS_SEEDS="" bash ...   # no cross-encoder Quora member ([CLS] q1 [SEP] q2 [SEP]; seed 1 by default)
#   (an empty list, set but blank, means no member of that kind for every *_SEEDS variable)
#   PYTHON=.venv/bin/python EXTRA="--backbone DIR --batch_size 8" bash ...   # interpreter; flags added to every member
set -euo pipefail
# The body is one { ... } group: bash parses it whole before running it, so editing this file
# while a run is going cannot change what that run does.
{
DATA=${1:-../shared/data}
OUT=${2:-runs/multitask_bert/budget}
PYTHON=${PYTHON:-python}  # the interpreter that has hfmodels installed (e.g. .venv/bin/python)
# each kind of member is a preset of train.py (presets/budget_*.json: finetune, lr 1e-4, fixed epochs)
RUN="$PYTHON recipes/multitask_bert/train.py --data_dir $DATA"
mkdir -p "$OUT"
MEMBERS=()
member() {  # name, extra train.py flags
  local name=$1
  shift
  MEMBERS+=("$OUT/$name")
  if [ ! -f "$OUT/$name/model.safetensors" ]; then
    # shellcheck disable=SC2086  # EXTRA is a list of flags
    $RUN --output_dir "$OUT/$name" "$@" ${EXTRA:-} > "$OUT/$name.log" 2>&1
    $PYTHON -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], m['train_runtime'])" \
      "$OUT/$name/metrics.json" "$name" >> "$OUT/walltimes.txt"
  fi
}
for seed in ${SST_SEEDS-1 2 3 4 5 6 7 8}; do member "sst-seed$seed" --config presets/budget_sst.json --seed "$seed"; done
for seed in ${QUORA_SEEDS-1 2}; do member "quora-seed$seed" --config presets/budget_quora.json --seed "$seed"; done
for seed in ${QUORA_CROSS_SEEDS-1}; do
  member "quora-cross-seed$seed" --config presets/budget_quora_cross.json --seed "$seed"
done
for seed in ${STS_SEEDS-1}; do member "sts-seed$seed" --config presets/budget_sts.json --seed "$seed"; done
$PYTHON recipes/multitask_bert/ensemble.py --data_dir "$DATA" --output_dir "$OUT/ensemble" \
  --models "${MEMBERS[@]}" > "$OUT/ensemble.log" 2>&1
$PYTHON - "$OUT/walltimes.txt" "${MEMBERS[@]}" <<'PY' | tee "$OUT/budget.txt"
import sys
times = dict(line.split()[:2] for line in open(sys.argv[1]) if len(line.split()) == 2)
names = [m.rstrip("/").split("/")[-1] for m in sys.argv[2:]]
print(f"members: {len(names)}, training: {sum(float(times[n]) for n in names) / 60:.1f} min")
PY
exit
}
