"""The Results tab's plots: the retrieved-or-invented chart of an analysis folder and the learning
curves of a run folder's TensorBoard logs.

The chart reads `analysis.json` (written by `hfmodels.evaluation.analysis`) or the `metrics.json`
of a `make run` folder (its `dev_<split>_accuracy` / `_count` keys): dev accuracy for people whose
name is in wiki.txt or not, and whose gold place is written in their document or not. The curves
read every `events.out.tfevents.*` file under the run folder with TensorBoard's `EventAccumulator`
and plot each scalar whose tag names a loss, by step (a resumed run's later file wins a step).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .loading import DemoError

#: (label, analysis.json key, metrics.json key) of the four bars.
SPLITS = (
    ("name in\nwiki.txt", "name_in_pretraining_corpus", "dev_name_in_corpus"),
    ("name not\nin wiki.txt", "name_not_in_pretraining_corpus", "dev_name_not_in_corpus"),
    ("place in the\nperson's document", "place_in_persons_document", "dev_place_in_persons_document"),
    ("place not in\nthe document", "place_not_in_persons_document", "dev_place_not_in_persons_document"),
)


def _folder(text: str | os.PathLike, what: str) -> Path:
    if not str(text).strip():
        raise DemoError(f"No {what} given: type the path of a folder.")
    path = Path(str(text).strip()).expanduser()
    if not path.is_dir():
        raise DemoError(f"{path}: no such folder.")
    return path


def retrieved_or_invented_splits(folder: str | os.PathLike) -> dict[str, dict]:
    """{bar label: {"count", "accuracy"}} from the folder's analysis.json or metrics.json."""
    path = _folder(folder, "analysis folder")
    for name in ("analysis.json", "metrics.json"):
        file = path / name
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DemoError(f"{file}: not readable JSON ({err}).") from None
        if name == "analysis.json" and all(key in data for _, key, _ in SPLITS):
            return {label: data[key] for label, key, _ in SPLITS}
        if name == "metrics.json" and all(f"{key}_accuracy" in data for _, _, key in SPLITS):
            return {
                label: {"count": data.get(f"{key}_count"), "accuracy": data[f"{key}_accuracy"]}
                for label, _, key in SPLITS
            }
    raise DemoError(
        f"{path}: no retrieved-or-invented figures (an analysis.json from the analysis command, or the "
        "metrics.json of a `make run` folder)."
    )


def retrieved_or_invented_figure(folder: str | os.PathLike):
    """A matplotlib bar chart of [`retrieved_or_invented_splits`]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = retrieved_or_invented_splits(folder)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = [100 * (s["accuracy"] or 0.0) for s in splits.values()]
    bars = ax.bar(list(splits), values, color=["C0", "C7", "C2", "C3"])
    for bar, split in zip(bars, splits.values()):
        count = "n/a" if split.get("count") is None else split["count"]
        ax.annotate(
            f"n={count}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom"
        )
    ax.set_ylabel("dev accuracy (%)")
    ax.set_title(f"Retrieved or invented: {Path(folder).name}")
    fig.tight_layout()
    return fig


def loss_curves(folder: str | os.PathLike) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} of every loss scalar in the TensorBoard event files under `folder`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = _folder(folder, "run folder")
    files = sorted(path.rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise DemoError(f"{path}: no TensorBoard event files (events.out.tfevents.*) under it.")
    curves: dict[str, dict[int, float]] = {}
    for events in files:
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            if "loss" in tag:
                curves.setdefault(tag, {}).update((e.step, e.value) for e in acc.Scalars(tag))
    if not curves:
        raise DemoError(f"{path}: the event files log no loss scalar.")
    return {tag: dict(sorted(series.items())) for tag, series in sorted(curves.items())}


def learning_curves_figure(folder: str | os.PathLike):
    """A matplotlib line plot of [`loss_curves`], one line per tag."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = loss_curves(folder)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for tag, series in curves.items():
        ax.plot(list(series), list(series.values()), label=tag)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"Learning curves: {Path(folder).name}")
    ax.legend()
    fig.tight_layout()
    return fig


__all__ = [
    "learning_curves_figure",
    "loss_curves",
    "retrieved_or_invented_figure",
    "retrieved_or_invented_splits",
]
