"""Multitask BERT ensembles: averaging arithmetic, one-member identity, two members, the recipe."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from multitask_helpers import load_recipe, make_tokenizer, tiny_bert_config, write_minbert_dir
from scripts import ROOT
from transformers import BertModel, TrainingArguments

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.data.minbert import load_minbert, tokenize_minbert
from hfmodels.data.multitask import MultitaskCollator
from hfmodels.evaluation.ensemble import (
    average_scores,
    check_members,
    combine_members,
    ensemble_predictions,
    member_predictions,
    predict_member,
    union_of,
)
from hfmodels.multitask_bert import TASK_HEADS, MultitaskBertConfig, MultitaskBertModel
from hfmodels.training.multitask import MultitaskTrainer


def save_tiny_model(folder: Path, seed: int, **config) -> Path:
    torch.manual_seed(seed)
    MultitaskBertModel(MultitaskBertConfig(bert_config=tiny_bert_config(), **config)).save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def eval_args(tmp_path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path / "eval"), per_device_eval_batch_size=8, use_cpu=True, report_to=[]
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_minbert_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    """A tiny random BERT folder with its tokenizer, the recipes' `--backbone`."""
    folder = tmp_path_factory.mktemp("backbone")
    torch.manual_seed(0)
    BertModel(tiny_bert_config()).save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def raw_data(data_dir: Path) -> dict:
    """`{(name, split): Dataset}` for the tiny sst/quora/sts validation and test sets."""
    out = {}
    for name in ("sst", "quora", "sts"):
        for split, ds in load_minbert(name, data_dir).items():
            if split != "train":
                out[(name, split)] = ds
    return out


# ---- averaging arithmetic --------------------------------------------------------------------


def scores_of(task, logits):
    """A task head's averageable scores of float64 logits, as numpy."""
    return TASK_HEADS[task].scores(torch.as_tensor(np.asarray(logits, dtype=np.float64))).numpy()


