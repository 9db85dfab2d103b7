"""Birthplace evaluation (docs/definitions.md, "Birthplace examples"): batched greedy decoding,
the predictions file, exact-match accuracy, and the London baseline.

The course code decodes one question at a time without a cache (about 51 s for the 500 dev
questions on the project's 2-core CPU). Here questions are decoded in left-padded batches with
the model's key/value cache (the perceiver recomputes only the bottleneck rows at or after the
new positions), under `torch.inference_mode` and, where the CPU supports it natively, bf16
autocast. The hand loop (rather than `generate()`) also records the probability of every greedy
token, which the confidence analysis (`hfmodels.evaluation.analysis`) needs;
`tests/test_evaluation.py` checks that it returns exactly what `generate()` returns. It stays
hand-written because `generate(output_scores=True)` + `compute_transition_scores` gives the same
answers but takes about 6 % more CPU time (median per-round ratio 1.06, 2.76 s against 2.57 s for
the 500 dev questions, batch 128, bf16, 1 thread; Intel Xeon with AMX, 2 cores, 2026-12-04;
`benchmarks/bench_greedy_decode.py`).

A prediction is the text after the first `⁇` up to the next `⁇`; if no `⁇` comes before the
block is full (or `max_new_tokens` is reached), it is everything generated, exactly like the
course's `completion.split("⁇")[1]`.

Files are read with the one strict reader, `hfmodels.data.read_birthplace_file` (labelled or
questions only, decided by the first line). The split a score belongs to is an explicit `split`
argument or the data set's own file name (`hfmodels.data.split_of_file`). Metric keys keep the
course's split names (`dev_accuracy` for `validation`, `hfmodels.data.splits.course_split_name`);
any other file's metrics are prefixed `eval_`, never `dev_`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from datasets import Dataset
from transformers.cache_utils import DynamicCache

from ..char_gpt import MASK_CHAR
from ..data import read_birthplace_file, split_of_file
from ..data.splits import check_split_name, course_split_name
from ..metrics.exact_match import ExactMatch
from ..reporting import write_text_atomic
from ..training.precision import native_bf16

#: Metric prefix of a file that is not one of the data set's own (see [`BirthplaceEvaluation`]).
UNKNOWN_SPLIT_PREFIX = "eval"


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


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _decode_batch(model, prompts: list[list[int]], steps: int, mask_id: int, bf16: bool):
    """Greedy tokens and their probabilities, (rows, ≤ steps) lists, for left-padded `prompts`."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), model.config.pad_token_id, dtype=torch.long, device=device)
    attn = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for r, prompt in enumerate(prompts):
        ids[r, width - len(prompt) :] = torch.tensor(prompt, device=device)
        attn[r, width - len(prompt) :] = 1
    # Always decode with a cache: `config.use_cache` may have been switched off by a training
    # run (Trainer copies `TrainingArguments.use_cache`, False by default, into the config).
    cache = DynamicCache()
    new_tokens, new_probs = [], []
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    step_input = ids
    for _ in range(steps):
        with _autocast(device, bf16):
            out = model(step_input, attention_mask=attn, cache=cache, use_cache=True)
        p, tok = torch.softmax(out.logits[:, -1].float(), dim=-1).max(dim=-1)
        new_tokens.append(tok)
        new_probs.append(p)
        done |= tok == mask_id
        if bool(done.all()):
            break
        attn = torch.cat([attn, attn.new_ones(len(prompts), 1)], dim=1)
        step_input = tok[:, None]
    if not new_tokens:
        return [[] for _ in prompts], [[] for _ in prompts]
    return torch.stack(new_tokens, dim=1).tolist(), torch.stack(new_probs, dim=1).tolist()


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
    model's cache; the result is in the order of `questions`. `bf16=None` uses bf16 autocast where
    the hardware runs it natively, fp32 elsewhere (`hfmodels.training.precision.native_bf16`).
    """
    device = next(model.parameters()).device
    bf16 = native_bf16(device) if bf16 is None else bf16
    config = model.config
    mask_id = tokenizer.char_to_id[MASK_CHAR] if hasattr(tokenizer, "char_to_id") else config.mask_token_id
    limit = config.max_input_length
    prompts = [tokenizer.encode_chars(q + MASK_CHAR) for q in questions]
    for q, p in zip(questions, prompts):
        if len(p) >= limit:
            raise ValueError(
                f"greedy_decode: question {q[:80]!r} is {len(p)} characters with its ⁇; the model accepts "
                f"{limit}."
            )
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Prediction | None] = [None] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = [prompts[i] for i in rows]
            steps = min(max_new_tokens, limit - max(len(p) for p in batch))
            toks, probs = _decode_batch(model, batch, steps, mask_id, bf16)
            for i, row, prob in zip(rows, toks, probs):
                end = row.index(mask_id) if mask_id in row else len(row)
                closed = end < len(row)
                text = "".join(tokenizer.id_to_char[t] for t in row[:end])
                results[i] = Prediction(text, prob[: end + 1 if closed else end], closed)
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def evaluate_places(predictions: Sequence[str], references: Sequence[str | None]) -> dict | None:
    """Exact-match accuracy (the [`ExactMatch`] metric) of `predictions` against `references`;
    None when there are no gold places (test inputs)."""
    if not references or any(r is None for r in references):
        return None
    return ExactMatch().compute(predictions=list(predictions), references=list(references))


def score_line(scores: dict) -> str:
    """The course's report line, e.g. `Correct: 25.0 out of 500.0: 5.0%`."""
    return (
        f"Correct: {float(scores['correct'])} out of {float(scores['total'])}: {100 * scores['exact_match']}%"
    )


