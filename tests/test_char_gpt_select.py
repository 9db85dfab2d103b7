"""hfmodels.training.selection (recipes/char_gpt/select_finetune.py): the held-out split of the training questions, the grid,
the choice made without dev, the final finetune scored on dev, and a rerun that keeps the grid."""

import json
import os
import sys

import pytest
from scripts import ROOT, write_birthplace_data

import hfmodels.training.selection as select
from hfmodels.training.char_gpt_cli import run_command

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PRESETS = ROOT / "recipes" / "char_gpt" / "presets"


def select_main(argv):
    return select.run_selection_command(argv, PRESETS / "finetune_from_pretrained.json")


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
    return write_birthplace_data(tmp_path / "data", PEOPLE, PLACES, train=slice(0, 8), dev=slice(6, None))


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


def test_grid_then_final_finetune_on_all_training_questions(data_dir, tmp_path, monkeypatch, capsys):
    pre = tmp_path / "pre"
    run_command(
        ["pretrain", "vanilla", "wiki.txt", "--data_dir", str(data_dir), *TINY, "--max_steps", "2"]
        + [
            "--per_device_train_batch_size",
            "4",
            "--writing_params_path",
            str(pre),
            "--output_dir",
            str(tmp_path / "r"),
        ],
        PRESETS,
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
    summary = select_main(argv)

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
    assert "birth_places_train.tsv" in final["command"] and "--eval_split validation" in final["command"]
    # scored as the validation split, its predictions and metric keys keep the course's name
    assert len((out / "final" / "model" / "dev.predictions").read_text().splitlines()) == 4
    assert final_metrics["dev_predictions"] == str(out / "final" / "model" / "dev.predictions")
    assert (out / "selection.png").stat().st_size > 1000
    md = (out / "selection.md").read_text()
    assert "(chosen)" in md and "dev accuracy" in md

    # A rerun keeps the scored pairs and the final model; a changed choice finetunes the final model again.
    calls = []
    real = select.finetune_pair
    monkeypatch.setattr(select, "finetune_pair", lambda *a: calls.append(a[-1].name) or real(*a))
    again = select_main(argv)
    assert calls == [] and again["grid"] == summary["grid"] and again["final"] == final
    record = json.loads((out / "final" / "final.json").read_text())
    (out / "final" / "final.json").write_text(json.dumps(dict(record, chosen="another pair")))
    select_main(argv)
    assert calls == ["final"]
    # A pair scored from other weights is not reused silently.
    pair = out / "lr0.001_ep1" / "pair.json"
    pair.write_text(json.dumps(dict(json.loads(pair.read_text()), pretrained_sha256="0" * 64)))
    with pytest.raises(ValueError, match=r"lr0.001_ep1/pair.json: scored with pretrained_sha256='000"):
        select_main(argv)
    # Flags the grid sets itself would override it for every pair: refused before any work.
    for flag in ("--num-train-epochs", "--finetune_lr=1e-4"):
        with pytest.raises(SystemExit):
            select_main([*argv, flag, "3"] if "=" not in flag else [*argv, flag])
        assert "is set by the grid" in capsys.readouterr().err


def _study_env(**overrides: str) -> dict[str, str]:
    """The environment of a study script run on tiny models: 2 pretraining steps of 4 documents."""
    return dict(
        os.environ,
        EXTRA=" ".join(TINY),
        PRETRAIN_EXTRA="--max_steps 2 --per_device_train_batch_size 4",
        PYTHON=sys.executable,  # CI runs pytest from .venv without putting it on PATH
        **overrides,
    )


def test_full_study_script_runs_every_stage_and_skips_them_when_rerun(data_dir, tmp_path):
    """recipes/char_gpt/run_full_study.sh on tiny data: pretrain -> finetune -> dev and test
    predictions -> held-out finetuning choice -> analyze -> summary; a rerun redoes nothing."""
    import subprocess

    (data_dir / "cs224n-a5" / "birth_test_inputs.tsv").write_text(
        "Where was Ida Jo born?\nWhere was Jan Ko born?\n", encoding="utf-8"
    )
    out = tmp_path / "study"
    env = _study_env(
        VARIANTS="vanilla",
        LOCK="",
        SELECT_LRS="1e-3 3e-2",
        SELECT_EPOCHS="1",
        SELECT_HOLDOUT="3",
        OMP_NUM_THREADS="1",
    )
    script = ["bash", "recipes/char_gpt/run_full_study.sh", str(data_dir), str(out)]
    subprocess.run(script, cwd=ROOT, env=env, check=True, capture_output=True)
    stages = [line.split(" ", 2)[2] for line in (out / "progress.txt").read_text().splitlines()]
    assert stages == [
        "vanilla pretrain ",
        "vanilla finetune",
        "vanilla evaluate dev",
        "vanilla evaluate test",
        "vanilla select finetuning",
        "done",
        "vanilla analyze",
    ]
    assert json.loads((out / "vanilla.pretrain.params" / "metrics.json").read_text())["pretrain_steps"] == 2
    assert json.loads((out / "vanilla.finetune.params" / "metrics.json").read_text())["dev_total"] == 4
    assert len((out / "vanilla.pretrain.test.predictions").read_text().splitlines()) == 2
    selection = json.loads((out / "vanilla_select" / "selection.json").read_text())
    assert [r["lr"] for r in selection["grid"]] == [1e-3, 3e-2] and selection["final"]["dev_total"] == 4
    assert (out / "vanilla_analysis" / "analysis.json").exists()
    study = (out / "study.md").read_text()
    assert "| vanilla, pretrain + finetune |" in study and "finetuning chosen without dev" in study

    subprocess.run(script, cwd=ROOT, env=env, check=True, capture_output=True)
    assert (out / "progress.txt").read_text().splitlines()[len(stages) :][0].endswith(" done")
    assert len((out / "progress.txt").read_text().splitlines()) == len(stages) + 1


def test_gpu_study_script_runs_the_variants_side_by_side_and_reports_failures(data_dir, tmp_path):
    """recipes/char_gpt/run_gpu_study.sh (here on the CPU, tiny data): one run_full_study.sh
    pipeline per variant, started together, one table for all; a failing variant fails the script."""
    import subprocess

    (data_dir / "cs224n-a5" / "birth_test_inputs.tsv").write_text(
        "Where was Ida Jo born?\n", encoding="utf-8"
    )
    out = tmp_path / "gpu"
    env = _study_env(VARIANTS="vanilla perceiver", SELECT="0", THREADS="1")
    script = ["bash", "recipes/char_gpt/run_gpu_study.sh", str(data_dir), str(out)]
    done = subprocess.run(script, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + (out / "perceiver.out").read_text()
    for v in ("vanilla", "perceiver"):
        assert json.loads((out / f"{v}.pretrain.params" / "metrics.json").read_text())["pretrain_steps"] == 2
        assert json.loads((out / f"{v}.finetune.params" / "metrics.json").read_text())["dev_total"] == 4
        assert (out / f"{v}_analysis" / "analysis.json").exists()
    # Side by side: both pretrainings start before either pipeline reaches its finetuning.
    stages = [line.split(" ", 2)[2] for line in (out / "progress.txt").read_text().splitlines()]
    assert sorted(stages[:2]) == ["perceiver pretrain ", "vanilla pretrain "], stages
    study = (out / "study.md").read_text()
    assert "| vanilla, pretrain + finetune |" in study and "| perceiver, pretrain + finetune |" in study

    failed = subprocess.run(script, cwd=ROOT, env=dict(env, VARIANTS="bogus"), capture_output=True, text=True)
    assert failed.returncode == 1 and "failed: bogus" in failed.stderr
    assert "unknown variant 'bogus'" in (out / "bogus_pretrain.log").read_text()
