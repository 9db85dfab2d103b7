"""The pretrained checkpoint shipped as package data: complete, loadable with every weight, carrying the
current model code (its folder holds copies of the family's files for `trust_remote_code`) and the fast
tokenizer."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from remote_code import results_without_hfmodels
from transformers import AutoModelForCausalLM, AutoTokenizer

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.char_gpt import MASK_CHAR, CharGPTConfig, CharTokenizer, CharTokenizerFast
from hfmodels.checkpoints import checkpoint_path, export_checkpoint

FAMILY = Path(hfmodels.__file__).parent / "char_gpt"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Run where `import hfmodels` is impossible (`tests/remote_code.py`): only the folder's own code loads.
#: The card's section the export writes; the shipped card adds one paragraph to it, first: where and
#: when the run went, which the export cannot know.
PRODUCED = "## How this checkpoint was produced\n\n"
TOKENIZER_WITHOUT_HFMODELS = """
import sys

from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
results = {
    "class": type(tokenizer).__name__,
    "module": type(tokenizer).__module__,
    "eos_token": tokenizer.eos_token,
    "model_max_length": tokenizer.model_max_length,
    "ids": tokenizer(sys.argv[2], truncation=True).input_ids,
}
"""


def test_the_shipped_checkpoint_loads_every_weight_and_answers():
    folder = Path(checkpoint_path())
    model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched weights
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer) == model.config.vocab_size == 256
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20  # bf16 on disk
    prompt = tokenizer(["Where was Alan Turing born?\u2047"], return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=20, do_sample=False)
    assert out.shape[1] > prompt.input_ids.shape[1]


def test_the_shipped_checkpoint_carries_the_current_model_code():
    """A model change must be followed by re-exporting the checkpoint (`make pretrained-checkpoint`)."""
    folder = Path(checkpoint_path())
    copies = sorted(p.name for p in folder.glob("*.py"))
    assert copies, f"{folder} has no model code for trust_remote_code"
    for name in copies:
        assert (folder / name).read_text() == (FAMILY / name).read_text(), f"{folder / name} is out of date"


def test_the_shipped_checkpoint_carries_the_fast_tokenizer_with_the_models_limit(tmp_path):
    """AutoTokenizer gives `CharTokenizerFast` with and without hfmodels: eos ⁇, `model_max_length` the
    model's `max_input_length`, and `truncation=True` cuts a long text to what the model accepts."""
    folder = Path(checkpoint_path())
    config = CharGPTConfig.from_pretrained(folder)
    limit = config.max_input_length
    assert {"tokenizer.json", "vocab.json", "tokenizer_config.json"} <= {p.name for p in folder.iterdir()}
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tokenizer_config["auto_map"]["AutoTokenizer"] == [
        "tokenization_char_gpt.CharTokenizer",
        "tokenization_char_gpt.CharTokenizerFast",
    ]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer) is CharTokenizerFast
    assert tokenizer.eos_token == MASK_CHAR and tokenizer.eos_token_id == config.eos_token_id
    assert tokenizer.model_max_length == limit
    text = "Where was Alan Turing born?\u2047" * 10
    whole = tokenizer(text).input_ids
    assert len(whole) > limit
    cut = tokenizer(text, truncation=True, return_tensors="pt")
    assert cut.input_ids[0].tolist() == whole[:limit]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        assert model(**cut).logits.shape == (1, limit, config.vocab_size)
        with pytest.raises(ValueError, match=f"at most {limit} positions"):
            model(torch.tensor([whole]))
    assert CharTokenizer.from_pretrained(folder)(text).input_ids == whole  # the slow class still reads it

    got = results_without_hfmodels(TOKENIZER_WITHOUT_HFMODELS, [str(folder), text], tmp_path)
    assert got["class"] == "CharTokenizerFast" and got["module"].startswith("transformers_modules"), got
    assert (got["eos_token"], got["model_max_length"]) == (MASK_CHAR, limit)
    assert got["ids"] == whole[:limit]


def _card_metrics(card: str) -> dict:
    """The metric/value rows of a card's "Metrics" table, as numbers where they read as numbers."""
    rows = card.split("## Metrics\n\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    metrics = {}
    for row in rows:
        name, value = (cell.strip() for cell in row.strip("|").split("|"))
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                pass
        metrics[name] = value
    return metrics


def test_the_shipped_card_is_what_a_fresh_export_writes(tmp_path):
    """`export_checkpoint` of the shipped folder itself (its config, its card's metrics and commands)
    writes the shipped card in the current template (its Use section loads with `trust_remote_code`),
    but for the one paragraph the shipped card adds saying where and when the run went."""
    folder = Path(checkpoint_path())
    card = (folder / "README.md").read_text(encoding="utf-8")
    (export_command,) = re.findall(r"```\n(python recipes/char_gpt/run.py export_checkpoint .*)\n```", card)
    source = tmp_path / "vanilla.pretrain.params"
    shutil.copytree(folder, source)
    (source / "metrics.json").write_text(json.dumps(_card_metrics(card)))
    fresh = export_checkpoint(source, tmp_path / folder.name, export_command=export_command)
    written = (fresh / "README.md").read_text(encoding="utf-8")
    run_note = card.split(PRODUCED, 1)[1].split("\n\n", 1)[0]
    assert "make pretrained-checkpoint" in run_note and re.search(r"\d{4}-\d\d-\d\d", run_note), run_note
    assert card.replace(PRODUCED + run_note + "\n\n", PRODUCED) == written, (
        f"{folder / 'README.md'} is not the card a fresh export writes: re-render it with "
        "export_checkpoint, keeping the paragraph of how the run went"
    )
    assert "trust_remote_code=True" in card.split("## Use", 1)[1].split("## ", 1)[0]
    final_loss = _card_metrics(card)["pretrain_final_logged_loss"]
    assert f"Final logged training loss {final_loss:.3f}." in run_note  # the note quotes the table


@pytest.mark.skipif(not (SHARED / "cs224n-a5").is_dir(), reason="the cs224n-a5 data is not present")
def test_the_evaluator_answers_the_same_with_the_fast_and_the_slow_tokenizer():
    from hfmodels.data import read_birthplace_file
    from hfmodels.evaluation.birthplaces import greedy_decode

    folder = Path(checkpoint_path())
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    questions = read_birthplace_file(SHARED / "cs224n-a5" / "birth_dev.tsv")["question"][:50]
    fast = greedy_decode(model, AutoTokenizer.from_pretrained(folder), questions, bf16=False)
    slow = greedy_decode(model, CharTokenizer.from_pretrained(folder), questions, bf16=False)
    assert len(fast) == 50 and any(p.text for p in fast)
    assert fast == slow
