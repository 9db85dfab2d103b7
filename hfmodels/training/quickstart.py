"""The main job (`make run`): finetune the shipped pretrained vanilla checkpoint on the 2,000
training questions, score the 500 dev questions and print the study's table in small.

The table has the London baseline (computed by the run), finetuning without pretraining (the
known figure of docs/results.md, not run), and the pretrained + finetuned model of this run,
followed by the retrieved-or-invented split of this run's answers: accuracy for people whose name
is in the pretraining corpus or not, and for answers whose gold place is written in the person's
own document or not ([`hfmodels.evaluation.analysis`]), with a bar chart of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..checkpoints import checkpoint_path
from ..data import read_text
from ..reporting import save_figure_atomic, update_metrics_file, write_summary, write_text_atomic
from .study import StudyRun, finetune, london_baseline

# docs/results.md, birthplace table: "vanilla, finetune only" (no pretraining; 75 epochs, lr 6e-4), 18/500.
FINETUNE_ONLY_DEV_ACCURACY = 0.036


def retrieved_or_invented(
    questions: list[str], places: list[str], predictions: list[str], corpus_text: str
) -> dict:
    """Accuracy of `predictions` split by whether the person's name is in the corpus and whether
    the gold place is written in a corpus document that names the person."""
    from ..evaluation.analysis import names_in_corpus, place_exposure

    correct = [p == g for p, g in zip(predictions, places)]
    in_corpus = names_in_corpus(questions, corpus_text)
    in_document, _ = place_exposure(questions, places, corpus_text.split("\n"))

    def split(mask: list[bool]) -> dict:
        hits = [c for c, m in zip(correct, mask) if m]
        return {"count": len(hits), "accuracy": sum(hits) / len(hits) if hits else None}

    return {
        "name_in_corpus": split(in_corpus),
        "name_not_in_corpus": split([not m for m in in_corpus]),
        "place_in_persons_document": split(in_document),
        "place_not_in_persons_document": split([not m for m in in_document]),
    }


def _plot_split(split: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "name_in_corpus": "name in\nwiki.txt",
        "name_not_in_corpus": "name not\nin wiki.txt",
        "place_in_persons_document": "place in the\nperson's document",
        "place_not_in_persons_document": "place not in\nthe document",
    }
    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = [100 * (split[k]["accuracy"] or 0.0) for k in labels]
    bars = ax.bar(list(labels.values()), values, color=["C0", "C7", "C2", "C3"])
    for bar, key in zip(bars, labels):
        ax.annotate(
            f"n={split[key]['count']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylim(0, 1.2 * max(values + [1.0]))  # room for the counts above the bars
    ax.set_ylabel("dev accuracy (%)")
    ax.set_title("Retrieved or invented: pretrained + finetuned vanilla GPT")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return path


def _pct(accuracy, correct=None, total=None) -> str:
    if accuracy is None:
        return "—"
    return f"{100 * accuracy:.1f} %" + (f" ({correct}/{total})" if total else "")


def study_table(metrics: dict, split: dict, plot: Path) -> str:
    """The study's table in small, in Markdown."""
    rows = [
        "| system | dev accuracy | where the figure comes from |",
        "| --- | ---: | --- |",
        f"| London for every question | {_pct(metrics['london_accuracy'], metrics['london_correct'], metrics['london_total'])} | computed by this run |",
        f"| finetune only (no pretraining) | {_pct(FINETUNE_ONLY_DEV_ACCURACY, 18, 500)} | known figure, not run (docs/results.md) |",
        f"| pretrained + finetuned | {_pct(metrics.get('dev_accuracy'), metrics.get('dev_correct'), metrics.get('dev_total'))} | this run: {Path(metrics['finetune_from']).name} finetuned {metrics['finetune_epochs']:.0f} epochs at lr {metrics['finetune_lr']:g}, {metrics['finetune_wall_seconds']:.0f} s |",
        "",
        "Retrieved or invented (this run's dev answers):",
        "",
        "| dev questions | count | accuracy |",
        "| --- | ---: | ---: |",
    ]  # fmt: skip
    names = {
        "name_in_corpus": "person's name in wiki.txt",
        "name_not_in_corpus": "person's name not in wiki.txt",
        "place_in_persons_document": "gold place written in the person's document",
        "place_not_in_persons_document": "gold place not in the person's document",
    }
    rows += [
        f"| {label} | {split[k]['count']} | {_pct(split[k]['accuracy'])} |" for k, label in names.items()
    ]
    return "\n".join(rows + ["", f"Plot: {plot}", ""])


def quickstart(run: StudyRun) -> dict:
    """Finetune the shipped checkpoint (or `--reading_params_path`), score dev, and write and print
    the study's table (`study_table.md`), metrics.json and summary.md in `--output_dir`."""
    study, training = run.study, run.training
    if not study.reading_params_path:
        try:
            study.reading_params_path = str(checkpoint_path())
        except FileNotFoundError as err:  # a message for the newcomer running `make run`, not a traceback
            raise SystemExit(f"run.py quickstart: {err}") from err
    study.function = "finetune"
    study.writing_params_path = study.writing_params_path or os.path.join(training.output_dir, "model")
    metrics = finetune(run)
    if int(os.environ.get("RANK", "0")) != 0:
        return metrics
    metrics["finetune_lr"] = training.learning_rate
    metrics.update(london_baseline(run))
    evaluation = run.evaluation
    predictions = [p.text for p in evaluation.predictions]
    corpus_text = read_text(run.data(study.pretrain_corpus_path))
    split = retrieved_or_invented(
        evaluation.examples["question"], evaluation.examples["place"], predictions, corpus_text
    )
    plot = _plot_split(split, Path(training.output_dir) / "retrieved_or_invented.png")
    metrics.update({f"dev_{k}_{m}": v[m] for k, v in split.items() for m in ("count", "accuracy")})
    metrics["retrieved_or_invented_plot"] = str(plot)
    table = study_table(metrics, split, plot)
    write_text_atomic(Path(training.output_dir) / "study_table.md", table)
    update_metrics_file(training.output_dir, metrics)
    write_summary(training.output_dir, "char-GPT quickstart", metrics, run.command)
    print("\n" + table + f"\nOutputs in {training.output_dir}")
    return metrics


__all__ = ["FINETUNE_ONLY_DEV_ACCURACY", "quickstart", "retrieved_or_invented", "study_table"]
