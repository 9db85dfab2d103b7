# hfmodels developer entry points.  Everything runs inside .venv, created on demand,
# so a fresh machine needs only python3 (>= 3.10) with venv and pip.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(or $(HFMODELS_DATA_DIR),../shared/data)
RUN_DIR ?= runs/quickstart
PYTEST_ARGS ?=

.PHONY: install test run pretrained-checkpoint lint bench demo clean

$(STAMP): setup.py
	$(PY) -m venv $(VENV)
	# torch first and pinned: a bare `torch` requirement would fetch a CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,offline-bert,demo]"
	touch $(STAMP)

install: $(STAMP)

# The main job: finetune the shipped pretrained character GPT on the 2,000 training questions,
# score the 500 dev questions and print the study's table in small (a rerun replaces the last one).
run: install
	$(BIN)/python recipes/char_gpt/run.py quickstart --data_dir $(DATA_DIR) --output_dir $(RUN_DIR) --overwrite_output_dir

# The shipped checkpoint (hfmodels/checkpoints/char_gpt-vanilla-pretrained): 8,000 steps of span-corruption
# pretraining, resumable (rerun after an interruption), then exported to bfloat16 with its card.
PRETRAIN_DIR ?= runs/pretrained-checkpoint
CHECKPOINT_DIR := hfmodels/checkpoints/char_gpt-vanilla-pretrained
pretrained-checkpoint: install
	test -f $(PRETRAIN_DIR)/vanilla.pretrain.params/model.safetensors || $(BIN)/python recipes/char_gpt/run.py \
	  pretrain vanilla wiki.txt --data_dir $(DATA_DIR) --save_steps 250 --save_total_limit 2 --logging_steps 50 \
	  --pretrain_lr 6e-4 --max_steps 8000 --fit_schedule_to_run --resume_from_checkpoint last \
	  --writing_params_path $(PRETRAIN_DIR)/vanilla.pretrain.params --output_dir $(PRETRAIN_DIR)/vanilla_pretrain
	$(BIN)/python recipes/char_gpt/run.py export_checkpoint --reading_params_path $(PRETRAIN_DIR)/vanilla.pretrain.params \
	  --writing_params_path $(CHECKPOINT_DIR)

# The Gradio demo (docs/demo.md) on http://127.0.0.1:7860: the shipped checkpoint and `make run`'s model by
# default; DEMO_ARGS="--model DIR ..." for other folders.
DEMO_ARGS ?=
demo: install
	$(BIN)/python -m hfmodels.demo --data_dir $(DATA_DIR) $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS) tests

lint: install
	$(BIN)/ruff check hfmodels recipes tests benchmarks
	$(BIN)/ruff format --check hfmodels recipes tests benchmarks

# The speed tables: raw figures and plots in $(BENCH_RESULTS), the report (BENCHMARKS.md.in filled
# in) in $(BENCH_OUT); `python benchmarks/run.py --report_only` rewrites the report without measuring.
BENCH_RESULTS ?= benchmarks/results
BENCH_OUT ?= BENCHMARKS.md
bench: install
	$(BIN)/python benchmarks/run.py --data_dir $(DATA_DIR) --results_dir $(BENCH_RESULTS) --output $(BENCH_OUT)
	$(BIN)/python benchmarks/bench_lstm_lm.py --data_dir $(DATA_DIR) --out $(BENCH_RESULTS)
	$(BIN)/python benchmarks/bench_attention_backward.py --out $(BENCH_RESULTS)
	$(BIN)/python benchmarks/bench_greedy_decode.py --data_dir $(DATA_DIR) --out $(BENCH_RESULTS)

clean:
	rm -rf $(VENV) runs build *.egg-info
