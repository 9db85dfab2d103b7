"""The Sentiment, paraphrase, similarity tab: the multitask BERT's three heads on typed sentences
(docs/definitions.md, the multitask tasks): the SST-5 label with its five probabilities (softmax of
the sentiment logits), the duplicate probability of a question pair (sigmoid of the paraphrase
logit) and the 0-5 similarity of two sentences (the similarity head's score)."""

from __future__ import annotations

import torch

from .loading import DemoError, LoadedModel

#: Longest sentence accepted, in characters (the encoder truncates to its positions anyway).
MAX_SENTENCE_CHARS = 1000


def _sentence(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise DemoError(f"The {what} is empty: type a sentence.")
    if len(text) > MAX_SENTENCE_CHARS:
        raise DemoError(f"The {what} is {len(text)} characters; at most {MAX_SENTENCE_CHARS} are accepted.")
    return text


def _head(loaded: LoadedModel, task: str) -> None:
    if task not in loaded.model.config.tasks:
        raise DemoError(
            f"{loaded.label} has no {task} head (its heads: {', '.join(loaded.model.config.tasks)})."
        )


def _encoded(tokenizer, text: str, suffix: str = "") -> dict[str, torch.Tensor]:
    batch = tokenizer([text], truncation=True, return_tensors="pt")
    return {
        key + suffix: batch[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in batch
    }


@torch.no_grad()
def _logits(loaded: LoadedModel, task: str, first: str, second: str | None = None) -> torch.Tensor:
    inputs = _encoded(loaded.tokenizer, first)
    if second is not None:
        inputs.update(_encoded(loaded.tokenizer, second, suffix="_2"))
    return loaded.model(task=task, **{k: v.to(loaded.model.device) for k, v in inputs.items()}).logits.float()


def sentiment(loaded: LoadedModel, sentence: str) -> dict[str, float]:
    """{label: probability} of the sentiment head for `sentence` (labels from `config.id2label`)."""
    _head(loaded, "sentiment")
    probs = torch.softmax(_logits(loaded, "sentiment", _sentence(sentence, "sentence"))[0], dim=-1)
    names = loaded.model.config.id2label
    return {names[i]: float(p) for i, p in enumerate(probs)}


def paraphrase(loaded: LoadedModel, question_1: str, question_2: str) -> dict[str, float]:
    """{"duplicate": p, "not duplicate": 1 - p} for a question pair (names from the config)."""
    _head(loaded, "paraphrase")
    logit = _logits(
        loaded,
        "paraphrase",
        _sentence(question_1, "first question"),
        _sentence(question_2, "second question"),
    )
    p = float(torch.sigmoid(logit.reshape(-1)[0]))
    negative, positive = loaded.model.config.paraphrase_labels
    return {positive: p, negative: 1.0 - p}


def similarity(loaded: LoadedModel, sentence_1: str, sentence_2: str) -> float:
    """The similarity head's 0-5 score for a sentence pair (the head's output, not clipped)."""
    _head(loaded, "similarity")
    score = _logits(
        loaded,
        "similarity",
        _sentence(sentence_1, "first sentence"),
        _sentence(sentence_2, "second sentence"),
    )
    return float(score.reshape(-1)[0])


__all__ = ["paraphrase", "sentiment", "similarity"]
