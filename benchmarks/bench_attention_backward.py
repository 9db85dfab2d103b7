#!/usr/bin/env python
"""Forward+backward of causal self-attention three ways: autograd, the hand-written backward
(`MaskedSelfAttentionFunction`, saves A_σ) and the lean one (`LeanMaskedSelfAttentionFunction`,
saves the row log-sum-exp, recomputes A_σ block by block), at T = 128 … 2048.

    python benchmarks/bench_attention_backward.py            # writes benchmarks/results/attention_backward.{json,md}
    python benchmarks/bench_attention_backward.py --quick    # T = 128, 256 only

Time: median wall time of `repeats` forward+backward passes after one warm-up, all variants
interleaved in each round, `--threads` intra-op threads. Memory, two measures:
(1) saved bytes: what the forward leaves for the backward, summed over the distinct storages
packed by `torch.autograd.graph.saved_tensors_hooks` (exact, allocator-independent);
(2) peak RSS growth: each (variant, T) runs once in a fresh subprocess, which resets the kernel's
peak-RSS mark just before the pass and reports `VmHWM` minus the `VmRSS` at that moment (on CPU,
torch allocates through malloc, so this is the peak of live tensors plus allocator slack;
tracemalloc does not see torch's allocations).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from hfmodels.from_scratch import masked_self_attention, reference_masked_self_attention
from hfmodels.reporting import write_text_atomic

VARIANTS = ("autograd", "hand-written", "lean")
RESULTS = Path(__file__).resolve().parent / "results"


def _run(variant: str, x, w_q, w_k, w_v):
    if variant == "autograd":
        out = reference_masked_self_attention(x, w_q, w_k, w_v)
    else:
        out = masked_self_attention(x, w_q, w_k, w_v, lean=variant == "lean")
    return out


def _inputs(batch: int, T: int, dim: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, T, dim, generator=g, requires_grad=True)
    ws = [(torch.randn(dim, dim, generator=g) / dim**0.5).requires_grad_() for _ in range(3)]
    return x, *ws, torch.randn(batch, T, dim, generator=g)


def forward_backward(variant: str, x, w_q, w_k, w_v, grad_out) -> None:
    """One forward and backward pass; the gradients land in `.grad`."""
    _run(variant, x, w_q, w_k, w_v).backward(grad_out)


def saved_bytes(variant: str, x, w_q, w_k, w_v) -> int:
    """Bytes of the distinct storages the forward saves for the backward."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = _run(variant, x, w_q, w_k, w_v)
    del out
    return sum(seen.values())


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} line (Linux only)")


def rss_peak_of_pass(variant: str, batch: int, T: int, dim: int) -> int:
    """In this process: reset the kernel's peak-RSS mark (`/proc/self/clear_refs` ← 5), run one
    forward+backward, return `VmHWM` minus the `VmRSS` just before the pass."""
    args = _inputs(batch, T, dim)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    forward_backward(variant, *args)
    return _status_bytes("VmHWM") - before


def peak_rss_growth(variant: str, batch: int, T: int, dim: int, threads: int) -> int:
    """Peak RSS growth (bytes) of one forward+backward, measured in a fresh subprocess."""
    here = str(Path(__file__).resolve().parent)
    code = (
        f"import torch, sys; sys.path.insert(0, {here!r}); import bench_attention_backward as b;"
        f"torch.set_num_threads({threads}); print(b.rss_peak_of_pass({variant!r}, {batch}, {T}, {dim}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def measure(lengths, batch: int, dim: int, repeats: int, threads: int) -> list[dict]:
    """One row per (T, variant): median time, saved bytes, peak RSS growth."""
    torch.set_num_threads(threads)
    rows = []
    for T in lengths:
        args = _inputs(batch, T, dim)
        times = {v: [] for v in VARIANTS}
        for v in VARIANTS:
            forward_backward(v, *args)  # warm-up
        for _ in range(repeats):
            for v in VARIANTS:
                start = time.perf_counter()
                forward_backward(v, *args)
                times[v].append(time.perf_counter() - start)
        for v in VARIANTS:
            rows.append(
                {
                    "T": T,
                    "variant": v,
                    "median_s": statistics.median(times[v]),
                    "saved_bytes": saved_bytes(v, *args[:4]),
                    "peak_rss_growth_bytes": peak_rss_growth(v, batch, T, dim, threads),
                }
            )
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    """The results as a Markdown table, times and memory relative to autograd at the same T."""
    ref = {r["T"]: r for r in rows if r["variant"] == "autograd"}
    lines = [
        f"Causal self-attention forward+backward, B = {meta['batch']}, D = D_k = D_v = {meta['dim']}, "
        f"float32, {meta['threads']} thread(s), median of {meta['repeats']}; {meta['cpu']}, {meta['date']}.",
        "",
        "| T | variant | time (ms) | × autograd | saved for backward (MiB) | × autograd | peak RSS growth (MiB) | × autograd |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    mib = 2**20
    for r in rows:
        a = ref[r["T"]]
        lines.append(
            f"| {r['T']} | {r['variant']} | {1000 * r['median_s']:.2f} | {r['median_s'] / a['median_s']:.2f} | "
            f"{r['saved_bytes'] / mib:.2f} | {r['saved_bytes'] / a['saved_bytes']:.3f} | "
            f"{r['peak_rss_growth_bytes'] / mib:.1f} | "
            f"{r['peak_rss_growth_bytes'] / max(a['peak_rss_growth_bytes'], 1):.2f} |"
        )
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main(argv: list[str] | None = None) -> dict:
    """Measure, then write `attention_backward.json` and `attention_backward.md` under `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="T = 128, 256 and 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    a = parser.parse_args(argv)
    lengths, repeats = ([128, 256], 2) if a.quick else (a.lengths, a.repeats)
    rows = measure(lengths, a.batch, a.dim, repeats, a.threads)
    meta = {
        "batch": a.batch,
        "dim": a.dim,
        "threads": a.threads,
        "repeats": repeats,
        "cpu": _cpu(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "torch": torch.__version__,
    }
    report = {"meta": meta, "rows": rows}
    write_text_atomic(a.out / "attention_backward.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(a.out / "attention_backward.md", markdown(rows, meta))
    print(markdown(rows, meta))
    return report


if __name__ == "__main__":
    main()
