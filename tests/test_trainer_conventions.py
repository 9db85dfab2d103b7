"""The library's own conventions where the recipes use them: the char GPT's optimizer built by
`Trainer.create_optimizer` from `--optim` over minGPT's decay groups (hfmodels.training.optim),
and every recipe's `Trainer.log_metrics` / `save_metrics` files next to its `metrics.json`
(hfmodels.reporting.save_trainer_metrics)."""

import copy
import json
import math
import os

import pytest
import torch
from multitask_helpers import backbone_dir_fixture, load_recipe, write_minbert_dir  # noqa: F401
from scripts import ROOT, load_script, write_birthplace_data
from transformers.optimization import Adafactor

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.data import BirthplaceCollator, birthplace_example
from hfmodels.reporting import TRAINER_SPLITS, save_trainer_metrics, split_metrics
from hfmodels.training.char_gpt import CharGPTTrainingArguments
from hfmodels.training.char_gpt_cli import run_command
from hfmodels.training.optim import MinGPTTrainer, decay_parameter_names
from hfmodels.training.schedules import WARMUP_TOKENS, TokenScheduleTrainer, mingpt_lr_scheduler

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FINAL_TOKENS = 40 * 31


def _tokenizer():
    return CharTokenizer.from_corpus("abcdefghijklmnopqrstuvwxyz ?WXYZ.")


def _rows(tok):
    return [birthplace_example(f"Where was {c * 3} born?", "xyz", tok) for c in "abcdefghijkl"]


def _model(tok, variant="vanilla"):
    torch.manual_seed(0)
    config = CharGPTConfig(
        vocab_size=tok.vocab_size,
        block_size=32,
        n_layer=2,
        n_head=2,
        n_embd=16,
        attention_type=variant,
        bottleneck_dim=4,
    )
    return CharGPTForCausalLM(config)


def _args(tmp_path, **kwargs):
    values = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=4,
        logging_steps=1,
        learning_rate=6e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
    )
    return CharGPTTrainingArguments(**{**values, **kwargs})


def _hand_built_mingpt_adamw(model, training):
    """The optimizer the recipe built by hand before `MinGPTTrainer`: torch's fused AdamW over
    minGPT's two groups, in `named_parameters` order."""
    decay = set(decay_parameter_names(model))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if n in decay], "weight_decay": training.weight_decay},
        {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0},
    ]
    betas = (training.adam_beta1, training.adam_beta2)
    return torch.optim.AdamW(
        groups, lr=training.learning_rate, betas=betas, eps=training.adam_epsilon, fused=True
    )


def _inner(optimizer):
    return getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the optimizer


def _group_names(model, optimizer):
    names = {id(p): n for n, p in model.named_parameters()}
    return [sorted(names[id(p)] for p in g["params"]) for g in _inner(optimizer).param_groups]


def _losses(trainer):
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_default_optim_is_bit_identical_to_the_hand_built_mingpt_adamw(tmp_path):
    tok = _tokenizer()
    collator = BirthplaceCollator(tok, block_size=32)
    training = _args(tmp_path / "a")
    assert training.optim == "adamw_torch_fused" and (training.adam_beta2, training.weight_decay) == (
        0.95,
        0.1,
    )
    before = _model(tok)
    old_model, new_model = copy.deepcopy(before), copy.deepcopy(before)
    opt = _hand_built_mingpt_adamw(old_model, training)
    old = TokenScheduleTrainer(
        model=old_model,
        args=training,
        train_dataset=_rows(tok),
        data_collator=collator,
        optimizers=(opt, mingpt_lr_scheduler(opt, WARMUP_TOKENS, FINAL_TOKENS)),
        tokens_per_example=31,
    )
    old.train()
    new = MinGPTTrainer(
        model=new_model,
        args=_args(tmp_path / "b"),
        train_dataset=_rows(tok),
        data_collator=collator,
        final_tokens=FINAL_TOKENS,
        tokens_per_example=31,
    )
    new.train()
    assert type(_inner(new.optimizer)) is torch.optim.AdamW
    assert _group_names(old_model, old.optimizer) == _group_names(new_model, new.optimizer)
    hyper = [{k: v for k, v in g.items() if k != "params"} for g in _inner(old.optimizer).param_groups]
    assert hyper == [
        {k: v for k, v in g.items() if k != "params"} for g in _inner(new.optimizer).param_groups
    ]
    assert all(g["fused"] is True for g in hyper) and [g["weight_decay"] for g in hyper] == [0.1, 0.0]
    assert len(_losses(new)) == 4 and _losses(old) == _losses(new)
    trained = new_model.state_dict()
    for name, tensor in old_model.state_dict().items():
        assert torch.equal(tensor, trained[name]), name
    assert any(not torch.equal(t, trained[n]) for n, t in before.state_dict().items())
    assert new.lr_scheduler.lr_lambdas[0].tokens == old.lr_scheduler.lr_lambdas[0].tokens == 4 * 4 * 31


