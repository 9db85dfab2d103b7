"""Resuming interrupted `Trainer` runs: which checkpoint to resume, and the callbacks that make a
resumed run repeat the uninterrupted one.

[`resolve_resume_checkpoint`] turns a recipe's `--resume_from_checkpoint` into a checkpoint that
is safe to resume: `last` picks the newest *complete* one in the output folder, numerically. A
checkpoint is complete when [`checkpoint_problem`] finds nothing wrong: its weights open with
safetensors, `trainer_state.json` parses, every `rng_state*.pth` loads, and `optimizer.pt` and
`scheduler.pt` are present and load. A folder left half-written by a run killed while saving (or
damaged later) is skipped with a warning naming it and the reason, or, named explicitly, refused
with the reason; without this check, `Trainer` would crash inside `train()` on the first broken
file (`SafetensorError`, `JSONDecodeError`, `OSError`).

[`EpochCallback`] tells `hfmodels.data.ResumableSpanCorruptionCollator` which epoch is running
(`Trainer` calls `on_epoch_begin` after restoring a checkpoint's state, with `state.epoch` inside
the resumed epoch).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import TrainerCallback
from transformers.trainer_pt_utils import safe_globals

logger = logging.getLogger(__name__)

#: `--resume_from_checkpoint` values that mean "the newest complete checkpoint in `output_dir`".
LAST_CHECKPOINT = ("last", "latest")
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
_STATE = "trainer_state.json"
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
_RNG_STATE = re.compile(r"^rng_state(_\d+)?\.pth$")
_OPTIMIZER = "optimizer.pt"
_SCHEDULER = "scheduler.pt"


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


def _unreadable(kind: str, path: str, err: Exception) -> str:
    return f"{kind} {os.path.basename(path)} is unreadable ({type(err).__name__}: {str(err)[:120]})"


def _weights_problem(folder: str) -> str | None:
    """Why the checkpoint's weights cannot be loaded, or None (headers and sizes checked, not values)."""
    files = {
        name: os.path.join(folder, name) for name in _WEIGHTS if os.path.isfile(os.path.join(folder, name))
    }
    if not files:
        return f"no model weights ({' / '.join(_WEIGHTS)}); was the run stopped while saving?"
    shards = [files[name] for name in ("model.safetensors",) if name in files]
    if "model.safetensors.index.json" in files:
        index = files["model.safetensors.index.json"]
        try:
            with open(index, encoding="utf-8") as f:
                names = sorted(set(json.load(f)["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            return _unreadable("weight index", index, err)
        shards += [os.path.join(folder, name) for name in names]
    for shard in shards:
        try:
            with safe_open(shard, framework="pt") as f:
                f.keys()
        except (OSError, SafetensorError) as err:
            return _unreadable("weights", shard, err)
    if not shards:
        return _torch_file_problem(files["pytorch_model.bin"], "weights")
    return None


def _torch_file_problem(path: str, kind: str) -> str | None:
    """Why `torch.load` (as `Trainer` calls it: weights only) fails on `path`, or None."""
    try:
        with safe_globals():
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 (torch raises RuntimeError, OSError, EOFError, UnpicklingError...)
        return _unreadable(kind, path, err)
    return None


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be resumed, or None when it can.

    Checked in order: the folder exists; its weights open with safetensors (header and file size);
    `trainer_state.json` parses; every `rng_state*.pth` loads (at least one is present);
    `optimizer.pt` and `scheduler.pt` are present and load."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return "no such folder"
    problem = _weights_problem(path)
    if problem is not None:
        return problem
    state = os.path.join(path, _STATE)
    if not os.path.isfile(state):
        return f"no {_STATE} (the Trainer writes it last); was the run stopped while saving?"
    try:
        with open(state, encoding="utf-8") as f:
            json.load(f)
    except (OSError, ValueError) as err:
        return _unreadable("trainer state", state, err)
    rng = sorted(name for name in os.listdir(path) if _RNG_STATE.match(name))
    if not rng:
        return "no rng_state*.pth (the random state Trainer restores for an exact resume)"
    for name in [*rng, _OPTIMIZER, _SCHEDULER]:
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            return f"no {name}; was the run stopped while saving?"
        problem = _torch_file_problem(file, "random state" if name in rng else name.split(".")[0])
        if problem is not None:
            return problem
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
        logger.warning("Skipping the checkpoint %s, it cannot be resumed: %s", path, problem)
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
