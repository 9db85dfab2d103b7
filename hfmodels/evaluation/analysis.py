"""Where does a birthplace answer come from: retrieved from pretraining, or invented?

Three measurements no course solution makes:

1. **Accuracy split by exposure**: is the person's name (the `NAME` of `Where was NAME born?`)
   in the pretraining corpus (wiki.txt)? Pretraining can only help for people it has read about.
   In the course data every dev name is in wiki.txt (the questions were made from it), so two
   finer splits say whether the answer was there to be learned: is the gold place written in a
   document that mentions the person, and is it within the first `int(block_size * 7 / 8)` = 112
   characters of that document, the only part span corruption ever shows the model (it
   truncates every document to at most that length before corrupting it).
2. **Does the model know when it knows?** The model's own probability of its greedy answer
   (product of the token probabilities up to and including the closing `⁇`; also their
   geometric mean) is scored as a detector of right answers: AUROC, accuracy and coverage at a
   confidence threshold, and the coverage/accuracy curve (answer only the most confident x %).

3. **Was it memorised at all?** [`document_recall`] feeds each person's own document up to the gold
   place and checks that the model's argmax predicts every character of it (teacher-forced, no
   question): it works on a pretrained model and says whether finetuning, not pretraining, is what
   loses the answer (`--document_recall` writes `document_recall.json` only).

Writes `analysis.json`, `analysis.md`, `predictions.jsonl` (one record per question) and
`coverage.png` (matplotlib, Agg backend) to the output folder.

    python -m hfmodels.evaluation.analysis --model runs/study/vanilla.finetune.params \
        --eval_file ../shared/data/cs224n-a5/birth_dev.tsv --corpus ../shared/data/cs224n-a5/wiki.txt \
        --output_dir runs/study/vanilla_analysis
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset

from ..data import question_name, read_birthplace_file, read_text, read_wiki_file
from ..reporting import save_figure_atomic, write_text_atomic
from .birthplaces import Prediction, greedy_decode


def names_in_corpus(questions: Sequence[str], corpus_text: str) -> list[bool]:
    """Whether each question's full name occurs verbatim in the pretraining corpus."""
    return [question_name(q) in corpus_text for q in questions]


def place_exposure(
    questions: Sequence[str], places: Sequence[str], documents: Sequence[str], seen_chars: int = 112
) -> tuple[list[bool], list[bool]]:
    """For each question: is the gold place written in a document that mentions the person, and
    is it inside the first `seen_chars` characters of such a document (the part pretraining
    reads)?"""
    in_doc, in_prefix = [], []
    for question, place in zip(questions, places):
        name = question_name(question)
        docs = [d for d in documents if name in d]
        in_doc.append(any(place in d for d in docs))
        in_prefix.append(any(place in d[:seen_chars] for d in docs))
    return in_doc, in_prefix


def document_recall(
    model,
    tokenizer,
    questions: Sequence[str],
    places: Sequence[str],
    documents: Sequence[str],
    seen_chars: int = 112,
) -> list[bool | None]:
    """Did pretraining memorise the fact? For each question, take the first document that
    mentions the person and writes the gold place inside its first `seen_chars` characters (after
    position 0), feed the document up to the place, and check that the model's argmax predicts
    every character of the place (teacher-forced greedy recall; no question, no finetuning).
    `None` where no document qualifies. Works on a pretrained model, which cannot answer the
    questions themselves."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[bool | None] = []
    try:
        for question, place in zip(questions, places):
            name = question_name(question)
            doc = next((d for d in documents if name in d and d[:seen_chars].find(place) > 0), None)
            if doc is None:
                out.append(None)
                continue
            start = doc[:seen_chars].find(place)
            ids = torch.tensor([tokenizer.encode_chars(doc[: start + len(place)])], device=device)
            with torch.no_grad():
                logits = model(ids).logits[0]
            predicted = logits[start - 1 : start - 1 + len(place)].argmax(-1)
            out.append(bool((predicted == ids[0, start : start + len(place)]).all()))
    finally:
        model.train(was_training)
    return out


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve of `scores` for detecting `positives` (None if one class is empty)."""
    y = np.asarray(positives, dtype=bool)
    if y.all() or not y.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def coverage_curve(confidence: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, float]]:
    """(coverage, accuracy) when answering only the k most confident questions, k = 1..n."""
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    hits = np.cumsum(np.asarray(correct, dtype=float)[order])
    k = np.arange(1, len(order) + 1)
    return [(float(c), float(a)) for c, a in zip(k / len(order), hits / k)]


