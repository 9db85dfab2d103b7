"""The AddSub tab: the encoder-decoder's greedy answer to an expression such as `12 + -7` (or the
course's written form `BOS POSITIVE 1 2 add NEGATIVE 0 7 EOS`), decoded with `generate()` as the
library's evaluation does (`hfmodels.evaluation.addsub.greedy_answers`), next to the true result."""

from __future__ import annotations

import re

from ..data.addsub import (
    MalformedExpressionError,
    evaluate_expression,
    format_expression,
    parse_answer,
    parse_expression,
)
from ..evaluation.addsub import greedy_answers
from .loading import DemoError, LoadedModel

_ARITHMETIC = re.compile(r"\s*([+-]?\d+)\s*([+-])\s*([+-]?\d+)\s*")


def expression_of(text: str) -> str:
    """The written expression for `a + b` / `a - b` (operands in [-99, 99]) or an already written one;
    [`DemoError`] naming what is wrong otherwise."""
    text = text.strip()
    if not text:
        raise DemoError("Type an expression, e.g. 12 + -7 or 30 - 45.")
    match = _ARITHMETIC.fullmatch(text)
    try:
        if match:
            a, op, b = int(match[1]), "add" if match[2] == "+" else "subtract", int(match[3])
            written = format_expression(a, op, b)
        else:
            written = text
        parse_expression(written)
    except MalformedExpressionError as err:
        raise DemoError(f"{err} Type two numbers in [-99, 99] with + or -, e.g. 12 + -7.") from None
    return written


def addsub_answer(loaded: LoadedModel, text: str) -> str:
    """Markdown: the model's answer (written and as a number), the true result, right or wrong."""
    written = expression_of(text)
    a, op, b = parse_expression(written)
    answer = greedy_answers(loaded.model, loaded.tokenizer, [written])[0]
    truth = evaluate_expression(a, op, b)
    try:
        value = str(parse_answer(answer))
        right = "right" if int(value) == truth else "wrong"
    except MalformedExpressionError:
        value, right = "not a number", "wrong"
    return (
        f"**Expression:** `{written}` ({a} {'+' if op == 'add' else '-'} {b})\n\n"
        f"**Model's answer:** `{answer}` = {value} ({right}; the true result is {truth})\n"
    )


__all__ = ["addsub_answer", "expression_of"]
