"""The AddSub task of lab 3 as a `datasets.DatasetDict` (docs/addsub.md, "The task").

An expression is `a op b` with signed two-digit operands `a, b ∈ [−99, 99]` and `op` one of
`add`, `subtract`, kept when its result lies in [−99, 99] (answers have two digits). Numbers
are written as a sign word and two digits, zero as `POSITIVE 0 0`; an input is 9 tokens
(`BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS`) and an answer 5 (`BOS POSITIVE 0 4 EOS`).

[`all_expressions`] enumerates the task in a fixed order; [`build_addsub_dataset`] shuffles it
with a seeded generator and cuts it into disjoint `test` (10 %), `validation` (a part of the
rest) and `train`; [`exhaustive_addsub_dataset`] is every expression, for evaluation.
[`parse_expression`] reads a written expression back and names what is wrong with a malformed one;
[`read_addsub_tsv`] / [`write_addsub_tsv`] store a split as `input<TAB>answer` lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict

from ..reporting import write_text_atomic

OPERATIONS = ("add", "subtract")
MAX_OPERAND = 99
MAX_RESULT = 99
DIGITS = tuple(str(d) for d in range(10))


class MalformedExpressionError(ValueError):
    """An AddSub expression or answer that does not follow the course's format."""


def format_number(n: int) -> list[str]:
    """`-30` → `["NEGATIVE", "3", "0"]`; zero is `POSITIVE 0 0`."""
    if not -MAX_OPERAND <= n <= MAX_OPERAND:
        raise MalformedExpressionError(
            f"{n} is outside [-{MAX_OPERAND}, {MAX_OPERAND}]: not a two-digit number."
        )
    return ["NEGATIVE" if n < 0 else "POSITIVE", *f"{abs(n):02d}"]


def format_expression(a: int, operation: str, b: int) -> str:
    """`(-30, "subtract", -34)` → `"BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS"`."""
    if operation not in OPERATIONS:
        raise MalformedExpressionError(f"operation {operation!r}: expected one of {OPERATIONS}.")
    return " ".join(["BOS", *format_number(a), operation, *format_number(b), "EOS"])


def format_answer(result: int) -> str:
    """`4` → `"BOS POSITIVE 0 4 EOS"`."""
    return " ".join(["BOS", *format_number(result), "EOS"])


def evaluate_expression(a: int, operation: str, b: int) -> int:
    """The value of `a op b`."""
    return a + b if operation == "add" else a - b


def _parse_number(tokens: list[str], text: str) -> int:
    sign, tens, units = tokens
    if sign not in ("POSITIVE", "NEGATIVE") or tens not in DIGITS or units not in DIGITS:
        raise MalformedExpressionError(
            f"{text!r}: {' '.join(tokens)!r} is not a number (sign word POSITIVE/NEGATIVE, then two digits)."
        )
    value = int(tens + units)
    if sign == "NEGATIVE" and value == 0:
        raise MalformedExpressionError(f"{text!r}: zero is written POSITIVE 0 0, not NEGATIVE 0 0.")
    return -value if sign == "NEGATIVE" else value


def parse_expression(text: str) -> tuple[int, str, int]:
    """`"BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS"` → `(-30, "subtract", -34)`. Raises
    [`MalformedExpressionError`] naming the expression for a wrong length, a missing BOS/EOS, an
    unknown token, a badly written number or a result outside ±99."""
    tokens = text.split()
    if len(tokens) != 9:
        raise MalformedExpressionError(f"{text!r}: an expression has 9 tokens, found {len(tokens)}.")
    if tokens[0] != "BOS" or tokens[-1] != "EOS":
        raise MalformedExpressionError(f"{text!r}: an expression starts with BOS and ends with EOS.")
    if tokens[4] not in OPERATIONS:
        raise MalformedExpressionError(f"{text!r}: token 5 {tokens[4]!r} is not an operation {OPERATIONS}.")
    a, b = _parse_number(tokens[1:4], text), _parse_number(tokens[5:8], text)
    result = evaluate_expression(a, tokens[4], b)
    if abs(result) > MAX_RESULT:
        raise MalformedExpressionError(
            f"{text!r}: result {result} is outside ±{MAX_RESULT}, not in the task."
        )
    return a, tokens[4], b


