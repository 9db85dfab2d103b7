"""Run the benchmark suite and write BENCHMARKS.md (what `make bench` runs).

    python benchmarks/run.py --data_dir ../shared/data --output BENCHMARKS.md
    python benchmarks/run.py --data_dir ../shared/data --output runs/bench/BENCHMARKS.md --quick
    python benchmarks/run.py --report_only      # rewrite BENCHMARKS.md from benchmarks/results/results.json

Sections: pretraining throughput (every attention variant, the course's code path against ours,
one speed path at a time), birthplace finetuning, decoding the dev/test questions, vanilla vs
perceiver scaling (with a plot) and the multitask BERT backbone. Timings are medians of
`--repeats` runs after a warm-up, all in one process, so ratios compare like with like. The raw
figures go to `results.json`; the report is `BENCHMARKS.md.in` filled from them (`report.py`).
`--quick` is a smoke run (seconds). On a machine with a GPU the models run there (`--device auto`,
the default; `--device cpu` keeps them on the CPU): every timed run then ends with
`torch.cuda.synchronize()`, and the perceiver table adds the peak allocated GPU memory.
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

from report import render_report, step_gflop  # noqa: E402

from hfmodels.reporting import write_text_atomic  # noqa: E402
from hfmodels.training.precision import describe_cpu, native_bf16  # noqa: E402

SECTIONS = ("pretrain", "finetune", "decode", "perceiver", "bert")
__all__ = ["SECTIONS", "machine_line", "main", "parse_args", "run_facts", "step_gflop"]


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


def measure(args: argparse.Namespace, plot_dir: Path) -> dict:
    """Run the selected sections and return their results (the content of results.json)."""
    # Imported here so that --report_only needs neither the data nor the measuring code.
    from bench_char_gpt import (
        CharGPTData,
        bf16_matmul_slowdown,
        collator_speed,
        decoding_speed,
        finetuning_throughput,
        perceiver_scaling,
        pretraining_headline,
        pretraining_throughput,
    )
    from plots import plot_perceiver_scaling, plot_pretraining

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
    return res


def main(argv: list[str] | None = None) -> int:
    """Measure (or with --report_only, reuse) the results and write results.json and the report."""
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
        res = json.loads(results.read_text(encoding="utf-8"))
        write_text_atomic(output, render_report(res, res.get("run") or run_facts(args), plot_dir, output))
        print(f"rewrote {output} from {results}", flush=True)
        return 0
    res = measure(args, plot_dir)
    write_text_atomic(plot_dir / "results.json", json.dumps(res, indent=1, default=str))
    write_text_atomic(output, render_report(res, res["run"], plot_dir, output))
    print(f"wrote {output} and {plot_dir} in {res['wall_s'] / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
