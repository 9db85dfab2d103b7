"""Saved AddSub and LSTM LM folders load as remote code: in a fresh interpreter where `import hfmodels`
is impossible, `AutoConfig`, `AutoModelForSeq2SeqLM` / `AutoModelForCausalLM` and `AutoTokenizer`
load them with `trust_remote_code=True` (offline, `tests/remote_code.py`) and give exactly the token
ids, logits, losses and greedy generations hfmodels gives in this process; a folder without
`auto_map` does not load there.
The AddSub folder carries the from-scratch blocks as `blocks_addsub.py`, a copy of the package's
`hfmodels/from_scratch/blocks.py`. The char GPT card's Use code runs there too (the AddSub and LSTM
cards' run in `tests/test_hub_push.py`, on the pushed folders)."""

import json
from pathlib import Path

import torch
from remote_code import copy_without_auto_map, results_without_hfmodels, run_without_hfmodels
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

import hfmodels.addsub
import hfmodels.from_scratch
import hfmodels.lstm_lm
from hfmodels.addsub import AddSubConfig, AddSubTokenizer, AddSubTransformerForConditionalGeneration
from hfmodels.lstm_lm import LstmLMConfig, LstmLMForCausalLM, LstmLMTokenizer

EXPRESSIONS = [
    "BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS",
    "BOS POSITIVE 1 2 add POSITIVE 0 5 EOS",
    "BOS POSITIVE 5 0 subtract POSITIVE 7 5 EOS",
    "BOS NEGATIVE 0 9 add POSITIVE 0 9 EOS",
]
ANSWERS = ["POSITIVE 0 4 EOS", "POSITIVE 1 7 EOS", "NEGATIVE 2 5 EOS", "POSITIVE 0 0 EOS"]
TEXTS = ["the cat sat on the mat\nthe dog sat on the log", "a cat and a dog ran to the mat"]
PROMPTS = ["the cat sat on", "a dog ran to"]  # four words each: equal lengths, no padding

ADDSUB_CODE = ("configuration_addsub.py", "modeling_addsub.py", "blocks_addsub.py", "tokenization_addsub.py")
LSTM_CODE = ("configuration_lstm_lm.py", "modeling_lstm_lm.py", "tokenization_lstm_lm.py")
AUTO_MAPS = {
    "addsub": (
        {
            "AutoConfig": "configuration_addsub.AddSubConfig",
            "AutoModelForSeq2SeqLM": "modeling_addsub.AddSubTransformerForConditionalGeneration",
        },
        {"AutoTokenizer": ["tokenization_addsub.AddSubTokenizer", None]},
    ),
    "lstm": (
        {
            "AutoConfig": "configuration_lstm_lm.LstmLMConfig",
            "AutoModelForCausalLM": "modeling_lstm_lm.LstmLMForCausalLM",
        },
        {"AutoTokenizer": ["tokenization_lstm_lm.LstmLMTokenizer", None]},
    ),
}

