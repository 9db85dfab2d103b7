# hfmodels developer entry points.  Everything runs inside .venv, created on demand,
# so a fresh machine needs only python3 (>= 3.10) with venv and pip.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(or $(HFMODELS_DATA_DIR),../shared/data)
RUN_DIR ?= runs/quickstart
PYTEST_ARGS ?=

.PHONY: install test run lint bench clean

$(STAMP): setup.py
	$(PY) -m venv $(VENV)
	# torch first and pinned: a bare `torch` requirement would fetch a CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,offline-bert]"
	touch $(STAMP)

install: $(STAMP)

# The main job: a small but real end-to-end run of the character GPT
# (short finetune + dev evaluation next to the "London" baseline).
run: install
	$(BIN)/python recipes/char_gpt/run.py quickstart --data_dir $(DATA_DIR) --output_dir $(RUN_DIR)

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

clean:
	rm -rf $(VENV) runs build *.egg-info
