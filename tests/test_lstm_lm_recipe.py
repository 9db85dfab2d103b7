"""recipes/lstm_lm/train.py end to end on a tiny WikiText-like data set."""

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.scripts import load_script
from tests.test_data_wikitext import write_wikitext

recipe = load_script("recipes/lstm_lm/train.py", "lstm_lm_train")


def run(tmp_path, *extra):
    data = tmp_path / "data"
    if not data.exists():
        write_wikitext(data, n_valid=8, n_test=6)
    out = tmp_path / "out"
    argv = ["--data_dir", str(data), "--output_dir", str(out), "--block_size", "8", "--num_train_epochs", "2"]
    argv += ["--embedding_size", "8", "--hidden_size", "8", "--report_to", "none", "--logging_steps", "1"]
    argv += ["--validation_articles", "2", "--num_continuations", "3", *extra]
    return out, recipe.main(argv)


def test_recipe_writes_a_loadable_model_and_reports(tmp_path):
    out, metrics = run(tmp_path, "--preset", "ablation_4_ar_tar")
    for key in (
        "validation_perplexity",
        "test_perplexity",
        "test_prediction_nll",
        "test_kn_trigram_perplexity",
    ):
        assert metrics[key] > 0
    assert metrics["test_oov_words"] > 0 and metrics["vocab_size"] > 10
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test_perplexity"] == pytest.approx(metrics["test_perplexity"])
    summary = (out / "summary.md").read_text()
    assert summary.count("**→") == 3
    card = (out / "README.md").read_text()
    assert "Data caveat" in card and "model-index" not in card.split("---")[2]
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.tie_word_embeddings and model.config.ar_alpha > 0
    assert len(tokenizer) == model.config.vocab_size
    state = json.loads(next(out.glob("checkpoint-*/trainer_state.json")).read_text())
    logged = [h for h in state["log_history"] if "loss" in h]
    assert logged and all("nll" in h and h["ar_tar"] > 0 for h in logged)
    assert all(h["loss"] >= h["nll"] for h in logged)


def test_recipe_resumes_from_its_last_checkpoint(tmp_path):
    out, first = run(tmp_path)
    steps = first["train_steps"]
    _, resumed = run(tmp_path, "--num_train_epochs", "3", "--resume_from_checkpoint", "last")
    assert resumed["train_steps"] > steps
    state = json.loads(
        sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
        .joinpath("trainer_state.json")
        .read_text()
    )
    assert state["global_step"] == resumed["train_steps"]


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="--preset nope: neither a file nor one of"):
        recipe.parse_arguments(["--preset", "nope", "--output_dir", str(tmp_path)])


@pytest.mark.parametrize("preset", sorted(p.stem for p in recipe.PRESETS.glob("*.json")))
def test_every_preset_parses_and_the_command_line_wins(tmp_path, preset):
    args, training, path = recipe.parse_arguments(
        ["--preset", preset, "--output_dir", str(tmp_path), "--learning_rate", "0.5"]
    )
    values = json.loads(open(path).read())
    assert training.learning_rate == 0.5
    assert training.per_device_train_batch_size == values["per_device_train_batch_size"]
    assert args.tie_word_embeddings == values.get("tie_word_embeddings", False)
