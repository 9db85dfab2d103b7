#!/usr/bin/env bash
# The study at full length (the original's 650 pretraining epochs), restartable: run it again after an
# interruption (a session limit, a crash) and it picks up where it stopped. Each pretraining resumes
# from its newest checkpoint (every 250 steps; model, optimizer, scheduler and RNG state); a stage
# whose model folder is complete is skipped. Heavy stages run under the shared CPU lock.
#   bash recipes/char_gpt/run_full_study.sh [DATA_DIR] [OUT]          # all variants
#   VARIANTS="vanilla" bash recipes/char_gpt/run_full_study.sh          # one variant
# Extra run.py flags (e.g. an accelerate-friendly --bf16 false) go in $EXTRA; flags for the
# pretraining only (e.g. --max_steps 4500: stop at epoch 196 on the original's learning-rate
# curve) go in $PRETRAIN_EXTRA.
# After the original's finetuning, select_finetune.py also picks the finetuning rate and epochs on
# held-out training questions ($SELECT_HOLDOUT of them, grid $SELECT_LRS x $SELECT_EPOCHS) and scores that choice on dev
# into OUT/<variant>_select/; SELECT=0 skips it.
set -euo pipefail
# The body is one { ... } group: bash parses it whole before running it, so editing this file
# while a run is going cannot change what that run does.
{
DATA=${1:-../shared/data}
OUT=${2:-runs/full}
VARIANTS=${VARIANTS:-"vanilla perceiver synthesizer"}
LOCK=${LOCK-"flock /tmp/hfmodels-cpu.lock"}
PYTHON=${PYTHON:-python}  # the interpreter that has hfmodels installed (e.g. .venv/bin/python)
RUN="$PYTHON recipes/char_gpt/run.py"
COMMON="--data_dir $DATA --save_steps 250 --save_total_limit 2 --logging_steps 50 ${EXTRA:-}"
mkdir -p "$OUT"
log() { echo "$(date +%F' '%T) $*" | tee -a "$OUT/progress.txt"; }
done_model() { [ -f "$1/model.safetensors" ]; }
# the newest checkpoint of a folder that can be resumed (highest step with weights and trainer_state.json;
# one half-written by a run killed while saving is skipped)
newest_checkpoint() { $PYTHON -m hfmodels.training.resume "$1"; }

for v in $VARIANTS; do
  extra=""
  [ "$v" = perceiver ] && extra="--bottleneck_dim 64"
  pre="$OUT/$v.pretrain.params"
  if ! done_model "$pre"; then
    ckpt=$(newest_checkpoint "$OUT/${v}_pretrain")
    resume=""
    [ -n "$ckpt" ] && resume="--resume_from_checkpoint $ckpt"
    log "$v pretrain ${ckpt:+(resuming $ckpt)}"
    $LOCK $RUN pretrain "$v" wiki.txt $COMMON $extra ${PRETRAIN_EXTRA:-} $resume --writing_params_path "$pre" \
      --output_dir "$OUT/${v}_pretrain" --tb_expt_name "${v}_pretrain" >> "$OUT/${v}_pretrain.log" 2>&1
  fi
  fin="$OUT/$v.finetune.params"
  if ! done_model "$fin"; then
    log "$v finetune"
    $LOCK $RUN finetune "$v" wiki.txt $COMMON $extra --reading_params_path "$pre" --writing_params_path "$fin" \
      --finetune_corpus_path birth_places_train.tsv --output_dir "$OUT/${v}_finetune" \
      --outputs_path "$OUT/$v.pretrain.dev.predictions" --tb_expt_name "${v}_finetune" >> "$OUT/${v}_finetune.log" 2>&1
  fi
  for split in dev test; do
    corpus=birth_dev.tsv
    [ "$split" = test ] && corpus=birth_test_inputs.tsv
    pred="$OUT/$v.pretrain.$split.predictions"
    [ "$split" = dev ] && [ -f "$OUT/${v}_evaluate_dev.done" ] && continue
    [ "$split" = test ] && [ -f "$pred" ] && continue
    log "$v evaluate $split"
    $RUN evaluate "$v" wiki.txt --data_dir "$DATA" $extra ${EXTRA:-} --reading_params_path "$fin" \
      --eval_corpus_path "$corpus" --outputs_path "$pred" >> "$OUT/${v}_evaluate.log" 2>&1
    [ "$split" = dev ] && touch "$OUT/${v}_evaluate_dev.done"
  done
  if [ "${SELECT:-1}" != 0 ] && ! grep -q '"final"' "$OUT/${v}_select/selection.json" 2>/dev/null; then
    log "$v select finetuning"
    $LOCK $PYTHON recipes/char_gpt/select_finetune.py "$v" --reading_params_path "$pre" --data_dir "$DATA" \
      --output_dir "$OUT/${v}_select" --lrs ${SELECT_LRS:-3e-5 1e-4 2e-4 6e-4} --epochs ${SELECT_EPOCHS:-3 10} \
      --holdout ${SELECT_HOLDOUT:-400} --recall $extra ${EXTRA:-} >> "$OUT/${v}_select.log" 2>&1
  fi
done
log "done"
for v in $VARIANTS; do  # "retrieved or invented?": accuracy by exposure, confidence AUROC, coverage plot
  extra=""
  [ "$v" = perceiver ] && extra="--bottleneck_dim 64"
  done_model "$OUT/$v.finetune.params" || continue
  [ -f "$OUT/${v}_analysis/analysis.json" ] && continue
  log "$v analyze"
  $RUN analyze "$v" wiki.txt --data_dir "$DATA" $extra ${EXTRA:-} --reading_params_path "$OUT/$v.finetune.params" \
    --eval_corpus_path birth_dev.tsv --output_dir "$OUT/${v}_analysis" >> "$OUT/${v}_analysis.log" 2>&1
done
# the table, the segments of resumed pretrainings and the plot: OUT/study.md, study.json, study_pretraining.png
$PYTHON recipes/char_gpt/summarize_study.py "$OUT" --data_dir "$DATA" > "$OUT/summary.log" 2>&1 || echo "summary failed, see $OUT/summary.log"
exit
}
