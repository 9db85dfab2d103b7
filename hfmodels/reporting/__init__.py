"""Run reports any recipe can write: `metrics.json`, a Markdown summary and a model card.

A model folder written by a recipe holds the weights, the tokenizer, `metrics.json` (every
number the run measured, merged across the recipe's steps, e.g. finetune then evaluate), a
`summary.md` table and `README.md`, a `huggingface_hub.ModelCard` rendered from a template in
`hfmodels/reporting/templates/` whose YAML metadata carries a `model-index` with the evaluation results. Such a
folder is ready for `push_to_hub` / [`push_folder_to_hub`]. Every file is written atomically
(temporary file + `os.replace`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

MODEL_CARDS_DIR = Path(__file__).resolve().parent / "templates"
METRICS_FILE = "metrics.json"
SUMMARY_FILE = "summary.md"


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_figure_atomic(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure to `path` through a temporary file and `os.replace`, then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, **savefig_kwargs)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def update_metrics_file(folder: str | os.PathLike, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `metrics` into `folder/metrics.json` (created if missing); returns the merged dict.
    A corrupt existing file raises a `ValueError` naming it rather than being overwritten."""
    path = Path(folder) / METRICS_FILE
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}: not valid JSON ({err}); move it away to start a new metrics file."
            ) from err
    merged.update(metrics)
    write_text_atomic(path, json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")
    return merged


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_summary(
    folder: str | os.PathLike, title: str, metrics: Mapping[str, Any], command: str | None = None
) -> Path:
    """`folder/summary.md`: a title, the command that produced the run and a metric/value table."""
    lines = [f"# {title}", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    lines += ["| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())]
    return write_text_atomic(Path(folder) / SUMMARY_FILE, "\n".join(lines) + "\n")


def metrics_table(metrics: Mapping[str, Any]) -> str:
    """A Markdown table of `metrics` (for model cards)."""
    rows = ["| metric | value |", "| --- | --- |"] + [
        f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())
    ]
    return "\n".join(rows)


def build_model_card(
    template: str,
    model_name: str,
    metrics: Mapping[str, Any],
    accuracy: float | None = None,
    dataset_name: str = "CS224N birthplaces (birth_dev.tsv)",
    dataset_type: str = "cs224n-birthplaces",
    task_type: str = "text-generation",
    metric_name: str = "exact match accuracy (dev)",
    template_kwargs: Mapping[str, Any] | None = None,
) -> ModelCard:
    """A `ModelCard` rendered from `hfmodels/reporting/templates/<template>.md` (or a path to a template).

    With `accuracy`, the card data gets a `model-index` entry (`EvalResult`, metric type
    `accuracy`, split `dev`) so the Hub shows it as the model's evaluation result."""
    template_path = Path(template)
    if not template_path.exists():
        template_path = MODEL_CARDS_DIR / f"{template}.md"
    if not template_path.exists():
        raise FileNotFoundError(f"model card template {template!r}: neither a file nor {template_path}.")
    eval_results = None
    if accuracy is not None:
        eval_results = [
            EvalResult(
                task_type=task_type,
                dataset_type=dataset_type,
                dataset_name=dataset_name,
                dataset_split="dev",
                metric_type="accuracy",
                metric_name=metric_name,
                metric_value=float(accuracy),
            )
        ]
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        license="mit",
        tags=["hfmodels", "char_gpt"],
        pipeline_tag=task_type,
        eval_results=eval_results,
    )
    kwargs = dict(template_kwargs or {})
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path),
        model_name=model_name,
        accuracy=None if accuracy is None else f"{100 * float(accuracy):.1f} %",
        metrics_table=metrics_table(metrics),
        **kwargs,
    )


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload model folder written by hfmodels",
):
    """Create `repo_id` (if needed) and upload the whole model folder in one commit; returns the
    `CommitInfo`. `endpoint` (or `$HF_ENDPOINT`) selects the Hub server."""
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message=commit_message
    )


__all__ = [
    "build_model_card",
    "metrics_table",
    "push_folder_to_hub",
    "save_figure_atomic",
    "update_metrics_file",
    "write_summary",
    "write_text_atomic",
]
