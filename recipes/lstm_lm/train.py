"""Train the word-level LSTM language model on WikiText-2 (reduced split) with `Trainer`.

    python recipes/lstm_lm/train.py --output_dir runs/lstm_lm/reference
    python recipes/lstm_lm/train.py --preset tuned --output_dir runs/lstm_lm/tuned
    accelerate launch --config_file recipes/accelerate_configs/cpu.yaml recipes/lstm_lm/train.py ...

`--preset NAME` (a file of `recipes/lstm_lm/presets/`, or a path; `--config FILE`, JSON or YAML,
or such a file as the only argument, alike) sets defaults that the command line overrides (every
`TrainingArguments` flag works, `--log_level` and `--disable_tqdm` included); without it the
course's reference applies (`reference.json`: batch 32, Adam, cosine from 1e-3, 20 epochs, 2-layer
LSTM emb 128 hidden 128, no regulariser).
`--resume_from_checkpoint last` resumes the newest complete checkpoint of `--output_dir`.

`--output_dir` receives the model and tokenizer (`from_pretrained`-ready), `metrics.json`
(validation/test perplexity over the whole stream, the prediction NLL of the 21-word prompts,
out-of-vocabulary counts, the unigram and Kneser-Ney trigram baselines on the same tokens, wall
times), `summary.md` (the table plus ten generated continuations), `README.md` (model card),
Trainer's `{train,eval,test}_results.json` and `all_results.json`, TensorBoard logs under `runs/`
and epoch checkpoints. `--push_to_hub` (with `--hub_model_id`, `--hub_token`) uploads the model
folder with its card after the run, never the checkpoints, logs or `training_args.bin`.
Definitions: docs/lstm_lm.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from hfmodels.data.wikitext import (
    generation_prompts,
    load_wikitext2,
    prediction_set,
    token_stream,
    tokenize_and_group,
)
from hfmodels.evaluation.lstm_lm import generate_continuations, prediction_nll, stream_nlls
from hfmodels.evaluation.ngram import KneserNeyTrigramLM, UnigramLM, perplexity
from hfmodels.lstm_lm import LstmLMConfig, LstmLMForCausalLM, LstmLMTokenizer
from hfmodels.reporting import (
    build_model_card,
    push_folder_to_hub,
    save_model_card,
    save_trainer_metrics,
    split_metrics,
    update_metrics_file,
    write_summary,
    write_text_atomic,
)
from hfmodels.training.cli import apply_preset, choose_preset
from hfmodels.training.precision import describe_cpu, precision_choice
from hfmodels.training.resume import resolve_resume_checkpoint
from hfmodels.training.verbosity import apply_logging

PRESETS = Path(__file__).resolve().parent / "presets"
MODEL_FIELDS = (
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "input_dropout",
    "locked_dropout",
    "embedding_dropout",
    "weight_drop",
    "tie_word_embeddings",
    "ar_alpha",
    "tar_beta",
)


@dataclass
class LstmLMArguments:
    """Data, model and report options of the recipe (training options are `TrainingArguments`)."""

    data_dir: str | None = field(default=None, metadata={"help": "Folder holding wikitext-2/."})
    validation_articles: int = field(default=6, metadata={"help": "Last articles of valid.txt held out."})
    block_size: int = field(default=64, metadata={"help": "Words per training row."})
    min_count: int = field(
        default=1, metadata={"help": "Training count a word needs to enter the vocabulary."}
    )
    embedding_size: int = 128
    hidden_size: int = 128
    num_hidden_layers: int = 2
    input_dropout: float = 0.0
    locked_dropout: float = 0.0
    embedding_dropout: float = 0.0
    weight_drop: float = 0.0
    tie_word_embeddings: bool = False
    ar_alpha: float = 0.0
    tar_beta: float = 0.0
    generation_words: int = field(default=10, metadata={"help": "Words generated per prompt."})
    num_continuations: int = field(default=10, metadata={"help": "Continuations shown in the summary."})
    baselines: bool = field(default=True, metadata={"help": "Also score the unigram and KN trigram."})


class LstmLMTrainer(Trainer):
    """`Trainer` that logs the NLL and the AR/TAR term of the training loss next to `loss` (their
    sum), so the regularised runs report a next-word NLL comparable with the unregularised ones."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._parts = {"nll": 0.0, "ar_tar": 0.0, "steps": 0}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch=num_items_in_batch)
        if model.training:
            self._parts["nll"] += outputs.nll.item()
            self._parts["ar_tar"] += 0.0 if outputs.ar_tar is None else outputs.ar_tar.item()
            self._parts["steps"] += 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict, start_time: float | None = None) -> None:
        steps = self._parts["steps"]
        if "loss" in logs and steps:
            logs["nll"] = round(self._parts["nll"] / steps, 4)
            logs["ar_tar"] = round(self._parts["ar_tar"] / steps, 4)
            self._parts = {"nll": 0.0, "ar_tar": 0.0, "steps": 0}
        super().log(logs, start_time)