def parse_answer(text: str) -> int:
    """`"BOS POSITIVE 0 4 EOS"` → `4`; a malformed answer raises [`MalformedExpressionError`]."""
    tokens = text.split()
    if len(tokens) != 5 or tokens[0] != "BOS" or tokens[-1] != "EOS":
        raise MalformedExpressionError(f"{text!r}: an answer is 5 tokens, BOS sign digit digit EOS.")
    return _parse_number(tokens[1:4], text)


def all_expressions() -> list[tuple[int, str, int]]:
    """Every expression of the task, in a fixed order (a, then operation, then b)."""
    return [
        (a, op, b)
        for a in range(-MAX_OPERAND, MAX_OPERAND + 1)
        for op in OPERATIONS
        for b in range(-MAX_OPERAND, MAX_OPERAND + 1)
        if abs(evaluate_expression(a, op, b)) <= MAX_RESULT
    ]


def _rows(expressions: Iterable[tuple[int, str, int]]) -> dict[str, list]:
    cols: dict[str, list] = {"input": [], "answer": [], "a": [], "operation": [], "b": [], "result": []}
    for a, op, b in expressions:
        r = evaluate_expression(a, op, b)
        for key, value in zip(cols, (format_expression(a, op, b), format_answer(r), a, op, b, r)):
            cols[key].append(value)
    return cols


def build_addsub_dataset(
    seed: int = 0, test_fraction: float = 0.1, validation_fraction: float = 0.1
) -> DatasetDict:
    """`train`/`validation`/`test` from one seeded permutation of [`all_expressions`]: the first
    `test_fraction` is `test`, the next `validation_fraction` of the remainder `validation`, the
    rest `train`; disjoint by construction. Columns: `input`, `answer`, `a`, `operation`, `b`, `result`."""
    for name, value in (("test_fraction", test_fraction), ("validation_fraction", validation_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"build_addsub_dataset: {name}={value} must be in [0, 1).")
    expressions = all_expressions()
    order = np.random.default_rng(seed).permutation(len(expressions))
    n_test = round(test_fraction * len(expressions))
    n_val = round(validation_fraction * (len(expressions) - n_test))
    parts = {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return DatasetDict(
        {name: Dataset.from_dict(_rows(expressions[i] for i in idx)) for name, idx in parts.items()}
    )


def exhaustive_addsub_dataset() -> Dataset:
    """Every expression of the task (59,402 of them), with the same columns."""
    return Dataset.from_dict(_rows(all_expressions()))


def write_addsub_tsv(dataset: Dataset, path: str | os.PathLike) -> Path:
    """Write `input<TAB>answer` lines, atomically (`hfmodels.reporting.write_text_atomic`)."""
    text = "".join(f"{i}\t{a}\n" for i, a in zip(dataset["input"], dataset["answer"]))
    return write_text_atomic(path, text)


def read_addsub_tsv(path: str | os.PathLike) -> Dataset:
    """Read `input<TAB>answer` lines strictly: a malformed expression, a malformed answer or a
    wrong answer raises [`MalformedExpressionError`] naming the file, the line and the value."""
    expressions = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        try:
            if len(fields) != 2:
                raise MalformedExpressionError(f"{line!r}: expected 'input<TAB>answer'.")
            a, op, b = parse_expression(fields[0])
            if parse_answer(fields[1]) != evaluate_expression(a, op, b):
                raise MalformedExpressionError(f"{fields[1]!r} is not the value of {fields[0]!r}.")
        except MalformedExpressionError as err:
            raise MalformedExpressionError(f"{path}, line {lineno}: {err}") from None
        expressions.append((a, op, b))
    return Dataset.from_dict(_rows(expressions))


def tokenize_addsub(dataset: Dataset | DatasetDict, tokenizer) -> Dataset | DatasetDict:
    """Add `input_ids`, `attention_mask` (the 9 input tokens) and `labels` (the answer without
    its leading BOS: sign, two digits, EOS), the columns the model and `Trainer` take."""

    def encode(batch):
        enc = tokenizer(batch["input"])
        answers = tokenizer(batch["answer"])["input_ids"]
        return {**enc, "labels": [ids[1:] for ids in answers]}

    return dataset.map(encode, batched=True)


__all__ = [
    "MAX_OPERAND",
    "MAX_RESULT",
    "OPERATIONS",
    "MalformedExpressionError",
    "all_expressions",
    "build_addsub_dataset",
    "evaluate_expression",
    "exhaustive_addsub_dataset",
    "format_answer",
    "format_expression",
    "format_number",
    "parse_answer",
    "parse_expression",
    "read_addsub_tsv",
    "tokenize_addsub",
    "write_addsub_tsv",
]
