"""Time the fast-path pretraining step, or the dev-set decoding, of a variant in two git revisions of `hfmodels`,
alternating (not part of `make bench`).

    python benchmarks/ab_revisions.py --data_dir ../shared/data --old 44e3d8d --new HEAD
    python benchmarks/ab_revisions.py --data_dir ../shared/data --old HEAD~1 --variant perceiver
    python benchmarks/ab_revisions.py --old HEAD~1 --variant perceiver --task decode --steps 2 --checkpoint DIR

Each revision's `hfmodels/` is exported (`git archive`) to a temporary folder; one process per
(round, revision) imports it and times `--steps` training steps (batch 128, bf16 where native, after
two warm-up steps; the same batches and seed for both; vanilla: packed rows; perceiver, m = 64: rows
padded to the longest example, as `make bench` runs them; `--task decode`: a step is `greedy_decode` of
the 500 dev questions, and the revisions must give the same answers) with this checkout's
`benchmarks/bench_char_gpt.py`. The revisions alternate, the order reversed every other round,
so that drift in a shared machine's speed slows both alike. Prints every process's median and the
ratio of the medians of all steps; `--output` writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from hfmodels.reporting import write_text_atomic

REPO = Path(__file__).resolve().parents[1]

STEP_TIMER = """
import json, statistics, sys, time
sys.path.insert(1, {bench!r})
import torch
import hfmodels
assert hfmodels.__file__.startswith({src!r}), hfmodels.__file__
from bench_char_gpt import CharGPTData, fast_path_step_fn, model_step_fn, seeded_model
from hfmodels.char_gpt import CharGPTForCausalLM
from hfmodels.training.precision import native_bf16
data = CharGPTData({data_dir!r})
digest = None
if {task!r} == "decode":
    import hashlib
    from hfmodels.evaluation.birthplaces import greedy_decode
    questions = list(data.birth["validation"]["question"])
    if {checkpoint!r}:
        model = CharGPTForCausalLM.from_pretrained({checkpoint!r})
    else:
        model = seeded_model(data.vocab_size, {variant!r})
    model.eval()

    def step(i):
        global digest
        answers = [p.text for p in greedy_decode(model, data.tokenizer, questions)]
        digest = hashlib.sha1(chr(10).join(answers).encode()).hexdigest()
elif {variant!r} == "vanilla":
    batches = data.wiki_batches(6, 128, pack=True, pad_to_block=False)
    step = fast_path_step_fn(data.vocab_size, batches)
else:
    batches = data.wiki_batches(6, 128, pack=False, pad_to_block=False)
    model = seeded_model(data.vocab_size, "perceiver", attention_backend="matmul")
    step = model_step_fn(model, batches, native_bf16(), True)
step(0), step(1)
times = []
for i in range({steps}):
    start = time.perf_counter()
    step(i)
    times.append(time.perf_counter() - start)
print(json.dumps({{"times": times, "digest": digest}}))
"""


def export(rev: str, into: Path) -> Path:
    """`hfmodels/` of git revision `rev`, extracted under `into`."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "hfmodels"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def time_revision(
    src: Path, data_dir: str, steps: int, variant: str = "vanilla", task: str = "train", checkpoint: str = ""
) -> dict:
    """`{"times": [seconds per step], "digest": sha1 of the decoded answers (decode) or None}`."""
    code = STEP_TIMER.format(
        bench=str(REPO / "benchmarks"),
        src=str(src),
        data_dir=data_dir,
        steps=steps,
        variant=variant,
        task=task,
        checkpoint=checkpoint,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"timing {src} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", default="../shared/data")
    p.add_argument("--old", required=True, help="git revision, e.g. a commit before a change")
    p.add_argument("--new", default="HEAD", help="git revision (default HEAD)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=12, help="timed steps per process")
    p.add_argument("--variant", choices=("vanilla", "perceiver", "synthesizer"), default="vanilla")
    p.add_argument(
        "--task",
        choices=("train", "decode"),
        default="train",
        help="train: a pretraining step; decode: greedy answers to the 500 dev questions (one step)",
    )
    p.add_argument(
        "--checkpoint", default="", help="decode: a trained model folder (default: a seeded random model)"
    )
    p.add_argument("--output", default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    if args.task == "train" and args.variant == "synthesizer":
        p.error("--task train times vanilla (packed) or perceiver (padded) steps")
    data_dir = str(Path(args.data_dir).resolve())
    checkpoint = str(Path(args.checkpoint).resolve()) if args.checkpoint else ""
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {name: export(rev, Path(tmp) / name) for name, rev in (("old", args.old), ("new", args.new))}
        times: dict[str, list[float]] = {"old": [], "new": []}
        digests: dict[str, set] = {"old": set(), "new": set()}
        for r in range(args.rounds):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                out = time_revision(srcs[name], data_dir, args.steps, args.variant, args.task, checkpoint)
                times[name] += out["times"]
                digests[name].add(out["digest"])
                median = statistics.median(out["times"]) * 1000
                print(f"round {r} {name:3s} median {median:.0f} ms/step", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "variant": args.variant,
        "task": args.task,
        "checkpoint": args.checkpoint or None,
        "old": args.old,
        "new": args.new,
        "old_ms": med["old"] * 1000,
        "new_ms": med["new"] * 1000,
        "speedup": med["old"] / med["new"],
        "times": times,
    }
    if args.task == "decode":  # both revisions must give the same answers
        result["same_answers"] = len(digests["old"] | digests["new"]) == 1
    print(
        f"old {args.old}: {result['old_ms']:.0f} ms/step, new {args.new}: {result['new_ms']:.0f} ms/step, "
        f"speed-up {result['speedup']:.3f}x"
        + (f", same answers: {result['same_answers']}" if "same_answers" in result else "")
    )
    if args.output:
        write_text_atomic(args.output, json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
