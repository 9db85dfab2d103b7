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

[`resolve_resume_checkpoint`] turns a recipe's `--resume_from_checkpoint` into a checkpoint that
is safe to resume: `last` picks the newest *complete* one in the output folder, numerically, and
a folder left half-written by a run killed while saving is skipped (or, named explicitly, refused
with the reason). `Trainer` writes `trainer_state.json` last and cannot resume without it, so a
restartable script that picked the highest-numbered folder would stop at every restart.
"""

from __future__ import annotations

import logging
import math
import os
import re
import zlib
from typing import Any

import numpy as np
from transformers import TrainerCallback

from ..data.char_gpt import SpanCorruptionCollator, process_rank

logger = logging.getLogger(__name__)

#: `--resume_from_checkpoint` values that mean "the newest complete checkpoint in `output_dir`".
LAST_CHECKPOINT = ("last", "latest")
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
_STATE = "trainer_state.json"
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ResumableSpanCorruptionCollator(SpanCorruptionCollator):
    """[`SpanCorruptionCollator`] whose random draws depend only on the seed, the epoch, the
    process rank and which documents form the batch (their `line` numbers, or a checksum of
    their text, question or ids when there is no `line` column). Same arguments as the parent; `seed` defaults
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
        if "text" in example:
            content = example["text"]
        elif "question" in example:  # a raw birthplace row
            content = f"{example['question']}\t{example.get('place') or ''}"
        else:
            content = example["input_ids"]
        data = (
            content.encode("utf-8") if isinstance(content, str) else np.asarray(content, np.int64).tobytes()
        )
        return zlib.crc32(data)

    def _seeded(self, examples: list[dict], make):
        keys = [self._example_key(ex) for ex in examples]
        self._batch_rng = np.random.default_rng(
            np.random.SeedSequence([self.seed, self.epoch, process_rank(), *keys])
        )
        try:
            return make(examples)
        finally:
            self._batch_rng = None

    def __call__(self, examples: list[dict]):
        return self._seeded(examples, super().__call__)

    def corrupt_rows(self, examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(tokens, valid, lengths)` of the batch's corruption before any layout (what `__call__`
        lays out; the same draws), for collators that combine it with other rows."""
        return self._seeded(examples, self._corrupt_batch)


class EpochCallback(TrainerCallback):
    """Sets `collator.epoch` to the integer epoch at the start of every (possibly resumed) epoch."""

    def __init__(self, collator: Any):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor(state.epoch + 1e-9) if state.epoch is not None else 0


class StopAfterStepsCallback(TrainerCallback):
    """Ends training after `steps` optimizer steps, saving a checkpoint and leaving `max_steps` and
    the schedule untouched: an interruption on purpose (used to prove that resuming gives the
    uninterrupted result)."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.steps:
            control.should_save = True
            control.should_training_stop = True


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be resumed (missing folder, weights or `trainer_state.json`), or None."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return "no such folder"
    if not any(os.path.isfile(os.path.join(path, name)) for name in _WEIGHTS):
        return f"no model weights ({' / '.join(_WEIGHTS)}); was the run stopped while saving?"
    if not os.path.isfile(os.path.join(path, _STATE)):
        return f"no {_STATE} (the Trainer writes it last); was the run stopped while saving?"
    return None


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The `checkpoint-<step>` folder of `output_dir` with the highest step that can be resumed
    (see [`checkpoint_problem`]); incomplete newer ones are skipped with a warning. None if there is none."""
    output_dir = os.fspath(output_dir)
    if not os.path.isdir(output_dir):
        return None
    steps = sorted(
        (int(m.group(1)), name)
        for name in os.listdir(output_dir)
        if (m := _CHECKPOINT_DIR.match(name)) and os.path.isdir(os.path.join(output_dir, name))
    )
    for _, name in reversed(steps):
        path = os.path.join(output_dir, name)
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("Skipping the incomplete checkpoint %s: %s", path, problem)
    return None


def resolve_resume_checkpoint(value: str | None, output_dir: str | os.PathLike) -> str | None:
    """The checkpoint a recipe resumes from, given its `--resume_from_checkpoint` value.

    - None or "": start from scratch.
    - "last" / "latest": the newest complete checkpoint in `output_dir`
      ([`last_complete_checkpoint`]); from scratch if there is none yet, so a restartable script can
      always pass it.
    - a path: that checkpoint, which must be complete; otherwise a `ValueError` names the path, what
      is missing and the newest complete checkpoint next to it.
    """
    if not value:
        return None
    if value.lower() in LAST_CHECKPOINT:
        found = last_complete_checkpoint(output_dir)
        if found is None:
            logger.info("No complete checkpoint in %s yet; training starts from scratch.", output_dir)
        else:
            logger.info("Resuming from %s, the newest complete checkpoint in %s.", found, output_dir)
        return found
    problem = checkpoint_problem(value)
    if problem is not None:
        sibling = last_complete_checkpoint(os.path.dirname(os.path.abspath(value)))
        hint = f"; the newest complete checkpoint next to it is {sibling}" if sibling else ""
        raise ValueError(f"--resume_from_checkpoint {value}: cannot resume, {problem}{hint}")
    return os.fspath(value)


__all__ = [
    "LAST_CHECKPOINT",
    "EpochCallback",
    "ResumableSpanCorruptionCollator",
    "StopAfterStepsCallback",
    "checkpoint_problem",
    "last_complete_checkpoint",
    "resolve_resume_checkpoint",
]


# python -m hfmodels.training.resume OUTPUT_DIR: print the checkpoint to resume, if any
if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m hfmodels.training.resume OUTPUT_DIR")
    print(last_complete_checkpoint(sys.argv[1]) or "")
