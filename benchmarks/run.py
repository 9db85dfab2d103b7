"""Run the benchmark suite and write BENCHMARKS.md (what `make bench` runs).

    python benchmarks/run.py --data_dir ../shared/data --output BENCHMARKS.md
    python benchmarks/run.py --data_dir ../shared/data --output runs/bench/BENCHMARKS.md --quick

Sections: pretraining throughput (every attention variant, the course's code path against ours,
one optimisation at a time), birthplace finetuning, decoding the dev/test questions, vanilla vs
perceiver scaling (with a plot) and the multitask BERT backbone. Timings are medians of
`--repeats` runs after a warm-up, all in one process, so ratios compare like with like. Run it
under `flock /tmp/hfmodels-cpu.lock` on a shared machine. `--quick` is a smoke run (seconds).
On a machine with a GPU the models run there (`--device auto`, the default; `--device cpu` keeps
them on the CPU): every timed run then ends with `torch.cuda.synchronize()`, and the perceiver
table adds the peak allocated GPU memory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_char_gpt import (  # noqa: E402
    CharGPTData,
    bf16_matmul_slowdown,
    collator_speed,
    decoding_speed,
    finetuning_throughput,
    perceiver_scaling,
    pretraining_headline,
    pretraining_throughput,
)
from plots import plot_perceiver_scaling, plot_pretraining  # noqa: E402

from hfmodels.training.precision import describe_cpu, native_bf16  # noqa: E402
from hfmodels.reporting import write_text_atomic  # noqa: E402

SECTIONS = ("pretrain", "finetune", "decode", "perceiver", "bert")


def step_gflop(rows: str, n_layer: int = 4, d: int = 256, vocab: int = 256) -> float:
    """Matmul GFLOP of one training step (forward + backward = 3x forward) of the spec's model on a
    batch of `rows` ("R x T"): every Linear layer (2 FLOP per weight per token, forward) and the
    attention products Q K^T and A V over the full T x T, masked entries included."""
    r, t = (int(x) for x in rows.split("x"))
    linear = 2 * r * t * (n_layer * (4 * d * d + 2 * d * 4 * d) + d * vocab)
    attention = n_layer * r * 2 * (2 * t * t * d)
    return 3 * (linear + attention) / 1e9


def roofline_lines(fast: dict, target_examples_per_s: float, peak_gflops: float = 400.0) -> list[str]:
    """What the throughput target asks of this CPU: the step's matrix products at `peak_gflops`
    (about 200 GFLOP/s per core in bf16 measured here, two cores) and the time left for the rest."""
    gflop = step_gflop(fast["rows"])
    step_s = fast["ms_per_step"] / 1000
    matmul_s = gflop / peak_gflops
    target_s = fast["batch_size"] / target_examples_per_s
    return [
        f"What the target asks of the hardware: a fast-path step ({fast['rows']} packed tokens) is about "
        f"{gflop:.0f} GFLOP of matrix products (forward and backward), {gflop / step_s:.0f} GFLOP/s "
        f"averaged over the measured {step_s:.2f} s step. At this CPU's bf16 matmul peak (about "
        f"{peak_gflops / 2:.0f} GFLOP/s per core with AVX512-BF16, no AMX; {peak_gflops:.0f} for both "
        f"cores) the products alone take {matmul_s:.2f} s, leaving {step_s - matmul_s:.2f} s for "
        "everything else (LayerNorm, softmax, GELU, dropout masks, autocast casts, the optimizer). "
        f"{target_examples_per_s:.0f} examples/s means {target_s:.2f} s per step, so that rest would "
        f"have to shrink to {max(0.0, target_s - matmul_s):.2f} s "
        f"({100 * (1 - max(0.0, target_s - matmul_s) / (step_s - matmul_s)):.0f} % less) with the "
        "products already at peak. Fusing the element-wise work (a compiler), skipping the masked "
        "attention blocks of packed rows beyond the causal triangle (which is skipped), or a faster matmul "
        "unit (AMX, as the brief assumed, or a GPU) is what is left."
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="../shared/data", help="the shared data directory")
    p.add_argument("--output", default="BENCHMARKS.md", help="markdown report to write")
    p.add_argument(
        "--results_dir",
        default=None,
        help="PNG plots and raw JSON (default: benchmarks/results, or next to --output with --quick)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (used by tests): 2 repeats, batch 16, 8 questions, lengths 64/128; numbers are not comparable",
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per measurement (default 5, quick 2)"
    )
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    p.add_argument(
        "--checkpoint", default=None, help="a trained CharGPT folder to decode with (default: random init)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument(
        "--device",
        default="auto",
        help="where the models run: auto (cuda if available, else cpu), cpu, cuda or cuda:N",
    )
    p.add_argument(
        "--report_only",
        action="store_true",
        help="measure nothing: rewrite --output from the results.json of --results_dir (text changes only)",
    )
    args = p.parse_args(argv)
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown --sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: this PyTorch sees no CUDA device")
    return args


def machine_line(device: torch.device | None = None) -> str:
    """The device the models ran on (GPU name, or the CPU's description) and the versions."""
    where = describe_cpu()
    if device is not None and device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}; host CPU: {where})"
    return f"{where}, torch {torch.__version__}, transformers {transformers.__version__}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×" if b else "n/a"


def run_facts(args: argparse.Namespace) -> dict:
    """The command line, threads and repeats of this measuring run, for the report header."""
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ)
    return {
        "command": f"{(env + ' ') if env else ''}python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "quick": bool(args.quick),
        "omp_passive": os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE",
    }


