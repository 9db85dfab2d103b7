"""The study's table and plots from a study folder (`run_study.sh` / `run_full_study.sh` output).

    python recipes/char_gpt/summarize_study.py runs/full [--data_dir ../shared/data]
    python -m hfmodels.training.study_summary runs/full [--data_dir ../shared/data]

Reads what the runs left behind and writes, atomically, into the study folder:

- `study.md`: one row per system (London baseline, vanilla finetune only, each variant pretrained
  and finetuned, and finetuned with the choice of `select_finetune.py` where that ran) with dev accuracy next to the course's reference, the pretraining actually run
  (steps, epochs, last logged loss) and the wall time; a pretraining still in progress shows the
  step and epoch of its newest checkpoint. Wall time of a pretraining resumed across sessions is
  summed over its segments (TensorBoard logs, one per process), each listed with its steps and
  seconds per step, since the Trainer's own `train_runtime` only covers the last process.
- `study.json`: the same figures, machine-readable.
- `study_pretraining.png`: pretraining loss and learning rate against epochs, every variant on
  one figure (the original's final losses marked), and dev accuracy against the reference.
  `--compare OTHER_STUDY ...` draws other study folders' loss curves beside them (thin,
  dash-dotted, labelled with the folder's name), e.g. a shorter schedule of the same variants.

Nothing is trained or decoded here: the accuracies are the `metrics.json` figures that the
finetune runs computed with the `exact_match` metric; the London row is rescored from the dev file.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..char_gpt import ATTENTION_TYPES
from ..reporting import save_figure_atomic, write_text_atomic

# The course's reported figures (the "reference" column of docs/results.md) and its final pretraining losses.
REFERENCE_ACCURACY = {"london": 5.0, "vanilla_nopretrain": 1.2, "vanilla": 21.4, "perceiver": 17.0}
REFERENCE_FINAL_LOSS = {"vanilla": 0.56, "perceiver": 0.95}
LABELS = {
    "london": 'predict "London" for everyone',
    "vanilla_nopretrain": "vanilla, finetune only",
    "vanilla": "vanilla, pretrain + finetune",
    "perceiver": "perceiver, pretrain + finetune",
    "synthesizer": "synthesizer, pretrain + finetune",
}
SELECTED = "_selected"  # suffix of the rows finetuned with select_finetune.py's choice


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def tensorboard_segments(run_dir: Path) -> list[dict]:
    """One entry per TensorBoard event file under `run_dir/tb` (one per training process, so one
    per resumed segment), oldest first: first and last logged step, wall seconds between them and
    the scalar series (`loss`, `learning_rate`, `epoch`) by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    segments = []
    for events in sorted((run_dir / "tb").glob("*/events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        if "train/loss" not in tags:
            continue
        series = {
            name: {e.step: e.value for e in acc.Scalars(f"train/{name}")}
            for name in ("loss", "learning_rate", "epoch")
            if f"train/{name}" in tags
        }
        loss = acc.Scalars("train/loss")
        first, last = loss[0], loss[-1]
        segments.append(
            {
                "file": str(events.relative_to(run_dir)),
                "first_step": first.step,
                "last_step": last.step,
                "wall_seconds": round(last.wall_time - first.wall_time, 1),
                "seconds_per_step": round((last.wall_time - first.wall_time) / (last.step - first.step), 3)
                if last.step > first.step
                else None,
                "start_time": first.wall_time,
                "series": series,
            }
        )
    segments.sort(key=lambda s: s["start_time"])
    return segments


def merged_series(segments: list[dict], name: str) -> dict[int, float]:
    """A scalar by step over all segments; a later segment (a resumed run redoing steps after its
    checkpoint) overrides an earlier one."""
    merged: dict[int, float] = {}
    for seg in segments:
        merged.update(seg["series"].get(name, {}))
    return dict(sorted(merged.items()))


def newest_checkpoint_state(run_dir: Path) -> dict | None:
    """`trainer_state.json` of the newest `checkpoint-N` folder of `run_dir`, if any."""
    checkpoints = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    for ckpt in reversed(checkpoints):
        state = _read_json(ckpt / "trainer_state.json")
        if state is not None:
            return state
    return None


def london_row(data_dir: str | None) -> dict | None:
    """The London baseline, rescored on `birth_dev.tsv` of `data_dir` (None without a `data_dir`);
    a `FileNotFoundError` if `data_dir` holds no `birth_dev.tsv`, rather than a table without it."""
    if data_dir is None:
        return None
    from ..data import read_birthplace_file
    from ..evaluation.birthplaces import evaluate_places

    for base in (Path(data_dir) / "cs224n-a5", Path(data_dir)):
        if (base / "birth_dev.tsv").is_file():
            examples = read_birthplace_file(base / "birth_dev.tsv")
            scores = evaluate_places(["London"] * len(examples), examples["place"])
            return {
                "system": "london",
                "dev_accuracy": scores["exact_match"],
                "dev_correct": scores["correct"],
                "dev_total": scores["total"],
            }
    raise FileNotFoundError(
        f"--data_dir {data_dir}: no birth_dev.tsv in it or in its cs224n-a5/ folder (needed for the London row)."
    )


def variant_row(study_dir: Path, variant: str) -> dict | None:
    """Pretraining and finetuning figures of one variant; None if it was never started."""
    pre_dir = study_dir / f"{variant}_pretrain"
    pre = _read_json(study_dir / f"{variant}.pretrain.params" / "metrics.json")
    fin = _read_json(study_dir / f"{variant}.finetune.params" / "metrics.json")
    if pre is None and fin is None and not pre_dir.exists():
        return None
    segments = tensorboard_segments(pre_dir) if pre_dir.exists() else []
    row: dict = {"system": variant, "segments": segments}
    if pre is not None:
        row.update(
            pretrain_status="done",
            pretrain_steps=pre.get("pretrain_steps"),
            pretrain_epochs=pre.get("pretrain_epochs"),
            pretrain_final_logged_loss=pre.get("pretrain_final_logged_loss"),
        )
    else:
        state = newest_checkpoint_state(pre_dir) or {}
        row.update(
            pretrain_status="in progress",
            pretrain_steps=state.get("global_step"),
            pretrain_max_steps=state.get("max_steps"),
            pretrain_epochs=state.get("epoch"),
        )
        loss = merged_series(segments, "loss")
        row["pretrain_final_logged_loss"] = loss[max(loss)] if loss else None
    row["pretrain_wall_seconds"] = (
        round(sum(s["wall_seconds"] for s in segments), 1)
        if segments
        else (pre or {}).get("pretrain_wall_seconds")
    )
    if fin is not None:
        row.update(
            dev_accuracy=fin.get("dev_accuracy"),
            dev_correct=fin.get("dev_correct"),
            dev_total=fin.get("dev_total"),
            finetune_epochs=fin.get("finetune_epochs"),
            finetune_wall_seconds=fin.get("finetune_wall_seconds"),
            dev_decode_seconds=fin.get("dev_decode_seconds"),
        )
    return row


def selected_row(study_dir: Path, variant: str) -> dict | None:
    """The variant finetuned with the rate and epochs `select_finetune.py` chose on held-out
    training questions (`{variant}_select/selection.json`); None if there is no such finished run."""
    selection = _read_json(study_dir / f"{variant}_select" / "selection.json")
    if not selection or not selection.get("final"):
        return None
    chosen, final = selection["chosen"], selection["final"]
    return {
        "system": variant + SELECTED,
        "dev_accuracy": final.get("dev_accuracy"),
        "dev_correct": final.get("dev_correct"),
        "dev_total": final.get("dev_total"),
        "finetune_epochs": chosen["epochs"],
        "finetune_lr": chosen["lr"],
        "finetune_wall_seconds": final.get("finetune_wall_seconds"),
        "holdout_accuracy": chosen["holdout_accuracy"],
    }


def nopretrain_row(study_dir: Path) -> dict | None:
    fin = _read_json(study_dir / "vanilla.nopretrain.params" / "metrics.json")
    if fin is None:
        return None
    return {
        "system": "vanilla_nopretrain",
        "dev_accuracy": fin.get("dev_accuracy"),
        "dev_correct": fin.get("dev_correct"),
        "dev_total": fin.get("dev_total"),
        "finetune_epochs": fin.get("finetune_epochs"),
        "finetune_wall_seconds": fin.get("finetune_wall_seconds"),
    }


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def summarize(study_dir: str | os.PathLike, data_dir: str | None = None) -> list[dict]:
    """Every row the study folder has, in the table's order."""
    study_dir = Path(study_dir)
    rows = [london_row(data_dir), nopretrain_row(study_dir)]
    for v in ATTENTION_TYPES:
        rows += [variant_row(study_dir, v), selected_row(study_dir, v)]
    return [r for r in rows if r is not None]


def label(system: str) -> str:
    if system.endswith(SELECTED):
        return LABELS[system[: -len(SELECTED)]] + ", finetuning chosen without dev"
    return LABELS[system]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _hours(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s:.0f} s"


def markdown(rows: list[dict], study_dir: Path) -> str:
    lines = [
        f"# Study summary: `{study_dir}`",
        "",
        "Written by `recipes/char_gpt/summarize_study.py`. Dev accuracy is exact match over `birth_dev.tsv`.",
        "",
        "| system | dev accuracy | reference | pretraining run | last logged pretraining loss | pretraining wall | finetuning | finetuning wall |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        ref = REFERENCE_ACCURACY.get(r["system"].removesuffix(SELECTED))
        acc = _pct(r.get("dev_accuracy"))
        if r.get("dev_correct") is not None and r.get("dev_total") is not None:
            acc += f" ({int(r['dev_correct'])}/{int(r['dev_total'])})"
        pre = "—"
        if r.get("pretrain_status"):
            epochs = r.get("pretrain_epochs")
            pre = f"{r['pretrain_status']}: step {r.get('pretrain_steps')}"
            if r.get("pretrain_max_steps"):
                pre += f" of {r['pretrain_max_steps']}"
            if epochs is not None:
                pre += f", epoch {epochs:.1f} of 650"
        loss = r.get("pretrain_final_logged_loss")
        fin = f"{r['finetune_epochs']:g} epochs" if r.get("finetune_epochs") is not None else "—"
        if r.get("finetune_lr") is not None:
            fin += f" at lr {r['finetune_lr']:g} (chosen on held-out training questions)"
        lines.append(
            f"| {label(r['system'])} | {acc} | {'—' if ref is None else f'{ref} %'} | {pre} | "
            f"{'—' if loss is None else f'{loss:.3f}'} | {_hours(r.get('pretrain_wall_seconds'))} | {fin} | "
            f"{_hours(r.get('finetune_wall_seconds'))} |"
        )
    segmented = [r for r in rows if r.get("segments")]
    if segmented:
        lines += [
            "",
            "Pretraining segments (one per training process; a resumed run redoes the steps after its "
            "checkpoint). Seconds per step depend on what else the machine ran meanwhile.",
            "",
            "| system | TensorBoard log | steps | wall | s/step |",
            "| --- | --- | --- | ---: | ---: |",
        ]
        for r in segmented:
            for s in r["segments"]:
                lines.append(
                    f"| {r['system']} | `{s['file']}` | {s['first_step']}–{s['last_step']} | "
                    f"{_hours(s['wall_seconds'])} | {s['seconds_per_step'] or '—'} |"
                )
    lines += ["", "![pretraining and accuracy](study_pretraining.png)", ""]
    return "\n".join(lines)


def _by_epoch(row: dict, name: str) -> tuple[list[float], list[float]]:
    """A row's pretraining series `name` against the epoch, over the steps logged with both."""
    series, epoch = merged_series(row["segments"], name), merged_series(row["segments"], "epoch")
    steps = [s for s in series if s in epoch]
    return [epoch[s] for s in steps], [series[s] for s in steps]


def _color(variant: str) -> str:
    """One colour per variant (only variant rows have pretraining segments), the same in every study."""
    return f"C{ATTENTION_TYPES.index(variant)}"


def plot(rows: list[dict], path: Path, compare: dict[str, list[dict]] | None = None) -> list[str]:
    """Draw the study's figure into `path`; `compare` maps another study's name to its rows, whose
    loss curves are drawn thin and dash-dotted beside this study's. Returns the curves' labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), dpi=120, gridspec_kw={"width_ratios": [3, 2]})
    lx = ax.twinx()
    for r in (x for x in rows if x.get("segments")):
        color = _color(r["system"])
        ax.plot(*_by_epoch(r, "loss"), color=color, label=f"{r['system']} loss")
        lx.plot(*_by_epoch(r, "learning_rate"), color=color, ls=":", lw=1)
        if r["system"] in REFERENCE_FINAL_LOSS:
            ax.axhline(
                REFERENCE_FINAL_LOSS[r["system"]],
                color=color,
                ls="--",
                lw=0.8,
                label=f"original's final {r['system']} loss",
            )
    for name, other in (compare or {}).items():
        for r in (x for x in other if x.get("segments")):
            ax.plot(
                *_by_epoch(r, "loss"),
                color=_color(r["system"]),
                ls="-.",
                lw=0.9,
                alpha=0.6,
                label=f"{r['system']} loss ({name})",
            )
    ax.set_xlabel("epoch (of 650)")
    ax.set_ylabel("training loss (solid)")
    lx.set_ylabel("learning rate (dotted)")
    ax.set_title("Span-corruption pretraining")
    ax.legend(fontsize=7, loc="upper right")

    scored = [r for r in rows if r.get("dev_accuracy") is not None]
    xs = range(len(scored))
    bx.bar(
        [x - 0.2 for x in xs], [100 * r["dev_accuracy"] for r in scored], width=0.4, label="this repository"
    )
    bx.bar(
        [x + 0.2 for x in xs],
        [REFERENCE_ACCURACY.get(r["system"].removesuffix(SELECTED), 0) for r in scored],
        width=0.4,
        label="original (course)",
    )
    labels = [r["system"].replace("_", "\n") for r in scored]
    bx.set_xticks(list(xs), labels, fontsize=7, rotation=30, ha="right", rotation_mode="anchor")
    bx.set_ylabel("dev accuracy (%)")
    bx.set_title("Birthplace dev accuracy")
    bx.legend(fontsize=7)
    fig.tight_layout()
    save_figure_atomic(fig, path)
    return [line.get_label() for line in ax.get_lines()]


def main(argv: list[str] | None = None) -> list[dict]:
    """Summarize the study folder of `argv` (see the module docstring); returns the table's rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study_dir", help="folder written by run_study.sh or run_full_study.sh")
    parser.add_argument(
        "--data_dir",
        default=os.environ.get("HFMODELS_DATA_DIR"),
        help="data folder, for the London row (default: $HFMODELS_DATA_DIR)",
    )
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="STUDY_DIR",
        help="other study folders whose pretraining loss curves are drawn beside this study's (e.g. a "
        "shorter schedule), labelled with the folder's name",
    )
    args = parser.parse_args(argv)
    study_dir = Path(args.study_dir)
    if not study_dir.is_dir():
        raise FileNotFoundError(f"{study_dir}: no such study folder")
    compare = {}
    for other in map(Path, args.compare):
        if not other.is_dir():
            raise FileNotFoundError(f"--compare {other}: no such study folder")
        compare[other.name if other.name not in compare else str(other)] = summarize(other, None)
    rows = summarize(study_dir, args.data_dir)
    if not rows:
        raise FileNotFoundError(
            f"{study_dir}: no study runs found (expected e.g. vanilla_pretrain/ or *.params/)"
        )
    write_text_atomic(study_dir / "study.md", markdown(rows, study_dir))
    slim = [
        dict(r, segments=[_without(s, "series") for s in r["segments"]]) if r.get("segments") else r
        for r in rows
    ]
    write_text_atomic(study_dir / "study.json", json.dumps(slim, indent=1) + "\n")
    plot(rows, study_dir / "study_pretraining.png", compare)
    print((study_dir / "study.md").read_text(encoding="utf-8"))
    return rows


if __name__ == "__main__":
    main()
