"""Span-corruption draws that an interrupted and resumed `Trainer` run repeats exactly.

`SpanCorruptionCollator` keeps one RNG stream per process, which a checkpoint does not hold and
which the data loader's prefetching runs ahead of; a resumed run would therefore corrupt the
documents differently from the uninterrupted run. [`ResumableSpanCorruptionCollator`] instead
seeds every batch from `(seed, epoch, process rank, the batch's corpus line numbers)`: the
`Trainer`'s sampler gives the same batches in the same epoch after a resume (it skips the batches
already trained on without collating them), so the draws are the same, and each epoch's new
shuffle gives new draws, as the original re-draws every time an example is read.
[`EpochCallback`] tells the collator which epoch is running (`Trainer` calls `on_epoch_begin`
after restoring a checkpoint's state, with `state.epoch` inside the resumed epoch).
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
from transformers import TrainerCallback

from ..data.char_gpt import SpanCorruptionCollator, process_rank


class ResumableSpanCorruptionCollator(SpanCorruptionCollator):
    """[`SpanCorruptionCollator`] whose random draws depend only on the seed, the epoch, the
    process rank and which documents form the batch (their `line` numbers, or a checksum of
    their text/ids when there is no `line` column). Same arguments as the parent; `seed` defaults
    to 0. Register [`EpochCallback`] with the `Trainer` so the epoch is known."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.seed is None:
            self.seed = 0
        self.epoch = 0
        self._batch_rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:  # type: ignore[override]
        """The generator of the batch being collated (set by `__call__`)."""
        if self._batch_rng is None:
            raise RuntimeError("ResumableSpanCorruptionCollator.rng is only defined while collating a batch.")
        return self._batch_rng

    @staticmethod
    def _example_key(example: dict[str, Any]) -> int:
        if example.get("line") is not None:
            return int(example["line"])
        content = example["text"] if "text" in example else example["input_ids"]
        data = (
            content.encode("utf-8") if isinstance(content, str) else np.asarray(content, np.int64).tobytes()
        )
        return zlib.crc32(data)

    def __call__(self, examples: list[dict]):
        keys = [self._example_key(ex) for ex in examples]
        self._batch_rng = np.random.default_rng(
            np.random.SeedSequence([self.seed, self.epoch, process_rank(), *keys])
        )
        try:
            return super().__call__(examples)
        finally:
            self._batch_rng = None


class EpochCallback(TrainerCallback):
    """Sets `collator.epoch` to the integer epoch at the start of every (possibly resumed) epoch."""

    def __init__(self, collator: Any):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor(state.epoch + 1e-9) if state.epoch is not None else 0


__all__ = ["EpochCallback", "ResumableSpanCorruptionCollator"]
