"""Choosing the finetuning rate and epochs of a pretrained character GPT without looking at dev.

Comparing rates on dev would make the dev figure optimistic, so part of the *training* questions
is held out instead (`recipes/char_gpt/select_finetune.py` is the command line):

1. the training file is split, with a seeded shuffle, into a fitting part and a held-out part
   ([`split_training_file`]; both written to the output folder, each in the original order);
2. every (rate, epochs) pair of the grid finetunes the model on the fitting part and is scored on
   the held-out questions (and, with `recall`, by the teacher-forced document recall of
   `hfmodels.evaluation.analysis`);
3. the pair with the best held-out accuracy ([`choose`]) finetunes the model once more on *all*
   training questions, and only that model is scored on dev.

A rerun keeps the pairs already scored (each pair's `pair.json`) and the final model if the choice
is unchanged; a pair scored from other weights, another held-out split or other settings is an
error ([`check_reusable`]), not reused.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers.trainer_utils import SaveStrategy

from ..evaluation.birthplaces import metric_prefix
from ..reporting import save_figure_atomic, write_text_atomic
from .study import StudyRun, finetune

# run.py options each grid pair sets itself (rate and length of the finetuning)
GRID_OPTIONS = ("finetune_lr", "learning_rate", "num_train_epochs", "max_steps")


@dataclass
class SelectionArguments:
    """The grid and the held-out split of the selection."""

    lrs: list[float] = field(
        default_factory=lambda: [3e-5, 1e-4, 2e-4, 6e-4], metadata={"help": "peak rates"}
    )
    epochs: list[float] = field(default_factory=lambda: [10.0], metadata={"help": "finetuning epochs"})
    holdout: int = field(default=400, metadata={"help": "training questions held out for the choice"})
    holdout_seed: int = field(
        default=0, metadata={"help": "seed of the held-out split (--seed goes to the finetuning)"}
    )
    recall: bool = field(
        default=False, metadata={"help": "also measure document recall on the held-out people"}
    )
    no_final: bool = field(default=False, metadata={"help": "stop after the grid (no dev scoring)"})


def split_training_file(path: str | os.PathLike, holdout: int, seed: int, out_dir: Path) -> tuple[Path, Path]:
    """Write `fit.tsv` and `holdout.tsv` (a seeded random `holdout` of the lines of `path`, each
    part in the file's order) into `out_dir`; the lines are copied unchanged."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not 0 < holdout < len(lines):
        raise ValueError(
            f"{path}: --holdout {holdout} must be between 1 and {len(lines) - 1} (the file has {len(lines)} lines)."
        )
    held = set(np.random.default_rng(seed).permutation(len(lines))[:holdout].tolist())
    out_dir.mkdir(parents=True, exist_ok=True)
    fit_path, held_path = out_dir / "fit.tsv", out_dir / "holdout.tsv"
    write_text_atomic(fit_path, "".join(line + "\n" for i, line in enumerate(lines) if i not in held))
    write_text_atomic(held_path, "".join(line + "\n" for i, line in enumerate(lines) if i in held))
    return fit_path, held_path


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """SHA-256 of a model folder's weights (`model.safetensors`), to tell which model a pair started from."""
    digest = hashlib.sha256()
    with open(Path(model_dir) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_reusable(record: dict, setup: dict, path: Path) -> None:
    """A scored pair is reused only if it started from the same weights, held-out split and settings."""
    for key, value in setup.items():
        if record.get(key) != value:
            raise ValueError(
                f"{path}: scored with {key}={record.get(key)!r}, but this run has {key}={value!r}; "
                "delete that folder or choose another --output_dir."
            )


def pair_name(lr: float, epochs: float) -> str:
    """The folder name of one grid pair, e.g. `lr0.0001_ep10`."""
    return f"lr{lr:g}_ep{epochs:g}"


def choose(results: list[dict]) -> dict:
    """The best pair: highest held-out accuracy, then highest recall, then first in the grid."""
    return max(
        enumerate(results),
        key=lambda ir: (ir[1]["holdout_accuracy"], ir[1].get("holdout_recall") or 0.0, -ir[0]),
    )[1]


def finetune_pair(
    base: StudyRun, lr: float, epochs: float, train_file: str, eval_file: str, split: str, folder: Path
) -> dict:
    """Finetune `base`'s model at rate `lr` for `epochs` epochs on `train_file` into `folder/model`
    (Trainer folder `folder/trainer`, no checkpoints) and score it on `eval_file` as `split`;
    returns the metrics, with the equivalent `run.py finetune` command under `command`."""
    study = dataclasses.replace(
        base.study,
        function="finetune",
        finetune_lr=lr,
        finetune_corpus_path=str(train_file),
        eval_corpus_path=str(eval_file),
        eval_split=split,
        eval_after_finetune=True,
        writing_params_path=str(folder / "model"),
        outputs_path=str(folder / "model" / f"{metric_prefix(split)}.predictions"),
        tb_expt_name=folder.name,
        overwrite_output_dir=True,  # a pair without its pair.json was interrupted: start it again
    )
    training = copy.deepcopy(base.training)
    training.output_dir, training.learning_rate, training.num_train_epochs = (
        str(folder / "trainer"),
        lr,
        epochs,
    )
    training.save_strategy, training.max_steps, training.resume_from_checkpoint = SaveStrategy.NO, -1, None
    flags = f"--finetune_lr {lr:g} --num_train_epochs {epochs:g} --finetune_corpus_path {train_file} "
    flags += f"--eval_corpus_path {eval_file} --eval_split {split} --writing_params_path {study.writing_params_path} "
    flags += f"--outputs_path {study.outputs_path} --output_dir {training.output_dir} --save_strategy no"
    command = f"{base.command} {flags}"
    metrics = finetune(StudyRun(study, training, base.data_dir, command, base.given))
    return {**metrics, "command": command}


def document_recall_of(model_dir: Path, eval_path: Path, corpus: str) -> float | None:
    """Teacher-forced document recall of the model folder on the people of `eval_path`."""
    from ..evaluation.analysis import write_document_recall
    from .char_gpt import load_folder_tokenizer, load_pretrained_strict

    model = load_pretrained_strict(model_dir)
    return write_document_recall(model, load_folder_tokenizer(model_dir), eval_path, corpus, model_dir)[
        "recall"
    ]


def selection_markdown(summary: dict) -> str:
    """`selection.md`: the grid's held-out scores, the choice and its dev accuracy."""
    pct = lambda x: "—" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    rows = [
        "| finetuning lr | epochs | held-out accuracy | held-out recall | finetuning s |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary["grid"]:
        mark = " **(chosen)**" if r["name"] == summary["chosen"]["name"] else ""
        rows.append(
            f"| {r['lr']:g} | {r['epochs']:g} | {pct(r['holdout_accuracy'])} ({r['holdout_correct']}/"
            f"{r['holdout_total']}){mark} | {pct(r.get('holdout_recall'))} | {r['finetune_wall_seconds']:.0f} |"
        )
    lines = [
        f"# Finetuning chosen on held-out training questions: {summary['reading_params_path']}",
        "",
        f"{summary['holdout']} of the {summary['holdout'] + summary['fit']} training questions held out "
        f"(seed {summary['seed']}); every pair finetuned on the other {summary['fit']}.",
        "",
        *rows,
        "",
    ]
    final = summary.get("final")
    if final:
        lines += [
            f"Chosen: lr {summary['chosen']['lr']:g}, {summary['chosen']['epochs']:g} epochs, finetuned again on all "
            f"training questions: **dev accuracy {pct(final.get('dev_accuracy'))}** "
            f"({final.get('dev_correct')}/{final.get('dev_total')}), model `{final['model']}`.",
            "",
            f"`{final['command']}`",
            "",
        ]
    return "\n".join(lines)


def plot_selection(summary: dict, path: Path) -> None:
    """`selection.png`: held-out accuracy (and recall) against the rate, one line per epoch count."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, epochs in enumerate(sorted({r["epochs"] for r in summary["grid"]})):
        rs = sorted((r for r in summary["grid"] if r["epochs"] == epochs), key=lambda r: r["lr"])
        lrs = [r["lr"] for r in rs]
        ax.plot(
            lrs,
            [100 * r["holdout_accuracy"] for r in rs],
            "o-",
            color=f"C{i}",
            label=f"{epochs:g} epochs: accuracy",
        )
        if all(r.get("holdout_recall") is not None for r in rs):
            recall = [100 * r["holdout_recall"] for r in rs]
            ax.plot(lrs, recall, "x--", color=f"C{i}", label=f"{epochs:g} epochs: document recall")
    ax.set_xscale("log")
    lrs = sorted({r["lr"] for r in summary["grid"]})
    ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("finetuning peak learning rate")
    ax.set_ylabel("held-out training questions (%)")
    ax.set_title("Finetuning grid, scored on held-out training questions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)
    plt.close(fig)


def _grid(
    base: StudyRun, options: SelectionArguments, setup: dict, fit: Path, held: Path, corpus: str
) -> list[dict]:
    """Every (rate, epochs) pair finetuned on `fit` and scored on `held`, or reused from its `pair.json`."""
    out, grid = Path(base.training.output_dir), []
    for epochs in options.epochs:
        for lr in options.lrs:
            folder = out / pair_name(lr, epochs)
            done = folder / "pair.json"
            if done.exists():
                record = json.loads(done.read_text(encoding="utf-8"))
                check_reusable(record, setup, done)
                grid.append(record)
                continue
            metrics = finetune_pair(base, lr, epochs, str(fit), str(held), "holdout", folder)
            record = {"name": folder.name, "lr": lr, "epochs": epochs}
            keys = ("holdout_accuracy", "holdout_correct", "holdout_total", "finetune_wall_seconds")
            record.update({k: metrics[k] for k in (*keys, "finetune_final_logged_loss", "command")}, **setup)
            if options.recall:
                record["holdout_recall"] = document_recall_of(folder / "model", held, corpus)
            write_text_atomic(done, json.dumps(record, indent=1) + "\n")
            grid.append(record)
    return grid


def _final(
    base: StudyRun, options: SelectionArguments, setup: dict, chosen: dict, train: str, corpus: str
) -> dict:
    """The chosen pair finetuned on all training questions and scored on the validation split
    (birth_dev.tsv; metric keys `dev_*`), reused if unchanged."""
    folder = Path(base.training.output_dir) / "final"
    done = folder / "final.json"
    previous = json.loads(done.read_text(encoding="utf-8")) if done.exists() else None
    if previous and previous.get("chosen") == chosen["name"] and previous.get("setup") == setup:
        return previous["final"]
    dev = base.data("birth_dev.tsv")
    metrics = finetune_pair(base, chosen["lr"], chosen["epochs"], train, dev, "validation", folder)
    final = {"model": str(folder / "model")}
    final.update(
        {k: metrics.get(k) for k in ("dev_accuracy", "dev_correct", "dev_total", "finetune_wall_seconds")}
    )
    final["command"] = metrics["command"]
    if options.recall:
        final["dev_recall"] = document_recall_of(folder / "model", Path(dev), corpus)
    write_text_atomic(
        done, json.dumps({"chosen": chosen["name"], "setup": setup, "final": final}, indent=1) + "\n"
    )
    return final


def select_finetuning(base: StudyRun, options: SelectionArguments, extra_flags: list[str]) -> dict:
    """Run the selection for the pretrained model `base.study.reading_params_path` into
    `base.training.output_dir`: `selection.json`, `selection.md`, `selection.png` and one folder per
    pair. `extra_flags`: the other options given, recorded so a pair is reused only under them."""
    out = Path(base.training.output_dir)
    train_path = base.data(base.study.finetune_corpus_path)
    corpus = base.data(base.study.pretrain_corpus_path)
    fit, held = split_training_file(train_path, options.holdout, options.holdout_seed, out)
    setup = {
        "pretrained_sha256": model_fingerprint(base.study.reading_params_path),
        "holdout": options.holdout,
        "seed": options.holdout_seed,
        "finetune_corpus": os.path.abspath(train_path),
        "pretrain_corpus": os.path.abspath(corpus),
        "extra_flags": extra_flags,
    }
    grid = _grid(base, options, setup, fit, held, corpus)
    chosen = choose(grid)
    summary = {
        "reading_params_path": base.study.reading_params_path,
        "variant": base.study.variant,
        "holdout": options.holdout,
        "fit": len(fit.read_text(encoding="utf-8").splitlines()),
        "seed": options.holdout_seed,
        "grid": grid,
        "chosen": chosen,
    }
    if not options.no_final:
        summary["final"] = _final(base, options, setup, chosen, train_path, corpus)
    write_text_atomic(out / "selection.json", json.dumps(summary, indent=1) + "\n")
    write_text_atomic(out / "selection.md", selection_markdown(summary))
    plot_selection(summary, out / "selection.png")
    print(selection_markdown(summary))
    return summary


# Options that say where things are rather than how the pairs train; a pair is reused across them.
LOCATIONS = {"output_dir", "data_dir", "reading_params_path", "pretrain_corpus_path", "finetune_corpus_path"}


def run_selection_command(argv: list[str], preset: str | os.PathLike) -> dict:
    """`VARIANT --reading_params_path P --output_dir O [grid options] [run.py finetune options]`,
    over the finetuning `preset` (or the JSON/YAML file of `--config`, or such a file as the only
    argument); the grid's own options are refused as run.py options."""
    from ..data.paths import resolve_data_dir
    from .char_gpt import argument_parser, check_arguments
    from .cli import apply_preset, config_argument, explicit_options
    from .verbosity import apply_logging

    config, argv = config_argument(argv)
    variant = argv.pop(0) if argv and not argv[0].startswith("-") else None
    parser = argument_parser(SelectionArguments)
    given = explicit_options(parser, argv)
    for name in GRID_OPTIONS:
        if name in given:
            parser.error(f"--{name} is set by the grid (--lrs, --epochs); it cannot be passed on")
    preset_keys = set(apply_preset(parser, config or preset)) - {"function"}
    parser.set_defaults(function="finetune", variant=variant or parser.get_default("variant") or "vanilla")
    study, training, options = parser.parse_args_into_dataclasses(args=argv)
    variant = study.variant
    if not study.reading_params_path or "output_dir" not in given | preset_keys:
        parser.error("--reading_params_path (the pretrained model folder) and --output_dir are required")
    check_arguments(study, training, given, preset_keys, prog="select_finetune.py")
    apply_logging(training)  # --log_level, --disable_tqdm: libraries' loggers and bars too
    own = {f.name for f in dataclasses.fields(SelectionArguments)} | LOCATIONS
    extra = sorted(f"--{k}={getattr(study, k, getattr(training, k, None))}" for k in given - own)
    command = f"python recipes/char_gpt/run.py finetune {variant} {study.pretrain_corpus_path}"
    command += f" --reading_params_path {study.reading_params_path}" + "".join(f" {flag}" for flag in extra)
    run = StudyRun(study, training, resolve_data_dir(study.data_dir), command, given)
    return select_finetuning(run, options, extra)


__all__ = [
    "GRID_OPTIONS",
    "run_selection_command",
    "SelectionArguments",
    "select_finetuning",
    "check_reusable",
    "choose",
    "document_recall_of",
    "finetune_pair",
    "model_fingerprint",
    "pair_name",
    "plot_selection",
    "selection_markdown",
    "split_training_file",
]
