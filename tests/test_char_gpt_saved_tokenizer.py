"""The tokenizer of the folders the char_gpt recipes write: `CharTokenizerFast` with `tokenizer.json` and
`vocab.json`, `eos_token` ⁇ and `model_max_length` the model's `config.max_input_length`, loadable with
`trust_remote_code=True` where hfmodels is not installed (docs/conventions.md, "The tokenizer")."""

import json
import os

import torch
from remote_code import results_without_hfmodels
from scripts import ROOT, write_birthplace_data
from transformers import AutoModelForCausalLM, AutoTokenizer

from hfmodels.char_gpt import MASK_CHAR, CharGPTConfig, CharTokenizer, CharTokenizerFast
from hfmodels.checkpoints import checkpoint_path
from hfmodels.training.char_gpt_cli import run_command

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PRESETS = ROOT / "recipes" / "char_gpt" / "presets"
PEOPLE = ["Ann Lee", "Bo Chan", "Cy Dorn", "Di Eck", "Ed Fox", "Flo Gu"]
PLACES = ["Paris", "London", "Rome", "London", "Oslo", "Lima"]
MAX_NEW_TOKENS = 40
# Run where `import hfmodels` is impossible (`tests/remote_code.py`): only the folder's own code loads.
WITHOUT_HFMODELS = """
import json
import sys

from transformers import AutoTokenizer, pipeline

folder, prompts, max_new_tokens = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
generator = pipeline("text-generation", model=folder, trust_remote_code=True)
outputs = [
    generator(p, max_new_tokens=max_new_tokens, do_sample=False, return_tensors=True)[0]["generated_token_ids"]
    for p in prompts
]
results = {
    "class": type(tokenizer).__name__,
    "module": type(tokenizer).__module__,
    "pipeline_tokenizer": type(generator.tokenizer).__name__,
    "eos_token": tokenizer.eos_token,
    "model_max_length": tokenizer.model_max_length,
    "generated": [list(map(int, ids)) for ids in outputs],
}
"""


def _data(tmp_path):
    return write_birthplace_data(tmp_path / "data", PEOPLE, PLACES, train=slice(0, 4), dev=slice(2, None))


def _assert_fast_tokenizer_files(folder, limit):
    assert (folder / "tokenizer.json").is_file() and (folder / "vocab.json").is_file(), sorted(
        folder.iterdir()
    )
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["eos_token"] == MASK_CHAR and config["model_max_length"] == limit
    assert config["auto_map"]["AutoTokenizer"] == [
        "tokenization_char_gpt.CharTokenizer",
        "tokenization_char_gpt.CharTokenizerFast",
    ]
    assert "vocab" not in config  # the vocabulary lives in tokenizer.json and vocab.json only


def test_pretraining_writes_the_fast_tokenizer_with_the_models_limit(tmp_path):
    """The synthesizer accepts `block_size - 1` positions: the saved limit is the model's, not the block's;
    the Trainer's checkpoints carry the same tokenizer."""
    data = _data(tmp_path)
    tiny = ["--n_layer", "2", "--n_embd", "16", "--n_head", "2", "--block_size", "32", "--report_to", "none"]
    run_command(
        ["pretrain", "synthesizer", "wiki.txt", "--data_dir", str(data), *tiny, "--max_steps", "1"]
        + ["--per_device_train_batch_size", "4", "--save_steps", "1", "--output_dir", str(tmp_path / "run")]
        + ["--writing_params_path", str(tmp_path / "model")],
        PRESETS,
    )
    folder = tmp_path / "model"
    limit = CharGPTConfig.from_pretrained(folder).max_input_length
    assert limit == 31
    _assert_fast_tokenizer_files(folder, limit)
    _assert_fast_tokenizer_files(tmp_path / "run" / "checkpoint-1", limit)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer) is CharTokenizerFast and tokenizer.model_max_length == limit
    text = (data / "cs224n-a5" / "wiki.txt").read_text(encoding="utf-8")
    assert len(tokenizer(text, truncation=True).input_ids) == limit
    assert CharTokenizer.from_pretrained(folder)(text).input_ids == tokenizer(text).input_ids


def test_a_finetuned_folder_generates_through_a_pipeline_without_hfmodels(tmp_path):
    """AutoTokenizer and `pipeline("text-generation")` with `trust_remote_code=True` in an interpreter
    without hfmodels: `CharTokenizerFast`, and greedy outputs that stop at ⁇ and equal `generate` here."""
    folder = tmp_path / "ft"
    run_command(
        ["finetune", "vanilla", "wiki.txt", "--data_dir", str(_data(tmp_path))]
        + ["--reading_params_path", str(checkpoint_path()), "--writing_params_path", str(folder)]
        + ["--output_dir", str(tmp_path / "run"), "--max_steps", "4", "--report_to", "none"]
        + ["--eval_after_finetune", "False", "--save_strategy", "no"],
        PRESETS,
    )
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    _assert_fast_tokenizer_files(folder, model.config.max_input_length)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompts = [f"Where was {p} born?{MASK_CHAR}" for p in PEOPLE]
    expected = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)[0].tolist()
        assert out[-1] == tokenizer.eos_token_id and len(out) < ids.shape[1] + MAX_NEW_TOKENS, out
        expected.append(out)

    got = results_without_hfmodels(
        WITHOUT_HFMODELS, [str(folder), json.dumps(prompts), str(MAX_NEW_TOKENS)], tmp_path
    )
    assert got["class"] == got["pipeline_tokenizer"] == "CharTokenizerFast", got
    assert got["module"].startswith("transformers_modules"), got["module"]
    assert (got["eos_token"], got["model_max_length"]) == (MASK_CHAR, model.config.max_input_length)
    assert got["generated"] == expected
