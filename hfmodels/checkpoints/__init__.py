"""Small pretrained checkpoints shipped with the package (package data), and the export that makes them.

`char_gpt-vanilla-pretrained/` is the vanilla character GPT after span-corruption pretraining on
wiki.txt, stored in bfloat16 (about 7 MB); its README.md says exactly how it was produced
(`make pretrained-checkpoint` reproduces it). `make run` finetunes it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

CHECKPOINTS_DIR = Path(__file__).resolve().parent
VANILLA_PRETRAINED = "char_gpt-vanilla-pretrained"
# What a usable checkpoint folder holds.
CHECKPOINT_FILES = ("config.json", "model.safetensors", "vocab.json")


def checkpoint_path(name: str = VANILLA_PRETRAINED) -> Path:
    """The shipped checkpoint folder `name`; `FileNotFoundError` naming the folder and the missing
    files if it is not there (e.g. a checkout made before the weights were added)."""
    folder = CHECKPOINTS_DIR / name
    missing = [f for f in CHECKPOINT_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: the pretrained checkpoint is missing ({', '.join(missing)} not found); "
            "`make pretrained-checkpoint` pretrains and exports it."
        )
    return folder


def produced_by(card: str) -> str | None:
    """The command in the "Produced by:" block of a model card written by the recipes, if any."""
    _, found, rest = card.partition("Produced by:")
    if not found or "```" not in rest:
        return None
    return rest.split("```", 2)[1].strip() or None


def _checkpoint_card(source_card: str, pretrain_command: str | None, export_command: str) -> str:
    """The source folder's card with a section saying how this checkpoint was made."""
    lines = [
        source_card.rstrip(),
        "",
        "## How this checkpoint was produced",
        "",
        "Pretrained with:",
        "",
        "```",
        pretrain_command or "(not recorded: the source folder has no card of the recipes)",
        "```",
        "",
        "then exported to bfloat16 safetensors (config, tokenizer and generation config unchanged) with:",
        "",
        "```",
        export_command,
        "```",
        "",
        "Load it for training in float32: `CharGPTForCausalLM.from_pretrained(path, dtype=torch.float32)`.",
        "",
    ]
    return "\n".join(lines)


def export_checkpoint(
    model_dir: str | os.PathLike,
    dest: str | os.PathLike,
    pretrain_command: str | None = None,
    export_command: str | None = None,
) -> Path:
    """Write the model folder `model_dir` to `dest` as a bfloat16 checkpoint: safetensors weights,
    config.json, generation_config.json, the tokenizer files and a model card (README.md): the
    card of `model_dir` (its metrics and `pretrain_command`, the command that made it; default: the
    one its card names) in the current template, with this export's command added. The weights must load strictly; `dest` is replaced file by file."""
    import torch

    from ..reporting import write_text_atomic
    from ..training.char_gpt import load_folder_tokenizer, load_pretrained_strict

    model_dir, dest = Path(model_dir), Path(dest)
    model = load_pretrained_strict(model_dir, dtype=torch.float32)
    tokenizer = load_folder_tokenizer(model_dir)
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"{model_dir}: config vocab_size {model.config.vocab_size} != tokenizer {tokenizer.vocab_size}."
        )
    dest.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    card_file = model_dir / "README.md"
    old_card = card_file.read_text(encoding="utf-8") if card_file.is_file() else ""
    export_command = export_command or "python " + " ".join(shlex.quote(a) for a in sys.argv)
    pretrain_command = pretrain_command or produced_by(old_card)
    card = _current_card(model, model_dir, dest.name, pretrain_command)
    write_text_atomic(dest / "README.md", _checkpoint_card(card, pretrain_command, export_command))
    return dest


def _current_card(model, model_dir: Path, name: str, command: str | None) -> str:
    """The card of the package's current template for `model` (a card written by an older version
    of the recipes is rendered again, keeping its command and metrics)."""
    import json

    from ..reporting import build_model_card

    metrics_file = model_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    config = model.config
    keys = ("n_layer", "n_head", "n_embd", "block_size", "bottleneck_dim", "vocab_size")
    architecture = {"variant": config.attention_type, **{k: getattr(config, k) for k in keys}}
    card = build_model_card(
        "char_gpt",
        model_name=name,
        metrics=metrics,
        template_kwargs={**architecture, "command": command or "not recorded"},
    )
    return str(card)


__all__ = ["CHECKPOINTS_DIR", "VANILLA_PRETRAINED", "checkpoint_path", "export_checkpoint", "produced_by"]
