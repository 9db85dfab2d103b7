"""hfmodels.training.study_summary (recipes/char_gpt/summarize_study.py): the study table from run folders, resumed pretraining
segments summed, the newest checkpoint found numerically, London rescored from the dev file."""

import json
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

import hfmodels.training.study_summary as summarize_study


def _events(folder: Path, steps, start_wall: float, seconds_per_step: float, loss0: float) -> None:
    writer = SummaryWriter(str(folder))
    for i, step in enumerate(steps):
        wall = start_wall + (step - steps[0]) * seconds_per_step
        writer.add_scalar("train/loss", loss0 - 0.01 * i, step, walltime=wall)
        writer.add_scalar("train/learning_rate", 1e-3, step, walltime=wall)
        writer.add_scalar("train/epoch", step / 10, step, walltime=wall)
    writer.close()


def _json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def study(tmp_path):
    data = tmp_path / "data" / "cs224n-a5"
    data.mkdir(parents=True)
    (data / "birth_dev.tsv").write_text(
        "Where was A B born?\tLondon\nWhere was C D born?\tParis\nWhere was E F born?\tLondon\n"
        "Where was G H born?\tRome\n",
        encoding="utf-8",
    )
    out = tmp_path / "study"
    # vanilla: pretraining stopped once (steps 10-30 in 20 s), resumed from checkpoint 20 (20-40 in 40 s)
    _events(out / "vanilla_pretrain" / "tb" / "first", [10, 20, 30], 1000.0, 1.0, 3.0)
    _events(out / "vanilla_pretrain" / "tb" / "second", [20, 30, 40], 5000.0, 2.0, 2.0)
    for step in (5, 20):  # lexically "checkpoint-5" > "checkpoint-20": the newest must be found numerically
        _json(
            out / "vanilla_pretrain" / f"checkpoint-{step}" / "trainer_state.json",
            {"global_step": step, "max_steps": 100, "epoch": step / 10},
        )
    # perceiver: finished and finetuned
    _events(out / "perceiver_pretrain" / "tb" / "only", [10, 20], 100.0, 3.0, 2.5)
    _json(
        out / "perceiver.pretrain.params" / "metrics.json",
        {
            "pretrain_steps": 20,
            "pretrain_epochs": 2.0,
            "pretrain_final_logged_loss": 2.49,
            "pretrain_wall_seconds": 31.0,
        },
    )
    _json(
        out / "perceiver.finetune.params" / "metrics.json",
        {
            "dev_accuracy": 0.25,
            "dev_correct": 1,
            "dev_total": 4,
            "finetune_epochs": 10.0,
            "finetune_wall_seconds": 12.0,
        },
    )
    _json(
        out / "vanilla.nopretrain.params" / "metrics.json",
        {
            "dev_accuracy": 0.5,
            "dev_correct": 2,
            "dev_total": 4,
            "finetune_epochs": 75.0,
            "finetune_wall_seconds": 99.0,
        },
    )
    # perceiver, finetuned again with the choice of select_finetune.py; vanilla's grid has no final run yet
    _json(
        out / "perceiver_select" / "selection.json",
        {
            "chosen": {"lr": 1e-4, "epochs": 3.0, "holdout_accuracy": 0.5},
            "final": {"dev_accuracy": 0.75, "dev_correct": 3, "dev_total": 4, "finetune_wall_seconds": 5.0},
        },
    )
    _json(out / "vanilla_select" / "selection.json", {"chosen": {"lr": 1e-4, "epochs": 3.0}})
    return out, tmp_path / "data"


def test_summary_rows_and_files(study):
    out, data = study
    rows = {r["system"]: r for r in summarize_study.main([str(out), "--data_dir", str(data)])}
    # no synthesizer folder; no finished selection for vanilla
    assert list(rows) == ["london", "vanilla_nopretrain", "vanilla", "perceiver", "perceiver_selected"]
    assert (rows["london"]["dev_accuracy"], rows["london"]["dev_correct"], rows["london"]["dev_total"]) == (
        0.5,
        2,
        4,
    )
    assert '| predict "London" for everyone | 50.0 % (2/4) | 5.0 % |' in (out / "study.md").read_text()
    v = rows["vanilla"]
    assert v["pretrain_status"] == "in progress"
    assert (v["pretrain_steps"], v["pretrain_max_steps"], v["pretrain_epochs"]) == (20, 100, 2.0)
    assert v["pretrain_wall_seconds"] == 60.0  # 20 s + 40 s over the two processes
    assert [s["seconds_per_step"] for s in v["segments"]] == [1.0, 2.0]
    assert v["pretrain_final_logged_loss"] == pytest.approx(1.98)  # the resumed segment's step 40
    assert "dev_accuracy" not in v
    loss = summarize_study.merged_series(v["segments"], "loss")
    assert loss[30] == pytest.approx(1.99) and loss[10] == pytest.approx(
        3.0
    )  # the redone steps come from the resumed run
    p = rows["perceiver"]
    assert (p["pretrain_status"], p["pretrain_steps"], p["dev_accuracy"]) == ("done", 20, 0.25)
    assert p["pretrain_wall_seconds"] == 30.0
    table = (out / "study.md").read_text(encoding="utf-8")
    assert "in progress: step 20 of 100, epoch 2.0 of 650" in table
    assert "| perceiver, pretrain + finetune | 25.0 % (1/4) | 17.0 % |" in table
    sel = rows["perceiver_selected"]
    assert (sel["dev_accuracy"], sel["finetune_lr"], sel["finetune_epochs"]) == (0.75, 1e-4, 3.0)
    assert (
        "| perceiver, pretrain + finetune, finetuning chosen without dev | 75.0 % (3/4) | 17.0 % | — | — | — | "
        "3 epochs at lr 0.0001 (chosen on held-out training questions) | 5 s |" in table
    )
    saved = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert [r["system"] for r in saved] == list(rows) and "series" not in saved[2]["segments"][0]
    assert (out / "study_pretraining.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*tmp*"))


def test_summary_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such study folder"):
        summarize_study.main([str(tmp_path / "missing")])
    with pytest.raises(FileNotFoundError, match="no study runs found"):
        summarize_study.main([str(tmp_path)])


def test_summary_refuses_a_data_dir_without_the_dev_set(study, tmp_path):
    out, _ = study  # a wrong --data_dir must not silently drop the London row
    with pytest.raises(FileNotFoundError, match=r"--data_dir .*elsewhere: no birth_dev.tsv"):
        summarize_study.main([str(out), "--data_dir", str(tmp_path / "elsewhere")])


def test_compare_draws_the_other_studys_curves(study, tmp_path):
    out, data = study
    other = tmp_path / "shorter"
    _events(other / "perceiver_pretrain" / "tb" / "only", [10, 20], 100.0, 3.0, 2.9)
    summarize_study.main([str(out), "--data_dir", str(data), "--compare", str(other)])
    assert (out / "study_pretraining.png").read_bytes()[:4] == b"\x89PNG"
    rows = summarize_study.summarize(out, str(data))
    labels = summarize_study.plot(rows, tmp_path / "fig.png", {"shorter": summarize_study.summarize(other)})
    assert "perceiver loss (shorter)" in labels and "vanilla loss (shorter)" not in labels
    assert {"vanilla loss", "perceiver loss", "original's final perceiver loss"} <= set(labels)
    with pytest.raises(FileNotFoundError, match="--compare .*missing: no such study folder"):
        summarize_study.main([str(out), "--compare", str(tmp_path / "missing")])
