"""The vanilla pretraining target measured end to end: the original course code's training step
against the recipe itself, launched as one process of two threads or as two processes of one
thread each (gloo DDP through `torchrun`, the global batch of 128 split in two).

Each round runs the three, in an order that alternates between rounds, each in a fresh process:
the original course code (`reference_mingpt`, fp32, 128 x 127 padded rows, the median of
`--reference_steps` steps after one warm-up step: only the step, no data loading) and the recipe
(`recipes/char_gpt/run.py pretrain vanilla`, `--recipe_steps` steps; seconds per step are
`train_runtime / steps`, which includes the data pipeline, the Trainer's own work and the first,
slower steps, so the recipe's side is counted conservatively). Not part of `make bench`:

    python benchmarks/cpu_launch_ratio.py --data_dir ../shared/data --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from hfmodels.reporting import write_text_atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def reference_child(data_dir: str, steps: int) -> None:
    sys.path.insert(0, str(HERE))
    from bench_char_gpt import CharGPTData, reference_step_fn, timed

    data = CharGPTData(data_dir)
    batches = data.wiki_batches(steps + 1, 128, pack=False, pad_to_block=True)
    times = timed(reference_step_fn(data, batches), steps, warmup=1)
    print(json.dumps({"s_per_step": statistics.median(times)}))


def recipe(data_dir: str, steps: int, processes: int, out: Path) -> float:
    args = [
        "recipes/char_gpt/run.py", "pretrain", "vanilla", "wiki.txt", "--data_dir", data_dir,
        "--max_steps", str(steps), "--fit_schedule_to_run", "--save_strategy", "no", "--logging_steps", "10",
        "--report_to", "none", "--output_dir", str(out), "--writing_params_path", str(out / "model"),
    ]  # fmt: skip
    env = dict(os.environ)
    if processes == 1:
        cmd = [sys.executable, *args]
    else:
        env.update(ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(processes),
        ]
        cmd += args
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    found = re.findall(r"'train_runtime': '?([0-9.]+)", run.stdout + run.stderr)
    if run.returncode != 0 or not found:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {run.returncode}):\n{(run.stdout + run.stderr)[-3000:]}"
        )
    return float(found[-1]) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="../shared/data")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--recipe_steps", type=int, default=50)
    p.add_argument("--reference_steps", type=int, default=10)
    p.add_argument("--output", default=None, help="JSON file for the per-round figures")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    data_dir = str(Path(args.data_dir).resolve())
    if args.child:
        reference_child(data_dir, args.reference_steps)
        return
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            sides = ["original", "one process", "two processes"]
            row = {}
            for side in sides if r % 2 == 0 else sides[::-1]:
                if side == "original":
                    cmd = [sys.executable, __file__, "--child", "--data_dir", data_dir]
                    cmd += ["--reference_steps", str(args.reference_steps)]
                    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    row[side] = json.loads(run.stdout.strip().splitlines()[-1])["s_per_step"]
                else:
                    n = 1 if side == "one process" else 2
                    row[side] = recipe(data_dir, args.recipe_steps, n, Path(tmp) / f"r{r}-{n}")
            row["ratio one"] = row["original"] / row["one process"]
            row["ratio two"] = row["original"] / row["two processes"]
            rounds.append(row)
            print(
                f"round {r + 1}: original {row['original'] * 1000:.0f} ms/step, recipe one process "
                f"{row['one process'] * 1000:.0f} ms ({row['ratio one']:.2f}x), two processes "
                f"{row['two processes'] * 1000:.0f} ms ({row['ratio two']:.2f}x)",
                flush=True,
            )
    summary = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(
        f"medians over {len(rounds)} rounds: original {summary['original'] * 1000:.0f} ms/step; recipe "
        f"{summary['ratio one']:.2f}x (one process), {summary['ratio two']:.2f}x (two processes)"
    )
    if args.output:
        write_text_atomic(args.output, json.dumps({"rounds": rounds, "medians": summary}, indent=1))


if __name__ == "__main__":
    main()
