"""Ensembles of trained multitask BERT models: the members' predicted probabilities, averaged.

Each member (a saved [`MultitaskBertModel`] folder with its tokenizer) predicts every data set with
[`MultitaskTrainer.predict_logits`] (the training recipe's evaluation code: length-sorted batches,
accelerate sharding, bf16 autocast as `TrainingArguments` say), on data tokenised by its own
tokenizer, so members may have different backbones. Their outputs become scores
(each task head's `scores` rule, `hfmodels.multitask_bert.TASK_HEADS`) that are averaged
([`average_scores`]) and turned into predictions (the head's `decide` rule):

* sentiment: mean of the softmax class probabilities, then `argmax`;
* paraphrase: mean of the `sigmoid` duplicate probabilities, duplicate when `> 0.5`;
* similarity: mean of the 0-5 scores.

Members may cover different tasks (e.g. single-task SST models beside multitask ones); each data
set is averaged over the members that predict it. An ensemble of one model predicts what the model predicts alone (but for paraphrase logits within
about 1e-16 of 0, whose float64 probability rounds to 0.5). [`combine_members`] also scores
each member on its own, for comparison (the training recipe's dev metrics).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoConfig, AutoTokenizer, TrainingArguments

from ..data.minbert import TASK_OF_DATASET, load_minbert, tokenize_minbert
from ..data.multitask import MultitaskCollator
from ..data.splits import check_split_name
from ..multitask_bert.configuration_multitask_bert import MultitaskBertConfig
from ..multitask_bert.modeling_multitask_bert import MultitaskBertModel, head_rules
from ..training.multitask import MultitaskTrainer
from .minbert import compute_minbert_metrics

#: A data set and split, e.g. `("sst", "validation")` or `("sts", "test")`.
Key = tuple[str, str]


def average_scores(member_scores: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise mean of the members' scores (all of one shape)."""
    if not member_scores:
        raise ValueError("average_scores: no members")
    arrays = [np.asarray(s, dtype=np.float64) for s in member_scores]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"average_scores: members' scores differ in shape: {sorted(shapes)}")
    return np.mean(arrays, axis=0)


