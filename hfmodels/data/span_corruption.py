"""Span corruption of the pretraining corpus (docs/definitions.md, "Span corruption").

[`draw_spans`] draws a whole batch's truncation, masked and prefix lengths at once;
[`SpanCorruptionCollator`] builds the corrupted examples `prefix⁇suffix⁇masked` with numpy index
arithmetic and lays them out with [`layout_batch`] (right-padded or packed).
[`ResumableSpanCorruptionCollator`] seeds every batch from its content, so that an interrupted
and resumed `Trainer` run draws exactly what the uninterrupted run draws.

Conventions (they reproduce the original loss exactly): an example is an unpadded string `s`;
`input_ids = ids(s)` and `labels = ids(s)` with the first label -100 (nothing precedes it) and
padding -100, so that `Trainer`'s `num_items_in_batch` counts exactly the targets the loss uses
(the model shifts labels inside). The original's `x = padded(s)[:-1]`, `y = padded(s)[1:]` is
[`original_pair`]; `pad_to_block=True` gives the same shapes as the original (block_size - 1).

Corruption happens in the collator, so the corpus is never re-mapped per epoch. With `Trainer`,
either pass `remove_unused_columns=False` (the collator reads the `text` column of
`load_wiki_corpus`) or encode the corpus once with [`encode_wiki_corpus`] (column `input_ids`,
which `Trainer` keeps).

A resumed run would corrupt differently with a per-process RNG stream (a checkpoint does not hold
it, and the data loader's prefetching runs ahead of it). [`ResumableSpanCorruptionCollator`]
instead seeds every batch from `(seed, epoch, process rank, the batch's corpus line numbers)`:
`Trainer`'s sampler gives the same batches in the same epoch after a resume (it skips the batches
already trained on without collating them), so the draws are the same, and each epoch's new
shuffle gives new draws, as the original re-draws every time an example is read. Register
`hfmodels.training.resume.EpochCallback` so the collator knows the epoch.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset, Features, Value

from ..char_gpt import MASK_CHAR, PAD_CHAR, CharTokenizer, UnknownCharacterError
from .packing import layout_batch


def max_truncation_length(block_size: int) -> int:
    """int(block_size * 7 / 8): the largest truncation length L (112 for block 128)."""
    return int(block_size * 7 / 8)


def draw_spans(
    doc_lengths: np.ndarray | Sequence[int], block_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (truncated length L, masked length m, prefix length p) for each document, all at once.

    1. L is uniform over the integers [4, int(block_size * 7 / 8)], then capped by the document length.
    2. m is uniform over [1, h] where h is `max(1, L/2 - 1)` rounded down or up at random so that
       E[h] = L/2 - 1 exactly; hence E[m] = L/4 exactly for L >= 4, with m ranging from 1 to about
       L/2 (shorter and longer than L/4). For L <= 3 (documents shorter than 4), m = 1.
    3. p is uniform over [0, L - m], so every split `prefix + masked + suffix` with that m is possible
       (the prefix and the suffix may each be empty).
    """
    n = np.asarray(doc_lengths, dtype=np.int64)
    if n.size and n.min() < 1:
        raise ValueError(
            f"span corruption needs non-empty documents; got a document of length {int(n.min())}."
        )
    lengths = np.minimum(rng.integers(4, max_truncation_length(block_size) + 1, size=n.shape), n)
    h = np.maximum(1.0, lengths / 2.0 - 1.0)
    h_int = np.floor(h).astype(np.int64)
    h_int += rng.random(size=n.shape) < (h - h_int)
    masked = rng.integers(1, h_int + 1)
    prefix = rng.integers(0, lengths - masked + 1)
    return lengths, masked, prefix


def _corrupt_layout(lengths: np.ndarray, masked: np.ndarray, prefix: np.ndarray, width: int):
    """For each example and output position j < L + 2, the source index into the truncated
    document, or -1 where the output is MASK: the layout `prefix ⁇ suffix ⁇ masked`."""
    j = np.arange(width, dtype=np.int64)[None, :]
    L, m, p = lengths[:, None], masked[:, None], prefix[:, None]
    second_mask = L - m + 1
    src = np.where(j < p, j, np.where(j < second_mask, j - 1 + m, j - second_mask - 1 + p))
    src = np.where((j == p) | (j == second_mask), -1, src)
    valid = j < L + 2
    return np.where(valid, src, 0), valid


