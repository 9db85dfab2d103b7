"""BENCHMARKS.md from a benchmark run's results: `BENCHMARKS.md.in` filled with tables.

The template holds the report's fixed text in sections (`<!-- section: NAME -->`); a section is
written when its results are present, with `string.Template` placeholders filled from
`results.json`. Tables are built here because their rows depend on the run. Prose about what the
speed paths are and what was tried lives in docs/performance.md, not in the report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "BENCHMARKS.md.in"
PERFORMANCE_DOC = HERE.parent / "docs" / "performance.md"
SECTION = re.compile(r"<!-- section: (\w+) -->")
#: bf16 matmul peak of the two AVX512-BF16 cores the roofline line was measured for (GFLOP/s).
BF16_PEAK_GFLOPS = 400.0


def step_gflop(rows: str, n_layer: int = 4, d: int = 256, vocab: int = 256) -> float:
    """Matmul GFLOP of one training step (forward + backward = 3x forward) of the study's model on a
    batch of `rows` ("R x T"): every Linear layer (2 FLOP per weight per token, forward) and the
    attention products Q K^T and A V over the full T x T, masked entries included."""
    r, t = (int(x) for x in rows.split("x"))
    linear = 2 * r * t * (n_layer * (4 * d * d + 2 * d * 4 * d) + d * vocab)
    attention = n_layer * r * 2 * (2 * t * t * d)
    return 3 * (linear + attention) / 1e9


def load_template(path: Path = TEMPLATE) -> dict[str, str]:
    """The template's sections by name, in file order."""
    text = Path(path).read_text(encoding="utf-8")
    parts = SECTION.split(text)
    if parts[0].strip():
        line = text[: text.find(parts[0].strip())].count("\n") + 1
        raise ValueError(f"{path}:{line}: text before the first '<!-- section: NAME -->' line")
    names = parts[1::2]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{path}: section(s) {duplicates} appear more than once")
    return {name: body.strip("\n") + "\n" for name, body in zip(names, parts[2::2])}


def ratio(a: float, b: float) -> str:
    """`a / b` as "1.5×" ("n/a" when `b` is 0)."""
    return f"{a / b:.1f}×" if b else "n/a"


def default_precision(res: dict) -> str:
    """The precision the recipes use on the machine of `res` (bf16 where it is native)."""
    return "bf16" if res.get("native_bf16", True) else "fp32"


