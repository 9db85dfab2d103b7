"""Run reports any recipe can write: `metrics.json`, a Markdown summary and a model card.

A model folder written by a recipe holds the weights, the tokenizer, `metrics.json` (every
number the run measured, merged across the recipe's steps, e.g. finetune then evaluate), a
`summary.md` table and `README.md`, a `huggingface_hub.ModelCard` rendered from a template in
`hfmodels/reporting/templates/` whose YAML metadata carries a `model-index` with the evaluation results. Such a
folder is ready for `push_to_hub` / [`push_folder_to_hub`]. Every file is written atomically
(temporary file + `os.replace`).

The recipes also log and save their figures the way transformers' examples do
([`save_trainer_metrics`]: `Trainer.log_metrics` and `Trainer.save_metrics`, giving
`train_results.json`, `eval_results.json`, `test_results.json` and `all_results.json` in the
Trainer's `output_dir`). `metrics.json` stays the model folder's record because it travels with
the pushed folder, is written atomically, and holds run facts that are not Trainer metrics (the
machine, the precision and its reason, the preset).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

MODEL_CARDS_DIR = Path(__file__).resolve().parent / "templates"
METRICS_FILE = "metrics.json"
#: The project's one license (as `setup.py` says), on every model card.
LICENSE = "mit"
SUMMARY_FILE = "summary.md"


def _new_file_mode(path: Path) -> int:
    """The mode a plain `open(path, "w")` leaves: the existing file's, else 0o666 minus the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        pass
    try:  # Linux states the umask without changing it (os.umask would, for a moment, in every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _replace_atomic(path: str | os.PathLike, write: Callable[[str], None], suffix: str = ".tmp") -> Path:
    """Call `write(tmp)` on a temporary file in `path`'s folder, give it the mode a plain `open`
    would ([`_new_file_mode`]; `mkstemp` makes it 0600), then `os.replace` it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder and `os.replace`;
    the file gets the mode a plain `open` would give it."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return _replace_atomic(path, write)


def save_figure_atomic(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure to `path` atomically (as [`write_text_atomic`]), then close it."""
    import matplotlib.pyplot as plt

    try:
        return _replace_atomic(path, lambda tmp: fig.savefig(tmp, **savefig_kwargs), suffix=Path(path).suffix)
    finally:
        plt.close(fig)


def _metrics_text(metrics: Mapping[str, Any]) -> str:
    return json.dumps(dict(metrics), indent=2, sort_keys=True, default=str) + "\n"


def write_json_atomic(path: str | os.PathLike, values: Mapping[str, Any]) -> Path:
    """Write `values` as indented, key-sorted JSON to `path` (atomically)."""
    return write_text_atomic(path, _metrics_text(values))


def write_metrics_file(folder: str | os.PathLike, metrics: Mapping[str, Any]) -> Path:
    """Write `folder/metrics.json` afresh (atomically): a run's complete metrics."""
    return write_json_atomic(Path(folder) / METRICS_FILE, metrics)


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
    write_text_atomic(path, _metrics_text(merged))
    return merged


#: The split names of transformers' examples, for `Trainer.log_metrics` / `Trainer.save_metrics`.
TRAINER_SPLITS = ("train", "eval", "test")


def split_metrics(
    metrics: Mapping[str, Any], prefixes: Mapping[str, Sequence[str]], default: str = "train"
) -> dict[str, dict[str, Any]]:
    """`metrics` divided among [`TRAINER_SPLITS`]: a key starting with one of `prefixes[split]`
    goes to that split, every other key to `default`; nothing is left out."""
    out: dict[str, dict[str, Any]] = {split: {} for split in TRAINER_SPLITS}
    for key, value in metrics.items():
        split = next((s for s, starts in prefixes.items() if key.startswith(tuple(starts))), default)
        out[split][key] = value
    return out


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return value.item() if hasattr(value, "item") else str(value)  # numpy/torch scalars; else as metrics.json


def save_trainer_metrics(trainer, splits: Mapping[str, Mapping[str, Any]]) -> None:
    """`trainer.log_metrics(split, m)` and `trainer.save_metrics(split, m)` for every non-empty split
    of `splits` (names from [`TRAINER_SPLITS`]), as transformers' examples call them: rank 0 writes
    `{split}_results.json` and merges into `all_results.json` in `trainer.args.output_dir`.

    The stock, non-atomic `save_metrics` is kept: those files are the examples' convention copy,
    while the record a crash must not damage is the atomically written `metrics.json`."""
    unknown = sorted(set(splits) - set(TRAINER_SPLITS))
    if unknown:
        raise ValueError(
            f"save_trainer_metrics: unknown splits {unknown}; expected {', '.join(TRAINER_SPLITS)}."
        )
    for split, metrics in splits.items():
        if not metrics:
            continue
        values = {k: _json_value(v) for k, v in metrics.items()}
        # log_metrics right-aligns every value with a format spec, which None and bool do not take
        trainer.log_metrics(
            split,
            {
                k: v if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
                for k, v in values.items()
            },
        )
        trainer.save_metrics(split, values)


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


