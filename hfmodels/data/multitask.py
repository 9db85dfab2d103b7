"""Single-task batches from several data sets, for training all minBERT tasks in one `Trainer` run.

* [`MultitaskDataset`] concatenates the tokenised data sets (`{"sst": ..., "quora": ..., "sts": ...}`)
  behind one index and tags every example with the head it trains (`"task"`).
* [`MultitaskBatchSampler`] yields batches of indices that never mix data sets, in one of two
  schedules per epoch:

  - `"proportional"`: every example once per epoch, batches of all data sets shuffled together,
    so each data set's share of the steps is its share of the examples;
  - `"round_robin"`: one batch of each data set in turn (SST, Quora, STS, SST, ...) for as many
    rounds as the largest data set has batches; smaller data sets start a fresh permutation when
    they run out (they are up-sampled), so every task gets the same number of steps.

  Both are deterministic functions of `(seed, epoch)`; `group_by_length` sorts examples by length
  inside shuffled mega-batches (as transformers' `LengthGroupedSampler`) to cut padding.
  Wrapped by accelerate, consecutive batches go to different processes.
* [`MultitaskCollator`] pads each side of a batch dynamically (`DataCollatorWithPadding`) and
  passes the task name on, so `MultitaskBertModel.forward(task=...)` picks the head.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import torch
from datasets import Dataset
from torch.utils.data import Sampler
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from .minbert import TASK_OF_DATASET, load_minbert, tokenize_minbert

SCHEDULES = ("proportional", "round_robin")
_SECOND = ("input_ids_2", "attention_mask_2", "token_type_ids_2")


class MultitaskDataset(torch.utils.data.Dataset):
    """Several tokenised data sets behind one index; each example gains `"task"` (the head name).

    Args:
        datasets: `{name: Dataset}` in a fixed order, e.g. `{"sst": ..., "quora": ..., "sts": ...}`.
        tasks: `{name: task}`; defaults to the minBERT mapping (sst/cfimdb -> sentiment,
            quora -> paraphrase, sts -> similarity).
    """

    def __init__(self, datasets: Mapping[str, Dataset], tasks: Mapping[str, str] | None = None):
        if not datasets:
            raise ValueError("MultitaskDataset needs at least one data set")
        self.datasets = dict(datasets)
        tasks = dict(tasks or {})
        for name in self.datasets:
            if name not in tasks:
                if name not in TASK_OF_DATASET:
                    raise ValueError(f"no task for data set {name!r}: pass tasks={{{name!r}: ...}}")
                tasks[name] = TASK_OF_DATASET[name]
        self.tasks = tasks
        self.names = list(self.datasets)
        self.offsets: dict[str, int] = {}
        total = 0
        for name in self.names:
            self.offsets[name] = total
            total += len(self.datasets[name])
        self._len = total

    def __len__(self) -> int:
        return self._len

    @property
    def sizes(self) -> dict[str, int]:
        """Number of examples of each data set, in order."""
        return {name: len(ds) for name, ds in self.datasets.items()}

    def locate(self, index: int) -> tuple[str, int]:
        """(data-set name, row) of a global index."""
        for name in reversed(self.names):
            if index >= self.offsets[name]:
                return name, index - self.offsets[name]
        raise IndexError(index)

    def __getitem__(self, index: int) -> dict:
        name, row = self.locate(index)
        example = dict(self.datasets[name][row])
        example["task"] = self.tasks[name]
        return example

    def lengths(self) -> dict[str, list[int]]:
        """Token count of every example (both sides for pairs), per data set."""
        out = {}
        for name, ds in self.datasets.items():
            first = [len(x) for x in ds["input_ids"]]
            if "input_ids_2" in ds.column_names:
                first = [a + len(b) for a, b in zip(first, ds["input_ids_2"])]
            out[name] = first
        return out


class MultitaskBatchSampler(Sampler[list[int]]):
    """Batches of global indices of a [`MultitaskDataset`], each from one data set.

    Args:
        sizes: `{name: number of examples}` in the dataset's order (`MultitaskDataset.sizes`).
        batch_size: examples per batch.
        schedule: `"proportional"` or `"round_robin"` (see the module docstring).
        seed: base seed; epoch `e` uses `seed + e`, so every epoch differs and reruns repeat.
        drop_last: drop each data set's last incomplete batch.
        lengths: per-data-set example lengths to group batches by length (`None`: no grouping).
        megabatch_mult: with `lengths`, examples are sorted inside shuffled chunks of
            `megabatch_mult * batch_size`.
    """

    def __init__(
        self,
        sizes: Mapping[str, int],
        batch_size: int,
        schedule: str = "proportional",
        seed: int = 0,
        drop_last: bool = False,
        lengths: Mapping[str, list[int]] | None = None,
        megabatch_mult: int = 50,
    ):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule={schedule!r}; allowed: {', '.join(SCHEDULES)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}; expected a positive integer")
        self.sizes = dict(sizes)
        self.names = list(self.sizes)
        self.examples_per_batch = batch_size
        # Each task's last batch may be short, so the sampler advertises no fixed `batch_size`:
        # that makes accelerate's `BatchSamplerShard` deal out whole batches to the processes
        # instead of assuming full ones (which silently drops and duplicates examples).
        self.batch_size = None
        self.schedule = schedule
        self.seed = seed
        self.drop_last = drop_last
        self.lengths = None if lengths is None else {k: list(v) for k, v in lengths.items()}
        self.megabatch_mult = megabatch_mult
        self.epoch = 0
        offsets, total = {}, 0
        for name in self.names:
            offsets[name] = total
            total += self.sizes[name]
        self.offsets = offsets

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order `__iter__` yields (called by `Trainer` every epoch)."""
        self.epoch = epoch

    def _num_batches(self, name: str) -> int:
        n = self.sizes[name]
        size = self.examples_per_batch
        return n // size if self.drop_last else math.ceil(n / size)

    def _batches(self, name: str, generator: torch.Generator) -> list[list[int]]:
        """One pass over data set `name`: shuffled (and length-grouped) batches of global indices."""
        order = torch.randperm(self.sizes[name], generator=generator).tolist()
        if self.lengths is not None:
            lengths = self.lengths[name]
            chunk = self.megabatch_mult * self.examples_per_batch
            order = [
                i
                for start in range(0, len(order), chunk)
                for i in sorted(order[start : start + chunk], key=lambda k: -lengths[k])
            ]
        base = self.offsets[name]
        size = self.examples_per_batch
        batches = [[base + i for i in order[start : start + size]] for start in range(0, len(order), size)]
        if self.drop_last and batches and len(batches[-1]) < size:
            batches.pop()
        if self.lengths is not None:
            # Sorting put the longest batches first; shuffle batch order so epochs do not start with them.
            perm = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[p] for p in perm]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        per_task = {name: self._batches(name, generator) for name in self.names}
        if self.schedule == "proportional":
            everything = [b for name in self.names for b in per_task[name]]
            for p in torch.randperm(len(everything), generator=generator).tolist():
                yield everything[p]
            return
        rounds = max(len(b) for b in per_task.values())
        for name in self.names:
            while per_task[name] and len(per_task[name]) < rounds:  # up-sample: a fresh pass
                per_task[name].extend(self._batches(name, generator))
            per_task[name] = per_task[name][:rounds]
        for r in range(rounds):
            for name in self.names:
                if per_task[name]:
                    yield per_task[name][r]

    def __len__(self) -> int:
        counts = [self._num_batches(name) for name in self.names]
        if self.schedule == "proportional":
            return sum(counts)
        return max(counts) * sum(1 for c in counts if c > 0)


