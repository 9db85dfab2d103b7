"""The knowledge-access ("birthplace") study's data: the wiki.txt pretraining corpus, the
birthplace question files, the vocabulary built from the corpus, and the finetuning examples
(docs/definitions.md, "Vocabulary" and "Birthplace examples").

One strict reader per file format, used by finetuning, evaluation and analysis alike. Every
violation raises [`DataFormatError`] naming the file, the 1-based line and the value (cut to 80
characters); the decoding rules shared by all readers (invalid UTF-8, a leading byte-order mark
removed with a logged warning, empty files, empty lines, `\\r`) are those of
`hfmodels.data.text_files`.

- wiki.txt ([`read_wiki_file`]): one document per line. With a tokenizer, every character must
  be in its vocabulary.
- birthplace TSVs ([`read_birthplace_file`]): `Where was NAME born?<TAB>PLACE` on every line
  (labelled: train and validation), or `Where was NAME born?` alone on every line (the test inputs).
  Errors: a line without exactly one tab (labelled) or with a tab (questions only); a question
  with leading or trailing spaces, or not of the form `Where was NAME born?` with a non-empty
  NAME free of outer spaces (the study's prompts depend on that form, so another one is a
  mis-parse, not data); an empty place or one with leading or trailing spaces; with a tokenizer,
  a character outside its vocabulary; with `block_size`, an example `question⁇place⁇` longer than
  `block_size - 1` characters, or for questions alone a prompt `question⁇` that leaves no room
  for an answer (longer than `block_size - 2`).

The split a file belongs to is known only for the data set's own file names ([`split_of_file`]):
`birth_places_train.tsv` is train, `birth_dev.tsv` validation, `birth_test_inputs.tsv` test (the
project's split names, `hfmodels.data.splits`; the course's file names stay).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Features, Value

from ..char_gpt import MASK_CHAR, CharTokenizerFast
from .packing import IGNORE_INDEX, layout_batch
from .paths import data_file
from .text_files import DataFormatError, read_lines, read_text, shorten

WIKI_FILE = "cs224n-a5/wiki.txt"
BIRTHPLACE_FILES = {
    "train": "cs224n-a5/birth_places_train.tsv",
    "validation": "cs224n-a5/birth_dev.tsv",
    "test": "cs224n-a5/birth_test_inputs.tsv",
}
WIKI_FEATURES = Features({"text": Value("string"), "line": Value("int32")})
BIRTHPLACE_FEATURES = Features(
    {"question": Value("string"), "name": Value("string"), "place": Value("string"), "line": Value("int32")}
)
BIRTHPLACE_TEST_FEATURES = Features(
    {"question": Value("string"), "name": Value("string"), "line": Value("int32")}
)
#: The one form of a birthplace question; NAME is the person.
QUESTION_PATTERN = re.compile(r"Where was (?P<name>.+) born\?")


def split_of_file(path: str | os.PathLike) -> str | None:
    """The split of a birthplace file from its base name: "train", "validation" (birth_dev.tsv) or
    "test" for the data set's own files (see [`BIRTHPLACE_FILES`]), None for any other name (a name
    merely containing "dev" is not the validation file)."""
    return {Path(relative).name: split for split, relative in BIRTHPLACE_FILES.items()}.get(Path(path).name)


def question_name(question: str) -> str:
    """NAME of `Where was NAME born?`; a `ValueError` for a question of another form."""
    match = QUESTION_PATTERN.fullmatch(question)
    if match is None:
        raise ValueError(f"question {shorten(question)} is not of the form 'Where was NAME born?'")
    return match["name"]


def _check_chars(
    path: Path, number: int, text: str, tokenizer: CharTokenizerFast | None, skip: str = ""
) -> None:
    if tokenizer is None:
        return
    table = tokenizer.char_to_id
    for index, char in enumerate(text):
        if char not in table and char not in skip:
            raise DataFormatError(
                f"{path}:{number}: character {char!r} (U+{ord(char):04X}) at column {index + 1} is not in the "
                f"vocabulary of {tokenizer.vocab_size} characters (built from the pretraining corpus): "
                f"{shorten(text)}"
            )


def read_wiki_file(path: str | os.PathLike, tokenizer: CharTokenizerFast | None = None) -> Dataset:
    """The pretraining corpus at `path`: one document per line (columns `text`, `line`).

    Args:
        path (`str` or `os.PathLike`): a wiki.txt-style file.
        tokenizer ([`CharTokenizerFast`], *optional*): if given, every character must be in its vocabulary.

    Raises:
        [`DataFormatError`]: see the module docstring.
    """
    path = Path(path)
    docs = read_lines(path)
    for number, doc in enumerate(docs, start=1):
        _check_chars(path, number, doc, tokenizer)
    return Dataset.from_dict(
        {"text": docs, "line": list(range(1, len(docs) + 1))}, features=WIKI_FEATURES, split="train"
    )


def load_wiki_corpus(
    data_dir: str | os.PathLike | None = None, tokenizer: CharTokenizerFast | None = None
) -> Dataset:
    """wiki.txt of the data directory as a `Dataset` with columns `text` (one document per line,
    2,937 for the real file) and `line` (1-based line number). See [`read_wiki_file`]."""
    return read_wiki_file(data_file(WIKI_FILE, data_dir), tokenizer=tokenizer)


def _parse_question(path: Path, number: int, question: str) -> str:
    """NAME of a question read from `path:number`, or a [`DataFormatError`]."""
    if question != question.strip():
        raise DataFormatError(
            f"{path}:{number}: question {shorten(question)} has leading or trailing spaces."
        )
    match = QUESTION_PATTERN.fullmatch(question)
    if match is None or not match["name"].strip():
        raise DataFormatError(
            f"{path}:{number}: question {shorten(question)} is not of the form 'Where was NAME born?'"
        )
    if match["name"] != match["name"].strip():
        raise DataFormatError(
            f"{path}:{number}: the name in {shorten(question)} has leading or trailing spaces."
        )
    return match["name"]


def _parse_birthplace_line(path: Path, number: int, line: str, labelled: bool, first: bool) -> list[str]:
    """The fields (question[, place]) of one line, checked as the module docstring says."""
    fields = line.split("\t")
    if len(fields) != (2 if labelled else 1):
        expected = "exactly one tab (question<TAB>place)" if labelled else "no tab (the question alone)"
        why = "" if first else f"; line 1 {'has' if labelled else 'has no'} place, so every line must"
        raise DataFormatError(
            f"{path}:{number}: {len(fields) - 1} tab(s), expected {expected}{why}: {shorten(line)}"
        )
    _parse_question(path, number, fields[0])
    if labelled:
        place = fields[1]
        if not place.strip():
            raise DataFormatError(f"{path}:{number}: empty place for {shorten(fields[0])}.")
        if place != place.strip():
            raise DataFormatError(f"{path}:{number}: place {shorten(place)} has leading or trailing spaces.")
    return fields


def _check_length(path: Path, number: int, fields: list[str], block_size: int) -> None:
    if len(fields) == 2:
        length = len(fields[0]) + len(fields[1]) + 2
        if length > block_size - 1:
            raise DataFormatError(
                f"{path}:{number}: the example question⁇place⁇ is {length} characters long, more than "
                f"block_size - 1 = {block_size - 1}: {shorten(fields[0])}"
            )
    elif len(fields[0]) + 1 > block_size - 2:
        raise DataFormatError(
            f"{path}:{number}: the prompt question⁇ is {len(fields[0]) + 1} characters long; a block of "
            f"{block_size} leaves no room for an answer (at most {block_size - 2}): {shorten(fields[0])}"
        )


def read_birthplace_file(
    path: str | os.PathLike,
    labelled: bool | None = True,
    tokenizer: CharTokenizerFast | None = None,
    block_size: int | None = None,
) -> Dataset:
    """One birthplace TSV in file order.

    Columns: `question` (`Where was NAME born?`), `name` (NAME), `place` (only when labelled; the
    test inputs have no answers, so the column is absent rather than empty, and nothing can be
    scored against it by mistake) and `line` (1-based line number).

    Args:
        path (`str` or `os.PathLike`): the TSV file.
        labelled (`bool`, *optional*, defaults to `True`): lines are `question<TAB>place`; `False`:
            `question` alone; `None`: decided by the first line (then every line must agree), for
            evaluating a file that may or may not have answers.
        tokenizer ([`CharTokenizerFast`], *optional*): if given, every character must be in its vocabulary.
        block_size (`int`, *optional*): if given, examples must fit the model's block (see the
            module docstring).

    Raises:
        [`DataFormatError`]: see the module docstring for the rules.
    """
    path = Path(path)
    lines = read_lines(path)
    if labelled is None:
        labelled = "\t" in lines[0]
    columns: dict[str, list[Any]] = {"question": [], "name": [], "place": [], "line": []}
    for number, line in enumerate(lines, start=1):
        fields = _parse_birthplace_line(path, number, line, labelled, first=number == 1)
        _check_chars(path, number, line, tokenizer, skip="\t")
        if block_size is not None:
            _check_length(path, number, fields, block_size)
        columns["question"].append(fields[0])
        columns["name"].append(QUESTION_PATTERN.fullmatch(fields[0])["name"])
        columns["place"].extend(fields[1:])
        columns["line"].append(number)
    features = BIRTHPLACE_FEATURES if labelled else BIRTHPLACE_TEST_FEATURES
    return Dataset.from_dict({name: columns[name] for name in features}, features=features)


def load_birthplaces(
    data_dir: str | os.PathLike | None = None,
    tokenizer: CharTokenizerFast | None = None,
    block_size: int | None = None,
) -> DatasetDict:
    """The birthplace files of the data directory as a `DatasetDict`: `train` (2,000 rows,
    birth_places_train.tsv), `validation` (500, birth_dev.tsv), `test` (437, birth_test_inputs.tsv,
    no `place` column). Rows keep file order. See [`read_birthplace_file`] for columns and checks."""
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
) -> CharTokenizerFast:
    """The study's vocabulary (docs/definitions.md, "Vocabulary"): PAD, MASK, then the sorted
    characters of the whole of wiki.txt, newlines included (256 ids for the real file).
    `corpus_path` overrides the file (the original's `pretrain_corpus_path`). The text is decoded
    as every reader decodes it (`hfmodels.data.text_files.read_text`: strict UTF-8, a leading
    byte-order mark removed), so the vocabulary holds exactly the characters the readers see.
    A [`CharTokenizerFast`] (`tokenizer.json` when saved); give it the model's limit as
    `model_max_length` before saving it with a model."""
    path = Path(corpus_path) if corpus_path is not None else data_file(WIKI_FILE, data_dir)
    return CharTokenizerFast.from_corpus(
        read_text(path), save_directory=None if save_directory is None else str(save_directory)
    )


def birthplace_example(
    question: str, place: str, tokenizer: CharTokenizerFast, block_size: int | None = None
) -> dict[str, list[int]]:
    """A finetuning example: `input_ids = ids(question⁇place⁇)`, `labels` the same with
    `labels[:len(question)] = -100` (the original's `y[:len(question)-1] = PAD` in the shifted
    convention: the first ⁇, the place and the closing ⁇ are learned)."""
    s = question + MASK_CHAR + place + MASK_CHAR
    if block_size is not None and len(s) > block_size - 1:
        raise ValueError(
            f"example {shorten(s)} has {len(s)} characters, more than block_size - 1 = {block_size - 1}"
        )
    ids = tokenizer.encode_chars(s)
    labels = list(ids)
    labels[: len(question)] = [IGNORE_INDEX] * len(question)
    return {"input_ids": ids, "labels": labels}


def question_prompt(question: str, tokenizer: CharTokenizerFast) -> list[int]:
    """`ids(question⁇)`: the evaluation prompt; greedy decoding continues it until the next ⁇."""
    return tokenizer.encode_chars(question + MASK_CHAR)


def question_prompts(
    dataset_split: Dataset | Iterable[Mapping[str, Any]], tokenizer: CharTokenizerFast
) -> list[list[int]]:
    """Evaluation prompts `question⁇` for every row of a split, in its order (unpadded id lists)."""
    questions = (
        dataset_split["question"]
        if isinstance(dataset_split, Dataset)
        else [r["question"] for r in dataset_split]
    )
    return [question_prompt(q, tokenizer) for q in questions]


def encode_birthplaces(
    dataset: Dataset, tokenizer: CharTokenizerFast, block_size: int | None = None
) -> Dataset:
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
        tokenizer ([`CharTokenizerFast`]): the study's vocabulary.
        block_size (`int`, *optional*, defaults to 128): the model's block size.
        pad_to_block (`bool`, *optional*, defaults to `False`): the original's shapes.
        pack (`bool`, *optional*, defaults to `False`): packed rows with `position_ids`.
    """

    def __init__(
        self,
        tokenizer: CharTokenizerFast,
        block_size: int = 128,
        pad_to_block: bool = False,
        pack: bool = False,
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
        return layout_batch(
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
    "QUESTION_PATTERN",
    "WIKI_FILE",
    "BirthplaceCollator",
    "DataFormatError",
    "birthplace_example",
    "build_char_tokenizer",
    "encode_birthplaces",
    "load_birthplaces",
    "load_wiki_corpus",
    "question_name",
    "question_prompt",
    "question_prompts",
    "read_birthplace_file",
    "read_wiki_file",
    "split_of_file",
]
