"""Greedy decoding of the birthplace questions two ways: the evaluator's hand-written loop
(`hfmodels.evaluation.birthplaces.greedy_decode`: one forward per step over a left-padded batch
with the model's cache, the softmax of the last logits giving each token's probability) and
`model.generate(do_sample=False, output_scores=True, return_dict_in_generate=True)` +
`model.compute_transition_scores(...)` on the same batches.

    python benchmarks/bench_greedy_decode.py [--data_dir ../shared/data]   # writes benchmarks/results/greedy_decode.{json,md}

The model is the shipped checkpoint `hfmodels/checkpoints/char_gpt-vanilla-pretrained/`; the
questions are those of `birth_dev.tsv`, decoded with the evaluator's batching (length-sorted,
batch 128) and precision (bf16 autocast where native). Both ways must give identical answers
(checked every round). Time: median wall time of `--repeats` rounds after one warm-up, the two ways
interleaved in each round (alternating which goes first), `--threads` intra-op threads; also the
median process CPU time, which other jobs on a shared machine disturb much less than the wall
time, and the median of the per-round CPU-time ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from unittest import mock

import torch
from transformers import GenerationConfig

from hfmodels.char_gpt import CharGPTForCausalLM, CharTokenizer
from hfmodels.data import read_birthplace_file, resolve_data_path
from hfmodels.evaluation import birthplaces
from hfmodels.reporting import write_json_atomic, write_text_atomic
from hfmodels.training.precision import describe_cpu, native_bf16

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "hfmodels" / "checkpoints" / "char_gpt-vanilla-pretrained"
RESULTS = Path(__file__).resolve().parent / "results"
WAYS = ("loop", "generate")


def generate_decode_batch(model, prompts: list[list[int]], steps: int, mask_id: int, bf16: bool):
    """`generate()` over left-padded `prompts` with the step scores, the probabilities from
    `compute_transition_scores`: the contract of `birthplaces._decode_batch`."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), model.config.pad_token_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    for r, prompt in enumerate(prompts):
        ids[r, width - len(prompt) :] = torch.tensor(prompt)
        attn[r, width - len(prompt) :] = 1
    config = GenerationConfig(
        max_new_tokens=steps,
        do_sample=False,
        eos_token_id=mask_id,
        pad_token_id=model.config.pad_token_id,
        use_cache=True,
        output_scores=True,
        return_dict_in_generate=True,
    )
    with birthplaces._autocast(ids.device, bf16):
        out = model.generate(ids, attention_mask=attn, generation_config=config)
    probs = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True).exp()
    return out.sequences[:, width:].tolist(), probs.tolist()


def generate_decode(model, tokenizer, questions, batch_size, bf16):
    """`greedy_decode` (same batching and answer rule) with `generate()` per batch."""
    with mock.patch.object(birthplaces, "_decode_batch", generate_decode_batch):
        return birthplaces.greedy_decode(model, tokenizer, questions, batch_size=batch_size, bf16=bf16)


def measure(data_dir: str | None, repeats: int, threads: int, batch_size: int) -> dict:
    """Interleaved rounds of both ways; every round's answers must be identical."""
    torch.set_num_threads(threads)
    model = CharGPTForCausalLM.from_pretrained(CHECKPOINT, dtype=torch.float32)
    tokenizer = CharTokenizer.from_pretrained(CHECKPOINT)
    questions = read_birthplace_file(resolve_data_path("birth_dev.tsv", data_dir), labelled=True)["question"]
    bf16 = native_bf16(torch.device("cpu"))
    run = {
        "loop": lambda: birthplaces.greedy_decode(
            model, tokenizer, questions, batch_size=batch_size, bf16=bf16
        ),
        "generate": lambda: generate_decode(model, tokenizer, questions, batch_size, bf16),
    }
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    cpu_times: dict[str, list[float]] = {w: [] for w in WAYS}
    max_prob_gap = 0.0
    for round_ in range(repeats + 1):
        answers = {}
        for way in WAYS if round_ % 2 == 0 else reversed(WAYS):
            start, cpu_start = time.perf_counter(), time.process_time()
            answers[way] = run[way]()
            if round_:  # round 0 is the warm-up
                times[way].append(time.perf_counter() - start)
                cpu_times[way].append(time.process_time() - cpu_start)
        texts = {w: [(p.text, p.closed) for p in answers[w]] for w in WAYS}
        if texts["loop"] != texts["generate"]:
            diff = next(i for i, (a, b) in enumerate(zip(texts["loop"], texts["generate"])) if a != b)
            raise AssertionError(
                f"question {diff}: loop {texts['loop'][diff]} != generate {texts['generate'][diff]}"
            )
        for a, b in zip(answers["loop"], answers["generate"]):
            max_prob_gap = max([max_prob_gap, *(abs(x - y) for x, y in zip(a.token_probs, b.token_probs))])
    return {
        "meta": {
            "checkpoint": CHECKPOINT.name,
            "questions": len(questions),
            "batch_size": batch_size,
            "bf16": bf16,
            "threads": threads,
            "repeats": repeats,
            "cpu": describe_cpu(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "torch": torch.__version__,
            "identical_answers": True,
            "median_cpu_ratio_generate_over_loop": statistics.median(
                g / lo for g, lo in zip(cpu_times["generate"], cpu_times["loop"])
            ),
            "max_token_prob_difference": max_prob_gap,
        },
        "rows": [
            {
                "way": w,
                "median_s": statistics.median(times[w]),
                "median_cpu_s": statistics.median(cpu_times[w]),
                "times_s": times[w],
                "cpu_times_s": cpu_times[w],
            }
            for w in WAYS
        ],
    }


def markdown(result: dict) -> str:
    """The result as a short Markdown table."""
    meta = result["meta"]
    base, base_cpu = result["rows"][0]["median_s"], result["rows"][0]["median_cpu_s"]
    lines = [
        f"Greedy decoding of the {meta['questions']} questions of birth_dev.tsv with {meta['checkpoint']}, "
        f"batch {meta['batch_size']}, bf16 autocast {meta['bf16']}, {meta['threads']} thread(s), median of "
        f"{meta['repeats']} interleaved rounds; identical answers, largest token-probability difference "
        f"{meta['max_token_prob_difference']:.1e}; {meta['cpu']}, {meta['date']}.",
        "",
        "| way | wall time (s) | × loop | CPU time (s) | × loop |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['way']} | {r['median_s']:.2f} | {r['median_s'] / base:.2f} | {r['median_cpu_s']:.2f} | "
        f"{r['median_cpu_s'] / base_cpu:.2f} |"
        for r in result["rows"]
    ]
    ratio = meta["median_cpu_ratio_generate_over_loop"]
    lines += ["", f"Median per-round CPU-time ratio generate / loop: {ratio:.3f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure, print and write `greedy_decode.json` / `.md` under `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=None, help="data directory (default: $HFMODELS_DATA_DIR)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=128)
    args = parser.parse_args()
    result = measure(args.data_dir, args.repeats, args.threads, args.batch_size)
    write_json_atomic(args.out / "greedy_decode.json", result)
    text = markdown(result)
    write_text_atomic(args.out / "greedy_decode.md", text)
    print(text)


if __name__ == "__main__":
    main()