def selective_accuracy(confidence: Sequence[float], correct: Sequence[bool], threshold: float) -> dict:
    """Accuracy and coverage of the answers whose confidence is >= `threshold`."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    kept = conf >= threshold
    return {
        "threshold": threshold,
        "coverage": float(kept.mean()) if len(kept) else 0.0,
        "answered": int(kept.sum()),
        "accuracy_of_answered": float(ok[kept].mean()) if kept.any() else None,
        "accuracy_of_abstained": float(ok[~kept].mean()) if (~kept).any() else None,
    }


def _split_accuracy(correct: np.ndarray, mask: np.ndarray) -> dict:
    return {"count": int(mask.sum()), "accuracy": float(correct[mask].mean()) if mask.any() else None}


def confidence_report(
    questions: Sequence[str],
    predictions: Sequence[Prediction],
    references: Sequence[str],
    corpus_text: str,
    thresholds: Sequence[float] = (0.5, 0.8),
    seen_chars: int = 112,
) -> dict:
    """All numbers of the analysis for decoded `predictions` (see the module docstring)."""
    correct = np.array([p.text == r for p, r in zip(predictions, references)], dtype=bool)
    seen = np.array(names_in_corpus(questions, corpus_text), dtype=bool)
    in_doc, in_prefix = (
        np.array(x, dtype=bool)
        for x in place_exposure(questions, references, corpus_text.split("\n"), seen_chars)
    )
    product = np.array([p.confidence for p in predictions], dtype=float)
    geo = np.array(
        [
            math.exp(np.mean(np.log(np.maximum(p.token_probs, 1e-12)))) if p.token_probs else 0.0
            for p in predictions
        ]
    )
    curve = coverage_curve(product, correct)
    at = {f"{int(100 * c)}%": next(a for cov, a in curve if cov >= c - 1e-9) for c in (0.1, 0.25, 0.5, 1.0)}
    return {
        "total": int(len(correct)),
        "accuracy": float(correct.mean()) if len(correct) else 0.0,
        "name_in_pretraining_corpus": _split_accuracy(correct, seen),
        "name_not_in_pretraining_corpus": _split_accuracy(correct, ~seen),
        "place_in_persons_document": _split_accuracy(correct, in_doc),
        "place_not_in_persons_document": _split_accuracy(correct, ~in_doc),
        f"place_in_first_{seen_chars}_chars": _split_accuracy(correct, in_prefix),
        f"place_not_in_first_{seen_chars}_chars": _split_accuracy(correct, ~in_prefix),
        "answer_unclosed": int(sum(not p.closed for p in predictions)),
        "confidence": {
            "auroc_product": auroc(product, correct),
            "auroc_geometric_mean": auroc(geo, correct),
            "auroc_product_for_name_in_corpus": auroc(product, seen),
            "auroc_product_for_place_in_seen_prefix": auroc(product, in_prefix),
            "mean_product_correct": float(product[correct].mean()) if correct.any() else None,
            "mean_product_wrong": float(product[~correct].mean()) if (~correct).any() else None,
            "selective": [selective_accuracy(product, correct, t) for t in thresholds],
            "accuracy_at_coverage": at,
        },
        "curve": curve,
    }


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cov, acc = zip(*report["curve"]) if report["curve"] else ((), ())
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.plot(cov, acc, label="answer the most confident first")
    ax.axhline(report["accuracy"], ls="--", c="grey", label=f"all answers ({100 * report['accuracy']:.1f} %)")
    ax.set_xlabel("coverage (fraction of questions answered)")
    ax.set_ylabel("accuracy of the answered")
    auc = report["confidence"]["auroc_product"]
    ax.set_title(
        f"Confidence vs correctness (AUROC {auc:.2f})" if auc is not None else "Confidence vs correctness"
    )
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure_atomic(fig, path)


def _markdown(report: dict) -> str:
    c = report["confidence"]
    seen, unseen = report["name_in_pretraining_corpus"], report["name_not_in_pretraining_corpus"]

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f} %"

    def num(x):
        return "n/a" if x is None else f"{x:.3f}"

    lines = [
        "# Birthplace answers: exposure and confidence",
        "",
        f"Dev accuracy {pct(report['accuracy'])} over {report['total']} questions.",
        "",
        "| split | questions | accuracy |",
        "| --- | --- | --- |",
        f"| name in wiki.txt | {seen['count']} | {pct(seen['accuracy'])} |",
        f"| name not in wiki.txt | {unseen['count']} | {pct(unseen['accuracy'])} |",
    ]
    for key, label in (
        ("place_in_persons_document", "place written in the person's document"),
        ("place_not_in_persons_document", "place not in the person's document"),
    ):
        lines.append(f"| {label} | {report[key]['count']} | {pct(report[key]['accuracy'])} |")
    for key in report:
        if key.startswith("place_in_first_") or key.startswith("place_not_in_first_"):
            n = key.split("_")[-2]
            label = f"place {'not ' if '_not_' in key else ''}in the first {n} characters (what pretraining reads)"
            lines.append(f"| {label} | {report[key]['count']} | {pct(report[key]['accuracy'])} |")
    lines += [
        "",
        "| confidence measure | value |",
        "| --- | --- |",
        f"| AUROC, product of token probabilities, right vs wrong | {num(c['auroc_product'])} |",
        f"| AUROC, geometric mean of token probabilities | {num(c['auroc_geometric_mean'])} |",
        f"| AUROC, product, name in corpus vs not | {num(c['auroc_product_for_name_in_corpus'])} |",
        f"| AUROC, product, place in the read prefix vs not | {num(c['auroc_product_for_place_in_seen_prefix'])} |",
        f"| mean confidence of right / wrong answers | {num(c['mean_product_correct'])} / {num(c['mean_product_wrong'])} |",
    ]
    for s in c["selective"]:
        lines.append(
            f"| confidence >= {s['threshold']}: coverage, accuracy of answered | "
            f"{pct(s['coverage'])}, {pct(s['accuracy_of_answered'])} |"
        )
    for k, v in c["accuracy_at_coverage"].items():
        lines.append(f"| accuracy of the {k} most confident | {pct(v)} |")
    return "\n".join(lines) + "\n"


def _labelled_examples(eval_path: str | os.PathLike, tokenizer) -> Dataset:
    """The labelled birthplace file's rows, read strictly (`hfmodels.data.read_birthplace_file`)."""
    return read_birthplace_file(eval_path, labelled=True, tokenizer=tokenizer)