def probe_lines(path: Path) -> list[str]:
    """The "Probed, not adopted" section from `benchmarks/probes.py`'s results, if they exist."""
    if not path.is_file():
        return []
    probes = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "## Probed, not adopted",
        "",
        f"Measured by `{probes['command']}` on {probes['date']} ({probes['threads']} torch threads, "
        f"torch {probes['torch']}; medians; not part of `make bench`).",
        "",
    ]
    steps = {(r["mode"], r["dropout"]): r for r in probes.get("compile", [])}
    for pdrop in sorted({d for _, d in steps}, reverse=True):
        eager, comp = steps.get(("eager", pdrop)), steps.get(("compile", pdrop))
        if eager and comp:
            lines.append(
                f"- `torch.compile(dynamic=False)` on every vanilla block, packed bf16 training step padded to "
                f"{comp['rows']}x127 rows, dropout {pdrop:g}: {comp['step_s'] * 1000:.0f} ms/step against "
                f"{eager['step_s'] * 1000:.0f} ms eager ({comp['step_s'] / eager['step_s']:.2f}x the eager time; "
                f"first compiled step {comp['first_step_s']:.1f} s with a warm Inductor cache)."
            )
    eager = [steps.get(("eager", d)) for d in (0.1, 0.0)]
    if all(eager):
        lines.append(
            f"- Dropout's share of the eager step (the two eager lines): "
            f"{1 - eager[1]['step_s'] / eager[0]['step_s']:.0%}."
        )
    soft = {r["path"]: r for r in probes.get("masked_softmax", [])}
    if len(soft) == 2:
        plain, fused = soft["masked_fill + softmax"], soft["torch._masked_softmax"]
        shape = "x".join(map(str, plain["shape"]))
        lines.append(
            f"- Fused `torch._masked_softmax` against `masked_fill` + `softmax` on bf16 scores {shape}, "
            f"forward and backward: {fused['fwd_bwd_s'] * 1000:.1f} ms against {plain['fwd_bwd_s'] * 1000:.1f} ms "
            f"({fused['fwd_bwd_s'] / plain['fwd_bwd_s']:.2f}x)."
        )
    return lines + [""]


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def default_precision(res: dict) -> str:
    """The precision the recipes use on the machine of `res` (results.json files without the
    `native_bf16` field came from the AVX512-BF16 machine)."""
    return "bf16" if res.get("native_bf16", True) else "fp32"


def headline(res: dict) -> dict[str, str]:
    """The targets' figures of one run, in the precision the recipes use on its machine."""
    out = {"machine": res["machine"].split(", torch")[0], "date": res["date"]}
    if "pretrain" in res:
        rows = res["pretrain"]
        fast = next(
            (r for r in rows if r["variant"] == "vanilla" and r["path"] == "+ packed rows (fast path)"), None
        )
        head = res.get("pretrain_headline")
        if head:
            out["pretrain"] = (
                f"{head['original_examples_per_s']:.1f} → {head['fast_examples_per_s']:.1f} ex/s "
                f"({head['precision']}, {head['ratio']:.2f}× interleaved)"
            )
        elif fast:
            out["pretrain"] = (
                f"{rows[0]['examples_per_s']:.1f} → {fast['examples_per_s']:.1f} ex/s "
                f"({fast['precision']}, {ratio(fast['examples_per_s'], rows[0]['examples_per_s'])})"
            )
    if "decode" in res:
        d, prec = res["decode"], default_precision(res)
        out["decode"] = (
            f"{d['dev_reference_s']:.1f} → {d[f'dev_batched_{prec}_s']:.2f} s "
            f"({ratio(d['dev_reference_s'], d[f'dev_batched_{prec}_s'])})"
        )
    by = {(r["length"], r["variant"]): r["ms"] for r in res.get("perceiver", [])}
    if (2048, "perceiver m=128") in by:
        out["perceiver"] = ratio(by[(2048, "vanilla")], by[(2048, "perceiver m=128")])
    return out