class MultitaskCollator:
    """Pad a single-task batch dynamically and keep its task name.

    Examples carry `input_ids`, `attention_mask`, `token_type_ids` (plus `*_2` for pairs), an
    optional `label` and `task`. Each side is padded to its own longest row by
    `DataCollatorWithPadding` (the model pads the two sides to a common length itself). Labels
    become `labels`: `long` for sentiment, `float` for paraphrase and similarity.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer
        self.pad = DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt"
        )

    def __call__(self, features: list[dict]) -> dict:
        tasks = {f.get("task") for f in features}
        if len(tasks) != 1 or None in tasks:
            raise ValueError(f"a batch must hold examples of exactly one task, got {sorted(map(str, tasks))}")
        task = tasks.pop()
        first = [
            {k: f[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in f} for f in features
        ]
        batch = dict(self.pad(first))
        if "input_ids_2" in features[0]:
            second = [{k[:-2]: f[k] for k in _SECOND if k in f} for f in features]
            batch.update({f"{k}_2": v for k, v in self.pad(second).items()})
        if "label" in features[0] and features[0]["label"] is not None:
            dtype = torch.long if task == "sentiment" else torch.float
            batch["labels"] = torch.tensor([f["label"] for f in features], dtype=dtype)
        batch["task"] = task
        return batch


#: The data sets of each recipe `--task`: all three for `multitask`, else the named one.
TASK_DATASETS = {
    "multitask": ("sst", "quora", "sts"),
    "sst": ("sst",),
    "cfimdb": ("cfimdb",),
    "quora": ("quora",),
    "sts": ("sts",),
}


def _cap(ds: Dataset, n: int | None) -> Dataset:
    return ds if n is None or len(ds) <= n else ds.select(range(n))


def load_task_data(
    task: str,
    data_dir,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int = 128,
    cfimdb_max_length: int = 256,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
) -> tuple[dict[str, Dataset], dict[str, Dataset], dict[str, Dataset]]:
    """Tokenised `(train, dev, test)` data sets keyed by data-set name for a `task` of
    [`TASK_DATASETS`] (`max_length` tokens per sentence, `cfimdb_max_length` for CFIMDB reviews;
    the caps keep the first rows of each set). Sets without a test file have no `test` entry."""
    if task not in TASK_DATASETS:
        raise ValueError(f"--task {task!r}; allowed: {', '.join(TASK_DATASETS)}")
    train, dev, test = {}, {}, {}
    for name in TASK_DATASETS[task]:
        limit = cfimdb_max_length if name == "cfimdb" else max_length
        dsd = tokenize_minbert(load_minbert(name, data_dir), tokenizer, max_length=limit)
        train[name] = _cap(dsd["train"], max_train_examples)
        dev[name] = _cap(dsd["validation"], max_eval_examples)
        if "test" in dsd:
            test[name] = _cap(dsd["test"], max_eval_examples)
    return train, dev, test


__all__ = [
    "MultitaskBatchSampler",
    "MultitaskCollator",
    "MultitaskDataset",
    "SCHEDULES",
    "TASK_DATASETS",
    "load_task_data",
]
