"""Rehearsal during birthplace finetuning: pretraining documents mixed into every batch.

The study's finetuning (10 epochs on 2,000 questions) erases most of what span-corruption
pretraining stored (RESULTS.md, "Memorised, then lost in finetuning"). Replaying pretraining
documents beside the questions is the standard remedy for such forgetting. [`ReplayCollator`]
builds each finetuning batch from the question examples the `Trainer` hands it plus
`round(ratio * len(questions))` corpus documents under the span-corruption objective of
pretraining. The documents are drawn from a generator seeded by the question batch itself, so a
resumed run draws the same ones; the corruption is [`ResumableSpanCorruptionCollator`]'s (seeded
by the epoch and the documents). `ratio = 0` gives exactly the plain question batch.

The token schedule counts every row of a batch, replayed ones included; finetuning runs far from
the cosine's `final_tokens`, so the rate stays at its peak either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..data.char_gpt import IGNORE_INDEX
from .resume import ResumableSpanCorruptionCollator


class ReplayCollator:
    """Question batch + replayed pretraining documents, stacked into one right-padded batch.

    Args:
        question_collator (`Callable`): builds the question rows (e.g. [`BirthplaceCollator`]);
            must return right-padded `input_ids` / `labels`.
        document_collator ([`ResumableSpanCorruptionCollator`]): corrupts the replayed documents;
            `pack=False` (one document per row).
        documents (`Sequence[dict]`): the corpus rows (`text`, `line`) to draw from.
        ratio (`float`): replayed documents per question (0 = no replay).
        seed (`int`, *optional*, defaults to 0): with the batch's content, seeds which documents
            are drawn.
    """

    def __init__(
        self,
        question_collator: Callable[[list[dict]], dict[str, torch.Tensor]],
        document_collator: ResumableSpanCorruptionCollator,
        documents: Sequence[dict[str, Any]],
        ratio: float,
        seed: int = 0,
    ):
        if not ratio >= 0:
            raise ValueError(f"ReplayCollator: ratio={ratio!r}; must be >= 0.")
        if ratio > 0 and len(documents) == 0:
            raise ValueError("ReplayCollator: ratio > 0 needs at least one document to replay.")
        if getattr(document_collator, "pack", False):
            raise ValueError("ReplayCollator: the document collator must not pack (one document per row).")
        self.question_collator = question_collator
        self.document_collator = document_collator
        self.documents = documents
        self.ratio = float(ratio)
        self.seed = seed

    def draw(self, examples: list[dict]) -> list[int]:
        """Indices of the documents replayed beside `examples` (distinct, deterministic)."""
        k = min(round(self.ratio * len(examples)), len(self.documents))
        if k == 0:
            return []
        keys = [ResumableSpanCorruptionCollator._example_key(ex) for ex in examples]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, *keys]))
        return sorted(rng.choice(len(self.documents), size=k, replace=False).tolist())

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.question_collator(examples)
        chosen = self.draw(examples)
        if not chosen:
            return batch
        replay = self.document_collator([self.documents[i] for i in chosen])
        width = max(batch["input_ids"].shape[1], replay["input_ids"].shape[1])
        pad_id = self.document_collator.tokenizer.pad_token_id
        out = {}
        for key, fill in (("input_ids", pad_id), ("labels", IGNORE_INDEX)):
            parts = [
                torch.nn.functional.pad(t[key], (0, width - t[key].shape[1]), value=fill)
                for t in (batch, replay)
            ]
            out[key] = torch.cat(parts)
        return out


__all__ = ["ReplayCollator"]
