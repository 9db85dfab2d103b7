"""Layer-wise learning-rate decay (LLRD) and per-task loss weights for the multitask BERT.

[`layerwise_lr_groups`] builds the optimizer's parameter groups: the heads (and BERT's pooler) at
the base rate `lr`, encoder layer `i` (0 = the lowest of `L` layers) at `lr * decay ** (L - i)`,
the embeddings at `lr * decay ** (L + 1)`; each rate splits into a weight-decay group and a
no-decay group (biases and LayerNorm weights) exactly as the stock `Trainer` splits them. With
`decay == 1` the result is the stock `Trainer`'s two groups. [`MultitaskTrainer`] uses it when
`layerwise_lr_decay != 1` (`create_optimizer`), so the stock scheduler (it scales every group's
own rate), checkpoint resume and accelerate work unchanged.

[`parse_task_loss_weights`] reads the recipe's `--task_loss_weights sentiment=2,paraphrase=1`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping

from torch import nn

from ..multitask_bert.configuration_multitask_bert import TASKS

_LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


def _check_number(name: str, value, low: float, high: float | None = None, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bracket = "(" if low_open else "["
        upper = f"{high}]" if high is not None else "inf)"
        raise ValueError(f"{name}={value!r}; expected a number in {bracket}{low}, {upper}")
    return float(value)


def check_layerwise_lr_decay(decay) -> float:
    """`decay` as a float; ValueError unless it is in (0, 1] (1 = no decay)."""
    return _check_number("layerwise_lr_decay", decay, 0.0, 1.0, low_open=True)


def default_decay_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters that get weight decay under the stock `Trainer`'s rule (all but
    biases and norm weights): `Trainer.get_decay_parameter_names`, which uses no trainer state."""
    from transformers import Trainer

    return Trainer.get_decay_parameter_names(None, model)


def parameter_depth(name: str, num_layers: int, encoder_prefix: str = "bert.") -> int:
    """How many layers below the top a parameter sits: 0 for the heads and BERT's pooler,
    `num_layers - i` for encoder layer `i`, `num_layers + 1` for the embeddings."""
    if not name.startswith(encoder_prefix):
        return 0
    rest = name[len(encoder_prefix) :]
    if rest.startswith("embeddings."):
        return num_layers + 1
    if rest.startswith("pooler."):
        return 0
    match = _LAYER.match(rest)
    if match is None or int(match.group(1)) >= num_layers:
        raise ValueError(f"parameter {name!r} is in no known part of the encoder (embeddings, layer, pooler)")
    return num_layers - int(match.group(1))


def layerwise_lr_groups(
    model: nn.Module,
    lr: float,
    decay: float,
    weight_decay: float,
    decay_parameter_names: Collection[str] | None = None,
) -> list[dict]:
    """Optimizer parameter groups with layer-wise learning-rate decay for a [`MultitaskBertModel`]
    (any module whose BERT encoder is `model.bert`).

    Args:
        model: the model; only parameters with `requires_grad` are included (as `Trainer` does).
        lr: the base rate: heads, pooler (and anything outside `model.bert`).
        decay: factor per layer, in (0, 1]: encoder layer `i` of `L` gets `lr * decay ** (L - i)`
            (the top layer `lr * decay`), the embeddings `lr * decay ** (L + 1)`.
        weight_decay: weight decay of the decaying parameters.
        decay_parameter_names: parameters that get weight decay; defaults to the stock
            `Trainer` rule (everything but biases and LayerNorm weights).

    Returns:
        Groups `{"params", "weight_decay", "lr"}`, highest rate first, each rate's weight-decay
        group before its no-decay group; the two base-rate groups are always present (possibly
        empty), lower-rate groups only when they hold parameters. With `decay == 1` this is
        exactly the stock `Trainer`'s grouping (same parameters, same order), plus `"lr": lr`.
    """
    decay = check_layerwise_lr_decay(decay)
    lr = _check_number("lr", lr, 0.0)
    weight_decay = _check_number("weight_decay", weight_decay, 0.0)
    if decay_parameter_names is None:
        decay_parameter_names = default_decay_parameter_names(model)
    decay_parameter_names = set(decay_parameter_names)
    bert = getattr(model, "bert", None)
    if bert is None or not hasattr(bert, "encoder"):
        raise ValueError(
            f"layerwise_lr_groups needs a model with a BERT encoder at .bert, got {type(model).__name__}"
        )
    num_layers = len(bert.encoder.layer)
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {(lr, True): [], (lr, False): []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        rate = lr * decay ** parameter_depth(name, num_layers)
        groups.setdefault((rate, name in decay_parameter_names), []).append(param)
    ordered = sorted(groups.items(), key=lambda item: (-item[0][0], not item[0][1]))
    return [
        {"params": params, "weight_decay": weight_decay if decays else 0.0, "lr": rate}
        for (rate, decays), params in ordered
        if params or rate == lr
    ]


def parse_task_loss_weights(text: str | None, tasks: Iterable[str] = TASKS) -> dict[str, float]:
    """`"sentiment=2,paraphrase=1"` -> `{"sentiment": 2.0, "paraphrase": 1.0, ...}` for every task in
    `tasks` (unnamed tasks weigh 1). Raises ValueError naming the bad entry for an unknown or repeated
    task, a missing `=`, or a weight that is not a finite number >= 0; at least one weight must be > 0."""
    tasks = list(tasks)
    weights = dict.fromkeys(tasks, 1.0)
    seen: set[str] = set()
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep:
            raise ValueError(f"task_loss_weights entry {entry!r}: expected task=weight, e.g. sentiment=2")
        if name not in tasks:
            raise ValueError(
                f"task_loss_weights: unknown task {name!r}; this model's tasks are {', '.join(tasks)}"
            )
        if name in seen:
            raise ValueError(f"task_loss_weights: task {name!r} is given twice")
        seen.add(name)
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"task_loss_weights entry {entry!r}: {value!r} is not a number") from None
        weights[name] = _check_number(f"task_loss_weights[{name!r}]", number, 0.0)
    return check_task_loss_weights(weights, tasks)


def check_task_loss_weights(weights: Mapping[str, float], tasks: Iterable[str] = TASKS) -> dict[str, float]:
    """`weights` as `{task: float}`; ValueError for a task outside `tasks`, a weight that is not a
    finite number >= 0, or a weight of 0 for every task of `tasks` (tasks left out weigh 1)."""
    tasks = list(tasks)
    out = {}
    for name, value in weights.items():
        if name not in tasks:
            raise ValueError(
                f"task_loss_weights: unknown task {name!r}; this model's tasks are {', '.join(tasks)}"
            )
        out[name] = _check_number(f"task_loss_weights[{name!r}]", value, 0.0)
    if tasks and not any(out.get(task, 1.0) > 0 for task in tasks):
        raise ValueError("task_loss_weights: every task's weight is 0, so nothing would be trained")
    return out


__all__ = [
    "check_layerwise_lr_decay",
    "check_task_loss_weights",
    "default_decay_parameter_names",
    "layerwise_lr_groups",
    "parameter_depth",
    "parse_task_loss_weights",
]
