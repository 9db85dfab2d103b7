"""The AddSub recipe on tiny data (outputs, resume, Auto-class reload) and the evaluation's scores."""

import json
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import hfmodels  # noqa: F401
from hfmodels.data.addsub import build_addsub_dataset
from hfmodels.evaluation.addsub import evaluate_addsub, score_addsub

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "addsub"))
import train as addsub_train  # noqa: E402

TINY = [
    "--emb_dim", "16", "--num_heads", "2", "--feedforward_dim", "16", "--encoder_layers", "1",
    "--decoder_layers", "1", "--max_train_examples", "128", "--max_eval_examples", "32",
    "--evaluate_exhaustive", "false", "--per_device_train_batch_size", "32", "--report_to", "none",
    "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "no", "--logging_steps", "1",
]  # fmt: skip


def test_score_by_operation_and_sign():
    ds = build_addsub_dataset()["test"].select(range(40))
    preds = list(ds["answer"])
    wrong = [i for i in range(40) if ds[i]["operation"] == "add"][:3]
    for i in wrong:
        preds[i] = "BOS POSITIVE 9 9 EOS" if ds[i]["result"] != 99 else "BOS POSITIVE 0 0 EOS"
    scores = score_addsub(preds, ds)
    n_add = sum(op == "add" for op in ds["operation"])
    assert scores["exact_match"] == (40 - 3) / 40 and scores["correct"] == 37
    assert scores["exact_match_operation_add"] == (n_add - 3) / n_add
    assert scores["exact_match_operation_subtract"] == 1.0
    signs = {k: v for k, v in scores.items() if k.startswith("total_sign_")}
    assert sum(signs.values()) == 40


def test_recipe_trains_resumes_and_writes_a_loadable_model(tmp_path):
    out = tmp_path / "run"
    addsub_train.main(["--output_dir", str(out), "--max_steps", "2", *TINY])
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    metrics = addsub_train.main(
        ["--output_dir", str(out), "--max_steps", "4", "--resume_from_checkpoint", "last", *TINY]
    )
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and [e["step"] for e in state["log_history"] if "loss" in e] == [
        1,
        2,
        3,
        4,
    ]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test_total"] == 32 and 0.0 <= saved["test_exact_match"] <= 1.0
    assert saved == metrics and "exact_match_operation_add" in "".join(saved)
    card = (out / "README.md").read_text()
    assert "model-index" in card and "AutoModelForSeq2SeqLM" in card
    (result,) = ModelCard(card).data.eval_results  # the figure is the test split's, and says so
    assert result.dataset_split == "test" and result.metric_value == metrics["test_exact_match"]
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ds = build_addsub_dataset()["test"].select(range(32))
    again = evaluate_addsub(model, tok, ds)
    assert again["exact_match"] == saved["test_exact_match"]
    assert torch.isfinite(
        model(**tok(ds["input"][:2], return_tensors="pt"), labels=torch.tensor([[10, 1, 1, 15]] * 2)).loss
    )


def test_preset_with_an_unknown_key_is_refused(tmp_path):
    preset = tmp_path / "bad.json"
    preset.write_text(json.dumps({"emb_dim": 16, "warmup_ratio": 0.1}))
    with pytest.raises(SystemExit, match=r"bad.json: warmup_ratio is not an option"):
        addsub_train.parse_args(["--preset", str(preset), "--output_dir", str(tmp_path)])


@pytest.mark.parametrize("flag, option", [("--learning_rat", "learning_rate"), ("--emb_di", "emb_dim")])
def test_an_abbreviated_option_is_refused(flag, option):
    """A prefix of an option (`--learning_rat` for `--learning_rate`) is not taken for it: the run
    stops, naming the flag; the whole name sets the option."""
    with pytest.raises(ValueError, match=f"not used by the HfArgumentParser: \\['{flag}', '8'\\]"):
        addsub_train.parse_args(["--output_dir", "/tmp/unused", flag, "8"])
    args, training, _ = addsub_train.parse_args(["--output_dir", "/tmp/unused", f"--{option}", "8"])
    assert getattr(args if hasattr(args, option) else training, option) == 8


def test_presets_shipped_parse():
    for name in ("reference", "tuned"):
        args, training, preset = addsub_train.parse_args(["--preset", name, "--output_dir", "/tmp/unused"])
        assert preset == name
    args, training, _ = addsub_train.parse_args(["--output_dir", "/tmp/unused"])
    assert (args.num_heads, args.emb_dim, args.feedforward_dim, args.encoder_layers, args.decoder_layers) == (
        4, 32, 32, 4, 4,
    )  # fmt: skip
    assert (args.dropout, training.num_train_epochs, training.learning_rate) == (0.2, 10, 1e-3)
