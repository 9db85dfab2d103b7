"""Probe optimisations that are *not* on by default, and record why (not part of `make bench`).

    flock /tmp/hfmodels-cpu.lock python benchmarks/probes.py --data_dir ../shared/data

Each probe times the fast-path training step (or its attention part) with and without one
alternative, in one process, and writes the medians to `benchmarks/results/probes.json`;
`benchmarks/run.py` (also `--report_only`) turns that file into the "Probed, not adopted" section of
BENCHMARKS.md. Probes:

* ``compile``: every vanilla block under `torch.compile(dynamic=False)` (Inductor), against eager,
  on packed batches padded to a fixed row count so that nothing recompiles; with the spec's dropout
  and with dropout 0 (Inductor then has no RNG to generate).
* ``masked_softmax``: the fused `torch._masked_softmax` against `masked_fill` + `softmax`, forward
  and backward, on a packed batch's bf16 attention scores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_char_gpt import CharGPTData, model_step_fn, timed  # noqa: E402

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM  # noqa: E402
from hfmodels.reporting import write_text_atomic  # noqa: E402


def pad_rows(batch: dict, rows: int) -> dict:
    """A packed batch with extra all-ignored rows appended up to `rows` (fixed shapes for compile)."""
    r, t = batch["input_ids"].shape
    if r > rows:
        raise ValueError(f"batch has {r} rows, more than the fixed {rows}")
    extra = rows - r
    fills = {"input_ids": 0, "labels": -100}
    out = {}
    for key, value in batch.items():
        if key == "position_ids":
            pad = torch.arange(t).expand(extra, t)
        else:
            pad = torch.full((extra, t), fills[key], dtype=value.dtype)
        out[key] = torch.cat([value, pad.to(value.dtype)])
    return out


def probe_compile(data: CharGPTData, repeats: int, rows: int = 72) -> list[dict]:
    batches = [pad_rows(b, rows) for b in data.wiki_batches(8, 128, pack=True, pad_to_block=False)]
    out = []
    for pdrop in (0.1, 0.0):
        for mode in ("eager", "compile"):
            torch.manual_seed(0)
            config = CharGPTConfig(
                vocab_size=data.vocab_size,
                attention_type="vanilla",
                attn_pdrop=pdrop,
                resid_pdrop=pdrop,
                embd_pdrop=pdrop,
            )
            model = CharGPTForCausalLM(config)
            if mode == "compile":
                for block in model.transformer.h:
                    block.compile(dynamic=False)
            step = model_step_fn(model, batches, bf16=True, fused=True)
            first = timed(step, 1, warmup=0)[0]  # includes compiling
            med = statistics.median(timed(lambda i, step=step: step(i + 1), repeats, warmup=1))
            out.append({"mode": mode, "dropout": pdrop, "rows": rows, "first_step_s": first, "step_s": med})
            print(out[-1], flush=True)
    return out


def probe_masked_softmax(repeats: int, rows: int = 62, heads: int = 8, t: int = 127) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    att = torch.randn(rows, heads, t, t, generator=g).to(torch.bfloat16).requires_grad_()
    grad = torch.randn(rows, heads, t, t, generator=g).to(torch.bfloat16)
    seg = (torch.arange(t) >= t // 2).long()  # two packed examples per row
    keep = torch.ones(t, t, dtype=torch.bool).tril() & (seg[:, None] == seg[None, :])
    keep = keep.expand(rows, heads, t, t)

    def unfused(i: int):
        att.grad = None
        torch.softmax(att.masked_fill(~keep, float("-inf")), -1).backward(grad)

    def fused(i: int):
        att.grad = None
        torch._masked_softmax(att, ~keep, 3, 2).backward(grad)

    out = []
    for name, fn in (("masked_fill + softmax", unfused), ("torch._masked_softmax", fused)):
        med = statistics.median(timed(fn, repeats, warmup=1))
        out.append({"path": name, "shape": [rows, heads, t, t], "fwd_bwd_s": med})
        print(out[-1], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="../shared/data")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "probes.json"))
    p.add_argument("--repeats", type=int, default=8)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--probes", default="compile,masked_softmax")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = {
        "command": "python benchmarks/probes.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    wanted = args.probes.split(",")
    if "compile" in wanted:
        res["compile"] = probe_compile(CharGPTData(args.data_dir), args.repeats)
    if "masked_softmax" in wanted:
        res["masked_softmax"] = probe_masked_softmax(args.repeats)
    path = write_text_atomic(args.output, json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
