"""Scoring and decoding of the word-level LSTM language model (docs/lstm_lm.md, "Metrics").

- [`stream_nlls`]: the NLL of every token of a split's stream but the first, each given all the
  tokens before it (the recurrent state is carried through the whole stream, batch 1), which is
  exactly what the count baselines of `hfmodels.evaluation.ngram` score; its mean gives the
  reported perplexity.
- [`prediction_nll`]: the course's "prediction" score, the mean NLL of the 22nd word after each
  21-word prompt (prompts read from a fresh state).
- [`generate_continuations`]: the course's "generation", `generate()` with the recurrent cache.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


@torch.no_grad()
def stream_nlls(model, stream: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """`-log P(w_t | w_<t)` for t = 1 … N-1 of the 1-D id `stream`, read `chunk` words at a time
    with the state carried over (the model is put in `eval()`)."""
    model.eval()
    inputs, targets = stream[:-1], stream[1:]
    cache, out = None, []
    for start in range(0, inputs.numel(), chunk):
        x = inputs[start : start + chunk].unsqueeze(0)
        result = model(x, cache=cache, use_cache=True)
        cache = result.cache if hasattr(result, "cache") else result.past_key_values
        logp = F.log_softmax(result.logits[0].float(), dim=-1)
        out.append(-logp.gather(1, targets[start : start + chunk].unsqueeze(1)).squeeze(1))
    return torch.cat(out)


def stream_perplexity(model, stream: torch.Tensor, chunk: int = 1024) -> float:
    """`exp` of the mean of [`stream_nlls`]."""
    return math.exp(stream_nlls(model, stream, chunk).mean().item())


@torch.no_grad()
def prediction_nll(model, prompts: torch.Tensor, targets: torch.Tensor, batch_size: int = 512) -> float:
    """Mean `-log P(target | prompt)` over the rows of `prompts` `(N, L)` and `targets` `(N,)`."""
    model.eval()
    total = 0.0
    for start in range(0, prompts.shape[0], batch_size):
        logits = model(prompts[start : start + batch_size], use_cache=False, logits_to_keep=1).logits[:, -1]
        logp = F.log_softmax(logits.float(), dim=-1)
        total += -logp.gather(1, targets[start : start + batch_size].unsqueeze(1)).sum().item()
    return total / prompts.shape[0]


@torch.no_grad()
def generate_continuations(
    model, tokenizer, prompts: torch.Tensor, max_new_tokens: int = 10, **generate_kwargs
) -> list[dict[str, str]]:
    """Continue every prompt (rows of equal length) by `max_new_tokens` words with `generate()`
    (greedy unless `generate_kwargs` say otherwise); `<eol>` is a word here, so it does not stop a
    row. Returns `{"prompt", "continuation"}` texts."""
    model.eval()
    generate_kwargs.setdefault("do_sample", False)
    generate_kwargs.setdefault("eos_token_id", None)
    out = model.generate(
        prompts,
        attention_mask=torch.ones_like(prompts),
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        **generate_kwargs,
    )
    return [
        {"prompt": tokenizer.decode(p), "continuation": tokenizer.decode(o[prompts.shape[1] :])}
        for p, o in zip(prompts, out)
    ]


__all__ = ["generate_continuations", "prediction_nll", "stream_nlls", "stream_perplexity"]
