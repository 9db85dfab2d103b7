"""The steps of the birthplace study (docs/definitions.md, "Birthplace examples"): pretrain,
finetune, evaluate, the London baseline, the retrieved-or-invented analysis, and the quickstart
that finetunes the shipped pretrained checkpoint and prints the study's table in small.

Each step takes a [`StudyRun`] (the parsed arguments, the data directory and the command line
for the cards), checks every output location before its first step, and returns its metrics.
`recipes/char_gpt/run.py` is the command line over them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainingArguments

from ..char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizerFast
from ..data import (
    BirthplaceCollator,
    ReplayCollator,
    ResumableSpanCorruptionCollator,
    build_char_tokenizer,
    encode_birthplaces,
    read_birthplace_file,
    read_wiki_file,
    resolve_data_path,
    split_of_file,
)
from ..evaluation.birthplaces import BirthplaceEvaluation, evaluate_birthplaces, metric_prefix, score_line
from ..evaluation.birthplaces import london_baseline as london_baseline_scores
from ..reporting import build_model_card, save_trainer_metrics, update_metrics_file, write_summary
from .char_gpt import (
    CharGPTStudyArguments,
    build_config,
    is_main_process,
    load_folder_tokenizer,
    load_model,
    packing,
    planned_tokens,
    save_model_folder,
    train_metrics,
    train_with_token_schedule,
)
from .outputs import check_not_finished, check_writable, claim_model_folder, claim_output_dir, mark_finished
from .resume import EpochCallback
from .schedules import original_final_tokens

# Settings that make two runs into one output folder the same run (a resume may change the rest).
RUN_SETTINGS = (
    "function", "variant", "pretrain_corpus_path", "finetune_corpus_path", "reading_params_path", "block_size",
    "n_layer", "n_head", "n_embd", "bottleneck_dim", "synthesizer_per_head", "dropout", "pack", "token_count",
    "final_tokens", "fit_schedule_to_run", "max_pretrain_documents", "finetune_replay_ratio",
)  # fmt: skip
TRAINING_SETTINGS = (
    "seed", "max_steps", "num_train_epochs", "learning_rate", "per_device_train_batch_size",
    "gradient_accumulation_steps", "weight_decay", "adam_beta1", "adam_beta2", "max_grad_norm",
)  # fmt: skip


@dataclass
class StudyRun:
    """One step of the study: its arguments, data directory, command line and the options the
    user (or a preset) set, which decide what a saved model may override."""

    study: CharGPTStudyArguments
    training: TrainingArguments
    data_dir: Path
    command: str
    given: set[str] = field(default_factory=set)
    #: the last evaluation a step made (its predictions, for reports built on them)
    evaluation: BirthplaceEvaluation | None = None

    def data(self, name: str | None) -> str | None:
        """A data file as given, or inside the data directory."""
        return None if name is None else str(resolve_data_path(name, self.data_dir))

    def model_folder(self) -> str:
        """The model folder this step writes."""
        return self.study.writing_params_path or os.path.join(self.training.output_dir, "model")


def run_settings(run: StudyRun) -> dict:
    """The settings recorded in the output folder to tell this run from another."""
    return {
        **{k: getattr(run.study, k) for k in RUN_SETTINGS},
        **{k: getattr(run.training, k) for k in TRAINING_SETTINGS},
    }


def prepare_training_outputs(run: StudyRun, predictions: str | None = None) -> str:
    """Check and claim every location a training step writes, before it loads anything; returns
    the model folder. See [`hfmodels.training.outputs`]."""
    out, study, training = run.model_folder(), run.study, run.training
    check_writable(training.output_dir, "--output_dir", folder=True)
    check_writable(out, "--writing_params_path", folder=True)
    if predictions:
        check_writable(predictions, "--outputs_path")
    if not is_main_process():
        return out
    check_not_finished(training.resume_from_checkpoint)
    claim_output_dir(
        training.output_dir, run_settings(run), training.resume_from_checkpoint, study.overwrite_output_dir
    )
    # a resumed run may replace what its own earlier segment wrote (claim_output_dir checked it is the same run)
    claim_model_folder(out, study.overwrite_output_dir or bool(training.resume_from_checkpoint))
    return out


def tokenizer_for(run: StudyRun) -> CharTokenizerFast:
    """A model folder's own tokenizer; the corpus vocabulary for a new model or a course `.params`
    file. Either way `model_max_length` is the model's `config.max_input_length`."""
    path = run.study.reading_params_path
    if path and os.path.isdir(path):
        return load_folder_tokenizer(path)
    tokenizer = build_char_tokenizer(corpus_path=run.data(run.study.pretrain_corpus_path))
    tokenizer.model_max_length = build_config(run.study, tokenizer.vocab_size).max_input_length
    return tokenizer


def model_for(run: StudyRun, tokenizer: CharTokenizerFast) -> CharGPTForCausalLM:
    """The model of `--reading_params_path` (strictly loaded), else a new one of the study's shape."""
    if run.study.reading_params_path:
        return load_model(run.study.reading_params_path, run.study, tokenizer, run.given)
    return CharGPTForCausalLM(build_config(run.study, tokenizer.vocab_size))


