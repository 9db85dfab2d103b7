"""Word-level tokenizer of the LSTM language model: a `tokenizers` WordLevel model over
whitespace-split words, `<unk>` for words outside the vocabulary and `<eol>` for every line end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

UNK_TOKEN = "<unk>"
EOL_TOKEN = "<eol>"


def split_words(text: str) -> list[str]:
    """The tokenizer's word split in plain Python: every line end becomes `<eol>`, then whitespace
    splits (WikiText is already tokenised, so words are the space-separated strings)."""
    return text.replace("\n", f" {EOL_TOKEN} ").split()


class LstmLMTokenizer(PreTrainedTokenizerFast):
    """A `PreTrainedTokenizerFast` over a `tokenizers` WordLevel model: a newline normaliser that
    writes ` <eol> ` for each line end, a whitespace pre-tokeniser and `<unk>` for unknown words.

    Build one from training text with [`LstmLMTokenizer.from_texts`]; `save_pretrained` writes
    `tokenizer.json` (and, for remote code, this file), and `AutoTokenizer.from_pretrained` loads it
    back (after `import hfmodels`, or with `trust_remote_code=True`).
    `<eol>` is also the end-of-sequence and padding token."""

    model_input_names = ["input_ids"]

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> LstmLMTokenizer:
        """A tokenizer whose vocabulary is `<unk>`, `<eol>`, then every word of `texts` seen at least
        `min_count` times, most frequent first (ties in alphabetical order, so the ids are
        deterministic)."""
        counts = Counter()
        for text in texts:
            counts.update(split_words(text))
        return cls.from_word_counts(counts, min_count=min_count)

    @classmethod
    def from_word_counts(cls, counts: Counter, min_count: int = 1) -> LstmLMTokenizer:
        """A tokenizer over the words of `counts` seen at least `min_count` times (see `from_texts`)."""
        words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        vocab = {UNK_TOKEN: 0, EOL_TOKEN: 1}
        for word in words:
            vocab.setdefault(word, len(vocab))
        backend = Tokenizer(WordLevel(vocab, unk_token=UNK_TOKEN))
        backend.normalizer = normalizers.Replace(Regex(r"\r?\n"), f" {EOL_TOKEN} ")
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        return cls(tokenizer_object=backend, unk_token=UNK_TOKEN, eos_token=EOL_TOKEN, pad_token=EOL_TOKEN)

    def count_unknown(self, texts: Iterable[str]) -> tuple[int, int]:
        """(words outside the vocabulary, all words) in `texts`, `<eol>` included in the total and
        literal `<unk>` words not counted as unknown (they are already WikiText's `<unk>`)."""
        vocab = self.get_vocab()
        unknown = total = 0
        for text in texts:
            words = split_words(text)
            total += len(words)
            unknown += sum(1 for w in words if w not in vocab)
        return unknown, total


# `save_pretrained` writes `auto_map` in tokenizer_config.json and copies this file, so a saved
# folder's tokenizer loads with `trust_remote_code=True` where hfmodels is not installed.
LstmLMTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["EOL_TOKEN", "UNK_TOKEN", "LstmLMTokenizer", "split_words"]