def process_rank() -> int:
    """This process's rank: torch.distributed's when initialised, else `$RANK`, else 0."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", 0))


def span_corrupt(doc: str, block_size: int, rng: np.random.Generator | int | None = None) -> str:
    """The span-corrupted, unpadded string `prefix⁇suffix⁇masked` for one document (docs/definitions.md, "Span corruption", steps
    1–3 before padding; see [`draw_spans`] for the distribution). `rng` is a numpy `Generator` or
    a seed. Pad and shift with [`original_pair`] to get the original (x, y)."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    (L,), (m,), (p,) = draw_spans([len(doc)], block_size, rng)
    L, m, p = int(L), int(m), int(p)
    truncated = doc[:L]
    return truncated[:p] + MASK_CHAR + truncated[p + m :] + MASK_CHAR + truncated[p : p + m]


def original_pair(s: str, block_size: int) -> tuple[str, str]:
    """The original dataset's (x, y) for an example string `s`: right-pad with □ to `block_size`,
    then x = padded[:-1], y = padded[1:] (both `block_size - 1` characters)."""
    if len(s) > block_size:
        raise ValueError(f"example of {len(s)} characters does not fit block_size {block_size}")
    padded = s + PAD_CHAR * (block_size - len(s))
    return padded[:-1], padded[1:]


class _CodepointTable:
    """Vectorised character -> id lookup (one numpy gather instead of a dict lookup per character)."""

    def __init__(self, tokenizer: CharTokenizer):
        vocab = tokenizer.get_vocab()
        self.size = max(ord(c) for c in vocab) + 1
        self.table = np.full(self.size, -1, dtype=np.int64)
        for char, index in vocab.items():
            self.table[ord(char)] = index
        self.vocab_size = len(vocab)
        # the tokenizer's rule for unknown characters: raise (default) or a replacement character
        unknown = getattr(tokenizer, "unknown_char", "error")
        self.replacement = -1 if unknown == "error" else vocab[unknown]

    def encode(self, text: str) -> np.ndarray:
        codepoints = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
        ids = self.table[np.minimum(codepoints, self.size - 1)]
        bad = (codepoints >= self.size) | (ids < 0)
        if bad.any() and self.replacement >= 0:
            ids[bad] = self.replacement
        elif bad.any():
            index = int(np.flatnonzero(bad)[0])
            char = text[index]
            raise UnknownCharacterError(
                f"character {char!r} (U+{ord(char):04X}) at index {index} is not in the vocabulary "
                f"of {self.vocab_size} characters"
            )
        return ids


