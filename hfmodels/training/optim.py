"""minGPT's AdamW setup: weight decay on the weights of matrix products (`nn.Linear`) only.

minGPT (and the course code; docs/definitions.md, "Training schedules of the original") decays
`nn.Linear` weights and nothing else: no decay on biases, LayerNorm, token and position
embeddings, the perceiver's basis `C` or the synthesizer's `B`/`b2`. transformers' `Trainer` decays every parameter except biases and
norms (embeddings included), so the recipe builds the optimizer here and hands it to
`Trainer(optimizers=...)`.
"""

from __future__ import annotations

import torch
from torch import nn


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


def mingpt_param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW parameter groups: Linear weights with `weight_decay`, everything else with 0."""
    decay = set(decay_parameter_names(model))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in params if n in decay], "weight_decay": weight_decay},
        {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0},
    ]


def create_mingpt_adamw(
    model: nn.Module,
    learning_rate: float,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """`torch.optim.AdamW` over [`mingpt_param_groups`] (the original's betas (0.9, 0.95), decay 0.1).

    `fused=None` uses the fused kernel (one pass over all parameters, same update rule) when every
    parameter is a floating-point tensor on CPU or CUDA; `False` forces the per-tensor loop.
    """
    if fused is None:
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.AdamW(
        mingpt_param_groups(model, weight_decay), lr=learning_rate, betas=betas, eps=eps, fused=fused
    )


__all__ = ["create_mingpt_adamw", "decay_parameter_names", "mingpt_param_groups"]