def analyze(
    model,
    tokenizer,
    eval_path: str | os.PathLike,
    corpus_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    batch_size: int = 128,
    bf16: bool | None = None,
) -> dict:
    """Decode `eval_path`, compute [`confidence_report`] and write the report files. `bf16` as in
    [`greedy_decode`] (None: bf16 autocast where the hardware runs it natively)."""
    examples = _labelled_examples(eval_path, tokenizer)
    questions, places = examples["question"], examples["place"]
    predictions = greedy_decode(model, tokenizer, questions, batch_size=batch_size, bf16=bf16)
    corpus_text = read_text(corpus_path)
    report = confidence_report(questions, predictions, places, corpus_text)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {k: v for k, v in report.items() if k != "curve"}
    write_text_atomic(out / "analysis.json", json.dumps(report, indent=1) + "\n")
    write_text_atomic(out / "analysis.md", _markdown(report))
    records = [
        {
            "question": q,
            "gold": gold,
            "prediction": p.text,
            "correct": p.text == gold,
            "name_in_corpus": question_name(q) in corpus_text,
            "confidence": p.confidence,
            "token_probs": p.token_probs,
        }
        for q, gold, p in zip(questions, places, predictions)
    ]
    write_text_atomic(out / "predictions.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    _plot(report, out / "coverage.png")
    print(_markdown(report))
    return summary


def write_document_recall(
    model,
    tokenizer,
    eval_path: str | os.PathLike,
    corpus_path: str | os.PathLike,
    output_dir: str | os.PathLike,
) -> dict:
    """[`document_recall`] over a labelled birthplace file; writes `document_recall.json`."""
    examples = _labelled_examples(eval_path, tokenizer)
    documents = read_wiki_file(corpus_path)["text"]
    recalled = document_recall(model, tokenizer, examples["question"], examples["place"], documents)
    measured = [r for r in recalled if r is not None]
    summary = {
        "questions": len(examples),
        "place_in_seen_prefix": len(measured),
        "recalled": sum(measured),
        "recall": sum(measured) / len(measured) if measured else None,
    }
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "document_recall.json", json.dumps({**summary, "per_question": recalled}) + "\n")
    print(json.dumps(summary))
    return summary


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: `python -m hfmodels.evaluation.analysis --model DIR --eval_file TSV --corpus TXT --output_dir DIR`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="finetuned model folder")
    parser.add_argument("--eval_file", required=True, help="labelled birthplace TSV (birth_dev.tsv)")
    parser.add_argument("--corpus", required=True, help="pretraining corpus (wiki.txt)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument(
        "--document_recall",
        action="store_true",
        help="only measure [document_recall] (for a pretrained model) and write document_recall.json",
    )
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    import hfmodels  # noqa: F401

    from ..char_gpt import CharGPTForCausalLM

    model = CharGPTForCausalLM.from_pretrained(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)  # the folder's CharTokenizerFast
    if args.document_recall:
        return write_document_recall(model, tokenizer, args.eval_file, args.corpus, args.output_dir)
    return analyze(model, tokenizer, args.eval_file, args.corpus, args.output_dir, args.batch_size)


if __name__ == "__main__":
    main()


__all__ = [
    "analyze",
    "auroc",
    "confidence_report",
    "coverage_curve",
    "document_recall",
    "names_in_corpus",
    "question_name",
    "selective_accuracy",
]