class SpanCorruptionCollator:
    """`Trainer` data collator that span-corrupts documents afresh every time they are batched.

    Takes examples with a `text` column (the raw corpus of [`load_wiki_corpus`]) or an
    `input_ids` column holding a whole document's ids ([`encode_wiki_corpus`]). Returns
    `input_ids` and `labels` (see the module docstring for the conventions), and `position_ids`
    when `pack=True`.

    Args:
        tokenizer ([`CharTokenizer`]): the study's vocabulary.
        block_size (`int`, *optional*, defaults to 128): the model's block size; examples are at most
            int(block_size * 7/8) + 2 <= block_size - 1 tokens.
        pack (`bool`, *optional*, defaults to `False`): concatenate the batch's examples into rows of at
            most `block_size - 1` tokens (first-fit decreasing) with `position_ids` restarting
            at 0 at each example, which `CharGPTForCausalLM` uses to keep examples apart: the same
            examples and targets as the padded batch with about half the tokens. Not for the
            perceiver variant (it needs padded rows).
        pad_to_block (`bool`, *optional*, defaults to `False`): pad rows to `block_size - 1` (the
            original's shapes) rather than to the longest row of the batch.
        seed (`int`, *optional*): seed of the corruption RNG. If `None`, `torch.initial_seed()`
            (set by `Trainer`'s `seed`) is used. The process rank and the dataloader worker are
            mixed in, so workers and processes never repeat each other and a run is reproducible.

    Random numbers for a whole batch are drawn at once and the examples are assembled with numpy
    index arithmetic (no per-character Python loop).
    """

    def __init__(
        self,
        tokenizer: CharTokenizer,
        block_size: int = 128,
        pack: bool = False,
        pad_to_block: bool = False,
        seed: int | None = None,
    ):
        if max_truncation_length(block_size) + 2 > block_size - 1:
            raise ValueError(
                f"block_size {block_size} is too small: corrupted examples are up to int(block_size*7/8) + 2 = "
                f"{max_truncation_length(block_size) + 2} tokens, more than block_size - 1 = {block_size - 1}."
            )
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.pack = pack
        self.pad_to_block = pad_to_block
        self.seed = seed
        self.pad_id = tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        self._table = _CodepointTable(tokenizer)
        self._rng: np.random.Generator | None = None
        self._rng_key: tuple | None = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_rng"] = None  # a copy (e.g. in a dataloader worker) must seed its own stream
        state["_rng_key"] = None
        return state

    @property
    def rng(self) -> np.random.Generator:
        """The corruption RNG of this process / dataloader worker (created on first use)."""
        info = torch.utils.data.get_worker_info()
        key = (os.getpid(), info.id if info is not None else -1, torch.initial_seed(), process_rank())
        if self._rng is None or self._rng_key != key:
            # In a worker torch.initial_seed() is the loader's base seed + worker id: distinct per
            # worker (and per epoch for non-persistent workers), and derived from the Trainer seed.
            base = self.seed if self.seed is not None else torch.initial_seed()
            worker_seed = torch.initial_seed() if info is not None else 0
            entropy = [base, process_rank(), (info.id + 1) if info is not None else 0, worker_seed]
            self._rng = np.random.default_rng(np.random.SeedSequence(entropy))
            self._rng_key = key
        return self._rng

    def _documents(self, examples: Sequence[Mapping[str, Any]]):
        if not examples:
            raise ValueError("SpanCorruptionCollator got an empty batch.")
        first = examples[0]
        if "text" in first:
            return [ex["text"] for ex in examples], True
        if "input_ids" in first:
            return [ex["input_ids"] for ex in examples], False
        raise KeyError(f"examples need a 'text' or an 'input_ids' column; got columns {sorted(first)}")

    def corrupt(self, examples: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
        """The corrupted id sequences of a batch, unpadded (one array per example)."""
        tokens, valid, lengths = self._corrupt_batch(examples)
        return [row[:n] for row, n in zip(tokens, lengths + 2)]

    def _corrupt_batch(self, examples: Sequence[Mapping[str, Any]]):
        docs, is_text = self._documents(examples)
        lengths, masked, prefix = draw_spans([len(d) for d in docs], self.block_size, self.rng)
        max_len = int(lengths.max())
        matrix = np.full((len(docs), max_len), self.pad_id, dtype=np.int64)
        if is_text:
            pieces = [d[:n] for d, n in zip(docs, lengths.tolist())]
            try:
                ids = self._table.encode("".join(pieces))
            except UnknownCharacterError:
                _raise_for_example(self._table, pieces, examples)
                raise
            mask = np.arange(max_len)[None, :] < lengths[:, None]
            matrix[mask] = ids
        else:
            for i, (d, n) in enumerate(zip(docs, lengths.tolist())):
                matrix[i, :n] = np.asarray(d[:n], dtype=np.int64)
        src, valid = _corrupt_layout(lengths, masked, prefix, max_len + 2)
        tokens = np.take_along_axis(matrix, np.maximum(src, 0), axis=1)
        tokens[src == -1] = self.mask_id
        tokens[~valid] = self.pad_id
        return tokens, valid, lengths

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        tokens, valid, lengths = self._corrupt_batch(examples)
        sizes = lengths + 2
        return layout_batch(
            tokens,
            valid,
            sizes,
            self.block_size - 1,
            self.pad_id,
            pack=self.pack,
            pad_to_block=self.pad_to_block,
        )


def _raise_for_example(table: _CodepointTable, pieces: list[str], examples: Sequence[Mapping[str, Any]]):
    """Re-raise an unknown-character error naming the example (its corpus line if known)."""
    for i, (piece, example) in enumerate(zip(pieces, examples)):
        try:
            table.encode(piece)
        except UnknownCharacterError as err:
            line = example.get("line")
            where = f"corpus line {line}" if line is not None else f"example {i} of the batch"
            raise UnknownCharacterError(f"{where}: {err}") from None


def encode_wiki_corpus(dataset: Dataset, tokenizer: CharTokenizer) -> Dataset:
    """The corpus with each document encoded once (column `input_ids`, the whole uncorrupted
    document; `line` kept). `Trainer` keeps an `input_ids` column with its default
    `remove_unused_columns=True`; [`SpanCorruptionCollator`] corrupts it per batch."""
    table = _CodepointTable(tokenizer)

    def encode(batch):
        out = []
        for text, line in zip(batch["text"], batch["line"]):
            try:
                out.append(table.encode(text).tolist())
            except UnknownCharacterError as err:
                raise UnknownCharacterError(f"corpus line {line}: {err}") from None
        return {"input_ids": out}

    features = Features({"line": Value("int32"), "input_ids": [Value("int32")]})
    return dataset.map(encode, batched=True, remove_columns=["text"], features=features)


def example_key(example: Mapping[str, Any]) -> int:
    """A stable integer naming an example: its corpus `line` number, else a CRC-32 of its text,
    question and place, or ids. Seeds the draws of [`ResumableSpanCorruptionCollator`] and of
    `ReplayCollator`, so a batch's randomness depends only on which examples form it."""
    if example.get("line") is not None:
        return int(example["line"])
    if "text" in example:
        content = example["text"]
    elif "question" in example:  # a raw birthplace row
        content = f"{example['question']}\t{example.get('place') or ''}"
    else:
        content = example["input_ids"]
    data = content.encode("utf-8") if isinstance(content, str) else np.asarray(content, np.int64).tobytes()
    return zlib.crc32(data)


class ResumableSpanCorruptionCollator(SpanCorruptionCollator):
    """[`SpanCorruptionCollator`] whose random draws depend only on the seed, the epoch, the
    process rank and which documents form the batch ([`example_key`]), so a resumed run repeats
    the uninterrupted run's draws. Same arguments as the parent; `seed` defaults to 0. Register
    `hfmodels.training.resume.EpochCallback` with the `Trainer` so the epoch is known."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.seed is None:
            self.seed = 0
        self.epoch = 0
        self._batch_rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:  # type: ignore[override]
        """The generator of the batch being collated (set by `__call__`)."""
        if self._batch_rng is None:
            raise RuntimeError("ResumableSpanCorruptionCollator.rng is only defined while collating a batch.")
        return self._batch_rng

    def _seeded(self, examples: list[dict], make):
        keys = [example_key(ex) for ex in examples]
        self._batch_rng = np.random.default_rng(
            np.random.SeedSequence([self.seed, self.epoch, process_rank(), *keys])
        )
        try:
            return make(examples)
        finally:
            self._batch_rng = None

    def __call__(self, examples: list[dict]):
        return self._seeded(examples, super().__call__)

    def corrupt_rows(self, examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(tokens, valid, lengths)` of the batch's corruption before any layout (what `__call__`
        lays out; the same draws), for collators that combine it with other rows."""
        return self._seeded(examples, self._corrupt_batch)


__all__ = [
    "ResumableSpanCorruptionCollator",
    "SpanCorruptionCollator",
    "draw_spans",
    "encode_wiki_corpus",
    "example_key",
    "max_truncation_length",
    "original_pair",
    "process_rank",
    "span_corrupt",
]