OPTIMIZER_CLASSES = {
    "adamw_torch": torch.optim.AdamW,
    "adamw_torch_fused": torch.optim.AdamW,
    "adafactor": Adafactor,
    "sgd": torch.optim.SGD,
}
NOT_DECAYED = ("bias", "ln_1", "ln_2", "ln1", "ln2", "ln_f", "wte", "wpe", ".C", ".w2", ".b2")


@pytest.mark.parametrize("variant", ["vanilla", "perceiver", "synthesizer"])
@pytest.mark.parametrize("optim", list(OPTIMIZER_CLASSES))
def test_every_optim_trains_on_mingpt_decay_groups(tmp_path, optim, variant):
    tok = _tokenizer()
    model = _model(tok, variant)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = MinGPTTrainer(
        model=model,
        args=_args(tmp_path, optim=optim, max_steps=2),
        train_dataset=_rows(tok),
        data_collator=BirthplaceCollator(tok, block_size=32),
        final_tokens=FINAL_TOKENS,
        tokens_per_example=31,
    )
    trainer.train()
    inner = _inner(trainer.optimizer)
    assert type(inner) is OPTIMIZER_CLASSES[optim]
    assert inner.param_groups[0].get("fused") is (True if optim == "adamw_torch_fused" else None)
    decayed, kept = _group_names(model, trainer.optimizer)
    linear = sorted(f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Linear))
    assert decayed == linear and sorted(decayed + kept) == sorted(before)
    assert not [n for n in decayed if any(k in n for k in NOT_DECAYED)]
    special = {"vanilla": ".attn.", "perceiver": ".C", "synthesizer": ".w2"}[variant]
    assert any(special in n for n in kept) and any("wte" in n for n in kept) and any("ln" in n for n in kept)
    assert [g["weight_decay"] for g in inner.param_groups] == [0.1, 0.0]
    losses = _losses(trainer)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_an_optimizer_passed_in_is_refused(tmp_path):
    tok = _tokenizer()
    model = _model(tok)
    with pytest.raises(ValueError, match="builds its optimizer"):
        MinGPTTrainer(
            model=model,
            args=_args(tmp_path),
            optimizers=(torch.optim.SGD(model.parameters(), lr=0.1), None),
            final_tokens=FINAL_TOKENS,
        )


def test_split_metrics_leaves_nothing_out_and_unknown_splits_are_refused():
    metrics = {"train_loss": 1.0, "validation_ppl": 2.0, "test_ppl": 3.0, "machine": "cpu"}
    splits = split_metrics(metrics, {"eval": ("validation_",), "test": ("test_",)})
    assert splits == {
        "train": {"train_loss": 1.0, "machine": "cpu"},
        "eval": {"validation_ppl": 2.0},
        "test": {"test_ppl": 3.0},
    }
    with pytest.raises(ValueError, match="unknown splits \\['dev'\\]"):
        save_trainer_metrics(None, {"dev": {"x": 1}})


def assert_trainer_files_match_metrics(folder, splits):
    """all_results.json holds exactly the figures of metrics.json, and is the union of the
    `{split}_results.json` files of `splits`."""
    saved = json.loads((folder / "metrics.json").read_text())
    results = json.loads((folder / "all_results.json").read_text())
    assert results == saved
    union = {}
    for split in TRAINER_SPLITS:
        path = folder / f"{split}_results.json"
        assert path.exists() == (split in splits), path
        if path.exists():
            part = json.loads(path.read_text())
            assert part and not set(part) & set(union)
            union.update(part)
    assert union == results


