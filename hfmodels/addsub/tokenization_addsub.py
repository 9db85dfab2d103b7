"""The AddSub tokenizer: the course's 16-token vocabulary plus padding (docs/addsub.md, "The task")."""

from __future__ import annotations

from transformers import PreTrainedTokenizer

#: Ids 0–9 are the digits, then the six words of the course, then padding (id 16).
ADDSUB_TOKENS = (*[str(d) for d in range(10)], "POSITIVE", "NEGATIVE", "add", "subtract", "BOS", "EOS")
PAD_TOKEN = "PAD"


class UnknownAddSubTokenError(ValueError):
    """A word that is not one of the AddSub vocabulary's tokens (raised, never mapped to an id)."""


class AddSubTokenizer(PreTrainedTokenizer):
    """Whitespace-separated words of the AddSub vocabulary, one id each:
    `0`…`9` → 0…9, `POSITIVE` 10, `NEGATIVE` 11, `add` 12, `subtract` 13, `BOS` 14, `EOS` 15,
    `PAD` 16. The vocabulary is fixed, so no vocabulary file is needed: `save_pretrained` writes
    the tokenizer config and, for remote code, this file. Texts carry their own `BOS`/`EOS`
    (nothing is added around them); a word outside the vocabulary raises
    [`UnknownAddSubTokenError`] naming it."""

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, bos_token="BOS", eos_token="EOS", pad_token=PAD_TOKEN, **kwargs):
        self.token_to_id = {tok: i for i, tok in enumerate((*ADDSUB_TOKENS, PAD_TOKEN))}
        self.id_to_token = {i: tok for tok, i in self.token_to_id.items()}
        for name, tok in (("bos_token", bos_token), ("eos_token", eos_token), ("pad_token", pad_token)):
            if str(tok) not in self.token_to_id:
                raise ValueError(f"AddSubTokenizer: {name}={tok!r} is not in the AddSub vocabulary.")
        kwargs.setdefault("padding_side", "right")
        super().__init__(bos_token=bos_token, eos_token=eos_token, pad_token=pad_token, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.token_to_id)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.token_to_id)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return text.split()

    def _convert_token_to_id(self, token: str) -> int:
        if token not in self.token_to_id:
            raise UnknownAddSubTokenError(
                f"{token!r} is not an AddSub token (expected one of {', '.join(self.token_to_id)})."
            )
        return self.token_to_id[token]

    def _convert_id_to_token(self, index: int) -> str:
        if index not in self.id_to_token:
            raise ValueError(f"id {index} is outside the AddSub vocabulary (0..{self.vocab_size - 1}).")
        return self.id_to_token[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()


# `save_pretrained` writes `auto_map` in tokenizer_config.json and copies this file, so a saved
# folder's tokenizer loads with `trust_remote_code=True` where hfmodels is not installed.
AddSubTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["ADDSUB_TOKENS", "PAD_TOKEN", "AddSubTokenizer", "UnknownAddSubTokenError"]
