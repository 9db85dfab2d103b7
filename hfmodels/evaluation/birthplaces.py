"""Birthplace evaluation (SPEC §1 "Evaluation"): batched greedy decoding, predictions file, accuracy.

The course code decodes one question at a time without a cache (about 51 s for the 500 dev
questions on the project's 2-core CPU). Here questions are decoded in left-padded batches with
the model's key/value cache (the perceiver recomputes only the bottleneck rows at or after the
new positions), under `torch.inference_mode` and, where the CPU supports it, bf16 autocast. The
hand loop (rather than `generate()`) also records the probability of every greedy token, which the
confidence analysis (`hfmodels.evaluation.analysis`) needs; `tests/test_evaluation.py` checks
that it returns exactly what `generate()` returns.

A prediction is the text after the first `⁇` up to the next `⁇`; if no `⁇` comes before the
block is full (or `max_new_tokens` is reached), it is everything generated, exactly like the
course's `completion.split("⁇")[1]`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers.cache_utils import DynamicCache

from ..char_gpt import MASK_CHAR
from ..metrics.exact_match import ExactMatch
from ..training.precision import native_bf16


@dataclass
class BirthplaceExample:
    """One line of a birthplace TSV: the question, the gold place (None for test inputs) and its
    1-based line number in the file."""

    question: str
    place: str | None
    line: int


@dataclass
class Prediction:
    """A decoded answer: `text` (before the closing `⁇`), `token_probs` (probability of every
    greedy token up to and including the closing `⁇`), and whether that `⁇` was produced."""

    text: str
    token_probs: list[float] = field(default_factory=list)
    closed: bool = False

    @property
    def confidence(self) -> float:
        """Product of the greedy token probabilities (the model's probability of its whole
        answer, closing `⁇` included)."""
        out = 1.0
        for p in self.token_probs:
            out *= p
        return out


def read_birthplace_file(path: str | os.PathLike) -> list[BirthplaceExample]:
    """Read `Where was NAME born?<TAB>PLACE` lines (the place may be absent, as in
    `birth_test_inputs.tsv`, but then on every line). Predictions are written one per input line,
    so nothing is skipped: an empty line (other than at the end of the file), an empty question,
    more than one tab, or a file that mixes lines with and without a place raises a `ValueError`
    naming the file, the line and the problem. A Windows line end (`\\r\\n`) is accepted."""
    examples: list[BirthplaceExample] = []
    blank = None
    with open(path, encoding="utf-8") as f:
        for i, raw in enumerate(f, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                blank = blank or i
                continue
            if blank is not None:
                raise ValueError(
                    f"{path}:{blank}: empty line; every line must be a question (predictions are written one per "
                    "line, in the same order)"
                )
            parts = line.split("\t")
            if len(parts) > 2:
                raise ValueError(
                    f"{path}:{i}: expected 'question<TAB>place' (or a question alone), found {len(parts)} fields: {line!r}"
                )
            if not parts[0].strip():
                raise ValueError(f"{path}:{i}: empty question: {line!r}")
            place = parts[1] if len(parts) == 2 else None
            if examples and (place is None) != (examples[0].place is None):
                first = "has" if examples[0].place is not None else "has no"
                raise ValueError(
                    f"{path}:{i}: {'no' if place is None else 'a'} place on this line, but line "
                    f"{examples[0].line} {first} place; a file is either all labelled or all questions: {line!r}"
                )
            examples.append(BirthplaceExample(parts[0], place, i))
    return examples


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


@torch.inference_mode()
def greedy_decode(
    model,
    tokenizer,
    questions: Sequence[str],
    batch_size: int = 128,
    max_new_tokens: int = 32,
    bf16: bool | None = None,
) -> list[Prediction]:
    """Greedy answers to `questions`: feed `question⁇`, decode until the next `⁇`, the block is
    full, or `max_new_tokens` (32, as the course's `sample(model, x, 32)`).

    Questions are sorted by length and decoded in left-padded batches of `batch_size` with the
    model's cache; the result is in the order of `questions`. `bf16=None` uses bf16 autocast on
    CUDA and on CPUs with AMX/AVX512-BF16, fp32 elsewhere (`hfmodels.training.precision.native_bf16`).
    """
    device = next(model.parameters()).device
    if bf16 is None:
        bf16 = native_bf16(device)
    was_training = model.training
    model.eval()
    config = model.config
    mask_id = tokenizer.char_to_id[MASK_CHAR] if hasattr(tokenizer, "char_to_id") else config.mask_token_id
    pad_id = config.pad_token_id
    limit = config.max_input_length
    prompts = [tokenizer.encode_chars(q + MASK_CHAR) for q in questions]
    for q, p in zip(questions, prompts):
        if len(p) >= limit:
            raise ValueError(
                f"greedy_decode: question {q!r} is {len(p)} characters with its ⁇; the model accepts {limit}."
            )
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Prediction | None] = [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in rows)
        steps = min(max_new_tokens, limit - width)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
        attn = torch.zeros((len(rows), width), dtype=torch.long, device=device)
        for r, i in enumerate(rows):
            ids[r, width - len(prompts[i]) :] = torch.tensor(prompts[i], device=device)
            attn[r, width - len(prompts[i]) :] = 1
        # Always decode with a cache: `config.use_cache` may have been switched off by a training
        # run (Trainer copies `TrainingArguments.use_cache`, False by default, into the config).
        cache = DynamicCache()
        new_tokens, new_probs = [], []
        done = torch.zeros(len(rows), dtype=torch.bool, device=device)
        step_input = ids
        for _ in range(steps):
            with _autocast(device, bf16):
                out = model(step_input, attention_mask=attn, cache=cache, use_cache=True)
            probs = torch.softmax(out.logits[:, -1].float(), dim=-1)
            p, tok = probs.max(dim=-1)
            new_tokens.append(tok)
            new_probs.append(p)
            done |= tok == mask_id
            if bool(done.all()):
                break
            ids = torch.cat([ids, tok[:, None]], dim=1)
            attn = torch.cat([attn, attn.new_ones(len(rows), 1)], dim=1)
            step_input = tok[:, None]
        if not new_tokens:
            for i in rows:
                results[i] = Prediction("")
            continue
        toks = torch.stack(new_tokens, dim=1).tolist()
        prob = torch.stack(new_probs, dim=1).tolist()
        for r, i in enumerate(rows):
            row = toks[r]
            end = row.index(mask_id) if mask_id in row else len(row)
            text = "".join(tokenizer.id_to_char[t] for t in row[:end])
            closed = end < len(row)
            results[i] = Prediction(text, prob[r][: end + 1 if closed else end], closed)
    model.train(was_training)
    return results  # type: ignore[return-value]


def write_lines_atomic(path: str | os.PathLike, lines: Sequence[str]) -> None:
    """Write `lines` (one per line) to `path` through a temporary file and `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def evaluate_places(predictions: Sequence[str], references: Sequence[str | None]) -> dict | None:
    """Exact-match accuracy (the [`ExactMatch`] metric) of `predictions` against `references`;
    None when there are no gold places (test inputs)."""
    if not references or any(r is None for r in references):
        return None
    return ExactMatch().compute(predictions=list(predictions), references=list(references))


def evaluate_birthplaces(
    model,
    tokenizer,
    corpus_path: str | os.PathLike,
    outputs_path: str | os.PathLike | None = None,
    batch_size: int = 128,
    bf16: bool | None = None,
) -> tuple[dict | None, list[BirthplaceExample], list[Prediction]]:
    """Decode every question of `corpus_path`, write one predicted place per line (same order) to
    `outputs_path` if given, and return `(accuracy dict or None, examples, predictions)`."""
    examples = read_birthplace_file(corpus_path)
    predictions = greedy_decode(
        model, tokenizer, [e.question for e in examples], batch_size=batch_size, bf16=bf16
    )
    if outputs_path is not None:
        write_lines_atomic(outputs_path, [p.text for p in predictions])
    scores = evaluate_places([p.text for p in predictions], [e.place for e in examples])
    return scores, examples, predictions


__all__ = [
    "BirthplaceExample",
    "Prediction",
    "evaluate_birthplaces",
    "evaluate_places",
    "greedy_decode",
    "read_birthplace_file",
    "write_lines_atomic",
]
