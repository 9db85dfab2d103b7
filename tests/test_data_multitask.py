"""hfmodels.data.multitask: single-task batches (proportional and round-robin schedules, seeded,
grouped by length, sharded over processes) and the collator."""

import os
from collections import Counter

import pytest
import torch
from accelerate.data_loader import BatchSamplerShard
from multitask_helpers import tokenizer_fixture  # noqa: F401  (pytest fixtures)

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.data.multitask import MultitaskBatchSampler, MultitaskCollator

os.environ["HF_HUB_OFFLINE"] = "1"


SIZES = {"sst": 23, "quora": 41, "sts": 9}


def sampled(sampler, epoch=0):
    sampler.set_epoch(epoch)
    return list(sampler)


def task_of(index):
    start = 0
    for name, n in SIZES.items():
        if index < start + n:
            return name
        start += n
    raise IndexError(index)


def test_proportional_schedule_covers_every_example_once_in_single_task_batches():
    sampler = MultitaskBatchSampler(SIZES, batch_size=4, schedule="proportional", seed=3)
    batches = sampled(sampler)
    assert len(batches) == len(sampler) == 6 + 11 + 3
    assert all(len({task_of(i) for i in b}) == 1 for b in batches)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(sum(SIZES.values())))
    counts = Counter(task_of(b[0]) for b in batches)
    assert counts == {"sst": 6, "quora": 11, "sts": 3}  # steps in proportion to the data
    # tasks are interleaved, not trained one after another
    first_half = {task_of(b[0]) for b in batches[: len(batches) // 2]}
    assert first_half == set(SIZES)


def test_round_robin_schedule_cycles_tasks_and_upsamples_small_ones():
    sampler = MultitaskBatchSampler(SIZES, batch_size=4, schedule="round_robin", seed=3)
    batches = sampled(sampler)
    assert len(batches) == len(sampler) == 3 * 11
    assert [task_of(b[0]) for b in batches[:6]] == ["sst", "quora", "sts"] * 2
    per_task = Counter(task_of(b[0]) for b in batches)
    assert per_task == {"sst": 11, "quora": 11, "sts": 11}
    seen = {i for b in batches for i in b}
    assert seen == set(range(sum(SIZES.values())))  # every example of every task appears


@pytest.mark.parametrize("schedule", ["proportional", "round_robin"])
def test_batch_order_is_seeded(schedule):
    lengths = {n: [(7 * i) % 13 for i in range(k)] for n, k in SIZES.items()}
    for lens in (None, lengths):
        a = MultitaskBatchSampler(SIZES, 4, schedule=schedule, seed=5, lengths=lens)
        b = MultitaskBatchSampler(SIZES, 4, schedule=schedule, seed=5, lengths=lens)
        assert sampled(a, 0) == sampled(b, 0)
        assert sampled(a, 1) == sampled(b, 1)
        assert sampled(a, 0) != sampled(a, 1)
        assert sampled(a, 0) != sampled(
            MultitaskBatchSampler(SIZES, 4, schedule=schedule, seed=6, lengths=lens)
        )


def test_group_by_length_batches_similar_lengths():
    sizes = {"sst": 400}
    lengths = {
        "sst": [int(x) for x in torch.randint(1, 100, (400,), generator=torch.Generator().manual_seed(0))]
    }
    grouped = sampled(MultitaskBatchSampler(sizes, 8, seed=0, lengths=lengths, megabatch_mult=50))
    plain = sampled(MultitaskBatchSampler(sizes, 8, seed=0))
    assert sorted(i for b in grouped for i in b) == list(range(400))

    def padding(batches):
        return sum(
            max(lengths["sst"][i] for i in b) * len(b) - sum(lengths["sst"][i] for i in b) for b in batches
        )

    assert padding(grouped) < padding(plain) / 4


def test_processes_get_different_batches():
    sampler = MultitaskBatchSampler(SIZES, batch_size=4, seed=0)
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=i)) for i in range(2)]
    assert len(shards[0]) == len(shards[1])
    assert not any(b0 == b1 for b0, b1 in zip(*shards))
    covered = {i for shard in shards for b in shard for i in b}
    assert covered == set(range(sum(SIZES.values())))


def test_collator_pads_each_side_and_types_labels(tokenizer):
    collate = MultitaskCollator(tokenizer)
    pair = [
        {
            "input_ids": [2, 5, 3],
            "attention_mask": [1, 1, 1],
            "input_ids_2": [2, 6, 7, 8, 3],
            "attention_mask_2": [1] * 5,
            "label": 1,
            "task": "paraphrase",
        },
        {
            "input_ids": [2, 5, 6, 7, 3],
            "attention_mask": [1] * 5,
            "input_ids_2": [2, 3],
            "attention_mask_2": [1, 1],
            "label": 0,
            "task": "paraphrase",
        },
    ]
    out = collate(pair)
    assert out["task"] == "paraphrase"
    assert out["input_ids"].shape == (2, 5) and out["input_ids_2"].shape == (2, 5)
    assert out["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert out["labels"].dtype == torch.float32
    single = collate([{"input_ids": [2, 3], "attention_mask": [1, 1], "label": 4, "task": "sentiment"}])
    assert single["labels"].dtype == torch.long and "input_ids_2" not in single
    with pytest.raises(ValueError, match="exactly one task"):
        collate([pair[0], {"input_ids": [2, 3], "attention_mask": [1, 1], "label": 4, "task": "sentiment"}])