def table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """A Markdown table; columns from `numeric_from` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _reached(ok: bool) -> str:
    return "**reached**" if ok else "**not reached**"


def header_values(res: dict, run: dict, plot_dir: Path, output: Path) -> dict:
    """Command, machine, date, load and repeat counts of the run."""
    repeats = run["repeats"]
    passive = (
        "\n- `OMP_WAIT_POLICY=PASSIVE` was set: it slows one-question-at-a-time decoding, so the decoding "
        "speed-up is an upper bound."
        if run.get("omp_passive")
        else ""
    )
    return {
        "results_json": os.path.relpath(plot_dir / "results.json", output.parent),
        "performance_link": os.path.relpath(PERFORMANCE_DOC, output.parent),
        "command": run["command"],
        "machine": res["machine"],
        "machine_short": res["machine"].split(", torch")[0],
        "threads": run["threads"],
        "date": res["date"],
        "wall_min": f"{res['wall_s'] / 60:.1f}",
        "load_start": f"{res['load_start']:.2f}",
        "load_end": f"{res['load_end']:.2f}",
        "repeats": repeats,
        "repeats_long": max(2, repeats // 2),
        "repeats_decode": max(1, repeats // 2 + 1),
        "repeats_collator": max(5, 4 * repeats),
        "quick_note": "\n- QUICK smoke run: the figures are not comparable with a full run."
        if run["quick"]
        else "",
        "passive_note": passive,
        "bf16_slowdown": f"{res.get('bf16_matmul_slowdown', float('nan')):.1f}",
    }


def pretrain_values(res: dict) -> dict:
    """The pretraining ladder, the interleaved headline and the 6× target."""
    rows = res["pretrain"]
    base = rows[0]["examples_per_s"]
    fast = next(r for r in rows if r["variant"] == "vanilla" and r["path"] == "+ packed rows (fast path)")
    body = [
        [
            r["variant"],
            r["precision"],
            r["path"],
            r["rows"],
            f"{r['ms_per_step']:.0f}",
            f"{r['examples_per_s']:.1f}",
            f"{r['tokens_per_s']:.0f}",
            ratio(r["examples_per_s"], base),
        ]
        for r in rows
    ]
    header = ["variant", "precision", "path", "batch rows", "ms/step", "examples/s", "tokens/s"]
    head = res.get("pretrain_headline")
    interleaved, ratio_now, examples = "", fast["examples_per_s"] / base, fast["examples_per_s"]
    if head:
        interleaved = (
            f"Interleaved (the target's measurement): the original course code and the fast path "
            f"({head['precision']}, packed rows) take turns for {head['rounds']} rounds, {head['per_turn']} steps "
            f"a turn, the last timed: {head['original_ms']:.0f} against {head['fast_ms']:.0f} ms per step, "
            f"{head['original_examples_per_s']:.1f} against {head['fast_examples_per_s']:.1f} examples/s: "
            f"**{head['ratio']:.2f}× interleaved**."
        )
        ratio_now, examples = head["ratio"], head["fast_examples_per_s"]
    hours = 650 * 2937 / 128 * fast["ms_per_step"] / 1000 / 3600
    roofline = ""
    if res.get("device", "cpu") == "cpu" and "AVX512-BF16" in res["machine"]:
        gflop, step_s = step_gflop(fast["rows"]), fast["ms_per_step"] / 1000
        roofline = (
            f"Matrix products of a fast-path step ({fast['rows']}): {gflop:.0f} GFLOP, {gflop / step_s:.0f} GFLOP/s "
            f"over the step; at the two cores' bf16 peak of about {BF16_PEAK_GFLOPS:.0f} GFLOP/s they alone take "
            f"{gflop / BF16_PEAK_GFLOPS:.2f} s.\n\n"
        )
    return {
        "batch_size": rows[0]["batch_size"],
        "pretrain_table": table(header + ["vs original code"], body, numeric_from=4),
        "interleaved": interleaved,
        "target_pretrain": (
            f"Target (vanilla ≥ 6× the original course code and ≥ 235 examples/s): {ratio_now:.2f}×, "
            f"{examples:.0f} examples/s: {_reached(ratio_now >= 6 and examples >= 235)}. "
            f"The 650-epoch pretraining at the table's fast-path speed: ≈ {hours:.1f} h."
        ),
        "roofline": roofline,
        "collator_padded": f"{res['collator_ms']['padded']:.1f}",
        "collator_packed": f"{res['collator_ms']['packed']:.1f}",
    }


def finetune_values(res: dict) -> dict:
    """The finetuning paths against the original-style step."""
    rows = res["finetune"]
    base = rows[0]["examples_per_s"]
    body = [
        [
            r["path"],
            r["rows"],
            f"{r['ms_per_step']:.0f}",
            f"{r['examples_per_s']:.1f}",
            ratio(r["examples_per_s"], base),
        ]
        for r in rows
    ]
    return {
        "batch_size": rows[0]["batch_size"],
        "finetune_table": table(
            ["path", "batch rows", "ms/step", "examples/s", "ratio"], body, numeric_from=2
        ),
    }


def decode_values(res: dict) -> dict:
    """Dev and test decoding, batched against the original loop, and the decoding target."""
    d, prec = res["decode"], default_precision(res)
    body = []
    for split in ("dev", "test"):
        bf16 = d.get(f"{split}_batched_bf16_s")
        body.append(
            [
                split,
                str(d[f"{split}_questions"]),
                f"{d[f'{split}_reference_s']:.1f}",
                f"{d[f'{split}_batched_fp32_s']:.2f}",
                "—" if bf16 is None else f"{bf16:.2f}",
                ratio(d[f"{split}_reference_s"], d[f"{split}_batched_{prec}_s"]),
            ]
        )
    header = ["split", "questions", "original loop (s)", "batched fp32 (s)", "batched bf16 (s)"]
    best = d[f"dev_batched_{prec}_s"]
    others = ""
    if "dev_perceiver_s" in d:
        others = (
            f"\nThe other variants, randomly initialised the same way, on the dev questions in "
            f"{d['variants_precision']}: synthesizer {d['dev_synthesizer_s']:.2f} s, perceiver (m = 64) "
            f"{d['dev_perceiver_s']:.2f} s (vanilla {best:.2f} s).\n"
        )
    return {
        "checkpoint": d["checkpoint"],
        "reference_questions": d["reference_questions_timed"],
        "reference_ms": f"{d['reference_s_per_question'] * 1000:.0f}",
        "decode_table": table(header + [f"speed-up ({prec}, the default here)"], body),
        "target_decode": (
            f"Target (dev in ≤ 5 s and ≥ 10× the original loop): "
            f"{_reached(best <= 5 and d['dev_reference_s'] / best >= 10)}."
        ),
        "other_variants": others,
    }


def perceiver_values(res: dict) -> dict:
    """Time and activation memory by sequence length, and the ℓ = 2048 target."""
    rows = res["perceiver"]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by = {(r["length"], r["variant"]): r for r in rows}
    peak = all("peak_allocated_mib" in r for r in rows)  # measured on a GPU

    def cell(r: dict) -> str:
        memory = f"{r['activation_mib']:.0f}" + (f" / {r['peak_allocated_mib']:.0f}" if peak else "")
        return f"{r['ms']:.0f} ({memory})"

    body = []
    for length in sorted({r["length"] for r in rows}):
        r128 = by.get((length, "perceiver m=128"))
        speedup = ratio(by[(length, "vanilla")]["ms"], r128["ms"]) if r128 else "n/a"
        body.append([str(length)] + [cell(by[(length, v)]) for v in variants] + [speedup])
    unit = "MiB / peak MiB" if peak else "MiB"
    header = ["ℓ"] + [f"{v} ms ({unit})" for v in variants] + ["vanilla / perceiver m=128 time"]
    target = ""
    if (2048, "perceiver m=128") in by:
        sp = by[(2048, "vanilla")]["ms"] / by[(2048, "perceiver m=128")]["ms"]
        target = (
            f"Target (perceiver m=128 ≥ 4× faster than vanilla at ℓ = 2048): {sp:.1f}×, {_reached(sp >= 4)}."
        )
    return {
        "precision": rows[0].get("precision", "bf16"),
        "peak_note": "; after the `/`, the peak GPU memory allocated during the timed steps" if peak else "",
        "perceiver_table": table(header, body, numeric_from=0),
        "target_perceiver": target,
    }


def bert_values(res: dict) -> dict:
    """Training and inference throughput of the BERT backbone by precision."""
    rows = res["bert"]
    body = [
        [
            r["precision"],
            f"{r['train_ms_per_step']:.0f}",
            f"{r['train_examples_per_s']:.1f}",
            f"{r['infer_ms_per_batch']:.0f}",
            f"{r['infer_sentences_per_s']:.1f}",
        ]
        for r in rows
    ]
    header = ["precision", "train ms/step", "train examples/s", "inference ms/batch", "inference sentences/s"]
    return {
        "train_batch": rows[0]["train_batch_size"],
        "infer_batch": rows[0]["infer_batch_size"],
        "bert_table": table(header, body),
    }


SECTION_VALUES = {
    "pretrain": pretrain_values,
    "finetune": finetune_values,
    "decode": decode_values,
    "perceiver": perceiver_values,
    "bert": bert_values,
}


def render_report(res: dict, run: dict, plot_dir: Path, output: Path, template: Path = TEMPLATE) -> str:
    """BENCHMARKS.md for the results `res` of the run `run`: the template's sections whose results
    are present, filled in; plot links are relative to `output`."""
    sections = load_template(template)
    common = header_values(res, run, plot_dir, output)
    common["plots"] = os.path.relpath(plot_dir, output.parent)
    parts = []
    for name, body in sections.items():
        if name == "header":
            values = {}
        elif name == "no_bf16":
            if default_precision(res) == "bf16":
                continue
            values = {}
        elif name in SECTION_VALUES:
            if name not in res:
                continue
            values = SECTION_VALUES[name](res)
        else:
            raise ValueError(
                f"{template}: unknown section {name!r}; known: header, no_bf16, {', '.join(SECTION_VALUES)}"
            )
        try:
            parts.append(Template(body).substitute({**common, **values}))
        except KeyError as err:
            raise ValueError(
                f"{template}: section {name!r} uses ${err.args[0]}, which its results do not give"
            ) from None
    text = "\n".join(parts)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