def parse_arguments(argv: list[str]) -> tuple[LstmLMArguments, TrainingArguments, str]:
    """Parse `argv` over the preset's defaults (`--preset NAME`, default `reference`; `--config FILE`,
    JSON or YAML, or such a file as the only argument); returns the two argument sets and the preset
    file used."""
    parser = HfArgumentParser((LstmLMArguments, TrainingArguments), allow_abbrev=False)
    path, rest = choose_preset(argv, PRESETS, "reference")  # --preset, --config or a lone JSON/YAML file
    apply_preset(parser, path)
    args, training = parser.parse_args_into_dataclasses(args=rest)
    return args, training, str(path)


def baseline_metrics(train_ids, streams: dict, vocab_size: int) -> dict:
    """Unigram and KN trigram perplexities on `streams`, trained on `train_ids`, with wall times."""
    start = time.perf_counter()
    models = {
        "unigram": UnigramLM(vocab_size).fit(train_ids),
        "kn_trigram": KneserNeyTrigramLM(vocab_size).fit(train_ids),
    }
    out = {}
    for name, lm in models.items():
        for split, ids in streams.items():
            out[f"{split}_{name}_perplexity"] = perplexity(lm.token_nlls(ids.tolist()))
    out["baselines_wall_s"] = time.perf_counter() - start
    return out


def evaluate_model(model, tokenizer, streams: dict, args: LstmLMArguments) -> tuple[dict, list]:
    """Stream perplexity and prediction NLL on validation and test, and the summary's continuations."""
    metrics = {}
    for split, ids in streams.items():
        nlls = stream_nlls(model, ids)
        metrics[f"{split}_perplexity"] = float(nlls.mean().exp())
        prompts, targets = prediction_set(ids)
        metrics[f"{split}_prediction_nll"] = prediction_nll(model, prompts, targets)
        metrics[f"{split}_prediction_prompts"] = int(prompts.shape[0])
    prompts = generation_prompts(streams["test"], num_prompts=args.num_continuations)
    return metrics, generate_continuations(model, tokenizer, prompts, max_new_tokens=args.generation_words)


def write_reports(out: str, metrics: dict, continuations: list, args: LstmLMArguments, command: str) -> None:
    """metrics.json, summary.md (table + continuations) and the model card README.md."""
    merged = update_metrics_file(out, metrics)
    path = write_summary(out, "LSTM language model on WikiText-2 (reduced split)", merged, command)
    shown = [f"- {c['prompt']} **→ {c['continuation']}**" for c in continuations]
    text = path.read_text(encoding="utf-8") + "\n## Generated continuations (greedy, test prompts)\n\n"
    write_text_atomic(path, text + "\n".join(shown) + "\n")
    dataset = "WikiText-2 (valid.txt split in train/validation, test.txt)"
    card = build_model_card(
        "lstm_lm",
        model_name=os.path.basename(os.path.normpath(out)),
        metrics={k: v for k, v in merged.items() if isinstance(v, (int, float))},
        dataset_name=dataset,
        dataset_type="wikitext",
        eval_results=[  # the card's model-index: the whole-stream perplexities (docs/lstm_lm.md)
            EvalResult(
                task_type="text-generation",
                dataset_type="wikitext",
                dataset_name=dataset,
                dataset_split=split,
                metric_type="perplexity",
                metric_name=f"perplexity ({split}, whole stream)",
                metric_value=float(merged[f"{split}_perplexity"]),
            )
            for split in ("test", "validation")
        ],
        template_kwargs={**asdict(args), "command": command, "continuations": "\n".join(shown), **merged},
    )
    save_model_card(card, out)


