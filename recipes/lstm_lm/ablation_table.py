"""The ablation table of docs/lstm_lm.md from the runs' `metrics.json` files.

    python recipes/lstm_lm/ablation_table.py runs/lstm_lm [--out table.md]

One row per run folder (in the order of `run_ablation.sh`, then any other folder), then the two
count baselines of the first run (every run scores them on the same tokens).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hfmodels.reporting import write_text_atomic

ORDER = (
    "reference",
    "ablation_0_base",
    "ablation_1_locked_dropout",
    "ablation_2_embedding_dropout",
    "ablation_3_weight_tying",
    "ablation_4_ar_tar",
    "tuned",
)
HEADER = (
    "| run (preset) | epochs | batch, lr | val ppl | test ppl | val pred. NLL | test pred. NLL "
    "| train wall | date |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def load_runs(root: Path) -> list[tuple[str, dict, dict]]:
    """(name, metrics, preset values) of every run folder under `root` holding a metrics.json."""
    folders = [p.parent for p in root.glob("*/metrics.json")]
    folders.sort(key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    presets = Path(__file__).resolve().parent / "presets"
    runs = []
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        preset_file = presets / metrics.get("preset", "")
        preset = json.loads(preset_file.read_text(encoding="utf-8")) if preset_file.is_file() else {}
        runs.append((folder.name, metrics, preset))
    return runs


def table(runs: list[tuple[str, dict, dict]]) -> str:
    """The Markdown ablation table with the baselines' rows."""
    rows = [HEADER]
    for name, m, preset in runs:
        batch = preset.get("per_device_train_batch_size", "?")
        lr = preset.get("learning_rate", "?")
        rows.append(
            f"| {name} | {m['train_epochs']:g} | {batch}, {lr:g} | {m['validation_perplexity']:.1f} | "
            f"{m['test_perplexity']:.1f} | {m['validation_prediction_nll']:.3f} | {m['test_prediction_nll']:.3f} | "
            f"{m['train_wall_s'] / 60:.1f} min | {m['date']} |"
        )
    if runs:
        m = runs[0][1]
        for label, key in (("unigram", "unigram"), ("Kneser-Ney trigram", "kn_trigram")):
            rows.append(
                f"| {label} (counts) | – | – | {m[f'validation_{key}_perplexity']:.1f} | "
                f"{m[f'test_{key}_perplexity']:.1f} | – | – | {m['baselines_wall_s']:.0f} s (both) | {m['date']} |"
            )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Print (and with `--out`, write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    text = table(load_runs(args.root))
    if args.out:
        write_text_atomic(args.out, text)
    print(text)
    return text


if __name__ == "__main__":
    main()
