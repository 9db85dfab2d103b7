"""Scoring an AddSub model by greedy decoding (docs/addsub.md, "Training and evaluation").

Each input is answered with `model.generate()` (greedy, 4 new tokens after `BOS`), the answer
is compared as a whole with the gold one through the package's `ExactMatch` `evaluate` module,
and the accuracy is also split by operation and by the sign of the true result.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from datasets import Dataset

from ..metrics.exact_match import ExactMatch

#: Answer tokens generated after the decoder's BOS: sign, two digits, EOS.
ANSWER_NEW_TOKENS = 4


@torch.no_grad()
def greedy_answers(model, tokenizer, inputs: list[str], batch_size: int = 1024) -> list[str]:
    """Greedy answers (`"BOS POSITIVE 0 4 EOS"`) to written expressions, in order."""
    model.eval()
    answers: list[str] = []
    for start in range(0, len(inputs), batch_size):
        enc = tokenizer(inputs[start : start + batch_size], return_tensors="pt").to(model.device)
        out = model.generate(**enc, max_new_tokens=ANSWER_NEW_TOKENS, do_sample=False, num_beams=1)
        answers += [
            _up_to_eos(text.split()) for text in tokenizer.batch_decode(out, skip_special_tokens=False)
        ]
    return answers


def _up_to_eos(tokens: list[str]) -> str:
    """A generated answer as written up to its first EOS (rows that finish early are padded after it)."""
    return " ".join(tokens[: tokens.index("EOS") + 1] if "EOS" in tokens else tokens)


@torch.no_grad()
def teacher_forced_token_accuracy(model, tokenizer, dataset: Dataset, batch_size: int = 1024) -> float:
    """Share of answer tokens (sign, two digits, EOS) whose argmax is right when the decoder is fed
    the gold prefix: a per-token figure, looser than the exact match of whole generated answers."""
    model.eval()
    right = total = 0
    for start in range(0, len(dataset), batch_size):
        part = dataset[start : start + batch_size]
        enc = tokenizer(part["input"], return_tensors="pt").to(model.device)
        labels = torch.tensor(
            [ids[1:] for ids in tokenizer(part["answer"])["input_ids"]], device=model.device
        )
        pred = model(**enc, labels=labels).logits.argmax(-1)
        right += int((pred == labels).sum())
        total += labels.numel()
    return right / total if total else 0.0


def result_sign(result: int) -> str:
    """`positive`, `negative` or `zero` (written `POSITIVE 0 0`)."""
    return "zero" if result == 0 else ("positive" if result > 0 else "negative")


def score_addsub(predictions: list[str], dataset: Dataset) -> dict[str, float]:
    """Exact match of whole answers, overall and by operation and result sign, with counts."""
    if len(predictions) != len(dataset):
        raise ValueError(f"score_addsub: {len(predictions)} predictions for {len(dataset)} examples.")
    metric = ExactMatch()
    overall = metric.compute(predictions=predictions, references=dataset["answer"])
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (op, result) in enumerate(zip(dataset["operation"], dataset["result"])):
        groups[f"operation_{op}"].append(i)
        groups[f"sign_{result_sign(result)}"].append(i)
    out = {"exact_match": overall["exact_match"], "correct": overall["correct"], "total": overall["total"]}
    for name, idx in sorted(groups.items()):
        part = metric.compute(
            predictions=[predictions[i] for i in idx], references=[dataset["answer"][i] for i in idx]
        )
        out[f"exact_match_{name}"] = part["exact_match"]
        out[f"total_{name}"] = part["total"]
    return out


def evaluate_addsub(model, tokenizer, dataset: Dataset, batch_size: int = 1024) -> dict[str, float]:
    """Greedy-decode every `input` of `dataset` and [`score_addsub`] the answers; also the
    [`teacher_forced_token_accuracy`]."""
    scores = score_addsub(greedy_answers(model, tokenizer, list(dataset["input"]), batch_size), dataset)
    scores["token_accuracy_teacher_forced"] = teacher_forced_token_accuracy(
        model, tokenizer, dataset, batch_size
    )
    return scores


__all__ = [
    "ANSWER_NEW_TOKENS",
    "evaluate_addsub",
    "greedy_answers",
    "result_sign",
    "score_addsub",
    "teacher_forced_token_accuracy",
]
