"""The pretrained checkpoint shipped as package data: complete, loadable with every weight, and carrying
the current model code (its folder holds copies of the family's files for `trust_remote_code`)."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.checkpoints import checkpoint_path

FAMILY = Path(hfmodels.__file__).parent / "char_gpt"


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
