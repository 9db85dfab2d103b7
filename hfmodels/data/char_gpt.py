"""Data of the knowledge-access ("birthplace") study, SPEC §1: the wiki.txt pretraining corpus with
span corruption, and the birthplace question/answer files.

Conventions (they reproduce the original loss exactly, see `hfmodels.char_gpt`): an example is an
unpadded string `s` (`prefix⁇suffix⁇masked` for span corruption, `question⁇place⁇` for
birthplaces); `input_ids = ids(s)` and `labels = ids(s)` with the ignored targets set to -100 (the
model shifts labels inside). The original's `x = padded(s)[:-1]`, `y = padded(s)[1:]` is
[`original_pair`]; `pad_to_block=True` gives the same shapes as the original (block_size - 1).
The first label of every example is -100 too (it is never a target: nothing precedes it), so that
`Trainer`'s `num_items_in_batch` counts exactly the targets the loss uses.

Loaders return `datasets.Dataset`s with declared `Features`; corruption happens in the collator, so
the corpus is never re-mapped per epoch. With `Trainer`, either pass `remove_unused_columns=False`
(the collator reads the `text` column) or encode the corpus once with [`encode_wiki_corpus`] (column
`input_ids`, which `Trainer` keeps).

File-format rules (every violation raises [`DataFormatError`] naming the file, the 1-based line and
the problem):
- wiki.txt: one document per line, UTF-8. A single trailing newline at the end of the file is
  accepted and ignored (it is not a document); any other empty line is an error.
- birthplace TSVs: `Where was NAME born?<TAB>PLACE` (labelled: train and dev) or
  `Where was NAME born?` (test inputs). One trailing newline is accepted. Errors: empty lines, a
  wrong number of tab-separated fields, a question not of the form `Where was NAME born?` (with a
  non-empty NAME; the study's prompts depend on that form, so a different one is a mis-parse, not
  data), a NAME or a place that is empty or padded with spaces, carriage returns (`\\r`, Windows
  line endings), and, when a tokenizer is given, characters outside its vocabulary; with
  `block_size`, an example longer than `block_size - 1` characters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Features, Value

from ..char_gpt.tokenization_char_gpt import MASK_CHAR, PAD_CHAR, CharTokenizer, UnknownCharacterError
from .paths import data_file

WIKI_FILE = "cs224n-a5/wiki.txt"
BIRTHPLACE_FILES = {
    "train": "cs224n-a5/birth_places_train.tsv",
    "dev": "cs224n-a5/birth_dev.tsv",
    "test": "cs224n-a5/birth_test_inputs.tsv",
}
WIKI_FEATURES = Features({"text": Value("string"), "line": Value("int32")})
BIRTHPLACE_FEATURES = Features(
    {"question": Value("string"), "name": Value("string"), "place": Value("string"), "line": Value("int32")}
)
BIRTHPLACE_TEST_FEATURES = Features(
    {"question": Value("string"), "name": Value("string"), "line": Value("int32")}
)
QUESTION_PATTERN = re.compile(r"Where was (?P<name>.+) born\?")
IGNORE_INDEX = -100


class DataFormatError(ValueError):
    """A data file does not have the expected format; the message names the file, line and problem."""


# ---------------------------------------------------------------------------------------------
# Reading the files


def _read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 file; one trailing newline is accepted, other empty lines are errors."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataFormatError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start}).") from err
    if not text:
        raise DataFormatError(f"{path}: the file is empty.")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start an empty one
    for number, line in enumerate(lines, start=1):
        if line == "":
            raise DataFormatError(f"{path}:{number}: empty line (expected one example per line).")
        if "\r" in line:
            raise DataFormatError(
                f"{path}:{number}: carriage return (\\r) in the line; convert Windows line endings to \\n."
            )
    return lines


def _check_chars(path: Path, number: int, text: str, tokenizer: CharTokenizer | None, skip: str = "") -> None:
    if tokenizer is None:
        return
    table = tokenizer.char_to_id
    for index, char in enumerate(text):
        if char not in table and char not in skip:
            raise DataFormatError(
                f"{path}:{number}: character {char!r} (U+{ord(char):04X}) at column {index + 1} is not in the "
                f"vocabulary of {tokenizer.vocab_size} characters (built from the pretraining corpus)."
            )


def read_wiki_file(path: str | os.PathLike, tokenizer: CharTokenizer | None = None) -> Dataset:
    """The pretraining corpus at `path`: one document per line (columns `text`, `line`).

    Args:
        path (`str` or `os.PathLike`): a wiki.txt-style file.
        tokenizer ([`CharTokenizer`], *optional*): if given, every character must be in its vocabulary.

    Raises:
        [`DataFormatError`]: empty lines (other than one trailing newline), `\\r`, invalid UTF-8,
            unknown characters.
    """
    path = Path(path)
    docs = _read_lines(path)
    for number, doc in enumerate(docs, start=1):
        _check_chars(path, number, doc, tokenizer)
    return Dataset.from_dict(
        {"text": docs, "line": list(range(1, len(docs) + 1))}, features=WIKI_FEATURES, split="train"
    )


def load_wiki_corpus(
    data_dir: str | os.PathLike | None = None, tokenizer: CharTokenizer | None = None
) -> Dataset:
    """wiki.txt of the data directory as a `Dataset` with columns `text` (one document per line,
    2,937 for the real file) and `line` (1-based line number). See [`read_wiki_file`]."""
    return read_wiki_file(data_file(WIKI_FILE, data_dir), tokenizer=tokenizer)


def read_birthplace_file(
    path: str | os.PathLike,
    labelled: bool = True,
    tokenizer: CharTokenizer | None = None,
    block_size: int | None = None,
) -> Dataset:
    """One birthplace TSV in file order.

    Columns: `question` (`Where was NAME born?`), `name` (NAME), `place` (only when `labelled`; the
    test inputs have no answers, so the column is absent rather than empty, and nothing can be
    scored against it by mistake) and `line` (1-based line number).

    Args:
        path (`str` or `os.PathLike`): the TSV file.
        labelled (`bool`, *optional*, defaults to `True`): lines are `question<TAB>place`
            (otherwise `question` alone).
        tokenizer ([`CharTokenizer`], *optional*): if given, every character must be in its vocabulary.
        block_size (`int`, *optional*): if given, `question⁇place⁇` must fit the model's
            `block_size - 1` inputs.

    Raises:
        [`DataFormatError`]: see the module docstring for the rules.
    """
    path = Path(path)
    want = 2 if labelled else 1
    columns: dict[str, list[Any]] = {"question": [], "name": [], "line": []}
    if labelled:
        columns["place"] = []
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != want:
            shape = "question<TAB>place" if labelled else "question (no tab)"
            raise DataFormatError(
                f"{path}:{number}: {len(fields)} tab-separated field(s), expected {want} ({shape}): {line!r}"
            )
        question = fields[0]
        match = QUESTION_PATTERN.fullmatch(question)
        if match is None or not match["name"].strip():
            raise DataFormatError(
                f"{path}:{number}: question {question!r} is not of the form 'Where was NAME born?'"
            )
        if match["name"] != match["name"].strip():
            raise DataFormatError(f"{path}:{number}: the name in {question!r} has leading/trailing spaces.")
        columns["question"].append(question)
        columns["name"].append(match["name"])
        columns["line"].append(number)
        if labelled:
            place = fields[1]
            if not place.strip():
                raise DataFormatError(f"{path}:{number}: empty place for {question!r}.")
            if place != place.strip():
                raise DataFormatError(f"{path}:{number}: place {place!r} has leading/trailing spaces.")
            columns["place"].append(place)
        _check_chars(path, number, line, tokenizer, skip="\t")
        if block_size is not None:
            length = len(question) + 1 + (len(fields[1]) + 1 if labelled else 0)
            if length > block_size - 1:
                raise DataFormatError(
                    f"{path}:{number}: the example is {length} characters long, more than block_size - 1 = "
                    f"{block_size - 1}."
                )
    features = BIRTHPLACE_FEATURES if labelled else BIRTHPLACE_TEST_FEATURES
    columns = {name: columns[name] for name in features}
    return Dataset.from_dict(columns, features=features)


def load_birthplaces(
    data_dir: str | os.PathLike | None = None,
    tokenizer: CharTokenizer | None = None,
    block_size: int | None = None,
) -> DatasetDict:
    """The birthplace files of the data directory as a `DatasetDict`: `train` (2,000 rows,
    birth_places_train.tsv), `dev` (500, birth_dev.tsv), `test` (437, birth_test_inputs.tsv, no
    `place` column). Rows keep file order. See [`read_birthplace_file`] for columns and checks."""
    return DatasetDict(
        {
            split: read_birthplace_file(
                data_file(relative, data_dir),
                labelled=split != "test",
                tokenizer=tokenizer,
                block_size=block_size,
            )
            for split, relative in BIRTHPLACE_FILES.items()
        }
    )


def build_char_tokenizer(
    data_dir: str | os.PathLike | None = None,
    save_directory: str | os.PathLike | None = None,
    corpus_path: str | os.PathLike | None = None,
) -> CharTokenizer:
    """The study's vocabulary (SPEC §1): PAD, MASK, then the sorted characters of the whole of
    wiki.txt, newlines included (256 ids for the real file). `corpus_path` overrides the file
    (the original's `pretrain_corpus_path`)."""
    path = Path(corpus_path) if corpus_path is not None else data_file(WIKI_FILE, data_dir)
    text = path.read_text(encoding="utf-8")
    return CharTokenizer.from_corpus(
        text, save_directory=None if save_directory is None else str(save_directory)
    )


# ---------------------------------------------------------------------------------------------
# Span corruption (SPEC §1 "Span corruption")


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
    """The span-corrupted, unpadded string `prefix⁇suffix⁇masked` for one document (SPEC §1 steps
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
        return _layout_batch(
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


def _first_fit(sizes: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, offset) of each example packed into rows of `capacity`, and the row fills.

    First-fit decreasing: examples are placed longest first (ties in batch order), each into the
    first row with room. On wiki.txt batches of 128 it fills ~96 % of the slots against ~90 % for
    first fit in batch order (6 % fewer tokens), and it is deterministic."""
    if sizes.size and int(sizes.max()) > capacity:
        i = int(np.argmax(sizes))
        raise ValueError(f"example {i} has {int(sizes[i])} tokens, more than the row capacity {capacity}")
    fills: list[int] = []
    rows = np.empty(len(sizes), dtype=np.int64)
    offsets = np.empty(len(sizes), dtype=np.int64)
    for i in np.argsort(-sizes, kind="stable").tolist():
        size = int(sizes[i])
        row = next((r for r, fill in enumerate(fills) if fill + size <= capacity), len(fills))
        if row == len(fills):
            fills.append(0)
        rows[i], offsets[i] = row, fills[row]
        fills[row] += size
    return rows, offsets, np.asarray(fills, dtype=np.int64)


def _layout_batch(
    tokens: np.ndarray,
    valid: np.ndarray,
    sizes: np.ndarray,
    capacity: int,
    pad_id: int,
    pack: bool,
    pad_to_block: bool,
    labels: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """Right-padded or packed `input_ids` / `labels` (+ `position_ids`) from per-example rows.

    `tokens` (and `labels`, default = `tokens`) are (batch, width) with the example in the first
    `sizes[i]` positions (`valid`). Padding is PAD in the inputs and -100 in the labels; the first
    label of every example is -100."""
    if labels is None:
        labels = tokens
    labels = np.where(valid, labels, IGNORE_INDEX)
    labels[:, 0] = IGNORE_INDEX
    if int(sizes.max()) > capacity:
        raise ValueError(f"an example has {int(sizes.max())} tokens, more than block_size - 1 = {capacity}")
    if not pack:
        width = capacity if pad_to_block else int(sizes.max())
        input_ids = np.full((len(sizes), width), pad_id, dtype=np.int64)
        out_labels = np.full((len(sizes), width), IGNORE_INDEX, dtype=np.int64)
        w = min(width, tokens.shape[1])
        input_ids[:, :w] = np.where(valid[:, :w], tokens[:, :w], pad_id)
        out_labels[:, :w] = labels[:, :w]
        return {"input_ids": torch.from_numpy(input_ids), "labels": torch.from_numpy(out_labels)}
    rows, offsets, fills = _first_fit(sizes, capacity)
    if not pad_to_block and len(fills) * int(fills.max()) > len(sizes) * int(sizes.max()):
        # Packing pays only when its rows come out full: for a few examples of similar length
        # (four of 40 tokens pack into rows of 120 and 40, padded to 120), one example per row is
        # fewer tokens. Same outputs, positions restarting in every row.
        rows, offsets, fills = (
            np.arange(len(sizes)),
            np.zeros(len(sizes), dtype=np.int64),
            sizes.astype(np.int64),
        )
    width = capacity if pad_to_block else int(fills.max())
    n_rows = len(fills)
    j = np.arange(tokens.shape[1], dtype=np.int64)[None, :]
    dest = ((rows * width + offsets)[:, None] + j)[valid]
    input_ids = np.full(n_rows * width, pad_id, dtype=np.int64)
    out_labels = np.full(n_rows * width, IGNORE_INDEX, dtype=np.int64)
    positions = np.zeros(n_rows * width, dtype=np.int64)
    input_ids[dest] = tokens[valid]
    out_labels[dest] = labels[valid]
    positions[dest] = np.broadcast_to(j, tokens.shape)[valid]
    input_ids = input_ids.reshape(n_rows, width)
    out_labels = out_labels.reshape(n_rows, width)
    positions = positions.reshape(n_rows, width)
    # Padding at the end of a row continues the positions of the row's last example (< capacity),
    # so it forms no new example; its labels are -100.
    last_start = np.zeros(n_rows, dtype=np.int64)
    np.maximum.at(last_start, rows, offsets)
    k = np.arange(width, dtype=np.int64)[None, :]
    pad = k >= fills[:, None]
    positions = np.where(pad, k - last_start[:, None], positions)
    return {
        "input_ids": torch.from_numpy(input_ids),
        "labels": torch.from_numpy(out_labels),
        "position_ids": torch.from_numpy(positions),
    }


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


# ---------------------------------------------------------------------------------------------
# Birthplace examples (SPEC §1 "Birthplace finetuning examples", "Evaluation")


def birthplace_example(
    question: str, place: str, tokenizer: CharTokenizer, block_size: int | None = None
) -> dict[str, list[int]]:
    """A finetuning example: `input_ids = ids(question⁇place⁇)`, `labels` the same with
    `labels[:len(question)] = -100` (the original's `y[:len(question)-1] = PAD` in the shifted
    convention: the first ⁇, the place and the closing ⁇ are learned)."""
    s = question + MASK_CHAR + place + MASK_CHAR
    if block_size is not None and len(s) > block_size - 1:
        raise ValueError(
            f"example {s!r} has {len(s)} characters, more than block_size - 1 = {block_size - 1}"
        )
    ids = tokenizer.encode_chars(s)
    labels = list(ids)
    labels[: len(question)] = [IGNORE_INDEX] * len(question)
    return {"input_ids": ids, "labels": labels}


def question_prompt(question: str, tokenizer: CharTokenizer) -> list[int]:
    """`ids(question⁇)`: the evaluation prompt; greedy decoding continues it until the next ⁇."""
    return tokenizer.encode_chars(question + MASK_CHAR)


def question_prompts(
    dataset_split: Dataset | Iterable[Mapping[str, Any]], tokenizer: CharTokenizer
) -> list[list[int]]:
    """Evaluation prompts `question⁇` for every row of a split, in its order (unpadded id lists)."""
    questions = (
        dataset_split["question"]
        if isinstance(dataset_split, Dataset)
        else [r["question"] for r in dataset_split]
    )
    return [question_prompt(q, tokenizer) for q in questions]


def encode_birthplaces(dataset: Dataset, tokenizer: CharTokenizer, block_size: int | None = None) -> Dataset:
    """A labelled split as finetuning examples (columns `input_ids`, `labels`; the only columns, so
    `Trainer`'s default `remove_unused_columns=True` keeps them). See [`birthplace_example`]."""

    def encode(batch):
        rows = [
            birthplace_example(q, p, tokenizer, block_size) for q, p in zip(batch["question"], batch["place"])
        ]
        return {"input_ids": [r["input_ids"] for r in rows], "labels": [r["labels"] for r in rows]}

    features = Features({"input_ids": [Value("int32")], "labels": [Value("int32")]})
    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, features=features)


class BirthplaceCollator:
    """`Trainer` data collator for birthplace finetuning: examples with `question` and `place`
    (raw rows of [`load_birthplaces`]) or with `input_ids` and `labels` ([`encode_birthplaces`]),
    right-padded with PAD / -100 to the longest example, or to `block_size - 1` with
    `pad_to_block=True`. With `pack=True` the questions are packed into rows of at most
    `block_size - 1` tokens with `position_ids` restarting at every question (first-fit
    decreasing, as [`SpanCorruptionCollator`] packs), for the models that support packed rows
    (vanilla, synthesizer): the same labelled targets, hence the same loss, with no compute spent
    on padding.

    Args:
        tokenizer ([`CharTokenizer`]): the study's vocabulary.
        block_size (`int`, *optional*, defaults to 128): the model's block size.
        pad_to_block (`bool`, *optional*, defaults to `False`): the original's shapes.
        pack (`bool`, *optional*, defaults to `False`): packed rows with `position_ids`.
    """

    def __init__(
        self, tokenizer: CharTokenizer, block_size: int = 128, pad_to_block: bool = False, pack: bool = False
    ):
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.pad_to_block = pad_to_block
        self.pack = pack

    def rows(self, examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(tokens, labels, sizes)`: the examples' ids and labels left-aligned in (batch, longest)
        arrays (PAD / -100 beyond each example's `sizes[i]` tokens), before any layout."""
        if not examples:
            raise ValueError("BirthplaceCollator got an empty batch.")
        if "input_ids" in examples[0]:
            rows = [(list(ex["input_ids"]), list(ex["labels"])) for ex in examples]
        else:
            rows = []
            for ex in examples:
                r = birthplace_example(ex["question"], ex["place"], self.tokenizer, self.block_size)
                rows.append((r["input_ids"], r["labels"]))
        sizes = np.array([len(ids) for ids, _ in rows], dtype=np.int64)
        width = int(sizes.max())
        tokens = np.full((len(rows), width), self.tokenizer.pad_token_id, dtype=np.int64)
        labels = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        for i, (ids, lab) in enumerate(rows):
            tokens[i, : len(ids)] = ids
            labels[i, : len(lab)] = lab
        return tokens, labels, sizes

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        tokens, labels, sizes = self.rows(examples)
        valid = np.arange(tokens.shape[1])[None, :] < sizes[:, None]
        return _layout_batch(
            tokens,
            valid,
            sizes,
            self.block_size - 1,
            self.tokenizer.pad_token_id,
            pack=self.pack,
            pad_to_block=self.pad_to_block,
            labels=labels,
        )


__all__ = [
    "BIRTHPLACE_FILES",
    "WIKI_FILE",
    "BirthplaceCollator",
    "DataFormatError",
    "SpanCorruptionCollator",
    "birthplace_example",
    "build_char_tokenizer",
    "draw_spans",
    "encode_birthplaces",
    "encode_wiki_corpus",
    "load_birthplaces",
    "load_wiki_corpus",
    "original_pair",
    "question_prompt",
    "question_prompts",
    "read_birthplace_file",
    "read_wiki_file",
    "span_corrupt",
]