def write_predictions(path: str | os.PathLike, predictions: Sequence[str]) -> None:
    """One predicted place per line, in question order, written atomically."""
    write_text_atomic(path, "".join(f"{p}\n" for p in predictions))


def metric_prefix(split: str | None, argument: str = "split") -> str:
    """The prefix of a split's metric keys: the course's name of the split (`dev` for `validation`,
    as metrics.json files and their readers have it), `eval` for a file of unknown split (None).
    The split `dev` is refused with an error naming `argument`."""
    return UNKNOWN_SPLIT_PREFIX if split is None else course_split_name(split, argument)


@dataclass
class BirthplaceEvaluation:
    """The outcome of [`evaluate_birthplaces`]: the file's `split` ("train", "validation", "test" or
    an explicit name; None for a file of unknown split), its rows (`examples`, a `Dataset` from
    `hfmodels.data.read_birthplace_file`), the `predictions`, the exact-match `scores` (None without
    gold places), the decoding time and where the predictions were written."""

    split: str | None
    examples: Dataset
    predictions: list[Prediction]
    scores: dict | None
    decode_seconds: float
    outputs_path: str | None = None

    def metrics(self) -> dict:
        """`<split>_accuracy`, `<split>_correct`, `<split>_total` (when scored),
        `<split>_decode_seconds` and `<split>_predictions`; `<split>` is [`metric_prefix`] of the split."""
        prefix = metric_prefix(self.split)
        out = {
            f"{prefix}_decode_seconds": round(self.decode_seconds, 2),
            f"{prefix}_predictions": self.outputs_path,
        }
        if self.scores is not None:
            out[f"{prefix}_accuracy"] = self.scores["exact_match"]
            out[f"{prefix}_correct"] = self.scores["correct"]
            out[f"{prefix}_total"] = self.scores["total"]
        return out


def evaluate_birthplaces(
    model,
    tokenizer,
    corpus_path: str | os.PathLike,
    outputs_path: str | os.PathLike | None = None,
    batch_size: int = 128,
    bf16: bool | None = None,
    split: str | None = None,
) -> BirthplaceEvaluation:
    """Decode every question of `corpus_path`, write one predicted place per line (same order) to
    `outputs_path` if given, and score them when the file has places.

    The file is read strictly against the model (`hfmodels.data.read_birthplace_file` with the
    tokenizer and `config.block_size`). `split` names the split the scores belong to; by default
    it is `hfmodels.data.split_of_file(corpus_path)` (None for a file that is not the data set's);
    the course's `dev` is refused (the split is `validation`)."""
    if split is not None:
        check_split_name(split)
    examples = read_birthplace_file(
        corpus_path, labelled=None, tokenizer=tokenizer, block_size=model.config.block_size
    )
    start = time.perf_counter()
    predictions = greedy_decode(model, tokenizer, examples["question"], batch_size=batch_size, bf16=bf16)
    seconds = time.perf_counter() - start
    if outputs_path is not None:
        write_predictions(outputs_path, [p.text for p in predictions])
    references = examples["place"] if "place" in examples.column_names else []
    scores = evaluate_places([p.text for p in predictions], references)
    return BirthplaceEvaluation(
        split=split if split is not None else split_of_file(corpus_path),
        examples=examples,
        predictions=predictions,
        scores=scores,
        decode_seconds=seconds,
        outputs_path=None if outputs_path is None else os.fspath(outputs_path),
    )


def london_baseline(corpus_path: str | os.PathLike, outputs_path: str | os.PathLike | None = None) -> dict:
    """The course's baseline: "London" for every question of a labelled file (25 of 500, 5.0 %,
    on birth_dev.tsv). Returns `london_accuracy`, `london_correct`, `london_total`; writes the
    predictions to `outputs_path` if given."""
    examples = read_birthplace_file(corpus_path, labelled=True)
    predictions = ["London"] * len(examples)
    if outputs_path is not None:
        write_predictions(outputs_path, predictions)
    scores = ExactMatch().compute(predictions=predictions, references=examples["place"])
    return {
        "london_accuracy": scores["exact_match"],
        "london_correct": scores["correct"],
        "london_total": scores["total"],
    }


__all__ = [
    "BirthplaceEvaluation",
    "Prediction",
    "evaluate_birthplaces",
    "evaluate_places",
    "greedy_decode",
    "london_baseline",
    "metric_prefix",
    "score_line",
    "write_predictions",
]