REMOTE_CODE_LOAD = """
import json
import sys

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

addsub, lstm = sys.argv[1:3]
expressions, answers, prompts = (json.loads(arg) for arg in sys.argv[3:6])
results = {}

config = AutoConfig.from_pretrained(addsub, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(addsub, trust_remote_code=True)
model = AutoModelForSeq2SeqLM.from_pretrained(addsub, trust_remote_code=True).eval()
enc = tokenizer(expressions, return_tensors="pt")
labels = torch.tensor(tokenizer(answers)["input_ids"])
with torch.no_grad():
    out = model(**enc, labels=labels)
generated = model.generate(**enc, max_new_tokens=4, do_sample=False)
model.save_pretrained(addsub + "-resaved")  # as a user without hfmodels would after fine-tuning
with torch.no_grad():
    resaved = AutoModelForSeq2SeqLM.from_pretrained(addsub + "-resaved", trust_remote_code=True).eval()
    resaved_logits = resaved(**enc, labels=labels).logits
results["addsub"] = dict(
    classes=[type(o).__module__ + "." + type(o).__name__ for o in (config, tokenizer, model)],
    input_ids=enc["input_ids"],
    logits=out.logits,
    loss=out.loss,
    generated=generated,
    answers=tokenizer.batch_decode(generated),
    resaved_logits=resaved_logits,
)

config = AutoConfig.from_pretrained(lstm, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(lstm, trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained(lstm, trust_remote_code=True).eval()
ids = tokenizer(prompts, return_tensors="pt").input_ids
with torch.no_grad():
    out = model(ids, labels=ids)
generated = model.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=None)
results["lstm"] = dict(
    classes=[type(o).__module__ + "." + type(o).__name__ for o in (config, tokenizer, model)],
    input_ids=ids,
    logits=out.logits,
    loss=out.loss,
    generated=generated,
    continuations=tokenizer.batch_decode(generated),
)
bare = AutoModel.from_pretrained(lstm + "-bare", trust_remote_code=True).eval()
with torch.no_grad():
    results["lstm"]["bare"] = bare(ids).last_hidden_state

for name, auto in (("addsub", AutoModelForSeq2SeqLM), ("lstm", AutoModelForCausalLM)):
    folder = {"addsub": addsub, "lstm": lstm}[name] + "-no-auto-map"
    try:
        auto.from_pretrained(folder, trust_remote_code=True)
        results[name + "_no_auto_map"] = "loaded"
    except (ValueError, KeyError) as error:
        results[name + "_no_auto_map"] = str(error)
"""


def _addsub_folder(folder: Path) -> dict:
    """A tiny AddSub model (seeded, no dropout) and its tokenizer saved to `folder`; returns what
    hfmodels gives for the expressions: ids, logits, loss, greedy answers."""
    torch.manual_seed(0)
    config = AddSubConfig(
        emb_dim=16, num_heads=2, feedforward_dim=16, encoder_layers=2, decoder_layers=2, dropout=0.0
    )
    model = AddSubTransformerForConditionalGeneration(config).eval()
    tokenizer = AddSubTokenizer()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    enc = tokenizer(EXPRESSIONS, return_tensors="pt")
    labels = torch.tensor(tokenizer(ANSWERS)["input_ids"])
    with torch.no_grad():
        out = model(**enc, labels=labels)
    generated = model.generate(**enc, max_new_tokens=4, do_sample=False)
    return dict(
        input_ids=enc["input_ids"],
        logits=out.logits,
        loss=out.loss,
        generated=generated,
        answers=tokenizer.batch_decode(generated),
    )


def _lstm_folder(folder: Path) -> dict:
    """A tiny tied LSTM LM and its word tokenizer saved to `folder`; returns what hfmodels gives for
    the prompts: ids, logits, loss, greedy continuations."""
    torch.manual_seed(0)
    tokenizer = LstmLMTokenizer.from_texts(TEXTS)
    config = LstmLMConfig(
        vocab_size=len(tokenizer), embedding_size=8, hidden_size=12, tie_word_embeddings=True
    )
    model = LstmLMForCausalLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.model.save_pretrained(folder.with_name(folder.name + "-bare"))  # the AutoModel class
    ids = tokenizer(PROMPTS, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model(ids, labels=ids)
        bare = model.model(ids).last_hidden_state
    generated = model.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=None)
    return dict(
        bare=bare,
        input_ids=ids,
        logits=out.logits,
        loss=out.loss,
        generated=generated,
        continuations=tokenizer.batch_decode(generated),
    )


def _check_folder(folder: Path, name: str, code: tuple[str, ...], package: Path) -> None:
    """`auto_map` in both configs, and the copied code is the package's current files."""
    config_map, tokenizer_map = AUTO_MAPS[name]
    assert json.loads((folder / "config.json").read_text())["auto_map"] == config_map
    assert json.loads((folder / "tokenizer_config.json").read_text())["auto_map"] == tokenizer_map
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(code)
    for file in code:
        source = package / file
        if file == "blocks_addsub.py":  # the blocks' defining file, not the package's re-export
            source = Path(hfmodels.from_scratch.__file__).parent / "blocks.py"
        assert (folder / file).read_bytes() == source.read_bytes(), f"{folder / file} differs from {source}"