def main(argv: list[str] | None = None) -> dict:
    """Run the recipe; returns the metrics written to `metrics.json`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, training, preset = parse_arguments(argv)
    apply_logging(training)  # --log_level, --disable_tqdm: libraries' loggers and bars too
    set_seed(training.seed)
    data = load_wikitext2(args.data_dir, args.validation_articles)
    tokenizer = LstmLMTokenizer.from_texts(data["train"]["text"], min_count=args.min_count)
    config = LstmLMConfig(vocab_size=len(tokenizer), **{k: getattr(args, k) for k in MODEL_FIELDS})
    model = LstmLMForCausalLM(config)
    rows = {s: tokenize_and_group(data[s], tokenizer, args.block_size) for s in ("train", "validation")}
    # --push_to_hub uploads the model folder after the run (push_folder_to_hub), not Trainer's output
    # dir with its checkpoints, TensorBoard events, training_args.bin and generic card.
    push, training.push_to_hub = training.push_to_hub, False
    trainer = LstmLMTrainer(
        model=model, args=training, train_dataset=rows["train"], eval_dataset=rows["validation"]
    )
    start = time.perf_counter()
    result = trainer.train(
        resume_from_checkpoint=resolve_resume_checkpoint(training.resume_from_checkpoint, training.output_dir)
    )
    train_wall = time.perf_counter() - start
    trainer.save_model(training.output_dir)
    tokenizer.save_pretrained(training.output_dir)
    streams = {s: token_stream(data[s], tokenizer) for s in ("validation", "test")}
    start = time.perf_counter()
    metrics, continuations = evaluate_model(trainer.model, tokenizer, streams, args)
    metrics["eval_wall_s"] = time.perf_counter() - start
    for split in ("validation", "test"):
        unknown, total = tokenizer.count_unknown(data[split]["text"])
        metrics[f"{split}_words"], metrics[f"{split}_oov_words"] = total, unknown
    metrics.update(
        vocab_size=len(tokenizer),
        train_words=int(token_stream(data["train"], tokenizer).numel()),
        train_rows=len(rows["train"]),
        train_wall_s=train_wall,
        train_steps=result.global_step,
        train_epochs=training.num_train_epochs,
        train_tokens_per_s=len(rows["train"]) * args.block_size * training.num_train_epochs / train_wall,
        parameters=sum(p.numel() for p in trainer.model.parameters()),
        preset=os.path.basename(preset),
        machine=describe_cpu(),
        bf16=training.bf16,
        precision_reason=precision_choice()["reason"],
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        last_validation_block_loss=next(
            (h["eval_loss"] for h in reversed(trainer.state.log_history) if "eval_loss" in h), None
        ),
    )
    if args.baselines:
        train_ids = token_stream(data["train"], tokenizer)
        metrics.update(baseline_metrics(train_ids, streams, len(tokenizer)))
    if trainer.is_world_process_zero():
        command = "python recipes/lstm_lm/train.py " + " ".join(argv)
        write_reports(training.output_dir, metrics, continuations, args, command)
        # also train/eval/test_results.json and all_results.json, as transformers' examples write them
        eval_keys = ("validation_", "last_validation_", "eval_")
        save_trainer_metrics(trainer, split_metrics(metrics, {"eval": eval_keys, "test": ("test_",)}))
        print(json.dumps(metrics, indent=2, default=str))
        if push:
            repo_id = training.hub_model_id or Path(training.output_dir).resolve().name
            commit = push_folder_to_hub(
                training.output_dir, repo_id, token=training.hub_token, private=training.hub_private_repo
            )
            print(f"pushed the model folder to {commit.commit_url}")
    return metrics


if __name__ == "__main__":
    main()
