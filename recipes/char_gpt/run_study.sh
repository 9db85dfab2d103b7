#!/usr/bin/env bash
# The study's table (docs/results.md), shortened to fit a CPU session: every heavy command runs under
# the shared CPU lock. Pretraining lengths are given in optimizer steps of the original's global batch
# of 128 documents; --fit_schedule_to_run ends minGPT's cosine at the last step of each run.
#   bash recipes/char_gpt/run_study.sh [DATA_DIR] [OUT]
set -euo pipefail
# The body is one { ... } group: bash parses it whole before running it, so editing this file
# while a run is going cannot change what that run does.
{
DATA=${1:-../shared/data}
OUT=${2:-runs/study}
VANILLA_STEPS=${VANILLA_STEPS:-1400}
PERCEIVER_STEPS=${PERCEIVER_STEPS:-600}
SYNTH_STEPS=${SYNTH_STEPS:-600}
LOCK="flock /tmp/hfmodels-cpu.lock"
PYTHON=${PYTHON:-python}  # the interpreter that has hfmodels installed (e.g. .venv/bin/python)
RUN="$PYTHON recipes/char_gpt/run.py"
COMMON="--data_dir $DATA --bf16 --attention_backend ${BACKEND:-matmul} --save_steps 250 --logging_steps 10"
mkdir -p "$OUT"
t() { local name=$1; shift; local s=$(date +%s) rc=0; "$@" > "$OUT/$name.log" 2>&1 || rc=$?; echo "$name $(( $(date +%s) - s ))s rc=$rc $(date +%H:%M:%S)" | tee -a "$OUT/walltimes.txt"; }

t london $RUN london_baseline --data_dir "$DATA" --eval_corpus_path birth_dev.tsv --outputs_path "$OUT/london.dev.predictions"

t vanilla_pretrain $LOCK $RUN pretrain vanilla wiki.txt $COMMON --pack --max_steps "$VANILLA_STEPS" --fit_schedule_to_run \
  --writing_params_path "$OUT/vanilla.pretrain.params" --output_dir "$OUT/vanilla_pretrain" --tb_expt_name vanilla_pretrain
t vanilla_finetune $LOCK $RUN finetune vanilla wiki.txt $COMMON --reading_params_path "$OUT/vanilla.pretrain.params" \
  --writing_params_path "$OUT/vanilla.finetune.params" --finetune_corpus_path birth_places_train.tsv \
  --output_dir "$OUT/vanilla_finetune" --outputs_path "$OUT/vanilla.pretrain.dev.predictions" --tb_expt_name vanilla_finetune

t perceiver_pretrain $LOCK $RUN pretrain perceiver wiki.txt $COMMON --bottleneck_dim 64 --max_steps "$PERCEIVER_STEPS" \
  --fit_schedule_to_run --writing_params_path "$OUT/perceiver.pretrain.params" --output_dir "$OUT/perceiver_pretrain" \
  --tb_expt_name perceiver_pretrain
t perceiver_finetune $LOCK $RUN finetune perceiver wiki.txt $COMMON --bottleneck_dim 64 \
  --reading_params_path "$OUT/perceiver.pretrain.params" --writing_params_path "$OUT/perceiver.finetune.params" \
  --finetune_corpus_path birth_places_train.tsv --output_dir "$OUT/perceiver_finetune" \
  --outputs_path "$OUT/perceiver.pretrain.dev.predictions" --tb_expt_name perceiver_finetune

t synthesizer_pretrain $LOCK $RUN pretrain synthesizer wiki.txt $COMMON --pack --max_steps "$SYNTH_STEPS" --fit_schedule_to_run \
  --writing_params_path "$OUT/synthesizer.pretrain.params" --output_dir "$OUT/synthesizer_pretrain" \
  --tb_expt_name synthesizer_pretrain
t synthesizer_finetune $LOCK $RUN finetune synthesizer wiki.txt $COMMON \
  --reading_params_path "$OUT/synthesizer.pretrain.params" --writing_params_path "$OUT/synthesizer.finetune.params" \
  --finetune_corpus_path birth_places_train.tsv --output_dir "$OUT/synthesizer_finetune" \
  --outputs_path "$OUT/synthesizer.pretrain.dev.predictions" --tb_expt_name synthesizer_finetune

t vanilla_nopretrain $LOCK $RUN finetune vanilla wiki.txt $COMMON --writing_params_path "$OUT/vanilla.nopretrain.params" \
  --finetune_corpus_path birth_places_train.tsv --output_dir "$OUT/vanilla_nopretrain" \
  --outputs_path "$OUT/vanilla.nopretrain.dev.predictions" --tb_expt_name vanilla_nopretrain

t vanilla_analyze $LOCK $RUN analyze vanilla wiki.txt --data_dir "$DATA" --reading_params_path "$OUT/vanilla.finetune.params" \
  --eval_corpus_path birth_dev.tsv --output_dir "$OUT/vanilla_analysis"
t perceiver_analyze $LOCK $RUN analyze perceiver wiki.txt --data_dir "$DATA" --bottleneck_dim 64 \
  --reading_params_path "$OUT/perceiver.finetune.params" --eval_corpus_path birth_dev.tsv --output_dir "$OUT/perceiver_analysis"
echo done >> "$OUT/walltimes.txt"
$PYTHON recipes/char_gpt/summarize_study.py "$OUT" --data_dir "$DATA" > "$OUT/summary.log" 2>&1 || echo "summary failed, see $OUT/summary.log"
exit
}
