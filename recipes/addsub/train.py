#!/usr/bin/env python
"""Train lab 3's AddSub encoder-decoder Transformer with `Trainer` and score it by greedy decoding.

    python recipes/addsub/train.py --output_dir runs/addsub/reference                 # lab 3's setup
    python recipes/addsub/train.py --preset tuned --output_dir runs/addsub/tuned      # the tuned preset
    accelerate launch recipes/addsub/train.py --output_dir runs/addsub/reference      # same, launched
    python recipes/addsub/train.py --output_dir runs/addsub/reference --resume_from_checkpoint last

A preset (`recipes/addsub/presets/<name>.json`, default `reference`; or `--config FILE`, JSON or
YAML, or such a file as the only argument) sets the model and training defaults; any flag on the
command line overrides it (every `TrainingArguments` flag works, `--log_level` and `--disable_tqdm`
included). Writes to `--output_dir`: the model and tokenizer (loadable with
`AutoModelForSeq2SeqLM` / `AutoTokenizer` after `import hfmodels`, or with `trust_remote_code=True`
without it), checkpoints (one per epoch), TensorBoard logs, `metrics.json`, `summary.md`, the model
card `README.md`, and Trainer's `train_results.json`, `eval_results.json`, `test_results.json`,
`all_results.json`. `--push_to_hub` (with `--hub_model_id`, `--hub_token`) uploads the model folder
with its card after the run, never the checkpoints, logs or `training_args.bin`.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, Trainer, TrainingArguments, default_data_collator, set_seed

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.addsub import AddSubConfig, AddSubTokenizer, AddSubTransformerForConditionalGeneration
from hfmodels.data.addsub import build_addsub_dataset, exhaustive_addsub_dataset, tokenize_addsub
from hfmodels.evaluation.addsub import evaluate_addsub
from hfmodels.reporting import (
    build_model_card,
    push_folder_to_hub,
    save_model_card,
    save_trainer_metrics,
    split_metrics,
    update_metrics_file,
    write_summary,
)
from hfmodels.training.cli import apply_preset, choose_preset
from hfmodels.training.precision import describe_cpu, precision_choice
from hfmodels.training.resume import resolve_resume_checkpoint
from hfmodels.training.verbosity import apply_logging

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class AddSubArguments:
    """The model's shape and the data split (defaults: lab 3's reference setup)."""

    num_heads: int = field(default=4, metadata={"help": "attention heads"})
    emb_dim: int = field(default=32, metadata={"help": "embedding width"})
    feedforward_dim: int = field(default=32, metadata={"help": "feed-forward hidden width"})
    encoder_layers: int = field(default=4, metadata={"help": "encoder blocks"})
    decoder_layers: int = field(default=4, metadata={"help": "decoder blocks"})
    dropout: float = field(default=0.2, metadata={"help": "dropout after every LayerNorm"})
    split_seed: int = field(default=0, metadata={"help": "seed of the train/validation/test permutation"})
    validation_fraction: float = field(
        default=0.1, metadata={"help": "share of the non-test expressions kept for validation"}
    )
    evaluate_exhaustive: bool = field(
        default=True, metadata={"help": "also score every expression of the task"}
    )
    eval_batch_size: int = field(default=1024, metadata={"help": "batch size of the greedy decoding"})
    max_train_examples: int | None = field(
        default=None, metadata={"help": "cap the training split (smoke tests)"}
    )
    max_eval_examples: int | None = field(
        default=None, metadata={"help": "cap each scored split (smoke tests)"}
    )


def parse_args(argv: list[str]) -> tuple[AddSubArguments, TrainingArguments, str]:
    """`--preset NAME` (default `reference`), `--config FILE` (JSON or YAML) or such a file as the
    only argument gives the defaults, the other flags override them."""
    preset_path, rest = choose_preset(argv, PRESETS_DIR, "reference")
    parser = HfArgumentParser((AddSubArguments, TrainingArguments), allow_abbrev=False)
    apply_preset(parser, preset_path)  # a key that is no option is refused, naming it
    args, training = parser.parse_args_into_dataclasses(rest)
    return args, training, preset_path.stem


def _cap(ds, n):
    return ds if n is None or len(ds) <= n else ds.select(range(n))


def main(argv: list[str] | None = None) -> dict:
    """Train, save, score the test (and exhaustive) sets and write the reports; returns the metrics."""
    argv = sys.argv[1:] if argv is None else argv
    args, training, preset = parse_args(argv)
    apply_logging(training)  # --log_level, --disable_tqdm: libraries' loggers and bars too
    set_seed(training.seed)
    tokenizer = AddSubTokenizer()
    raw = build_addsub_dataset(seed=args.split_seed, validation_fraction=args.validation_fraction)
    raw["train"] = _cap(raw["train"], args.max_train_examples)
    for name in ("validation", "test"):
        raw[name] = _cap(raw[name], args.max_eval_examples)
    data = tokenize_addsub(raw, tokenizer)
    columns = ["input_ids", "attention_mask", "labels"]
    config = AddSubConfig(
        num_heads=args.num_heads,
        emb_dim=args.emb_dim,
        feedforward_dim=args.feedforward_dim,
        encoder_layers=args.encoder_layers,
        decoder_layers=args.decoder_layers,
        dropout=args.dropout,
    )
    model = AddSubTransformerForConditionalGeneration(config)
    # --push_to_hub uploads the model folder after the run (push_folder_to_hub), not Trainer's output
    # dir with its checkpoints, TensorBoard events, training_args.bin and generic card.
    push, training.push_to_hub = training.push_to_hub, False
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=data["train"].select_columns(columns),
        eval_dataset=data["validation"].select_columns(columns),
        data_collator=default_data_collator,
        processing_class=tokenizer,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    result = trainer.train(
        resume_from_checkpoint=resolve_resume_checkpoint(training.resume_from_checkpoint, training.output_dir)
    )
    # on a shared machine wall time depends on the other jobs; process CPU time much less so
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if not trainer.is_world_process_zero():
        return {}
    trainer.save_model(training.output_dir)
    metrics = {f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()}
    metrics.update(
        train_wall_s=wall,
        train_cpu_s=cpu,
        preset=preset,
        machine=describe_cpu(),
        bf16=training.bf16,
        precision_reason=precision_choice()["reason"],
        num_parameters=model.num_parameters(),
    )
    model.eval()
    splits = {"test": raw["test"], "validation": raw["validation"]}
    if args.evaluate_exhaustive:
        splits["exhaustive"] = exhaustive_addsub_dataset()
    for name, ds in splits.items():
        scores = evaluate_addsub(model, tokenizer, _cap(ds, args.max_eval_examples), args.eval_batch_size)
        metrics.update({f"{name}_{k}": v for k, v in scores.items()})
    metrics["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python recipes/addsub/train.py " + shlex.join(argv)
    merged = update_metrics_file(training.output_dir, metrics)
    # also train/eval/test_results.json and all_results.json, as transformers' examples write them
    save_trainer_metrics(
        trainer, split_metrics(metrics, {"eval": ("validation_", "exhaustive_"), "test": ("test_",)})
    )
    write_summary(training.output_dir, f"AddSub Transformer ({preset} preset)", merged, command)
    card = build_model_card(
        "addsub",
        model_name=os.path.basename(os.path.normpath(training.output_dir)),
        metrics={
            k: v
            for k, v in merged.items()
            if "exact_match" in k or k in ("train_wall_s", "train_cpu_s", "num_parameters")
        },
        accuracy=merged["test_exact_match"],
        dataset_name="AddSub (signed two-digit addition and subtraction)",
        dataset_type="addsub",
        task_type="text2text-generation",
        metric_name="exact match accuracy (test)",
        dataset_split="test",
        template_kwargs={"config": config, "preset": preset, "command": command},
    )
    save_model_card(card, training.output_dir)
    if push:
        repo_id = training.hub_model_id or Path(training.output_dir).resolve().name
        commit = push_folder_to_hub(
            training.output_dir, repo_id, token=training.hub_token, private=training.hub_private_repo
        )
        print(f"pushed the model folder to {commit.commit_url}")
    return merged


if __name__ == "__main__":
    main()
