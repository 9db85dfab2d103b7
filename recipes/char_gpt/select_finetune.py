"""Choose the finetuning rate and epochs of a pretrained character GPT without looking at dev.

The course finetunes every pretrained model with one fixed recipe (10 epochs, lr 6e-4). On this
port that recipe erases most of what pretraining stored (docs/results.md, "Memorised, then lost in
finetuning"), and gentler rates keep more of it. Comparing rates on dev would make the dev figure
optimistic, so this script holds out part of the *training* questions instead:

1. `birth_places_train.tsv` is split, with a seeded shuffle, into a fitting part and a held-out
   part (`--holdout` questions; both files are written to the output folder, each in the
   original order);
2. every (rate, epochs) pair of the grid finetunes the model on the fitting part with
   `run.py finetune` and is scored on the held-out questions (and, with `--recall`, by the
   teacher-forced document recall of `hfmodels.evaluation.analysis` on them);
3. the pair with the best held-out accuracy (ties: the higher recall, then the earlier pair of
   the grid) finetunes the model once more on *all* training questions, and only that model is
   scored on dev.

    python recipes/char_gpt/select_finetune.py vanilla --reading_params_path runs/full6e-4/vanilla.pretrain.params \
        --data_dir ../shared/data --output_dir runs/full6e-4/select --lrs 3e-5 1e-4 2e-4 6e-4 --epochs 10

Outputs: `selection.json`, `selection.md`, `selection.png` and one folder per pair (its model
folder with metrics and predictions, and its Trainer/TensorBoard folder). Rerun, it keeps the
pairs already scored (and the final model, if the choice is unchanged); a pair scored from other
weights, another held-out split (`--holdout`, `--holdout_seed`), other training or pretraining
files or other extra flags is an error, not reused. Any further flag (`--seed`, `--bf16`, ...) is
passed to every `run.py finetune` command, except those the grid sets itself (`--finetune_lr`,
`--learning_rate`, `--num_train_epochs`, `--max_steps`), which are refused.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# run.py flags each grid pair sets itself (rate and length of the finetuning)
GRID_FLAGS = ("finetune_lr", "learning_rate", "num_train_epochs", "max_steps")


def _run_module():
    """recipes/char_gpt/run.py as a module (the recipe folder is not a package)."""
    if "char_gpt_run" in sys.modules:
        return sys.modules["char_gpt_run"]
    spec = importlib.util.spec_from_file_location("char_gpt_run", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["char_gpt_run"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def split_training_file(path: str | Path, holdout: int, seed: int, out_dir: Path) -> tuple[Path, Path]:
    """Write `fit.tsv` and `holdout.tsv` (a seeded random `holdout` of the lines of `path`, each
    part in the file's order) into `out_dir`; the lines are copied unchanged."""
    from hfmodels.reporting import write_text_atomic

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


def model_fingerprint(model_dir: str | Path) -> str:
    """SHA-256 of a model folder's weights (`model.safetensors`), to tell which model a pair started from."""
    import hashlib

    digest = hashlib.sha256()
    with open(Path(model_dir) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_reusable(record: dict, setup: dict, path: Path) -> None:
    """A scored pair is reused only if it started from the same weights, held-out split and extra flags."""
    for key, value in setup.items():
        if record.get(key) != value:
            raise ValueError(
                f"{path}: scored with {key}={record.get(key)!r}, but this run has {key}={value!r}; "
                "delete that folder or choose another --output_dir."
            )


def pair_name(lr: float, epochs: float) -> str:
    return f"lr{lr:g}_ep{epochs:g}"


def choose(results: list[dict]) -> dict:
    """The best pair: highest held-out accuracy, then highest recall, then first in the grid."""
    return max(
        enumerate(results),
        key=lambda ir: (ir[1]["holdout_accuracy"], ir[1].get("holdout_recall") or 0.0, -ir[0]),
    )[1]


def _finetune(
    args, extra: list[str], lr: float, epochs: float, corpus: str, eval_path: str, folder: Path
) -> dict:
    run = _run_module()
    argv = [
        "finetune",
        args.variant,
        args.pretrain_corpus_path,
        "--data_dir",
        str(args.data_dir),
        "--reading_params_path",
        args.reading_params_path,
        "--writing_params_path",
        str(folder / "model"),
        "--output_dir",
        str(folder / "trainer"),
        "--finetune_corpus_path",
        corpus,
        "--eval_corpus_path",
        eval_path,
        "--outputs_path",
        str(folder / "model" / f"{Path(eval_path).stem}.predictions"),
        "--finetune_lr",
        f"{lr:g}",
        "--num_train_epochs",
        f"{epochs:g}",
        "--save_strategy",
        "no",
        "--tb_expt_name",
        folder.name,
        *extra,
    ]
    metrics = run.main(argv)
    metrics["command"] = "python recipes/char_gpt/run.py " + " ".join(shlex.quote(a) for a in argv)
    return metrics


def _recall(model_dir: Path, eval_path: Path, corpus: str) -> float | None:
    from hfmodels.char_gpt import CharGPTForCausalLM, CharTokenizer
    from hfmodels.evaluation.analysis import write_document_recall

    model = CharGPTForCausalLM.from_pretrained(model_dir)
    tokenizer = CharTokenizer.from_pretrained(model_dir)
    return write_document_recall(model, tokenizer, eval_path, corpus, model_dir)["recall"]


def _markdown(summary: dict) -> str:
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
    final = summary.get("final")
    lines = [
        f"# Finetuning chosen on held-out training questions: {summary['reading_params_path']}",
        "",
        f"{summary['holdout']} of the {summary['holdout'] + summary['fit']} training questions held out "
        f"(seed {summary['seed']}); every pair finetuned on the other {summary['fit']}.",
        "",
        *rows,
        "",
    ]
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


def _plot(summary: dict, path: Path) -> None:
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
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", help="vanilla | perceiver | synthesizer")
    parser.add_argument("--reading_params_path", required=True, help="pretrained model folder")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--data_dir", default=None, help="data directory (default: $HFMODELS_DATA_DIR, ...)")
    parser.add_argument("--pretrain_corpus_path", default="wiki.txt")
    parser.add_argument("--finetune_corpus_path", default="birth_places_train.tsv")
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 1e-4, 2e-4, 6e-4])
    parser.add_argument("--epochs", type=float, nargs="+", default=[10.0])
    parser.add_argument("--holdout", type=int, default=400, help="training questions held out for the choice")
    parser.add_argument(
        "--holdout_seed",
        type=int,
        default=0,
        help="seed of the held-out split (--seed goes to the finetuning)",
    )
    parser.add_argument(
        "--recall", action="store_true", help="also measure document recall on the held-out people"
    )
    parser.add_argument("--no_final", action="store_true", help="stop after the grid (no dev scoring)")
    args, extra = parser.parse_known_args(argv)
    for token in extra:  # run.py flags; the grid's own would be overridden by them without a word
        name = token.split("=", 1)[0].lstrip("-").replace("-", "_")
        if token.startswith("--") and name in GRID_FLAGS:
            parser.error(
                f"{token.split('=', 1)[0]} is set by the grid (--lrs, --epochs); it cannot be passed on"
            )

    from hfmodels.reporting import write_text_atomic

    run = _run_module()
    out = Path(args.output_dir)
    from hfmodels.data.paths import resolve_data_dir

    data_dir = args.data_dir = Path(args.data_dir) if args.data_dir else resolve_data_dir(None)
    train_path = run._resolve(args.finetune_corpus_path, data_dir)
    corpus = run._resolve(args.pretrain_corpus_path, data_dir)
    fit_path, held_path = split_training_file(train_path, args.holdout, args.holdout_seed, out)
    n_fit = len(fit_path.read_text(encoding="utf-8").splitlines())

    # what a scored pair must share with this run to be reused
    setup = {
        "pretrained_sha256": model_fingerprint(args.reading_params_path),
        "holdout": args.holdout,
        "seed": args.holdout_seed,
        "finetune_corpus": os.path.abspath(train_path),
        "pretrain_corpus": os.path.abspath(corpus),
        "extra_flags": extra,
    }
    grid = []
    for epochs in args.epochs:
        for lr in args.lrs:
            folder = out / pair_name(lr, epochs)
            done = folder / "pair.json"
            if done.exists():
                record = json.loads(done.read_text(encoding="utf-8"))
                check_reusable(record, setup, done)
                grid.append(record)
                continue
            metrics = _finetune(args, extra, lr, epochs, str(fit_path), str(held_path), folder)
            record = {
                "name": folder.name,
                "lr": lr,
                "epochs": epochs,
                **{k: metrics[k] for k in ("holdout_accuracy", "holdout_correct", "holdout_total")},
                "finetune_wall_seconds": metrics["finetune_wall_seconds"],
                "finetune_final_logged_loss": metrics["finetune_final_logged_loss"],
                "command": metrics["command"],
                **setup,
            }
            if args.recall:
                record["holdout_recall"] = _recall(folder / "model", held_path, corpus)
            write_text_atomic(done, json.dumps(record, indent=1) + "\n")
            grid.append(record)

    chosen = choose(grid)
    summary = {
        "reading_params_path": args.reading_params_path,
        "variant": args.variant,
        "holdout": args.holdout,
        "fit": n_fit,
        "seed": args.holdout_seed,
        "grid": grid,
        "chosen": chosen,
    }
    if not args.no_final:
        folder = out / "final"
        done = folder / "final.json"
        previous = json.loads(done.read_text(encoding="utf-8")) if done.exists() else None
        if previous and previous.get("chosen") == chosen["name"] and previous.get("setup") == setup:
            summary["final"] = previous["final"]
        else:
            dev_path = run._resolve("birth_dev.tsv", data_dir)
            metrics = _finetune(args, extra, chosen["lr"], chosen["epochs"], train_path, dev_path, folder)
            summary["final"] = {
                "model": str(folder / "model"),
                **{
                    k: metrics.get(k)
                    for k in ("dev_accuracy", "dev_correct", "dev_total", "finetune_wall_seconds")
                },
                "command": metrics["command"],
            }
            if args.recall:
                summary["final"]["dev_recall"] = _recall(folder / "model", Path(dev_path), corpus)
            write_text_atomic(
                done,
                json.dumps({"chosen": chosen["name"], "setup": setup, "final": summary["final"]}, indent=1)
                + "\n",
            )
    write_text_atomic(out / "selection.json", json.dumps(summary, indent=1) + "\n")
    write_text_atomic(out / "selection.md", _markdown(summary))
    _plot(summary, out / "selection.png")
    print(_markdown(summary))
    return summary


if __name__ == "__main__":
    main()
