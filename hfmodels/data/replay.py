"""Rehearsal during birthplace finetuning: pretraining documents mixed into every batch.

The study's finetuning (10 epochs on 2,000 questions) erases most of what span-corruption
pretraining stored (docs/results.md). Replaying pretraining documents beside the questions is the
standard remedy for such forgetting. [`ReplayCollator`]
builds each finetuning batch from the question examples the `Trainer` hands it plus
`round(ratio * len(questions))` corpus documents under the span-corruption objective of
pretraining. The documents are drawn from a generator seeded by the question batch itself, so a
resumed run draws the same ones; the corruption is [`ResumableSpanCorruptionCollator`]'s (seeded
by the epoch and the documents). `ratio = 0` gives exactly the plain question batch.

The token schedule counts every row of a batch, replayed ones included; finetuning runs far from
the cosine's `final_tokens`, so the rate stays at its peak either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .birthplaces import BirthplaceCollator
from .packing import IGNORE_INDEX, layout_batch
from .span_corruption import ResumableSpanCorruptionCollator, example_key


def _stack(parts: list[np.ndarray], width: int, fill: int) -> np.ndarray:
    """(rows, w_i) arrays right-padded with `fill` to `width` and stacked."""
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=fill) for p in parts])


class ReplayCollator:
    """Question batch + replayed pretraining documents, laid out together: one right-padded row
    per example (questions first), or, with `pack=True`, packed rows with `position_ids` and no
    compute spent on padding (documents are ~127 tokens, questions ~40).

    Args:
        question_collator ([`BirthplaceCollator`]): builds the question rows.
        document_collator ([`ResumableSpanCorruptionCollator`]): corrupts the replayed documents
            (its `pack` setting is not used; `pack` here decides the layout of the whole batch).
        documents (`Sequence[dict]`): the corpus rows (`text`, `line`) to draw from.
        ratio (`float`): replayed documents per question (0 = no replay).
        seed (`int`, *optional*, defaults to 0): with the batch's content, seeds which documents
            are drawn.
        pack (`bool`, *optional*, defaults to `False`): pack all rows (models with packed-row
            support: vanilla, synthesizer; not the perceiver).
    """

    def __init__(
        self,
        question_collator: BirthplaceCollator,
        document_collator: ResumableSpanCorruptionCollator,
        documents: Sequence[dict[str, Any]],
        ratio: float,
        seed: int = 0,
        pack: bool = False,
    ):
        if not ratio >= 0:
            raise ValueError(f"ReplayCollator: ratio={ratio!r}; must be >= 0.")
        if ratio > 0 and len(documents) == 0:
            raise ValueError("ReplayCollator: ratio > 0 needs at least one document to replay.")
        if question_collator.block_size != document_collator.block_size:
            raise ValueError(
                f"ReplayCollator: block sizes differ ({question_collator.block_size} for the questions, "
                f"{document_collator.block_size} for the documents)."
            )
        self.question_collator = question_collator
        self.document_collator = document_collator
        self.documents = documents
        self.ratio = float(ratio)
        self.seed = seed
        self.pack = pack

    def draw(self, examples: list[dict]) -> list[int]:
        """Indices of the documents replayed beside `examples` (distinct, deterministic)."""
        k = min(round(self.ratio * len(examples)), len(self.documents))
        if k == 0:
            return []
        keys = [example_key(ex) for ex in examples]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, *keys]))
        return sorted(rng.choice(len(self.documents), size=k, replace=False).tolist())

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        chosen = self.draw(examples)
        if not chosen and not self.pack:
            return self.question_collator(examples)
        q_tokens, q_labels, q_sizes = self.question_collator.rows(examples)
        pad_id = self.document_collator.pad_id
        tokens, labels, sizes = [q_tokens], [q_labels], [q_sizes]
        if chosen:
            d_tokens, d_valid, d_lengths = self.document_collator.corrupt_rows(
                [self.documents[i] for i in chosen]
            )
            tokens.append(d_tokens)
            labels.append(np.where(d_valid, d_tokens, IGNORE_INDEX))
            sizes.append(d_lengths + 2)
        width = max(t.shape[1] for t in tokens)
        tokens, labels = _stack(tokens, width, pad_id), _stack(labels, width, IGNORE_INDEX)
        sizes = np.concatenate(sizes)
        valid = np.arange(width)[None, :] < sizes[:, None]
        return layout_batch(
            tokens, valid, sizes, self.document_collator.block_size - 1, pad_id, pack=self.pack,
            pad_to_block=False, labels=labels,
        )  # fmt: skip


__all__ = ["ReplayCollator"]