def test_saved_folders_load_score_and_generate_identically_without_hfmodels(tmp_path):
    addsub, lstm = tmp_path / "addsub", tmp_path / "lstm"
    expected = {"addsub": _addsub_folder(addsub), "lstm": _lstm_folder(lstm)}
    _check_folder(addsub, "addsub", ADDSUB_CODE, Path(hfmodels.addsub.__file__).parent)
    _check_folder(lstm, "lstm", LSTM_CODE, Path(hfmodels.lstm_lm.__file__).parent)
    copy_without_auto_map(addsub)
    copy_without_auto_map(lstm)

    lists = [json.dumps(x) for x in (EXPRESSIONS, ANSWERS, PROMPTS)]
    got = results_without_hfmodels(REMOTE_CODE_LOAD, [str(addsub), str(lstm), *lists], tmp_path)
    assert "addsub" in got["addsub_no_auto_map"], got["addsub_no_auto_map"]
    assert "lstm_lm" in got["lstm_no_auto_map"], got["lstm_no_auto_map"]
    classes = {
        "addsub": ["AddSubConfig", "AddSubTokenizer", "AddSubTransformerForConditionalGeneration"],
        "lstm": ["LstmLMConfig", "LstmLMTokenizer", "LstmLMForCausalLM"],
    }
    for name, want in expected.items():
        have = got[name]
        assert all(c.startswith("transformers_modules.") for c in have["classes"]), have["classes"]
        assert [c.rpartition(".")[2] for c in have["classes"]] == classes[name]
        for key, value in want.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(have[key], value), (name, key)
            else:
                assert have[key] == value, (name, key)
    assert [a.split()[0] for a in expected["addsub"]["answers"]] == ["BOS"] * len(EXPRESSIONS)
    assert all(len(c.split()) == 4 + 6 for c in expected["lstm"]["continuations"])
    # Saved again from the remote code: the same blocks file and the same logits.
    resaved = tmp_path / "addsub-resaved"
    assert (resaved / "blocks_addsub.py").read_bytes() == (addsub / "blocks_addsub.py").read_bytes()
    assert torch.equal(got["addsub"]["resaved_logits"], expected["addsub"]["logits"])
    # With hfmodels imported, the same folders load the installed classes (no remote code).
    assert type(AutoModelForSeq2SeqLM.from_pretrained(addsub)) is AddSubTransformerForConditionalGeneration
    assert type(AutoModelForCausalLM.from_pretrained(lstm)) is LstmLMForCausalLM
    # The bare model's folder names its class for AutoModel (beside the entries its shared config had).
    bare_map = json.loads((tmp_path / "lstm-bare" / "config.json").read_text())["auto_map"]
    assert bare_map["AutoModel"] == "modeling_lstm_lm.LstmLMModel"


def test_char_gpt_card_use_section_runs_on_the_shipped_checkpoint_without_hfmodels(tmp_path):
    """The char GPT card template's Use code (no template fields in it) on the shipped checkpoint,
    in an interpreter without hfmodels: it loads with `trust_remote_code=True` and prints the
    greedy answer `greedy_decode` gives (the study's decoding, here with hfmodels)."""
    from hfmodels.checkpoints import checkpoint_path
    from hfmodels.evaluation.birthplaces import greedy_decode
    from hfmodels.reporting import template_path

    template = template_path("char_gpt").read_text(encoding="utf-8")
    code = template.split("## Use", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "{{" not in code and "path/to/this/folder" in code
    folder = checkpoint_path()
    printed = run_without_hfmodels(code.replace("path/to/this/folder", str(folder)), [], tmp_path)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    (expected,) = greedy_decode(model, tokenizer, ["Where was Alan Turing born?"], bf16=False)
    assert printed == expected.text + "\n"