def test_char_gpt_steps_write_trainer_results(tmp_path, capsys):
    people = ["Ann Lee", "Bo Chan", "Cy Dorn", "Di Eck", "Ed Fox", "Flo Gu"]
    places = ["Paris", "London", "Rome", "London", "Oslo", "Lima"]
    data = write_birthplace_data(tmp_path / "data", people, places, train=slice(0, 4), dev=slice(2, None))
    tiny = [
        "--data_dir",
        str(data),
        "--n_layer",
        "1",
        "--n_embd",
        "16",
        "--n_head",
        "2",
        "--report_to",
        "none",
    ]
    presets = ROOT / "recipes" / "char_gpt" / "presets"
    run_command(
        ["pretrain", "vanilla", "wiki.txt", *tiny, "--max_steps", "2", "--per_device_train_batch_size", "4"]
        + ["--output_dir", str(tmp_path / "r1"), "--writing_params_path", str(tmp_path / "pre")],
        presets,
    )
    assert_trainer_files_match_metrics(tmp_path / "r1", {"train"})
    metrics = run_command(
        ["finetune", "vanilla", "wiki.txt", *tiny, "--reading_params_path", str(tmp_path / "pre")]
        + ["--max_steps", "2", "--per_device_train_batch_size", "2", "--output_dir", str(tmp_path / "r2")]
        + ["--writing_params_path", str(tmp_path / "ft")],
        presets,
    )
    assert_trainer_files_match_metrics(tmp_path / "r2", {"train", "eval"})
    evaluated = json.loads((tmp_path / "r2" / "eval_results.json").read_text())
    assert {k for k in evaluated if k.endswith("_accuracy")} and set(evaluated) <= set(metrics)
    assert "***** eval metrics *****" in capsys.readouterr().out


def test_addsub_recipe_writes_trainer_results(tmp_path):
    recipe = load_script("recipes/addsub/train.py", "addsub_train")
    out = tmp_path / "run"
    tiny = ["--emb_dim", "16", "--num_heads", "2", "--feedforward_dim", "16", "--encoder_layers", "1"]
    tiny += ["--decoder_layers", "1", "--max_train_examples", "64", "--max_eval_examples", "16"]
    tiny += ["--evaluate_exhaustive", "false", "--report_to", "none", "--save_strategy", "no"]
    recipe.main(["--output_dir", str(out), "--max_steps", "2", *tiny])
    assert_trainer_files_match_metrics(out, {"train", "eval", "test"})
    assert "test_exact_match" in json.loads((out / "test_results.json").read_text())


def test_lstm_lm_recipe_writes_trainer_results(tmp_path):
    from tests.test_data_wikitext import write_wikitext

    recipe = load_script("recipes/lstm_lm/train.py", "lstm_lm_train")
    write_wikitext(tmp_path / "data", n_valid=8, n_test=6)
    out = tmp_path / "out"
    argv = ["--data_dir", str(tmp_path / "data"), "--output_dir", str(out), "--block_size", "8"]
    argv += ["--num_train_epochs", "1", "--embedding_size", "8", "--hidden_size", "8", "--report_to", "none"]
    argv += ["--validation_articles", "2", "--num_continuations", "2", "--save_strategy", "no"]
    recipe.main(argv)
    assert_trainer_files_match_metrics(out, {"train", "eval", "test"})
    assert "test_perplexity" in json.loads((out / "test_results.json").read_text())


def test_multitask_recipe_writes_trainer_results(tmp_path, backbone_dir):
    recipe = load_recipe("train")
    data_dir = write_minbert_dir(tmp_path / "data")
    out = tmp_path / "run"
    recipe.main(
        ["--task", "multitask", "--backbone", str(backbone_dir), "--data_dir", str(data_dir)]
        + ["--output_dir", str(out), "--epochs", "1", "--batch_size", "8", "--report_to", "none"]
    )
    assert_trainer_files_match_metrics(out, {"train", "eval"})
    assert "eval_overall" in json.loads((out / "eval_results.json").read_text())
