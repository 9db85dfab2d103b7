#!/usr/bin/env bash
# 1 process x 2 threads vs 2 processes x 1 thread (gloo DDP), same global batch 128, vanilla pretraining.
cd "$(dirname "$0")/.."
mkdir -p "${OUT:-runs/ddp_probe}"
STEPS=${STEPS:-60}
COMMON="pretrain vanilla wiki.txt --data_dir ../shared/data --max_steps $STEPS --fit_schedule_to_run --save_strategy no --logging_steps 10 --report_to none"
for rep in 1 2; do
python recipes/char_gpt/run.py $COMMON --output_dir /tmp/probe1 --writing_params_path /tmp/probe1/p > ${OUT:-runs/ddp_probe}/one.$rep.log 2>&1
grep -o "'train_runtime': '[0-9.]*'" ${OUT:-runs/ddp_probe}/one.$rep.log | tail -1 | sed "s/^/one-proc rep$rep /"
ACCELERATE_USE_CPU=1 OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 recipes/char_gpt/run.py $COMMON --output_dir /tmp/probe2 --writing_params_path /tmp/probe2/p > ${OUT:-runs/ddp_probe}/two.$rep.log 2>&1
grep -o "'train_runtime': '[0-9.]*'" ${OUT:-runs/ddp_probe}/two.$rep.log | tail -1 | sed "s/^/two-proc rep$rep /"
done
