#!/usr/bin/env python
"""Ensemble several trained multitask BERT models (output folders of `train.py`) by averaging their
predicted probabilities, and score it on the dev sets.

    python recipes/multitask_bert/ensemble.py \
        --models runs/multitask_bert/seed1 runs/multitask_bert/seed2 runs/multitask_bert/seed3 \
        --data_dir ../shared/data --output_dir runs/multitask_bert/ensemble

Members may cover different tasks (a single-task SST model beside multitask ones): each data set
is averaged over the members that predict it. Sentiment: mean of the softmax probabilities, then argmax;
paraphrase: mean duplicate probability > 0.5; similarity: mean score
(`hfmodels.evaluation.ensemble`). Every dev set the members cover and the test-student files
are predicted, each member with its own tokenizer (`--max_length`, `--cfimdb_max_length` as in
training) and the training recipe's evaluation code (`--per_device_eval_batch_size` 128, bf16
autocast unless `--bf16 false`; every `TrainingArguments` flag works, and several processes
shard the rows). Writes to `--output_dir`: `metrics.json` (the ensemble's `eval_sst_accuracy`,
`eval_quora_accuracy`, `eval_sts_pearson`, `eval_overall` as train.py names them, plus `members`:
each member's own dev metrics), `report.md` (with a member-vs-ensemble table) and the course-format
prediction files under `predictions/`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import HfArgumentParser, TrainingArguments

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.data.splits import course_split_name
from hfmodels.evaluation.ensemble import (
    check_members,
    combine_members,
    load_eval_sets,
    predict_member,
    union_of,
)
from hfmodels.evaluation.minbert import comparison_table, markdown_report, write_prediction_files
from hfmodels.reporting import write_metrics_file, write_text_atomic
from hfmodels.training.cli import apply_preset, config_argument, explicit_options
from hfmodels.training.precision import default_bf16
from hfmodels.training.verbosity import apply_logging

logger = logging.getLogger("multitask_bert.ensemble")


@dataclass
class EnsembleArguments:
    """The members, the data and the tokenisation limits they were trained with."""

    models: list[str] = field(
        metadata={"help": "trained model folders (train.py outputs); tasks may differ between members"}
    )
    data_dir: str | None = field(default=None, metadata={"help": "data directory holding minbert/"})
    max_length: int = field(default=128, metadata={"help": "token limit for SST, Quora and STS sentences"})
    cfimdb_max_length: int = field(default=256, metadata={"help": "token limit for CFIMDB reviews"})
    max_eval_examples: int | None = field(
        default=None, metadata={"help": "cap each dev/test set (smoke tests)"}
    )


@dataclass
class EnsembleTrainingArguments(TrainingArguments):
    """`TrainingArguments` with this recipe's defaults (evaluation only)."""

    # bf16 autocast where the hardware multiplies bf16 (emulated bf16 is slower than fp32), unless
    # `accelerate launch` was given another precision
    bf16: bool = field(
        default_factory=default_bf16, metadata={"help": "bf16 autocast (default: where native)"}
    )
    use_cpu: bool = field(default=not torch.cuda.is_available(), metadata={"help": "predict on the CPU"})
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "evaluation batch size"})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "loggers"})
    remove_unused_columns: bool = field(default=False, metadata={"help": "keep the multitask columns"})


def parse_arguments(argv: list[str]) -> tuple[EnsembleArguments, TrainingArguments]:
    """The members, data and evaluation arguments; a JSON or YAML file as the only argument holds
    them all, `--config FILE` gives defaults that the flags override."""
    parser = HfArgumentParser((EnsembleArguments, EnsembleTrainingArguments), allow_abbrev=False)
    config, argv = config_argument(argv)
    from_file = set(apply_preset(parser, config)) if config else set()
    if "output_dir" not in explicit_options(parser, argv) | from_file:
        parser.error("--output_dir is required")
    return parser.parse_args_into_dataclasses(args=argv)


def write_outputs(args, targs, data, result, metrics: dict, argv: list[str], seconds: float) -> None:
    """Prediction files, metrics.json and report.md (members next to the ensemble)."""
    out = targs.output_dir
    write_prediction_files(
        os.path.join(out, "predictions"),
        {key: (data[key]["id"], preds) for key, preds in result.predictions.items()},
    )
    write_metrics_file(out, metrics)
    runs = {
        f"member {i}: `{path}`": m for i, (path, m) in enumerate(zip(args.models, result.member_metrics), 1)
    }
    runs["**ensemble**"] = result.metrics
    details = {
        "command": "python recipes/multitask_bert/ensemble.py " + " ".join(argv),
        "members": ", ".join(args.models),
        "data sets": ", ".join(f"{n}-{s}" for n, s in data),
        "max_length": args.max_length,
        "bf16": targs.bf16,
        "processes": targs.world_size,
        "prediction wall time (s)": round(seconds, 1),
    }
    report = markdown_report(
        result.metrics,
        f"minBERT ensemble of {len(args.models)} models",
        details,
        sections=["## Members and ensemble (dev)\n\n" + comparison_table(runs)],
    )
    write_text_atomic(os.path.join(out, "report.md"), report)


def main(argv: list[str] | None = None) -> dict:
    """Parse arguments, predict with every member, average, write the outputs; returns the metrics."""
    argv = list(argv if argv is not None else sys.argv[1:])
    args, targs = parse_arguments(argv)
    apply_logging(targs, logger.name)  # --log_level, --disable_tqdm: libraries' loggers and bars too
    covered = check_members(args.models)
    data = load_eval_sets(union_of(covered), args.data_dir, args.max_eval_examples)
    start = time.perf_counter()
    member_logits = []
    for path, names in zip(args.models, covered):
        logger.info("predicting %s with %s", ", ".join(names), path)
        mine = {key: ds for key, ds in data.items() if key[0] in names}
        member_logits.append(predict_member(path, mine, targs, args.max_length, args.cfimdb_max_length))
    seconds = time.perf_counter() - start
    references = {name: np.asarray(ds["label"]) for (name, s), ds in data.items() if s == "validation"}
    result = combine_members(member_logits, references)
    metrics: dict = dict(result.metrics)
    metrics["ensemble_size"] = len(args.models)
    # metrics.json keys keep the course's split names (sst-dev), as its metric keys do
    counts = result.members_per_key.items()
    metrics["members_per_data_set"] = {f"{n}-{course_split_name(s)}": c for (n, s), c in counts}
    metrics["predict_wall_seconds"] = round(seconds, 1)
    metrics["members"] = [{"model": path, **m} for path, m in zip(args.models, result.member_metrics)]
    if targs.process_index == 0:
        write_outputs(args, targs, data, result, metrics, argv, seconds)
        logger.info("ensemble dev metrics: %s", result.metrics)
    return metrics


if __name__ == "__main__":
    main()
