"""A/B of glibc malloc settings that keep freed memory on the vanilla fast-path training step.

The step faults in 18-27 thousand fresh 4 KiB pages (glibc gives large freed blocks back to the
kernel), and a bf16 product writing into fresh memory is slower than one writing into reused
memory (14.2 against 11.1 ms for 8255x256 @ 256x1024 here). The "keep" side raises glibc's mmap
threshold to 32 MiB and its trim threshold to 1 GiB (`mallopt`) before anything else runs.
Each side runs in a fresh process (malloc's settings are process-wide), the order alternating
every round; a process times `--steps` steps after two warm-up steps and reports their median and
the minor page faults per step. Linux with glibc only. Not part of `make bench`:

    python benchmarks/malloc_probe.py --data_dir ../shared/data --rounds 4 --steps 10
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def child(data_dir: str, keep: bool, steps: int) -> dict:
    sys.path.insert(0, str(HERE))
    if keep:
        libc = ctypes.CDLL("libc.so.6")
        for param, value in ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30)):
            if libc.mallopt(param, value) != 1:
                raise RuntimeError(f"mallopt({param}, {value}) failed")
    import torch
    from bench_char_gpt import CharGPTData, fast_path_step_fn, timed

    data = CharGPTData(data_dir)
    batches = data.wiki_batches(steps + 2, 128, pack=True, pad_to_block=False)
    step = fast_path_step_fn(data.vocab_size, batches)
    step(0)
    step(1)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = timed(lambda i: step(i + 2), steps, warmup=0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {
        "keep": keep,
        "ms": statistics.median(times) * 1000,
        "faults_per_step": faults / steps,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="../shared/data")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.data_dir, args.child == "keep", args.steps)))
        return
    rows = []
    for r in range(args.rounds):
        for mode in ("default", "keep") if r % 2 == 0 else ("keep", "default"):
            cmd = [
                sys.executable,
                __file__,
                "--data_dir",
                args.data_dir,
                "--steps",
                str(args.steps),
                "--child",
                mode,
            ]
            rows.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
            print(
                f"round {r + 1} {mode:8s} {rows[-1]['ms']:.0f} ms/step, {rows[-1]['faults_per_step']:.0f} faults/step",
                flush=True,
            )
    med = {
        m: statistics.median(x["ms"] for x in rows if x["keep"] == (m == "keep")) for m in ("default", "keep")
    }
    print(
        f"medians: default {med['default']:.0f} ms, kept {med['keep']:.0f} ms: {med['default'] / med['keep']:.3f}x"
    )


if __name__ == "__main__":
    main()