def ensemble_predictions(task: str, member_logits: Sequence[np.ndarray]) -> np.ndarray:
    """The ensemble's predictions for `task` from each member's head outputs on the same rows: each
    member's `scores` (in float64) by the task head's rule, averaged, then the head's `decide`."""
    rules = head_rules(task)
    scores = [rules.scores(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy() for x in member_logits]
    return rules.decide(torch.from_numpy(average_scores(scores))).numpy()


def member_predictions(task: str, logits: np.ndarray) -> np.ndarray:
    """One member's own predictions from its head outputs (the task head's `predictions` rule)."""
    return head_rules(task).predictions(torch.as_tensor(np.asarray(logits))).numpy()


def dataset_names(config: MultitaskBertConfig) -> list[str]:
    """The minBERT data sets a model's heads predict: `sst` (or `cfimdb` for a 2-label sentiment
    head), `quora`, `sts`, in the order of `config.tasks`."""
    names = {"paraphrase": "quora", "similarity": "sts"}
    return [
        ("cfimdb" if config.num_sentiment_labels == 2 else "sst") if task == "sentiment" else names[task]
        for task in config.tasks
    ]


def check_members(model_dirs: Sequence[str | os.PathLike]) -> list[list[str]]:
    """Read the members' configs; returns the data sets each member covers ([`dataset_names`]).
    Members may cover different tasks (a single-task SST model beside multitask ones): each data
    set is then averaged over the members that predict it. Raises ValueError unless there is at
    least one member and every member is a multitask BERT model."""
    if not model_dirs:
        raise ValueError("an ensemble needs at least one model folder")
    covered = []
    for path in model_dirs:
        config = AutoConfig.from_pretrained(path)
        if not isinstance(config, MultitaskBertConfig):
            raise ValueError(f"{path}: not a multitask BERT model (model_type={config.model_type!r})")
        covered.append(dataset_names(config))
    return covered


def union_of(covered: Sequence[Sequence[str]]) -> list[str]:
    """The data sets any member covers, in order of first appearance."""
    return list(dict.fromkeys(name for names in covered for name in names))


def load_eval_sets(
    names: Sequence[str], data_dir=None, max_eval_examples: int | None = None
) -> dict[Key, Dataset]:
    """The raw validation and test sets `{(name, split): Dataset}` of the data sets `names` (splits
    `"validation"` and `"test"`; the first `max_eval_examples` rows of each when given)."""
    data = {}
    for name in names:
        for split, ds in load_minbert(name, data_dir).items():
            if split == "train":
                continue
            n = max_eval_examples
            data[(name, split)] = ds if n is None or len(ds) <= n else ds.select(range(n))
    return data


def predict_member(
    model_dir: str | os.PathLike,
    datasets: Mapping[Key, Dataset],
    args: TrainingArguments,
    max_length: int = 128,
    cfimdb_max_length: int = 256,
) -> dict[Key, np.ndarray]:
    """Head outputs ([`MultitaskTrainer.predict_logits`]) of the model saved in `model_dir` for every
    raw (untokenised) data set `{(name, split): Dataset}`, tokenised with the model's own tokenizer
    (`max_length` tokens per sentence, `cfimdb_max_length` for CFIMDB, as in training). `args` sets
    the evaluation batch size, bf16 autocast and device, as in training."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = MultitaskBertModel.from_pretrained(model_dir)
    trainer = MultitaskTrainer(
        model=model, args=args, data_collator=MultitaskCollator(tokenizer), processing_class=tokenizer
    )
    try:
        out = {}
        for (name, split), ds in datasets.items():
            limit = cfimdb_max_length if name == "cfimdb" else max_length
            tokenised = tokenize_minbert(ds, tokenizer, max_length=limit)
            out[(name, split)] = trainer.predict_logits(tokenised, TASK_OF_DATASET[name])
        return out
    finally:
        del trainer, model
        gc.collect()


@dataclass
class EnsembleResult:
    """What [`combine_members`] returns."""

    #: The ensemble's predictions `{(name, split): array}`.
    predictions: dict[Key, np.ndarray]
    #: The ensemble's dev metrics (`eval_sst_accuracy`, ..., `eval_overall`).
    metrics: dict[str, float]
    #: Each member's own dev metrics (same keys), in member order.
    member_metrics: list[dict[str, float]] = field(default_factory=list)
    #: How many members predicted each `(name, split)`.
    members_per_key: dict[Key, int] = field(default_factory=dict)


def combine_members(
    member_logits: Sequence[Mapping[Key, np.ndarray]],
    references: Mapping[str, np.ndarray],
    eval_split: str = "validation",
    metric_key_prefix: str = "eval",
) -> EnsembleResult:
    """Average the members' outputs `[{(name, split): logits}, ...]` into the ensemble's predictions
    (each key over the members that predicted it), and score the ensemble and every member on the
    `eval_split` rows against `references` (`{name: gold labels}`) with [`compute_minbert_metrics`]."""
    if not member_logits:
        raise ValueError("combine_members: no members")
    check_split_name(eval_split, "eval_split")
    keys = list(dict.fromkeys(key for member in member_logits for key in member))

    def score(predictions: Mapping[Key, np.ndarray]) -> dict[str, float]:
        dev = {name: p for (name, split), p in predictions.items() if split == eval_split}
        metrics = compute_minbert_metrics(dev, {name: np.asarray(references[name]) for name in dev})
        return {f"{metric_key_prefix}_{k}": v for k, v in metrics.items()}

    predictions = {
        key: ensemble_predictions(TASK_OF_DATASET[key[0]], [m[key] for m in member_logits if key in m])
        for key in keys
    }
    member_metrics = [
        score({key: member_predictions(TASK_OF_DATASET[key[0]], m[key]) for key in m}) for m in member_logits
    ]
    counts = {key: sum(key in m for m in member_logits) for key in keys}
    return EnsembleResult(
        predictions=predictions,
        metrics=score(predictions),
        member_metrics=member_metrics,
        members_per_key=counts,
    )


__all__ = [
    "EnsembleResult",
    "average_scores",
    "check_members",
    "combine_members",
    "dataset_names",
    "ensemble_predictions",
    "load_eval_sets",
    "member_predictions",
    "predict_member",
    "union_of",
]