def _resumed_step(training: TrainingArguments) -> int:
    if not training.resume_from_checkpoint:
        return 0
    state = Path(training.resume_from_checkpoint) / "trainer_state.json"
    return int(json.loads(state.read_text(encoding="utf-8")).get("global_step", 0))


def finish_model_folder(folder: str, run: StudyRun, metrics: dict) -> None:
    """metrics.json, summary.md and the model card (README.md) of a model folder; the card
    describes the model from the folder's own config.json."""
    study = run.study
    all_metrics = update_metrics_file(folder, metrics)
    write_summary(folder, f"char-GPT {study.variant}: {study.function}", all_metrics, run.command)
    config = CharGPTConfig.from_pretrained(folder)
    keys = ("n_layer", "n_head", "n_embd", "block_size", "bottleneck_dim", "vocab_size")
    architecture = {"variant": config.attention_type, **{k: getattr(config, k) for k in keys}}
    card = build_model_card(
        "char_gpt",
        model_name=Path(folder).name,
        metrics=all_metrics,
        accuracy=all_metrics.get("dev_accuracy"),
        template_kwargs={**architecture, "command": run.command},
    )
    card.save(os.path.join(folder, "README.md"))


def _end_of_training(run: StudyRun, trainer, tokenizer, metrics: dict, out: str) -> None:
    save_model_folder(trainer, tokenizer, out)
    if trainer.state.global_step >= trainer.state.max_steps:  # not when --stop_after_steps ended it early
        mark_finished(
            run.training.output_dir, run.study.function, run.study.variant, trainer.state.global_step
        )


def pretrain(run: StudyRun) -> dict:
    """Span-corruption pretraining on the corpus (docs/definitions.md, "Span corruption")."""
    study, training = run.study, run.training
    out = prepare_training_outputs(run)
    corpus = run.data(study.pretrain_corpus_path)
    tokenizer = tokenizer_for(run)
    dataset = read_wiki_file(corpus, tokenizer)
    n_docs = len(dataset)
    if study.max_pretrain_documents:
        dataset = dataset.select(range(min(study.max_pretrain_documents, n_docs)))
    model = model_for(run, tokenizer)
    collator = ResumableSpanCorruptionCollator(
        tokenizer, block_size=study.block_size, pack=packing(study), seed=training.seed
    )
    resumed_from = _resumed_step(training)  # before training: the Trainer may rotate that checkpoint away
    final_tokens = study.final_tokens or original_final_tokens(n_docs, study.block_size)
    if study.fit_schedule_to_run:
        final_tokens = planned_tokens(training, len(dataset), study.block_size - 1)
    trainer, result, wall = train_with_token_schedule(
        study, training, model, tokenizer, dataset, collator, final_tokens, [EpochCallback(collator)]
    )
    metrics = train_metrics(trainer, result, wall, "pretrain", resumed_from)
    if is_main_process():
        _end_of_training(run, trainer, tokenizer, metrics, out)
        finish_model_folder(out, run, metrics)
        update_metrics_file(training.output_dir, metrics)
        save_trainer_metrics(trainer, {"train": metrics})
        print(json.dumps(metrics, indent=1))
    return metrics


def _finetune_collator(run: StudyRun, tokenizer, block_size: int, corpus: str):
    """The questions' collator, with corpus documents replayed beside them when asked (rehearsal)."""
    study, pack = run.study, packing(run.study)
    collator = BirthplaceCollator(tokenizer, block_size=block_size, pack=pack)
    if not study.finetune_replay_ratio:
        return collator, []
    documents = ResumableSpanCorruptionCollator(
        tokenizer, block_size=block_size, pack=False, seed=run.training.seed
    )
    replay = ReplayCollator(
        collator,
        documents,
        read_wiki_file(corpus, tokenizer),
        study.finetune_replay_ratio,
        run.training.seed,
        pack,
    )
    return replay, [EpochCallback(documents)]


