"""The LSTM LM tab: a continuation of a prompt with `generate()` (the recurrent cache), greedy at
temperature 0, else sampled with the given temperature and top-k (transformers' sampling)."""

from __future__ import annotations

import torch

from .birthplace import markdown_escape
from .loading import DemoError, LoadedModel
from .multitask_bert import MAX_SENTENCE_CHARS

MAX_NEW_WORDS = 200


@torch.no_grad()
def continue_prompt(
    loaded: LoadedModel,
    prompt: str,
    max_new_words: int = 30,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
) -> str:
    """Markdown: the prompt (unknown words shown as the model reads them, `<unk>`) and its continuation."""
    prompt = prompt.strip()
    if not prompt:
        raise DemoError("Type a prompt: a few words of English text.")
    if len(prompt) > MAX_SENTENCE_CHARS:
        raise DemoError(f"The prompt is {len(prompt)} characters; at most {MAX_SENTENCE_CHARS} are accepted.")
    if not 1 <= int(max_new_words) <= MAX_NEW_WORDS:
        raise DemoError(f"Words to generate must be between 1 and {MAX_NEW_WORDS}, not {max_new_words}.")
    if temperature < 0 or top_k < 0:
        raise DemoError(f"Temperature ({temperature}) and top-k ({top_k}) cannot be negative.")
    tokenizer, model = loaded.tokenizer, loaded.model
    ids = torch.tensor([tokenizer(prompt)["input_ids"]], device=model.device)
    unknown, total = tokenizer.count_unknown([prompt])
    sampling = (
        {"do_sample": False}
        if temperature == 0
        else {"do_sample": True, "temperature": float(temperature), "top_k": int(top_k) or None}
    )
    torch.manual_seed(int(seed))
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=int(max_new_words),
        eos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
        **sampling,
    )
    continuation = tokenizer.decode(out[0, ids.shape[1] :])
    note = f" ({unknown} of {total} words are not in the vocabulary and read as <unk>)" if unknown else ""
    read = markdown_escape(tokenizer.decode(ids[0]))
    return f"**Prompt as read:** {read}{markdown_escape(note)}\n\n**Continuation:** {markdown_escape(continuation)}\n"


__all__ = ["continue_prompt"]
