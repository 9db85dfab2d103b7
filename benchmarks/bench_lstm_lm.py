"""Speed of the LSTM language model family on this CPU, in one run.

1. Training tokens/s of the recipe (`recipes/lstm_lm/train.py`'s `LstmLMTrainer` over
   `LstmLMForCausalLM`, the reference preset's shape and batch) against a plain PyTorch loop over
   `nn.Embedding` + `nn.LSTM(num_layers=2)` + `nn.Linear` of the same shape with `torch.optim.Adam`,
   on the same batches. Rounds alternate (recipe, plain, recipe, …) so machine load hits both;
   each round times the steps after its first `--warmup_steps`. The median round is reported.
2. Generation: 10 new words for 128 prompts of 21 words, greedy, with the recurrent cache (and
   without it, for comparison), median of `--repeats`.

    python benchmarks/bench_lstm_lm.py [--data_dir ../shared/data] [--steps 40] [--rounds 3]

Writes `benchmarks/results/lstm_lm.json` and `benchmarks/results/lstm_lm.md`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from transformers import TrainerCallback, TrainingArguments

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfmodels.data.wikitext import generation_prompts, load_wikitext2, token_stream, tokenize_and_group  # noqa: E402
from hfmodels.lstm_lm import LstmLMConfig, LstmLMForCausalLM, LstmLMTokenizer  # noqa: E402
from hfmodels.reporting import write_text_atomic  # noqa: E402
from hfmodels.training.precision import describe_cpu  # noqa: E402
from tests.scripts import load_script  # noqa: E402

BATCH, BLOCK, EMB, HIDDEN, LAYERS = 32, 64, 128, 128, 2


class StepClock(TrainerCallback):
    """Wall time at the end of every optimizer step."""

    def __init__(self):
        self.times: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())


def recipe_round(rows, vocab_size: int, steps: int, warmup: int, seed: int) -> float:
    """Tokens/s of `steps` optimizer steps of the recipe's trainer, after `warmup` steps."""
    recipe = load_script("recipes/lstm_lm/train.py", "lstm_lm_train")
    torch.manual_seed(seed)
    model = LstmLMForCausalLM(LstmLMConfig(vocab_size=vocab_size, embedding_size=EMB, hidden_size=HIDDEN))
    clock = StepClock()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=BATCH,
            learning_rate=1e-3,
            lr_scheduler_type="cosine",
            optim="adamw_torch",
            weight_decay=0.0,
            max_steps=warmup + steps,
            save_strategy="no",
            report_to="none",
            logging_steps=25,
            disable_tqdm=True,
            seed=seed,
        )
        recipe.LstmLMTrainer(model=model, args=args, train_dataset=rows, callbacks=[clock]).train()
    return steps * BATCH * BLOCK / (clock.times[-1] - clock.times[warmup - 1])


class PlainLSTM(nn.Module):
    """The same function as the reference `LstmLMForCausalLM`, written as a PyTorch tutorial would."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN, num_layers=LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab_size)

    def forward(self, x):
        return self.head(self.lstm(self.embed(x))[0])


def plain_round(rows, vocab_size: int, steps: int, warmup: int, seed: int) -> float:
    """Tokens/s of a plain loop (Adam, cross-entropy on shifted targets, clip 1.0 as Trainer)."""
    torch.manual_seed(seed)
    model = PlainLSTM(vocab_size).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(rows, batch_size=BATCH, shuffle=True, drop_last=True)
    times, it = [], iter(loader)
    for _ in range(warmup + steps):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        x = batch["input_ids"]
        logits = model(x)
        loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab_size), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter())
    return steps * BATCH * BLOCK / (times[-1] - times[warmup - 1])


def generation_seconds(model, prompts: torch.Tensor, use_cache: bool, repeats: int) -> float:
    """Median wall time of greedy 10-word continuations of all `prompts`."""
    model.eval()
    mask = torch.ones_like(prompts)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(
                prompts,
                attention_mask=mask,
                max_new_tokens=10,
                do_sample=False,
                use_cache=use_cache,
                eos_token_id=None,
                pad_token_id=1,
            )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def markdown(result: dict) -> str:
    """The results as a Markdown table."""
    t, g = result["training"], result["generation"]
    lines = [
        f"LSTM LM speed, {result['machine']}, torch threads {result['threads']}, {result['date']}.",
        "",
        "| measure | recipe (Trainer + LstmLMForCausalLM) | plain PyTorch loop (nn.LSTM) | ratio |",
        "| --- | --- | --- | --- |",
        f"| training tokens/s (median of {len(t['recipe_rounds'])} rounds) | {t['recipe_tokens_per_s']:.0f} | "
        f"{t['plain_tokens_per_s']:.0f} | {t['ratio']:.2f}x |",
        "",
        "| generation: 10 words x 128 prompts of 21 words (greedy) | seconds |",
        "| --- | --- |",
        f"| with the recurrent cache | {g['cached_s']:.3f} |",
        f"| without a cache (prompt re-read every step) | {g['uncached_s']:.3f} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    """Run both measurements; write the JSON and Markdown results; return the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup_steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    data = load_wikitext2(args.data_dir)
    tokenizer = LstmLMTokenizer.from_texts(data["train"]["text"])
    rows = tokenize_and_group(data["train"], tokenizer, BLOCK)
    vocab = len(tokenizer)
    recipe_tps, plain_tps = [], []
    for r in range(args.rounds):
        recipe_tps.append(recipe_round(rows, vocab, args.steps, args.warmup_steps, seed=r))
        plain_tps.append(plain_round(rows, vocab, args.steps, args.warmup_steps, seed=r))
    torch.manual_seed(0)
    model = LstmLMForCausalLM(LstmLMConfig(vocab_size=vocab, embedding_size=EMB, hidden_size=HIDDEN))
    prompts = generation_prompts(token_stream(data["test"], tokenizer), num_prompts=128)
    result = {
        "machine": describe_cpu(),
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "vocab_size": vocab,
        "training": {
            "batch": BATCH,
            "block": BLOCK,
            "steps_per_round": args.steps,
            "recipe_rounds": recipe_tps,
            "plain_rounds": plain_tps,
            "recipe_tokens_per_s": statistics.median(recipe_tps),
            "plain_tokens_per_s": statistics.median(plain_tps),
        },
        "generation": {
            "prompts": 128,
            "prompt_words": 21,
            "new_words": 10,
            "cached_s": generation_seconds(model, prompts, True, args.repeats),
            "uncached_s": generation_seconds(model, prompts, False, args.repeats),
        },
    }
    result["training"]["ratio"] = (
        result["training"]["recipe_tokens_per_s"] / result["training"]["plain_tokens_per_s"]
    )
    out = Path(args.out)
    write_text_atomic(out / "lstm_lm.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / "lstm_lm.md", markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