def finetune(run: StudyRun) -> dict:
    """Birthplace finetuning (docs/definitions.md, "Birthplace examples"), then the accuracy on
    `--eval_corpus_path` (default birth_dev.tsv) unless `--eval_after_finetune False`."""
    study, training = run.study, run.training
    out = run.model_folder()
    eval_path = run.data(study.eval_corpus_path or "birth_dev.tsv") if study.eval_after_finetune else None
    outputs = None
    if eval_path:
        # named as its metrics (dev.predictions for birth_dev.tsv); refuses --eval_split dev before training
        prefix = metric_prefix(study.eval_split or split_of_file(eval_path), "--eval_split")
        outputs = study.outputs_path or os.path.join(out, f"{prefix}.predictions")
    prepare_training_outputs(run, outputs)
    tokenizer = tokenizer_for(run)
    model = model_for(run, tokenizer)
    corpus = run.data(study.pretrain_corpus_path)
    with open(corpus, encoding="utf-8") as f:
        n_docs = sum(1 for _ in f)
    block = model.config.block_size
    rows = read_birthplace_file(run.data(study.finetune_corpus_path), tokenizer=tokenizer, block_size=block)
    dataset = encode_birthplaces(rows, tokenizer, block)
    collator, callbacks = _finetune_collator(run, tokenizer, block, corpus)
    resumed_from = _resumed_step(training)  # before training: the Trainer may rotate that checkpoint away
    final_tokens = study.final_tokens or original_final_tokens(n_docs, block)
    trainer, result, wall = train_with_token_schedule(
        study, training, model, tokenizer, dataset, collator, final_tokens, callbacks
    )
    metrics = train_metrics(trainer, result, wall, "finetune", resumed_from)
    metrics["finetune_from"] = study.reading_params_path or "scratch"
    metrics["finetune_replay_ratio"] = study.finetune_replay_ratio
    if is_main_process():
        _end_of_training(run, trainer, tokenizer, metrics, out)
        splits = {"train": dict(metrics)}
        if eval_path:
            evaluation = score(trainer.model, tokenizer, eval_path, outputs, study, training.bf16)
            splits["test" if evaluation.split == "test" else "eval"] = evaluation.metrics()
            metrics.update(evaluation.metrics())
            run.evaluation = evaluation
        finish_model_folder(out, run, metrics)
        update_metrics_file(training.output_dir, metrics)
        save_trainer_metrics(trainer, splits)
        print(json.dumps(metrics, indent=1))
    return metrics


def score(
    model, tokenizer, eval_path: str, outputs_path: str, study: CharGPTStudyArguments, bf16
) -> BirthplaceEvaluation:
    """Greedy answers to every question of `eval_path`, written to `outputs_path`, scored when the
    file has places; the course's report line is printed."""
    evaluation = evaluate_birthplaces(
        model,
        tokenizer,
        eval_path,
        outputs_path,
        batch_size=study.eval_batch_size,
        bf16=bool(bf16),
        split=study.eval_split,
    )
    if evaluation.scores is None:
        print(
            f"No gold birth places provided; wrote {len(evaluation.predictions)} predictions to {outputs_path}"
        )
    else:
        print(score_line(evaluation.scores))
    return evaluation


def evaluate(run: StudyRun) -> dict:
    """Greedy answers for every question of `--eval_corpus_path`, written to `--outputs_path`;
    accuracy when the file has places. The metrics and card of the model folder are updated."""
    study = run.study
    if not study.reading_params_path:
        raise SystemExit("run.py evaluate: --reading_params_path is required.")
    if not study.outputs_path:
        raise SystemExit("run.py evaluate: --outputs_path is required.")
    check_writable(study.outputs_path, "--outputs_path")
    tokenizer = tokenizer_for(run)
    model = model_for(run, tokenizer)
    eval_path = run.data(study.eval_corpus_path or "birth_dev.tsv")
    metrics = score(model, tokenizer, eval_path, study.outputs_path, study, run.training.bf16).metrics()
    if os.path.isdir(study.reading_params_path) and any(k.endswith("_accuracy") for k in metrics):
        finish_model_folder(study.reading_params_path, run, metrics)
    return metrics


def london_baseline(run: StudyRun) -> dict:
    """Score "London" for every question of `--eval_corpus_path` (5.0 %, 25/500, on birth_dev.tsv)."""
    if run.study.outputs_path:
        check_writable(run.study.outputs_path, "--outputs_path")
    scores = london_baseline_scores(
        run.data(run.study.eval_corpus_path or "birth_dev.tsv"), run.study.outputs_path
    )
    print(
        score_line(
            {
                "correct": scores["london_correct"],
                "total": scores["london_total"],
                "exact_match": scores["london_accuracy"],
            }
        )
    )
    return scores


def analyze(run: StudyRun) -> dict:
    """The retrieved-or-invented analysis of a model folder on `--eval_corpus_path` (default dev)."""
    from ..evaluation.analysis import analyze as analyze_model

    if not run.study.reading_params_path:
        raise SystemExit("run.py analyze: --reading_params_path is required.")
    check_writable(run.training.output_dir, "--output_dir", folder=True)
    tokenizer = tokenizer_for(run)
    model = model_for(run, tokenizer)
    return analyze_model(
        model,
        tokenizer,
        eval_path=run.data(run.study.eval_corpus_path or "birth_dev.tsv"),
        corpus_path=run.data(run.study.pretrain_corpus_path),
        output_dir=run.training.output_dir,
        batch_size=run.study.eval_batch_size,
        bf16=bool(run.training.bf16),
    )


__all__ = [
    "StudyRun",
    "analyze",
    "evaluate",
    "finetune",
    "finish_model_folder",
    "london_baseline",
    "model_for",
    "prepare_training_outputs",
    "pretrain",
    "run_settings",
    "score",
    "tokenizer_for",
]