def template_path(template: str | os.PathLike) -> Path:
    """A card template: a path, or the name of one in `hfmodels/reporting/templates/` (`"char_gpt"`)."""
    path = Path(template)
    if not path.is_file():
        path = MODEL_CARDS_DIR / f"{template}.md"
    if not path.is_file():
        raise FileNotFoundError(f"model card template {str(template)!r}: neither a file nor {path}.")
    return path


def build_model_card(
    template: str | os.PathLike,
    model_name: str,
    metrics: Mapping[str, Any],
    accuracy: float | None = None,
    dataset_name: str = "CS224N birthplaces (birth_dev.tsv)",
    dataset_type: str = "cs224n-birthplaces",
    task_type: str = "text-generation",
    metric_name: str = "exact match accuracy (validation)",
    dataset_split: str = "validation",
    template_kwargs: Mapping[str, Any] | None = None,
    eval_results: Sequence[EvalResult] | None = None,
    tags: Sequence[str] = (),
    pipeline_tag: str | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
) -> ModelCard:
    """The model card of every family: a `ModelCard` rendered from a template ([`template_path`])
    with `model-index` metadata, the project's license ([`LICENSE`]) and the tags
    `hfmodels`, the template's name and `tags`.

    The evaluation results are `eval_results`, or with `accuracy` one `EvalResult` (metric type
    `accuracy`, split `dataset_split`, on `dataset_name`/`dataset_type` for `task_type`); the split
    is one of the project's names (docs/datasets.md, "One split vocabulary"; the course's `dev` is
    refused). `pipeline_tag` defaults to `task_type`. The template sees `model_name`, `accuracy`
    (as `"25.0 %"` or None), `metrics_table` ([`metrics_table`] of `metrics`) and `template_kwargs`."""
    from ..data.splits import check_split_name  # not at the top: hfmodels.data imports this module

    path = template_path(template)
    results = list(eval_results or [])
    if accuracy is not None:
        check_split_name(dataset_split, "dataset_split")
        results.append(
            EvalResult(
                task_type=task_type,
                dataset_type=dataset_type,
                dataset_name=dataset_name,
                dataset_split=dataset_split,
                metric_type="accuracy",
                metric_name=metric_name,
                metric_value=float(accuracy),
            )
        )
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        license=LICENSE,
        tags=list(dict.fromkeys(["hfmodels", path.stem, *tags])),
        pipeline_tag=pipeline_tag or task_type,
        base_model=base_model,
        datasets=list(datasets) if datasets else None,
        eval_results=results or None,
    )
    values = {
        "model_name": model_name,
        "accuracy": None if accuracy is None else f"{100 * float(accuracy):.1f} %",
        "metrics_table": metrics_table(metrics),
        **dict(template_kwargs or {}),
    }
    return ModelCard.from_template(card_data, template_path=str(path), **values)


def save_model_card(card: ModelCard, folder: str | os.PathLike) -> Path:
    """Write `card` as `folder/README.md` (atomically)."""
    return write_text_atomic(Path(folder) / "README.md", str(card))


#: The files of a model folder (top level only): weights, config, generation config, tokenizer,
#: remote code, the card and the run's reports. A Trainer output dir that is also the model folder
#: keeps `checkpoint-*/`, `runs/` (TensorBoard events) and `training_args.bin` out of a push.
MODEL_FOLDER_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.py",
    "README.md",
    "metrics.json",
    "summary.md",
    "report.md",
)


def model_folder_files(folder: str | os.PathLike) -> list[str]:
    """The files of `folder` a push uploads ([`MODEL_FOLDER_PATTERNS`], top level only), sorted."""
    from fnmatch import fnmatch

    root = Path(folder)
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_file() and any(fnmatch(p.name, pat) for pat in MODEL_FOLDER_PATTERNS)
    )


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload model folder written by hfmodels",
):
    """Create `repo_id` (if needed) and upload the model folder's files ([`model_folder_files`]:
    weights, config, tokenizer, card, reports; never `training_args.bin`, checkpoints or TensorBoard
    events) in one commit; returns the `CommitInfo`. `endpoint` (or `$HF_ENDPOINT`) selects the Hub
    server. Raises FileNotFoundError naming the folder when it lacks `config.json` or `README.md`
    (the card a recipe writes)."""
    root = Path(folder)
    files = model_folder_files(root) if root.is_dir() else []
    missing = [name for name in ("config.json", "README.md") if name not in files]
    if missing:
        raise FileNotFoundError(
            f"{root}: not a model folder written by a recipe; it lacks {', '.join(missing)}."
        )
    api = HfApi(endpoint=endpoint, token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model").repo_id
    return api.upload_folder(
        folder_path=str(root),
        repo_id=repo_id,
        repo_type="model",
        commit_message=commit_message,
        allow_patterns=files,
    )


__all__ = [
    "LICENSE",
    "MODEL_FOLDER_PATTERNS",
    "build_model_card",
    "model_folder_files",
    "TRAINER_SPLITS",
    "save_model_card",
    "save_trainer_metrics",
    "split_metrics",
    "template_path",
    "write_json_atomic",
    "write_metrics_file",
    "metrics_table",
    "push_folder_to_hub",
    "save_figure_atomic",
    "update_metrics_file",
    "write_summary",
    "write_text_atomic",
]