def test_probabilities_are_averaged_then_decided():
    # sentiment: mean of softmax probabilities, then argmax
    a = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    b = np.array([[0.1, 0.5, 0.4], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(scores_of("sentiment", np.log(a) + 3.0), a)  # softmax of logits
    predicted = ensemble_predictions("sentiment", [np.log(a), np.log(b)])
    assert predicted.tolist() == [1, 1]  # means [0.35, 0.4, 0.25] and [0.15, 0.5, 0.35]
    assert [member_predictions("sentiment", np.log(m)).tolist() for m in (a, b)] == [[0, 2], [1, 1]]
    # paraphrase: mean of sigmoid probabilities > 0.5 (not the mean logit)
    p = np.array([[0.55, 0.6], [0.001, 0.3], [0.97, 0.5]])  # members x pairs
    logits = [np.log(row / (1 - row)) for row in p]
    np.testing.assert_allclose(scores_of("paraphrase", logits[0]), p[0])
    np.testing.assert_allclose(average_scores([scores_of("paraphrase", x) for x in logits]), p.mean(0))
    assert ensemble_predictions("paraphrase", logits).tolist() == [1, 0]  # means 0.507, 0.467
    assert np.mean(logits, axis=0)[0] < 0  # averaging logits would have said 0 for the first pair
    # similarity: mean score
    scores = [np.array([1.0, 4.0, 2.5]), np.array([3.0, 5.0, 0.5])]
    assert ensemble_predictions("similarity", scores).tolist() == [2.0, 4.5, 1.5]
    assert TASK_HEADS["paraphrase"].decide(torch.tensor([0.5, 0.5000001])).tolist() == [0, 1]
    with pytest.raises(ValueError, match="differ in shape"):
        average_scores([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="task='nli'"):
        ensemble_predictions("nli", [np.zeros(2)])
    with pytest.raises(ValueError, match="task='nli'"):
        member_predictions("nli", np.zeros(2))


def test_an_ensemble_of_one_decides_like_the_model_alone():
    g = np.random.default_rng(0)
    for task, shape in (("sentiment", (200, 5)), ("paraphrase", (200,)), ("similarity", (200,))):
        logits = g.normal(scale=3.0, size=shape).astype(np.float32)
        logits[:3] = 0.0  # ties and undecided pairs too
        expected = member_predictions(task, logits)
        np.testing.assert_array_equal(ensemble_predictions(task, [logits]), expected)


def test_combine_members_scores_the_ensemble_and_each_member():
    refs = {"sst": np.array([0, 1, 2]), "quora": np.array([1, 0]), "sts": np.array([0.0, 2.0, 4.0])}
    sst_a, sst_b = np.eye(5)[[0, 1, 1]] * 4, np.eye(5)[[0, 2, 3]] * 3  # a: 2/3 right, b: 1/3 right
    members = [
        {
            ("sst", "validation"): sst_a,
            ("quora", "validation"): np.array([2.0, -1.0]),
            ("sts", "validation"): np.array([0.0, 1.0, 5.0]),
            ("sst", "test"): sst_a[:1],
        },
        {
            ("sst", "validation"): sst_b,
            ("quora", "validation"): np.array([-1.0, 3.0]),
            ("sts", "validation"): np.array([1.0, 2.0, 4.0]),
            ("sst", "test"): sst_b[:1],
        },
    ]
    result = combine_members(members, refs)
    # 4-logit votes outweigh 3-logit ones
    assert result.predictions[("sst", "validation")].tolist() == [0, 1, 1]
    assert result.predictions[("quora", "validation")].tolist() == [
        1,
        1,
    ]  # mean p: (0.88 + 0.27) / 2, (0.27 + 0.95) / 2
    assert result.predictions[("sts", "validation")].tolist() == [0.5, 1.5, 4.5]
    assert result.predictions[("sst", "test")].tolist() == [0]
    assert result.metrics["eval_sst_accuracy"] == pytest.approx(2 / 3)
    assert result.metrics["eval_quora_accuracy"] == pytest.approx(1 / 2)
    assert set(result.metrics) == {
        "eval_sst_accuracy",
        "eval_quora_accuracy",
        "eval_sts_pearson",
        "eval_overall",
    }
    assert [m["eval_sst_accuracy"] for m in result.member_metrics] == pytest.approx([2 / 3, 1 / 3])
    assert [m["eval_quora_accuracy"] for m in result.member_metrics] == [1.0, 0.0]
    assert result.members_per_key[("sst", "validation")] == 2
    # a member covering fewer data sets (a single-task SST model) joins the average where it predicts
    sst_c = np.eye(5)[[2, 2, 2]] * 5
    mixed = combine_members([*members, {("sst", "validation"): sst_c}], refs)
    # c's confident 2s outvote a's 1 on row 2 (p(2) = 0.61) and supply the right answer on row 3
    assert mixed.predictions[("sst", "validation")].tolist() == [0, 2, 2]
    assert mixed.metrics["eval_sst_accuracy"] == pytest.approx(2 / 3)
    assert (
        mixed.predictions[("quora", "validation")].tolist()
        == result.predictions[("quora", "validation")].tolist()
    )
    assert mixed.members_per_key == {
        ("sst", "validation"): 3,
        ("quora", "validation"): 2,
        ("sts", "validation"): 2,
        ("sst", "test"): 2,
    }
    assert mixed.member_metrics[2] == {"eval_sst_accuracy": pytest.approx(1 / 3)}


# ---- real (tiny) members ---------------------------------------------------------------------


def test_ensemble_of_one_model_equals_its_predictions(tmp_path, data_dir):
    folder = save_tiny_model(tmp_path / "m", seed=1, pooling="mean", similarity_head="mlp")
    data = raw_data(data_dir)
    logits = predict_member(folder, data, eval_args(tmp_path))
    assert set(logits) == set(data)
    # the trainer's own predictions on the data tokenised with the model's tokenizer
    tokenizer = make_tokenizer()
    trainer = MultitaskTrainer(
        model=MultitaskBertModel.from_pretrained(folder),
        args=eval_args(tmp_path),
        data_collator=MultitaskCollator(tokenizer),
    )
    result = combine_members(
        [logits], {n: np.asarray(ds["label"]) for (n, s), ds in data.items() if s == "validation"}
    )
    for (name, split), ds in data.items():
        task = {"sst": "sentiment", "quora": "paraphrase", "sts": "similarity"}[name]
        alone = trainer.predict_dataset(tokenize_minbert(ds, tokenizer, max_length=128), task)
        np.testing.assert_array_equal(result.predictions[(name, split)], alone)
    assert result.member_metrics == [result.metrics]
    dev = {n: tokenize_minbert(ds, tokenizer) for (n, s), ds in data.items() if s == "validation"}
    alone_metrics = {k: v for k, v in trainer.evaluate(dev).items() if k.startswith("eval_")}
    assert alone_metrics == pytest.approx(result.metrics)


def test_ensemble_of_two_models_averages_their_outputs(tmp_path, data_dir):
    folders = [save_tiny_model(tmp_path / f"m{seed}", seed=seed, similarity_head="mlp") for seed in (1, 2)]
    data = raw_data(data_dir)
    members = [predict_member(f, data, eval_args(tmp_path)) for f in folders]
    result = combine_members(
        members, {n: np.asarray(ds["label"]) for (n, s), ds in data.items() if s == "validation"}
    )
    sts = [m[("sts", "validation")] for m in members]
    assert not np.allclose(sts[0], sts[1])  # different members
    np.testing.assert_allclose(result.predictions[("sts", "validation")], (sts[0] + sts[1]) / 2)
    sst = [m[("sst", "test")] for m in members]
    probs = [np.exp(x) / np.exp(x).sum(-1, keepdims=True) for x in map(np.float64, sst)]
    assert result.predictions[("sst", "test")].tolist() == ((probs[0] + probs[1]) / 2).argmax(-1).tolist()
    quora = [1 / (1 + np.exp(-m[("quora", "validation")].astype(np.float64))) for m in members]
    assert (
        result.predictions[("quora", "validation")].tolist()
        == ((quora[0] + quora[1]) / 2 > 0.5).astype(int).tolist()
    )


def test_members_may_cover_different_tasks(tmp_path):
    full = save_tiny_model(tmp_path / "full", seed=0)
    sst_only = save_tiny_model(tmp_path / "sst", seed=0, tasks=["sentiment"])
    cfimdb = save_tiny_model(tmp_path / "cfimdb", seed=0, tasks=["sentiment"], num_sentiment_labels=2)
    assert check_members([full, full]) == [["sst", "quora", "sts"]] * 2
    assert check_members([cfimdb]) == [["cfimdb"]]
    covered = check_members([sst_only, full, cfimdb])
    assert covered == [["sst"], ["sst", "quora", "sts"], ["cfimdb"]]
    assert union_of(covered) == ["sst", "quora", "sts", "cfimdb"]
    BertModel(tiny_bert_config()).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="not a multitask BERT model"):
        check_members([full, tmp_path / "bert"])
    with pytest.raises(ValueError, match="at least one"):
        check_members([])


# ---- the recipe ------------------------------------------------------------------------------


def test_ensemble_recipe_end_to_end(tmp_path, data_dir, backbone):
    train = load_recipe("train")
    common = ["--backbone", str(backbone), "--data_dir", str(data_dir), "--epochs", "1", "--batch_size", "8"]
    common += ["--lr", "1e-3", "--report_to", "none", "--pooling", "cls", "--eval_strategy", "no"]
    members = [tmp_path / "m1", tmp_path / "m2"]
    train.main([*common, "--output_dir", str(members[0]), "--seed", "1"])
    train.main(
        [*common, "--output_dir", str(members[1]), "--seed", "2"]
        + ["--layerwise_lr_decay", "0.8", "--task_loss_weights", "sentiment=2,similarity=0.5"]
    )
    assert "- layerwise_lr_decay: `0.8`" in (members[1] / "report.md").read_text()

    ensemble = load_recipe("ensemble")
    out = tmp_path / "ens"
    metrics = ensemble.main(
        ["--models", *map(str, members), "--data_dir", str(data_dir), "--output_dir", str(out)]
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["members"] == metrics["members"]
    nested = ("members", "members_per_data_set")
    assert saved["members_per_data_set"] == metrics["members_per_data_set"]
    assert {k: v for k, v in saved.items() if k not in nested} == pytest.approx(
        {k: v for k, v in metrics.items() if k not in nested}
    )
    for key in ("eval_sst_accuracy", "eval_quora_accuracy", "eval_sts_pearson", "eval_overall"):
        assert key in saved
        for member, path in zip(saved["members"], members):
            # each member scores as it did at the end of its own training run
            assert member[key] == pytest.approx(json.loads((path / "metrics.json").read_text())[key])
    assert saved["ensemble_size"] == 2 and [m["model"] for m in saved["members"]] == list(map(str, members))
    assert saved["members_per_data_set"] == {
        "sst-dev": 2,
        "sst-test": 2,
        "quora-dev": 2,
        "sts-dev": 2,
        "sts-test": 2,
    }
    predictions = out / "predictions"
    assert sorted(p.name for p in predictions.iterdir()) == [
        "para-dev-output.csv",
        "sst-dev-output.csv",
        "sst-test-output.csv",
        "sts-dev-output.csv",
        "sts-test-output.csv",
    ]
    sst_test = (predictions / "sst-test-output.csv").read_text().splitlines()
    assert sst_test[0] == "id \t Predicted_Sentiment " and [x.split(" , ")[0] for x in sst_test[1:]] == [
        f"tid{i}" for i in range(5)
    ]
    assert (predictions / "sts-dev-output.csv").read_text().startswith("id \t Predicted_Similiary \n")
    report = (out / "report.md").read_text()
    assert report.startswith("# minBERT ensemble of 2 models")
    assert "| **ensemble** |" in report and f"| member 1: `{members[0]}` |" in report

    # an ensemble of one writes the member's own prediction files
    alone = tmp_path / "alone"
    ensemble.main(["--models", str(members[0]), "--data_dir", str(data_dir), "--output_dir", str(alone)])
    for path in (members[0] / "predictions").iterdir():
        assert (alone / "predictions" / path.name).read_text() == path.read_text(), path.name
    with pytest.raises(SystemExit):
        ensemble.main(["--models", str(members[0])])  # --output_dir is required


def test_budget_script_trains_each_member_once_and_averages_them(tmp_path, data_dir, backbone):
    """run_budget_ensemble.sh: the member kinds and counts its variables ask for, each member's training
    time recorded, the ensemble over all of them; a rerun keeps the trained members and trains the missing."""
    out = tmp_path / "budget"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "SST_SEEDS": "1 2",
        "QUORA_SEEDS": "1",
        "QUORA_CROSS_SEEDS": "1",
        "STS_SEEDS": "1",
        "EXTRA": f"--backbone {backbone} --epochs 1 --batch_size 8 --report_to none",
    }

    def run_script():
        script = ROOT / "recipes/multitask_bert/run_budget_ensemble.sh"
        done = subprocess.run(
            ["bash", str(script), str(data_dir), str(out)], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def trained():
        return [line.split()[0] for line in (out / "walltimes.txt").read_text().splitlines()]

    run_script()
    names = ["sst-seed1", "sst-seed2", "quora-seed1", "quora-cross-seed1", "sts-seed1"]
    assert trained() == names
    config = {n: json.loads((out / n / "config.json").read_text()) for n in names}
    assert config["quora-cross-seed1"]["cross_encoder_tasks"] == ["paraphrase"]
    assert config["quora-seed1"]["cross_encoder_tasks"] == []
    assert config["sst-seed1"]["pooling"] == "cls" and config["quora-seed1"]["pooling"] == "mean"
    assert config["sts-seed1"]["tasks"] == ["similarity"]
    metrics = json.loads((out / "ensemble" / "metrics.json").read_text())
    assert [m["model"] for m in metrics["members"]] == [str(out / n) for n in names]
    assert metrics["members_per_data_set"] == {
        "sst-dev": 2,
        "sst-test": 2,
        "quora-dev": 2,
        "sts-dev": 1,
        "sts-test": 1,
    }
    assert (out / "budget.txt").read_text().startswith("members: 5, training: ")

    stamp = (out / "sst-seed1" / "model.safetensors").stat().st_mtime_ns
    shutil.rmtree(out / "sts-seed1")
    run_script()
    assert trained() == [*names, "sts-seed1"]  # only the missing member was trained again
    assert (out / "sst-seed1" / "model.safetensors").stat().st_mtime_ns == stamp

    # An empty list means no member of that kind (not the default count).
    env.update(QUORA_SEEDS="", STS_SEEDS="")
    run_script()
    assert trained() == [*names, "sts-seed1"]  # nothing new trained
    metrics = json.loads((out / "ensemble" / "metrics.json").read_text())
    kept = ["sst-seed1", "sst-seed2", "quora-cross-seed1"]
    assert [m["model"] for m in metrics["members"]] == [str(out / n) for n in kept]
