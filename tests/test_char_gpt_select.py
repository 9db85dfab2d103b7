"""recipes/char_gpt/select_finetune.py: the held-out split of the training questions, the grid,
the choice made without dev, the final finetune scored on dev, and a rerun that keeps the grid."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "select_finetune", ROOT / "recipes" / "char_gpt" / "select_finetune.py"
)
select = importlib.util.module_from_spec(spec)
sys.modules["select_finetune"] = select
spec.loader.exec_module(select)
TINY = ["--n_layer", "2", "--n_embd", "16", "--n_head", "2", "--report_to", "none", "--logging_steps", "1"]

PEOPLE = [
    "Ann Lee",
    "Bo Chan",
    "Cy Dorn",
    "Di Eck",
    "Ed Fox",
    "Flo Gu",
    "Gil Ho",
    "Hal Ip",
    "Ida Jo",
    "Jan Ko",
]
PLACES = ["Paris", "London", "Rome", "London", "Oslo", "Lima", "Bern", "Kyiv", "Oslo", "Rome"]


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data" / "cs224n-a5"
    d.mkdir(parents=True)
    docs = [f"{p} was born in {c} and lived a long life." for p, c in zip(PEOPLE, PLACES)]
    (d / "wiki.txt").write_text("\n".join(docs + ["Where was it? WHERE"]), encoding="utf-8")
    rows = [f"Where was {p} born?\t{c}" for p, c in zip(PEOPLE, PLACES)]
    (d / "birth_places_train.tsv").write_text("\n".join(rows[:8]) + "\n", encoding="utf-8")
    (d / "birth_dev.tsv").write_text("\n".join(rows[6:]) + "\n", encoding="utf-8")
    return tmp_path / "data"


def test_split_is_seeded_disjoint_complete_and_keeps_order(tmp_path):
    src = tmp_path / "train.tsv"
    lines = [f"Where was P{i} born?\tC{i}" for i in range(20)]
    src.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    fit, held = select.split_training_file(src, 5, seed=3, out_dir=tmp_path / "a")
    fit_lines, held_lines = fit.read_text().splitlines(), held.read_text().splitlines()
    assert len(held_lines) == 5 and len(fit_lines) == 15
    assert sorted(fit_lines + held_lines) == sorted(lines)
    assert fit_lines == [x for x in lines if x in fit_lines] and held_lines == [
        x for x in lines if x in held_lines
    ]
    _, again = select.split_training_file(src, 5, seed=3, out_dir=tmp_path / "b")
    _, other = select.split_training_file(src, 5, seed=4, out_dir=tmp_path / "c")
    assert again.read_text() == held.read_text() and other.read_text() != held.read_text()
    with pytest.raises(ValueError, match=r"train.tsv.*--holdout 20.*20 lines"):
        select.split_training_file(src, 20, seed=3, out_dir=tmp_path / "d")


def test_choice_prefers_accuracy_then_recall_then_grid_order():
    grid = [
        {"name": "a", "holdout_accuracy": 0.1, "holdout_recall": 0.5},
        {"name": "b", "holdout_accuracy": 0.2, "holdout_recall": 0.1},
        {"name": "c", "holdout_accuracy": 0.2, "holdout_recall": 0.3},
        {"name": "d", "holdout_accuracy": 0.2, "holdout_recall": 0.3},
    ]
    assert select.choose(grid)["name"] == "c"
    assert (
        select.choose([{"name": "x", "holdout_accuracy": 0.0}, {"name": "y", "holdout_accuracy": 0.0}])[
            "name"
        ]
        == "x"
    )


def test_grid_then_final_finetune_on_all_training_questions(data_dir, tmp_path, monkeypatch):
    run = select._run_module()
    pre = tmp_path / "pre"
    run.main(
        ["pretrain", "vanilla", "wiki.txt", "--data_dir", str(data_dir), *TINY, "--max_steps", "2"]
        + [
            "--per_device_train_batch_size",
            "4",
            "--writing_params_path",
            str(pre),
            "--output_dir",
            str(tmp_path / "r"),
        ]
    )
    out = tmp_path / "select"
    argv = [
        "vanilla",
        "--reading_params_path",
        str(pre),
        "--data_dir",
        str(data_dir),
        "--output_dir",
        str(out),
    ]
    argv += ["--lrs", "1e-3", "3e-2", "--epochs", "1", "2", "--holdout", "3", "--recall", *TINY]
    argv += ["--per_device_train_batch_size", "4"]
    summary = select.main(argv)

    assert [r["name"] for r in summary["grid"]] == ["lr0.001_ep1", "lr0.03_ep1", "lr0.001_ep2", "lr0.03_ep2"]
    assert (summary["fit"], summary["holdout"]) == (5, 3)
    for r in summary["grid"]:
        assert r["holdout_total"] == 3 and 0 <= r["holdout_correct"] <= 3
        assert 0.0 <= r["holdout_recall"] <= 1.0
        preds = (out / r["name"] / "model" / "holdout.predictions").read_text().splitlines()
        assert len(preds) == 3
        metrics = json.loads((out / r["name"] / "model" / "metrics.json").read_text())
        assert metrics["finetune_epochs"] == pytest.approx(
            r["epochs"]
        )  # 5 questions, batch 4: 2 steps an epoch
        assert metrics["finetune_steps"] == 2 * r["epochs"]
        assert "--finetune_lr" in r["command"] and "fit.tsv" in r["command"]
    assert summary["chosen"] == select.choose(summary["grid"])
    final = summary["final"]
    assert final["dev_total"] == 4 and final["dev_correct"] == round(4 * final["dev_accuracy"])
    final_metrics = json.loads((out / "final" / "model" / "metrics.json").read_text())
    assert (
        final_metrics["finetune_steps"] == 2 * summary["chosen"]["epochs"]
    )  # all 8 questions: 2 steps an epoch
    assert "birth_places_train.tsv" in final["command"]
    assert (out / "selection.png").stat().st_size > 1000
    md = (out / "selection.md").read_text()
    assert "(chosen)" in md and "dev accuracy" in md

    # A rerun keeps the scored pairs and the final model; a changed choice finetunes the final model again.
    calls = []
    real = select._finetune
    monkeypatch.setattr(select, "_finetune", lambda *a: calls.append(a[-1].name) or real(*a))
    again = select.main(argv)
    assert calls == [] and again["grid"] == summary["grid"] and again["final"] == final
    record = json.loads((out / "final" / "final.json").read_text())
    (out / "final" / "final.json").write_text(json.dumps(dict(record, chosen="another pair")))
    select.main(argv)
    assert calls == ["final"]
