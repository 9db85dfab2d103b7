"""minGPT's token-based learning-rate schedule, fed by the tokens a `Trainer` actually processes.

The course's minGPT trainer (docs/definitions.md, "Learning-rate schedule") sets, after every
optimizer step,

    tokens += (y >= 0).sum()
    lr_mult = tokens / warmup_tokens                                     if tokens < warmup_tokens
            = max(0.1, 0.5 * (1 + cos(pi * (tokens - warmup_tokens)
                                          / max(1, final_tokens - warmup_tokens))))  otherwise
    lr = learning_rate * lr_mult

with `warmup_tokens = 512 * 20` and `final_tokens = 200 * len(pretrain_dataset) * block_size`.
The first optimizer step runs at the optimizer's initial learning rate (the peak), because the
schedule is applied only after each step; [`MinGPTLRSchedule`] reproduces that too.

What counts as a token. In the course data the target `y` is the 127-character string
right-padded with PAD (id 0), so `(y >= 0).sum()` counts *every* target position of every
example, PAD included: `block_size - 1` tokens per example. That is `token_count="examples"`
here (the default, and the faithful reading): it counts examples (rows, or example starts in
packed rows) times `tokens_per_example`, so packing (which removes the PAD) does not change the
curve. `token_count="targets"` counts the learned targets instead (labels that are neither
-100 nor PAD), the reading of `(y >= 0)` for a minGPT whose ignored targets are -1.

Because the lr depends only on the running token count, a run with a constant number of
examples per optimizer step follows the same curve expressed in steps
(`tokens = step * examples_per_step * tokens_per_example`); the token form stays right when
the last batch of an epoch is short or when `token_count="targets"` varies from step to step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import Trainer

WARMUP_TOKENS = 512 * 20
TOKEN_COUNTS = ("examples", "targets")


def mingpt_lr_multiplier(tokens: int, warmup_tokens: int, final_tokens: int, min_ratio: float = 0.1) -> float:
    """minGPT's learning-rate multiplier after `tokens` tokens (linear warm-up, then cosine to
    `min_ratio`). Past `final_tokens` the cosine term rises again, floored at `min_ratio`,
    exactly as the original formula does (it has no clamp on the progress)."""
    if tokens < warmup_tokens:
        return float(tokens) / float(max(1, warmup_tokens))
    progress = float(tokens - warmup_tokens) / float(max(1, final_tokens - warmup_tokens))
    return max(min_ratio, 0.5 * (1.0 + math.cos(math.pi * progress)))


def original_final_tokens(num_pretrain_documents: int, block_size: int = 128) -> int:
    """`final_tokens = 200 * len(pretrain_dataset) * block_size` of the course code (75,187,200
    for the 2,937 documents of wiki.txt)."""
    return 200 * num_pretrain_documents * block_size


class MinGPTLRSchedule:
    """Callable learning-rate multiplier for `torch.optim.lr_scheduler.LambdaLR` that reads a
    running token count instead of the step number.

    `LambdaLR` stores the `__dict__` of callable objects in its `state_dict`, so `tokens` is
    saved in every `Trainer` checkpoint (`scheduler.pt`) and restored on resume.

    Args:
        warmup_tokens (`int`): tokens of linear warm-up (512 * 20 in the original).
        final_tokens (`int`): tokens at which the cosine reaches `min_ratio`.
        min_ratio (`float`, defaults to 0.1): floor of the multiplier.
        peak_before_first_step (`bool`, defaults to `True`): the original applies its schedule
            only after each optimizer step, so its first step runs at the peak rate.
    """

    def __init__(
        self,
        warmup_tokens: int,
        final_tokens: int,
        min_ratio: float = 0.1,
        peak_before_first_step: bool = True,
    ):
        if final_tokens <= 0 or warmup_tokens < 0:
            raise ValueError(
                f"MinGPTLRSchedule: expected warmup_tokens >= 0 and final_tokens > 0, got {warmup_tokens}, {final_tokens}."
            )
        self.warmup_tokens = int(warmup_tokens)
        self.final_tokens = int(final_tokens)
        self.min_ratio = float(min_ratio)
        self.peak_before_first_step = bool(peak_before_first_step)
        self.tokens = 0

    def add_tokens(self, n: int) -> None:
        """Count `n` more processed tokens (call before the scheduler's `step()`)."""
        self.tokens += int(n)

    def __call__(self, step: int) -> float:
        # LambdaLR evaluates the multiplier once at construction (step 0) and then after every
        # optimizer step; only the former happens before any token has been counted.
        if step == 0 and self.peak_before_first_step:
            return 1.0
        return mingpt_lr_multiplier(self.tokens, self.warmup_tokens, self.final_tokens, self.min_ratio)


def mingpt_lr_scheduler(
    optimizer: torch.optim.Optimizer, warmup_tokens: int, final_tokens: int, min_ratio: float = 0.1
) -> LambdaLR:
    """A `LambdaLR` driven by a [`MinGPTLRSchedule`] (reach it as `scheduler.lr_lambdas[0]`)."""
    return LambdaLR(optimizer, MinGPTLRSchedule(warmup_tokens, final_tokens, min_ratio))


def count_tokens(inputs: dict[str, Any], mode: str, tokens_per_example: int, pad_token_id: int = 0) -> int:
    """Tokens of one batch for the schedule.

    `mode="examples"`: examples x `tokens_per_example` (an example is a row, or in packed rows
    with `position_ids`, a position 0 that holds a real token). `mode="targets"`: labels after
    the model's shift that are neither -100 nor PAD (and not an example's first token in packed
    rows).
    """
    if mode not in TOKEN_COUNTS:
        raise ValueError(f"count_tokens: mode={mode!r}; allowed: {', '.join(TOKEN_COUNTS)}.")
    input_ids = inputs["input_ids"]
    position_ids = inputs.get("position_ids")
    if mode == "examples":
        if position_ids is None:
            return int(input_ids.shape[0]) * tokens_per_example
        starts = (position_ids.expand_as(input_ids) == 0) & (input_ids != pad_token_id)
        return int(starts.sum()) * tokens_per_example
    labels = inputs["labels"][:, 1:]
    valid = (labels != -100) & (labels != pad_token_id)
    if position_ids is not None:
        valid &= position_ids.expand_as(inputs["labels"])[:, 1:] != 0
    return int(valid.sum())


class TokenScheduleTrainer(Trainer):
    """`Trainer` that feeds the tokens it trains on to a [`MinGPTLRSchedule`].

    Pass the optimizer and a [`mingpt_lr_scheduler`] through `optimizers=(optimizer, scheduler)`.
    Every training micro-batch adds its tokens (summed over all processes, so every rank computes
    the same learning rate); `Trainer` then calls `scheduler.step()` after each optimizer step,
    which sets the rate for the next step from all tokens seen so far, as minGPT does.

    Args:
        token_count (`str`, defaults to `"examples"`): see [`count_tokens`].
        tokens_per_example (`int`, defaults to 127): `block_size - 1` for the study's data.
    """

    def __init__(self, *args, token_count: str = "examples", tokens_per_example: int = 127, **kwargs):
        if token_count not in TOKEN_COUNTS:
            raise ValueError(
                f"TokenScheduleTrainer: token_count={token_count!r}; allowed: {', '.join(TOKEN_COUNTS)}."
            )
        super().__init__(*args, **kwargs)
        self.token_count = token_count
        self.tokens_per_example = tokens_per_example

    def _schedule(self) -> MinGPTLRSchedule | None:
        lambdas = getattr(self.lr_scheduler, "lr_lambdas", None) or []
        return next((f for f in lambdas if isinstance(f, MinGPTLRSchedule)), None)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The stock loss; in training mode it also counts the batch's tokens for the schedule."""
        schedule = self._schedule()
        if schedule is not None and model.training:
            pad = getattr(self.model.config, "pad_token_id", 0) or 0
            n = count_tokens(inputs, self.token_count, self.tokens_per_example, pad)
            if self.accelerator.num_processes > 1:
                t = torch.tensor([n], device=self.accelerator.device, dtype=torch.long)
                n = int(self.accelerator.reduce(t, reduction="sum").item())
            schedule.add_tokens(n)
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )


__all__ = [
    "WARMUP_TOKENS",
    "MinGPTLRSchedule",
    "TokenScheduleTrainer",
    "count_tokens",
    "mingpt_lr_multiplier",
    "mingpt_lr_scheduler",
    "original_final_tokens",
]
