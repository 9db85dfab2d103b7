"""minGPT's optimizer setup through `Trainer`: weight decay on the weights of matrix products
(`nn.Linear`) only, and the token schedule.

minGPT (and the course code; docs/definitions.md, "Training schedules of the original") decays
`nn.Linear` weights and nothing else: no decay on biases, LayerNorm, token and position
embeddings, the perceiver's basis `C` or the synthesizer's `B`/`b2`. The stock `Trainer` decays
every parameter except biases and norms (embeddings included), so [`MinGPTTrainer`] overrides
`get_decay_parameter_names` only; `Trainer.create_optimizer` then builds whichever optimizer
`--optim` names over those two groups (with minGPT's betas and decay as `TrainingArguments`
defaults, see `hfmodels.training.char_gpt.CharGPTTrainingArguments`), and `create_scheduler`
returns minGPT's token schedule ([`mingpt_lr_scheduler`]).
"""

from __future__ import annotations

import torch
from torch import nn

from .schedules import WARMUP_TOKENS, TokenScheduleTrainer, mingpt_lr_scheduler


def decay_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters minGPT decays: the `weight` of every `nn.Linear`.

    A weight tied to a non-Linear module (e.g. an embedding) is not decayed, as in minGPT,
    which lists it under the embedding."""
    no_decay = {
        id(p) for m in model.modules() if not isinstance(m, nn.Linear) for p in m.parameters(recurse=False)
    }
    names = []
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear) and id(module.weight) not in no_decay:
            names.append(f"{module_name}.weight" if module_name else "weight")
    return names


class MinGPTTrainer(TokenScheduleTrainer):
    """[`TokenScheduleTrainer`] with minGPT's weight-decay groups and learning-rate schedule.

    The optimizer is the stock `Trainer.create_optimizer` of `args.optim` (any `--optim`: the
    default `adamw_torch_fused`, `adamw_torch`, `adafactor`, `sgd`, ...) over the groups of
    [`decay_parameter_names`]; the scheduler is [`mingpt_lr_scheduler`] over the tokens the
    trainer counts.

    Args:
        final_tokens (`int`): tokens at which the cosine reaches 10 % of the peak.
        warmup_tokens (`int`, defaults to 10,240): tokens of linear warm-up.
        All other arguments are [`TokenScheduleTrainer`]'s.
    """

    def __init__(self, *args, final_tokens: int, warmup_tokens: int = WARMUP_TOKENS, **kwargs):
        if (kwargs.get("optimizers") or (None, None)) != (None, None):
            raise ValueError(
                "MinGPTTrainer builds its optimizer (from --optim) and its token schedule; pass neither in "
                "`optimizers`."
            )
        super().__init__(*args, **kwargs)
        self.final_tokens = final_tokens
        self.warmup_tokens = warmup_tokens

    def get_decay_parameter_names(self, model: nn.Module) -> list[str]:
        """minGPT's decayed parameters ([`decay_parameter_names`]) instead of the stock rule."""
        return decay_parameter_names(model)

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """minGPT's token schedule ([`mingpt_lr_scheduler`]); `num_training_steps` is not used."""
        if self.lr_scheduler is None:
            optimizer = self.optimizer if optimizer is None else optimizer
            self.lr_scheduler = mingpt_lr_scheduler(optimizer, self.warmup_tokens, self.final_tokens)
            self._created_lr_scheduler = True  # as the stock method: a new `train()` builds it afresh
        return self.lr_scheduler


__all__ = ["MinGPTTrainer", "decay_parameter_names"]
