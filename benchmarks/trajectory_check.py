#!/usr/bin/env python
"""Early pretraining loss of the course's own code against ours, on the same span-corruption data.

    OMP_NUM_THREADS=1 python benchmarks/trajectory_check.py ref  400 32   # minGPT reference, fp32, padded rows
    OMP_NUM_THREADS=1 python benchmarks/trajectory_check.py bf16 400 32   # our fast path (bf16, packed, fused AdamW)
    OMP_NUM_THREADS=1 python benchmarks/trajectory_check.py fp32 400 32   # our packed path in fp32

Arguments: path, steps, batch size, then optionally the data folder, a number of documents N (the
first N of wiki.txt; 0 = all) and a constant learning rate (default 6e-3, the spec's peak). A small
corpus shows within minutes whether a path can memorise, which is what the 650 epochs rely on:

    OMP_NUM_THREADS=1 python benchmarks/trajectory_check.py ref 1000 32 ../shared/data 64 6e-3

AdamW(0.9, 0.95), weight decay 0.1, clip 1.0, seed 0; prints the mean loss of every 50 steps. A
check that the fast path learns like the original, not a benchmark of speed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_char_gpt import CharGPTData, model_step_fn  # noqa: E402
from reference_mingpt import ReferenceGPT, reference_pair, train_step  # noqa: E402

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM  # noqa: E402


def main(argv: list[str]) -> list[float]:
    which, steps, batch_size = argv[0], int(argv[1]), int(argv[2])
    data_dir = argv[3] if len(argv) > 3 else "../shared/data"
    if which not in ("ref", "bf16", "fp32"):
        raise SystemExit(f"path {which!r}: expected ref, bf16 or fp32")
    data = CharGPTData(data_dir)
    lr = float(argv[5]) if len(argv) > 5 else 6e-3
    if len(argv) > 4 and int(argv[4]) > 0:
        data.wiki = data.wiki.select(range(int(argv[4])))
    pack = which != "ref"
    batches = data.wiki_batches(steps, batch_size, pack=pack, pad_to_block=not pack, seed=1)
    torch.manual_seed(0)
    if which == "ref":
        model = ReferenceGPT(vocab_size=data.vocab_size)
        optimizer = model.configure_optimizers(lr)
        model.train()
        pairs = [reference_pair(b["input_ids"]) for b in batches]

        def step(i: int) -> float:
            return train_step(model, optimizer, *pairs[i])
    else:
        model = CharGPTForCausalLM(CharGPTConfig(vocab_size=data.vocab_size))
        step = model_step_fn(model, batches, which == "bf16", True, lr)
    losses: list[float] = []
    start = time.time()
    for i in range(steps):
        losses.append(step(i))
        if (i + 1) % 50 == 0:
            print(
                which,
                i + 1,
                round(statistics.mean(losses[-50:]), 3),
                f"{time.time() - start:.0f}s",
                flush=True,
            )
    return losses


if __name__ == "__main__":
    main(sys.argv[1:])
