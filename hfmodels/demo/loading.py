"""Loading saved model folders for the demo: one Auto class per family, chosen by `config.model_type`.

| `model_type` | family | loaded with |
| --- | --- | --- |
| `char_gpt` | character GPT (vanilla / perceiver / synthesizer) | `AutoModelForCausalLM`, `AutoTokenizer` |
| `lstm_lm` | word-level LSTM LM | `AutoModelForCausalLM`, `AutoTokenizer` |
| `addsub` | AddSub encoder-decoder | `AutoModelForSeq2SeqLM`, `AutoTokenizer` |
| `multitask_bert` | multitask BERT | `AutoModel`, `AutoTokenizer` |

A folder that is not one of these raises [`DemoError`] with a message meant for the page.
Loaded folders are kept in a small cache keyed by the folder and its weights' modification time,
so each request does not reload them and a retrained folder is picked up.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
)

import hfmodels  # noqa: F401  (registers the families with the Auto classes)

#: The Auto model class of each family the demo has a tab for.
FAMILY_AUTO_CLASSES = {
    "char_gpt": AutoModelForCausalLM,
    "lstm_lm": AutoModelForCausalLM,
    "addsub": AutoModelForSeq2SeqLM,
    "multitask_bert": AutoModel,
}
#: Tab title of each family.
FAMILY_TITLES = {
    "char_gpt": "Birthplace QA",
    "multitask_bert": "Sentiment, paraphrase, similarity",
    "addsub": "AddSub",
    "lstm_lm": "LSTM LM",
}
_CACHE_SIZE = 8


class DemoError(ValueError):
    """A problem with what the user typed or pointed at, worded for the page (never a stack trace)."""


@dataclass
class LoadedModel:
    """A model folder loaded for the demo: its `model_type`, model (eval mode, float32), tokenizer,
    folder and a short `label` for column headers (the variant for a character GPT)."""

    model_type: str
    model: Any
    tokenizer: Any
    folder: Path

    @property
    def label(self) -> str:
        """`variant (folder name)` for a character GPT, the folder name otherwise."""
        variant = getattr(self.model.config, "attention_type", None)
        return f"{variant} ({self.folder.name})" if variant else self.folder.name


def read_model_type(folder: str | os.PathLike) -> str:
    """`model_type` of the model folder `folder`; [`DemoError`] if it is not a model folder of a
    family the demo knows."""
    path = Path(folder).expanduser()
    if not str(folder).strip():
        raise DemoError("No model folder given: type the path of a saved model folder.")
    if not path.is_dir():
        raise DemoError(f"{path}: no such folder.")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise DemoError(f"{path}: not a model folder (it has no config.json).")
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise DemoError(f"{config_file}: not a readable model config ({err}).") from None
    if model_type not in FAMILY_AUTO_CLASSES:
        raise DemoError(
            f"{path}: model_type {model_type!r} has no tab in this demo "
            f"(it shows {', '.join(FAMILY_AUTO_CLASSES)})."
        )
    return model_type


class ModelCache:
    """Loaded folders by (resolved folder, weights mtime), at most `size` of them, thread-safe
    (Gradio runs handlers in worker threads)."""

    def __init__(self, size: int = _CACHE_SIZE):
        self.size = size
        self._items: dict[tuple[str, float], LoadedModel] = {}
        self._lock = threading.Lock()

    def load(self, folder: str | os.PathLike, expected: str | None = None) -> LoadedModel:
        """The folder's model and tokenizer (see the module docstring); [`DemoError`] for a folder
        that is not a model, or not of the `expected` family."""
        model_type = read_model_type(folder)
        path = Path(folder).expanduser().resolve()
        if expected is not None and model_type != expected:
            raise DemoError(
                f"{path}: its model_type is {model_type}; this tab needs a {expected} folder "
                f"(give it to the {FAMILY_TITLES[model_type]} tab)."
            )
        weights = [p.stat().st_mtime for p in path.glob("*.safetensors")] or [0.0]
        key = (str(path), max(weights))
        with self._lock:
            if key in self._items:
                return self._items[key]
            loaded = _load(path, model_type)
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = loaded
            return loaded


def _load(path: Path, model_type: str) -> LoadedModel:
    try:
        config = AutoConfig.from_pretrained(path)
        # The shipped checkpoint is stored in bfloat16; answers and probabilities are computed in float32.
        model = FAMILY_AUTO_CLASSES[model_type].from_pretrained(path, config=config, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path)
    # safetensors, torch and tokenizers each raise their own exception types for a damaged folder
    except Exception as err:
        raise DemoError(
            f"{path}: the {model_type} folder does not load ({type(err).__name__}: {err})."
        ) from None
    return LoadedModel(model_type, model.eval(), tokenizer, path)


def split_folders(text: str) -> list[str]:
    """Folder paths from a text box: one per line (commas also separate), blanks dropped."""
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


__all__ = [
    "FAMILY_AUTO_CLASSES",
    "FAMILY_TITLES",
    "DemoError",
    "LoadedModel",
    "ModelCache",
    "read_model_type",
    "split_folders",
]
