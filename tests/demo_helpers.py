"""Tiny saved model folders of every family for the demo tests, a tiny pretraining corpus, and the
reference answer computed with plain `generate()`."""

from pathlib import Path

import torch
from multitask_helpers import make_tokenizer, model_of

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.addsub import AddSubConfig, AddSubTokenizer, AddSubTransformerForConditionalGeneration
from hfmodels.char_gpt import MASK_CHAR, CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.lstm_lm import LstmLMConfig, LstmLMForCausalLM, LstmLMTokenizer

CORPUS = [
    "Ada Lovelace was an English mathematician born in London in 1815.",
    "Alan Turing was a computer scientist. He was born in Maida Vale, London.",
    "Marie Curie was a physicist and chemist born in Warsaw.",
]
LSTM_TEXT = ["the game was played in the rain", "the team won the game", "a player was born in the city"]


def write_corpus(folder: Path) -> Path:
    """wiki.txt-style corpus: one document per line."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wiki.txt"
    path.write_text("".join(doc + "\n" for doc in CORPUS), encoding="utf-8")
    return path


def save_char_gpt(folder: Path, variant: str = "vanilla", seed: int = 0, block_size: int = 48) -> Path:
    """A seeded 2-layer character GPT with a vocabulary of the corpus plus the question's characters."""
    tokenizer = CharTokenizer.from_corpus(CORPUS + ["Where was born? XYZQ"])
    torch.manual_seed(seed)
    config = CharGPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=block_size,
        n_layer=2,
        n_head=2,
        n_embd=16,
        attention_type=variant,
        bottleneck_dim=8,
    )
    CharGPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_multitask_bert(folder: Path) -> Path:
    model_of().save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def save_addsub(folder: Path) -> Path:
    torch.manual_seed(0)
    config = AddSubConfig(
        emb_dim=16, num_heads=2, feedforward_dim=16, encoder_layers=1, decoder_layers=1, dropout=0.0
    )
    AddSubTransformerForConditionalGeneration(config).save_pretrained(folder)
    AddSubTokenizer().save_pretrained(folder)
    return folder


def save_lstm_lm(folder: Path) -> Path:
    tokenizer = LstmLMTokenizer.from_texts(LSTM_TEXT)
    torch.manual_seed(0)
    config = LstmLMConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=12, num_hidden_layers=2)
    LstmLMForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def reference_answer(folder: Path, question: str) -> str:
    """The greedy `generate()` answer of the saved folder, as the library's evaluation reads it:
    the text before the next ⁇."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = torch.tensor([tokenizer(question + MASK_CHAR)["input_ids"]])
    steps = min(32, model.config.max_input_length - prompt.shape[1])
    with torch.no_grad():
        out = model.generate(
            prompt, max_new_tokens=steps, do_sample=False, eos_token_id=tokenizer.mask_token_id
        )
    text = "".join(tokenizer.convert_ids_to_tokens(out[0, prompt.shape[1] :].tolist()))
    return text.split(MASK_CHAR)[0]