def other_machines_lines(plot_dir: Path, output: Path, here: Path | None = None) -> list[str]:
    """One row per other saved run (`benchmarks/results*/results.json`, or under `here`), so the
    report of each machine shows the others' headline figures next to its own."""
    here = here or Path(__file__).resolve().parent
    rows = []
    for results in sorted(here.glob("results*/results.json")):
        if results.parent.resolve() == plot_dir.resolve():
            continue
        h = headline(json.loads(results.read_text(encoding="utf-8")))
        report = results.parent / "BENCHMARKS.md"
        if not report.exists():
            report = here.parent / "BENCHMARKS.md"
        link = os.path.relpath(report, output.parent)
        rows.append(
            f"| [{h['machine']}]({link}) | {h['date']} | {h.get('pretrain', '—')} | {h.get('decode', '—')} "
            f"| {h.get('perceiver', '—')} |"
        )
    if not rows:
        return []
    return [
        "## The same benchmarks on other machines",
        "",
        "Headline figures of the other saved runs (`benchmarks/results*/`), each in the precision the "
        "recipes use there. Ratios are within one run; absolute figures are not comparable across machines.",
        "",
        "| machine | date | vanilla pretraining, original → fast path | 500 dev questions, original → batched | "
        "perceiver m=128 vs vanilla at ℓ 2048 |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]


def report(res: dict, args: argparse.Namespace, plot_dir: Path, output: Path) -> str:
    rel = os.path.relpath(plot_dir, output.parent)
    run = res.get("run") or run_facts(args)  # how the measurements were taken (kept in results.json)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand.",
        "",
        f"- Command: `{run['command']}`",
        f"- Machine: {res['machine']}; torch threads: {run['threads']}",
        f"- Date: {res['date']}; wall time of the whole run: {res['wall_s'] / 60:.1f} min",
        f"- Load average (1 min) at start / end: {res['load_start']:.2f} / {res['load_end']:.2f} "
        "(other jobs on the machine slow every path alike; compare ratios measured in the same run)",
        *(
            [
                "- `OMP_WAIT_POLICY=PASSIVE` (threads sleep instead of spinning between parallel regions) "
                "slows latency-bound work such as one-question-at-a-time decoding: the original loop's "
                "time per question is inflated by it, so the decoding speed-up is an upper bound."
            ]
            if run["omp_passive"]
            else []
        ),
        f"- Every figure is the median of timed runs after one warm-up run{' (QUICK smoke run)' if run['quick'] else ''}: "
        f"{run['repeats']} for training and BERT throughput and for the perceiver table up to length 1024, "
        f"{max(2, run['repeats'] // 2)} beyond it, {max(1, run['repeats'] // 2 + 1)} for decoding (each run decodes "
        f"every question), {max(5, 4 * run['repeats'])} for the collator.",
        "",
    ]
    lines += [
        "## What the fast path does (each part switchable)",
        "",
        "| optimisation | where | default | switch off |",
        "| --- | --- | --- | --- |",
        "| bf16 autocast (matmuls in bf16; residual stream, LayerNorm and loss in fp32; the attention "
        "softmax in bf16 on CPU and fp32 on CUDA, as autocast's op lists have it) | training recipe / "
        "`greedy_decode(bf16=None)` | on where the hardware multiplies bf16 (CUDA with bf16, CPUs with "
        "AVX512-BF16 or AMX: `hfmodels.training.precision.native_bf16`); off elsewhere, where bf16 is "
        "emulated and slower than fp32 | `--bf16 false`, `greedy_decode(bf16=False)` |",
        "| explicit-matmul attention on CPU (SDPA's CPU flash backward is slow at head size 32); "
        'SDPA on CUDA | `CharGPTConfig(attention_backend="auto")` | auto | `attention_backend="sdpa"` |',
        "| queries scaled before `QK^T` (one pass fewer over the T x T scores) | `attend()` | always | — "
        "(same function) |",
        "| cheap dropout masks: four int16 uniforms per 64-bit random word, keep iff `r >> 1` is below "
        "round(0.9·2^15) - 2^14 (P(keep) = 0.899994; `bernoulli_` is 4x slower); the multiplier 0 or "
        "1/(1-p) built from the sign bit with integer operations, never through a bool tensor (converting "
        "one is several times slower than a pass of arithmetic on CPU) | `CharGPTConfig(fast_dropout=True)` "
        "| on (CPU) | `fast_dropout=False` |",
        "| attention masks added as a 0/-inf bias in place (one pass forward, identity gradient) instead of "
        "`masked_fill` (a copy of the T x T scores forward and of their gradient backward) | `attend()` "
        "| always | — (same function) |",
        "| keys padded to a multiple of 16 on CPU with masked-out zero rows (bf16 softmax over rows of 127 "
        "runs a scalar tail: 2.3x the time of rows of 128) | `attend()`, `KEY_MULTIPLE` | CPU, more than one "
        'query row | `attention_backend="sdpa"` (the whole explicit-matmul path; same function up to the softmax\'s summation order) |',
        "| causal self-attention in query chunks (at least 64 rows, at most 8 chunks), each against the "
        "keys up to its last row: the masked upper triangle is mostly not computed (25 % fewer scores at 127 "
        "rows, 44 % in 8 chunks; attention forward and backward about 1.3x as fast at 127 rows, 2.5-3x at "
        "2048-4096, and about half the activation memory at long rows) | `attend()`, `QUERY_CHUNK`, "
        '`QUERY_CHUNKS` | CPU, causal, more than 64 query rows | `attention_backend="sdpa"` (as above; same function up to summation order) |',
        "| the perceiver's down-projection takes keys and values from the first m inputs only (bottleneck row "
        "i attends positions <= i < m; the others would be masked out): half the key/value projections "
        "and attention scores of that block at 127 inputs and m = 64; the padded perceiver step 1.05x as fast "
        "| `CharGPTModel.forward` | without a cache, padding mask or given `position_ids` (training) "
        "| — (same function; tested against the path over every input) |",
        "| padding-free packed rows, block-diagonal masks built once per batch from `position_ids` "
        "| `SpanCorruptionCollator(pack=True)`, `BirthplaceCollator(pack=True)` | recipe choice (pretraining and finetuning) | `pack=False` (perceiver must be padded) |",
        "| rows padded to the longest example, not to the block | collators (`pad_to_block=False`) | on "
        "| `pad_to_block=True` |",
        "| fused AdamW (`torch.optim.AdamW(fused=True)`, one pass over all parameters, same update rule) "
        "| `hfmodels.training.optim.create_mingpt_adamw` (the recipes; the bench's `+ fused AdamW` line) | on (CPU and CUDA) "
        "| `--optim adamw_torch`, `create_mingpt_adamw(fused=False)` |",
        "| batched left-padded KV-cache greedy decoding, length-sorted | `greedy_decode` | on | "
        "`batch_size=1` |",
        "| perceiver decoding: the bottleneck rows below the smallest new position cannot change (row i sees "
        "inputs at positions <= i), so their keys/values in the middle blocks and the up-projection are cached "
        "and only the rows at or after it are recomputed (none once every sequence is m long); the dev questions "
        "of the trained perceiver 2.0x as fast, a random one 3.4x, same answers; `generate()` uses the cache "
        "for the perceiver too | `CharGPTModel.forward` with a cache | on (`use_cache=True` for every variant) "
        "| `use_cache=False` (`generate`) |",
        "",
        "`torch.compile` is not used by default: compiling the blocks with dynamic shapes took about 60 s "
        "for a one-layer model on this CPU and recompiled (about 11 s) when the packed batch changed shape; "
        "with fixed shapes it is slower than eager (see *Probed, not adopted*). Under `torch.compile` the "
        "model falls back to native dropout (`Tensor.random_` breaks the graph), so compiling stays possible.",
        "",
    ]
    lines += probe_lines(plot_dir / "probes.json")
    lines += [
        "## Notes for the other paths (profiles taken on the AVX512-BF16 AMD EPYC, 2026-11-21)",
        "",
        "- Where a fast-path step goes (`torch.profiler`, packed bf16 vanilla step, 1 thread): the "
        "Linear layers' matmuls are 55 % (`mm` + `addmm`, at about 200 GFLOP/s per core in bf16, this "
        "CPU's measured peak for these shapes: the CPU is an AMD EPYC with AVX512-BF16 and no AMX), dtype "
        "casts of autocast 10 %, attention `bmm` 7 %, softmax 5 %, GELU backward 5 %, dropout masks "
        "about 7 % (from about 15 % with `bernoulli_`). What is left is arithmetic the spec's model needs.",
        "- The recipe runs the fast path by default: `recipes/char_gpt/run.py` defaults to "
        "`--attention_backend auto` (matmuls on CPU, SDPA on GPUs), `--pack` on for vanilla and "
        "synthesizer, bf16 where the hardware supports it; `create_mingpt_adamw` uses the fused AdamW "
        "on CPU and CUDA. Each has a switch (`--attention_backend`, `--pack false`, `--bf16 false`, "
        "`fused=False`).",
        "- Two processes of one thread each (gloo DDP, `ACCELERATE_USE_CPU=1 OMP_NUM_THREADS=1 torchrun "
        "--nproc_per_node 2`, 64 examples per process) against one process of two threads, same global "
        "batch of 128, 50 steps of the recipe (`train_runtime`, 2 repeats each, alternating): 55.2 / "
        "41.5 s for one process, 39.2 / 44.5 s for two. No clear gain on this machine, so the recipe "
        "keeps one process. Measured with `STEPS=50 bash benchmarks/ddp_probe.sh` "
        "(2026-11-21, 22:17; not part of `make bench`).",
        "- `greedy_decode`: in a profile of the 500 dev questions, `torch.cat` (the `DynamicCache` growing "
        "per layer and step, plus the decoder's own `ids`/`attention_mask` concatenation) is 14 % of "
        "decoding time; a preallocated cache would remove it.",
        "- On a shared 2-core machine, two-thread torch jobs slow down catastrophically when another "
        "process is busy: OpenMP threads spin-wait for a descheduled partner. Decoding 40 questions took "
        "23 s instead of 0.8 s until `OMP_WAIT_POLICY=PASSIVE` was set. Use it (or 1 thread) for any job "
        "that does not hold the CPU lock.",
        "- Element-wise passes over the attention scores (2026-12-01, `torch.profiler`, packed bf16 vanilla step, "
        "2 threads, 8.4M-element score tensors): reading a bool tensor is the slow part on this CPU. Converting "
        "the dropout keep-mask to bf16 took 4.3 ms against 0.7 ms for copying a bf16 tensor of the same shape, "
        "`masked_fill` with the broadcast causal mask 4.3 ms against 1.1 ms for adding a bf16 bias, and bf16 "
        "softmax over rows of 127 8.7 ms against 3.7 ms over rows of 128. Hence the additive mask, the dropout "
        "multiplier built from integer bits and the keys padded to 128 (table above): the fast-path step of "
        "commit 536a461 against that of 44e3d8d, before them, 911 against 1007 ms (1.10x; medians of 36 steps "
        "each in 3 alternating rounds, per-round medians 959/979, 1126/878, 963/930 ms, the machine busy "
        "with other work), `python benchmarks/ab_revisions.py --old 44e3d8d --new 536a461 --rounds 3 "
        "--steps 12`. Tried with them and not "
        "kept, as they showed no gain beyond the machine's noise in alternated measurements: one fused QKV "
        "matmul (a single autocast cast of the LayerNorm output), and glibc `mallopt` thresholds (trim "
        "threshold alone made steps 1.8x slower).",
        "- Run-to-run spread of the vanilla ratio on this shared machine, `make bench` runs of 2026-12-01: "
        "5.6x before the attention changes above; after them 7.2x, 6.3x, 5.5x, 8.2x and 5.3x between the "
        "sequential rows (the original's step took 3.9 to 5.6 s, the fast path's 0.69 to 0.77 s), and, "
        "interleaved in turns of two steps, 6.86x, 5.76x and 5.93x (the second of these from `--sections "
        "pretrain`; with turns of one step 5.95x). The fast path is about 6x the original here, but not with "
        "a margin that survives the machine's noise: the target is not claimed.",
        "- Causal query chunks (commit c8e864d, table above): the fast-path step of c8e864d against that of "
        "ec70e40, before it, 787 against 836 ms (1.06x; per-round medians 856/817, 792/739, 855/815 ms, the "
        "machine otherwise quiet), `python benchmarks/ab_revisions.py --data_dir ../shared/data --old ec70e40 "
        "--new c8e864d --rounds 3 --steps 12` (2026-12-01, 21:38). The next `make bench` (21:43) gave 5.94x "
        "interleaved (4716 against 793 ms) and 5.5x between the sequential rows: the machine was slower for "
        "both models than in the runs above, and the ratio did not move beyond its run-to-run spread. Matrix "
        "products in bf16 run at 375-406 GFLOP/s on the two cores here (8255-row Linear shapes, "
        "`torch.matmul`), the peak the roofline below assumes. With the chunks capped at 8 (commit 4aa3cbe, "
        "the code of this report) `make bench` at 21:55 gave 6.08x interleaved (4455 against 732 ms) and 5.3x "
        "sequential. The five interleaved runs of 2026-12-01 so far: 6.86x, 5.76x, 5.93x, 5.94x, 6.08x, "
        "median 5.94x; the criterion set before the last two (both at least 6x) was not met, so the target "
        "is still not claimed for this machine. The `make bench` of 2026-12-02 04:25 (vanilla code unchanged; "
        "the perceiver's down-projection change only) gave 6.06x interleaved (the original's step 5.0 s) and 7.3x "
        "sequential, and the next (05:20, after the perceiver's decoding change) 6.21x interleaved and 5.1x "
        "sequential. The seven interleaved runs since the attention changes: 6.86x, 5.76x, 5.93x, 5.94x, 6.08x, "
        "6.06x, 6.21x, median 6.06x; the last three with the vanilla path of 4aa3cbe, unchanged since: 6.08x, "
        "6.06x, 6.21x. At the target, without a margin that the run-to-run spread (5.8-6.9x) would respect, so "
        "it stays unclaimed; the two runs of 2026-12-02 were not used to decide it. "
        "The decision (rule written down before the runs, 2026-12-02 06:05: claim iff the median of five new "
        "runs and the median of all twelve are both at least 6.0x; no reruns, no runs dropped): five runs back "
        "to back of `python benchmarks/run.py --data_dir ../shared/data --sections pretrain` (same code, "
        "05:59-06:22, nothing else of ours running) gave 6.24x (5169 against 828 ms), 6.20x (4873/786), "
        "5.66x (4488/793), 5.75x (5038/876) and 5.99x (4874/814): median **5.99x**; all twelve: median 6.03x, "
        "spread 5.66-6.86x. **Not claimed**: on this CPU (AVX512-BF16, no AMX) the fast path is about 6x the "
        "original course code, at the target and not reliably above it, and about 175 examples/s against "
        "the issue's 235 (its figure assumed the original at 39 examples/s; here it runs at 25-29).",
        "- The perceiver's down-projection from the first m inputs (commit d9ecf49, table above): its padded "
        "fast-path step (m = 64, batch 128, bf16) of d9ecf49 against that of fab7bba, before it, 873 against "
        "920 ms (1.05x; per-round medians 972/883, 891/830, 933/876 ms old/new, the machine otherwise quiet), "
        "`python benchmarks/ab_revisions.py --data_dir ../shared/data --old fab7bba --new d9ecf49 --variant "
        "perceiver --rounds 3 --steps 12` (2026-12-02, 03:57).",
        "- Perceiver decoding with the incremental bottleneck (commit 31e7763, table above), `greedy_decode` of "
        "the 500 dev questions in bf16, against 4e257a9 before it, alternated, same answers from both: the "
        "trained perceiver of the study (`runs/full650/perceiver_select/final/model`, 19.8 % on dev) 10.32 "
        "against 5.17 s (2.0x; per-round medians 10.48/5.17, 10.69/5.67, 9.26/4.63 s), `python "
        "benchmarks/ab_revisions.py --data_dir ../shared/data --old 4e257a9 --new 31e7763 --variant perceiver "
        "--task decode --steps 2 --rounds 3 --checkpoint runs/full650/perceiver_select/final/model`; a random "
        "perceiver (every answer 32 characters) 25.2 against 7.3 s (3.4x), the same command without "
        "`--checkpoint` and with `--steps 1 --rounds 2` (2026-12-02, 05:11-05:22). `generate()` on 128 dev "
        "questions, 24 new tokens, random perceiver, bf16, with the cache against without: 2.0 against 5.8 s "
        "(same tokens), so `CharGPTConfig` now defaults to `use_cache=True` for the perceiver as well.",
        "- Linear layers with the weight transposed to a contiguous copy and the bias added after `mm` "
        "(2026-12-02, 2 threads, bf16, 8255-row shapes 256x256, 256x1024, 1024x256, a custom autograd function "
        "against `F.linear`, alternated): forward 1-6 % faster, forward+backward within +-3 % (one shape "
        "slower); not adopted. The matrix products stay at 280-400 GFLOP/s either way.",
        "- Casting a LayerNorm output that feeds the key, value and query projections to bf16 once, instead of "
        "autocast casting it at each of the three (and summing their input gradients in bf16 before one cast "
        "back): the vanilla fast-path step 0.94x as fast (849 against 799 ms, slower in all 5 alternated rounds, "
        "`ab_revisions.py --rounds 5 --steps 12`, 2026-12-02); not adopted.",
        "- Page faults (2026-12-02, packed bf16 vanilla step, 2 threads): the step touches about 18-22 thousand "
        "fresh 4 KiB pages (75-90 MB; glibc returns large blocks to the kernel after every use), e.g. the "
        "bias `addmm` copies into a new 8255 x 1024 output. Transparent huge pages for torch's large blocks "
        "(`THP_MEM_ALLOC_ENABLE=1`) cut that to 3.8 thousand faults a step, and glibc thresholds that keep "
        "the memory (`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold="
        "4294967296:glibc.malloc.top_pad=268435456`) to 6 thousand, but neither made the step faster (medians "
        "of 10 steps: 814 and 1189 ms with THP against 797 and 877 ms without, alternated; 763 against 690 ms "
        "with the thresholds); not adopted. Measured again with the order of the two sides alternating "
        "(2026-12-02, 06:40): a bf16 product of 8255x256 by 256x1024 writing into fresh memory takes 14.2 ms "
        "against 11.1 ms into reused memory, yet the whole step with glibc keeping freed blocks (mmap "
        "threshold 32 MiB, trim threshold 1 GiB, set by `mallopt` in the process) was slower in 4 of 4 "
        "rounds: 893 against 803 ms (medians; 0.90x; faults 18 thousand a step by default, 14-15 thousand "
        "kept), `python benchmarks/malloc_probe.py --data_dir ../shared/data --rounds 4 --steps 10`. An "
        "earlier series that always ran the default side first had shown the opposite (1.05x), an order "
        "effect. Not adopted.",
        "- Dropout's random words from numpy's PCG64 (seeded by one draw of torch's generator) instead of "
        "torch's CPU `random_`, a Mersenne Twister on one thread (2026-12-02): 2.6 against 5.7 ms per "
        "million 64-bit words, and `random_` is about 5 % of the vanilla fast-path step (41 ms), yet the "
        "step A/B, rule set before it (new faster in at least 4 of 5 rounds and overall at least 1.015x), "
        "gave 0.974x (per-round medians old/new 721/949, 862/869, 926/888, 960/890, 884/856 ms; the machine "
        "busy), `python benchmarks/ab_revisions.py --data_dir ../shared/data --old 5b51023 --new 95f42b4 "
        "--rounds 5 --steps 12`. Reverted (daa953e).",
        "- The target end to end (2026-12-02, 07:03-07:21): the original course code's step (median of 10 "
        "after a warm-up, no data loading) against the pretraining recipe itself (`train_runtime` / 50 "
        "steps: data pipeline, Trainer and first steps included), one process of two threads or two "
        "processes of one thread (`torchrun`, gloo DDP, 64 examples each), 5 rounds in alternating order, "
        "`python benchmarks/cpu_launch_ratio.py --data_dir ../shared/data --rounds 5` (figures in "
        "`benchmarks/results/cpu_launch_ratio.json`): the original 5.1-5.8 s a step; the recipe 5.46-6.66x "
        "(median 5.66x) in one process and 5.65-6.53x (median **5.69x**) in two. The rule set before the run "
        "(claim if the two-process median is at least 6.0x) was not met. Two processes are about as fast as "
        "one here (per-round ratios 1.03, 1.03, 1.00, 0.98, 1.05; an earlier probe of four rounds of the "
        "recipe alone: 1.00, 1.05, 1.05, 1.09), so the recipe keeps one process.",
        "",
    ]
    prec = default_precision(res)
    if prec != "bf16":
        lines += [
            "## This CPU has no native bf16",
            "",
            f"{res['machine']}. PyTorch runs bf16 here by converting in software: "
            + (
                f"a bf16 matrix product took {res['bf16_matmul_slowdown']:.1f}× the time of the same product "
                "in fp32 in this run (`bench_char_gpt.bf16_matmul_slowdown`). "
                if "bf16_matmul_slowdown" in res
                else ""
            )
            + "The recipes default to fp32 here, so every path below runs in fp32 and the bf16 "
            "measurements are left out (the optimisation ladder has no bf16 step).",
            "",
        ]
    if "pretrain" in res:
        rows = res["pretrain"]
        base = rows[0]["examples_per_s"]
        fast = next(r for r in rows if r["variant"] == "vanilla" and r["path"] == "+ packed rows (fast path)")
        lines += [
            "## Pretraining throughput (span corruption, spec model)",
            "",
            f"Batch size {rows[0]['batch_size']}. A full training step: forward, backward, gradient clipping 1.0, AdamW step, on batches of "
            "`SpanCorruptionCollator` from wiki.txt. *Original course code* is "
            "`benchmarks/reference_mingpt.py` (minGPT, fp32, manual masked softmax, 128 x 127 padded "
            "rows; the denominator of the last column for every variant); *original-style* is our model run the same way; the lines below it switch on one "
            "optimisation at a time (cumulative). Tokens/s counts non-PAD targets.",
            "",
            "| variant | precision | path | batch rows | ms/step | examples/s | tokens/s | vs original code |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            lines.append(
                f"| {r['variant']} | {r['precision']} | {r['path']} | {r['rows']} | {r['ms_per_step']:.0f} | "
                f"{r['examples_per_s']:.1f} | {r['tokens_per_s']:.0f} | {ratio(r['examples_per_s'], base)} |"
            )
        target = 6 * base
        hours = 650 * 2937 / 128 * fast["ms_per_step"] / 1000 / 3600
        head = res.get("pretrain_headline")
        if head:
            # The verdict rests on the interleaved measurement: the table's rows are measured one
            # after the other, minutes apart, on a machine whose speed drifts.
            target = 6 * head["original_examples_per_s"]
            verdict = "at least 6×" if head["ratio"] >= 6 else "below 6×"
            absolute = "reached" if head["fast_examples_per_s"] >= 235 else "not reached"
            rest = ", ".join(f"{t * 1000:.0f}" for t in head["times"]["fast"])
            lines += [
                "",
                f"Interleaved (the target's measurement): the original course code and the fast path "
                f"({head['precision']}, packed rows) take turns for {head['rounds']} rounds, the order reversed every "
                f"other round, so that drift in the machine's speed slows both alike; a turn is "
                f"{head['per_turn']} steps of which the last is timed (the first after a switch pays for the "
                f"memory the other model freed): "
                f"{head['original_ms']:.0f} ms against {head['fast_ms']:.0f} ms per step (medians; fast path steps "
                f"{rest} ms), {head['original_examples_per_s']:.1f} against {head['fast_examples_per_s']:.1f} ex/s: "
                f"**{head['ratio']:.2f}×**.",
                "",
                f"Target (vanilla ≥ 6× the original's examples/s, ≥ 235 examples/s): this run **{verdict}** "
                f"({head['ratio']:.2f}× interleaved; {ratio(fast['examples_per_s'], base)} between the table's rows, "
                f"measured minutes apart), {head['fast_examples_per_s']:.0f} examples/s ({absolute}). One run does "
                "not decide the ratio on a shared machine: for the AVX512-BF16 CPU of this repository's reports, "
                "the spread between runs and the decision (not claimed) are in the notes above. "
                f"At the table's speed the 650-epoch pretraining (650 × 2,937 / 128 ≈ 14.9k steps) takes ≈ {hours:.1f} h "
                "(the issue's goal: about 2.5 h).",
                "",
            ]
        else:
            verdict = "reached" if fast["examples_per_s"] >= target else "NOT reached"
            lines += [
                "",
                f"Target (vanilla ≥ 6× the original): fast path {fast['examples_per_s']:.1f} ex/s = "
                f"{ratio(fast['examples_per_s'], base)} the original's {base:.1f} ex/s in this run: **{verdict}**. "
                f"At this speed the 650-epoch pretraining (650 × 2,937 / 128 ≈ 14.9k steps) takes ≈ {hours:.1f} h.",
                "",
            ]
        lines += [
            *(
                roofline_lines(fast, max(target, 235.0))
                if res.get("device", "cpu") == "cpu" and "AVX512-BF16, no AMX" in res["machine"]
                else [
                    "The roofline estimate applies to the AVX512-BF16 machine where its bf16 matmul peak was measured."
                ]
            ),
            "",
            f"`SpanCorruptionCollator` builds a batch of 128 in {res['collator_ms']['padded']:.1f} ms (padded) / "
            f"{res['collator_ms']['packed']:.1f} ms (packed): negligible next to a training step.",
            "",
            f"![pretraining throughput]({rel}/pretraining.png)",
            "",
        ]
    if "finetune" in res:
        rows = res["finetune"]
        lines += [
            f"## Birthplace finetuning throughput (batch {rows[0]['batch_size']})",
            "",
            "| path | batch rows | ms/step | examples/s | ratio |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for r in rows:
            lines.append(
                f"| {r['path']} | {r['rows']} | {r['ms_per_step']:.0f} | {r['examples_per_s']:.1f} | "
                f"{ratio(r['examples_per_s'], rows[0]['examples_per_s'])} |"
            )
        lines.append("")
    if "decode" in res:
        d = res["decode"]
        lines += [
            "## Decoding the birthplace questions (greedy, until the next ⁇, at most 32 characters)",
            "",
            f"Model: {d['checkpoint']}. *Batched* is `hfmodels.evaluation.birthplaces.greedy_decode` "
            "(length-sorted left-padded batches of 128 with a KV cache). *Original loop* is "
            "`reference_mingpt.sample_greedy` (one question at a time, the whole context re-run per "
            f"character, fp32, 32 steps), timed on {d['reference_questions_timed']} dev questions "
            f"({d['reference_s_per_question'] * 1000:.0f} ms per question) and scaled linearly.",
            "",
            f"| split | questions | original loop (s) | batched fp32 (s) | batched bf16 (s) | speed-up ({prec}, the default here) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for split in ("dev", "test"):
            lines.append(
                f"| {split} | {d[f'{split}_questions']} | {d[f'{split}_reference_s']:.1f} | "
                f"{d[f'{split}_batched_fp32_s']:.2f} | {_seconds(d.get(f'{split}_batched_bf16_s'))} | "
                f"{ratio(d[f'{split}_reference_s'], d[f'{split}_batched_{prec}_s'])} |"
            )
        best = d[f"dev_batched_{prec}_s"]
        ok = best <= 5 and d["dev_reference_s"] / best >= 10
        lines += [
            "",
            f"Target (dev in ≤ 5 s and ≥ 10× the original): **{'reached' if ok else 'NOT reached'}**.",
            "",
        ]
        if "dev_perceiver_s" in d:
            lines += [
                f"The other variants, randomly initialised the same way, batched on the dev questions in "
                f"{d['variants_precision']}: synthesizer {d['dev_synthesizer_s']:.2f} s, perceiver (m = 64) "
                f"{d['dev_perceiver_s']:.2f} s (vanilla {d[f'dev_batched_{prec}_s']:.2f} s). The perceiver "
                "recomputes, at every step, the bottleneck rows at or after the new position and its two "
                "middle blocks over them (until a sequence is m long).",
                "",
            ]
    if "perceiver" in res:
        rows = res["perceiver"]
        lengths = sorted({r["length"] for r in rows})
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        by = {(r["length"], r["variant"]): r for r in rows}
        peak = all("peak_allocated_mib" in r for r in rows)  # measured on a GPU
        lines += [
            "## Vanilla vs perceiver: forward+backward time and activation memory",
            "",
            f"Batch 1, {rows[0].get('precision', 'bf16')} (bf16 autocast where native), training mode (dropout on), `block_size` = sequence length, "
            "spec widths (4 layers, 8 heads, d 256). Memory is the bytes of distinct tensors autograd "
            "saves for the backward pass (the activation memory of training)"
            + ("; after the `/`, the peak GPU memory allocated during the timed steps" if peak else "")
            + ". Cost per layer stack: perceiver O(2ℓm + (L−2)m²) against vanilla O(Lℓ²).",
            "",
            "| ℓ | "
            + " | ".join(f"{v} ms (MiB{' / peak MiB' if peak else ''})" for v in variants)
            + " | vanilla / perceiver m=128 time |",
            "| ---: | " + " | ".join("---:" for _ in variants) + " | ---: |",
        ]

        def memory(r: dict) -> str:
            return f"{r['activation_mib']:.0f}" + (f" / {r['peak_allocated_mib']:.0f}" if peak else "")

        for t in lengths:
            cells = [f"{by[(t, v)]['ms']:.0f} ({memory(by[(t, v)])})" for v in variants]
            r128 = by.get((t, "perceiver m=128"))
            lines.append(
                f"| {t} | "
                + " | ".join(cells)
                + f" | {ratio(by[(t, 'vanilla')]['ms'], r128['ms']) if r128 else 'n/a'} |"
            )
        if (2048, "perceiver m=128") in by:
            sp = by[(2048, "vanilla")]["ms"] / by[(2048, "perceiver m=128")]["ms"]
            lines += [
                "",
                f"Target (perceiver m=128 ≥ 4× faster than vanilla at ℓ = 2048): {sp:.1f}× — "
                f"**{'reached' if sp >= 4 else 'NOT reached'}**.",
            ]
        lines += ["", f"![perceiver scaling]({rel}/perceiver_scaling.png)", ""]
    if "bert" in res:
        rows = res["bert"]
        lines += [
            "## Multitask BERT backbone (all-MiniLM-L6-v2, 22.7M parameters)",
            "",
            f"`MultitaskBertModel` sentiment steps on SST sentences (batch {rows[0]['train_batch_size']}, "
            f"padded to the longest, AdamW) and `encode` inference (batch {rows[0]['infer_batch_size']}, "
            "no grad).",
            "",
            "| precision | train ms/step | train examples/s | inference ms/batch | inference sentences/s |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            lines.append(
                f"| {r['precision']} | {r['train_ms_per_step']:.0f} | {r['train_examples_per_s']:.1f} | "
                f"{r['infer_ms_per_batch']:.0f} | {r['infer_sentences_per_s']:.1f} |"
            )
        if len(rows) == 2:
            lines += [
                "",
                f"bf16 / fp32: training {ratio(rows[1]['train_examples_per_s'], rows[0]['train_examples_per_s'])}, "
                f"inference {ratio(rows[1]['infer_sentences_per_s'], rows[0]['infer_sentences_per_s'])}.",
                "",
            ]
    if lines[-1] != "":
        lines.append("")
    lines += other_machines_lines(plot_dir, output)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = Path(args.output)
    if args.results_dir:
        plot_dir = Path(args.results_dir)
    elif args.quick:
        plot_dir = output.parent / "bench_results"
    else:
        plot_dir = Path(__file__).resolve().parent / "results"
    if args.report_only:
        results = plot_dir / "results.json"
        if not results.is_file():
            raise SystemExit(f"--report_only: {results} does not exist (run the benchmarks first)")
        write_text_atomic(
            output, report(json.loads(results.read_text(encoding="utf-8")), args, plot_dir, output)
        )
        print(f"rewrote {output} from {results}", flush=True)
        return 0
    sections = args.sections.split(",")
    device = torch.device(args.device)
    start = time.perf_counter()
    res: dict = {
        "machine": machine_line(device),
        "device": device.type,
        "date": datetime.date.today().isoformat(),
        "load_start": os.getloadavg()[0],
        "run": run_facts(args),
        "native_bf16": native_bf16(device),
    }
    if device.type == "cpu":
        res["bf16_matmul_slowdown"] = bf16_matmul_slowdown()
    data = None
    if {"pretrain", "finetune", "decode"} & set(sections):
        data = CharGPTData(args.data_dir)
    if "pretrain" in sections:
        print("pretraining throughput", flush=True)
        res["pretrain"] = pretraining_throughput(data, args.repeats, args.quick, device)
        res["pretrain_headline"] = pretraining_headline(data, 2 if args.quick else 8, args.quick, device)
        plot_pretraining(res["pretrain"], plot_dir / "pretraining.png")
        res["collator_ms"] = collator_speed(data, args.repeats)
    if "finetune" in sections:
        print("finetuning throughput", flush=True)
        res["finetune"] = finetuning_throughput(data, args.repeats, args.quick, device)
    if "decode" in sections:
        print("decoding", flush=True)
        res["decode"] = decoding_speed(
            data, max(1, args.repeats // 2 + 1), args.quick, args.checkpoint, device
        )
    if "perceiver" in sections:
        print("vanilla vs perceiver scaling", flush=True)
        res["perceiver"] = perceiver_scaling(args.repeats, args.quick, device)
        plot_perceiver_scaling(res["perceiver"], plot_dir / "perceiver_scaling.png")
    if "bert" in sections:
        print("multitask BERT", flush=True)
        from bench_bert import bert_throughput

        res["bert"] = bert_throughput(args.data_dir, args.repeats, args.quick, device)
    res["wall_s"] = time.perf_counter() - start
    res["load_end"] = os.getloadavg()[0]
    write_text_atomic(plot_dir / "results.json", json.dumps(res, indent=1, default=str))
    write_text_atomic(output, report(res, args, plot_dir, output))
    print(f"wrote {output} and {plot_dir} in {res['wall_s'] / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
