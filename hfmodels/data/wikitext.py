"""WikiText-2 for the word-level LSTM language model (docs/lstm_lm.md, "Data").

Only WikiText-2's `valid.txt` and `test.txt` are available offline, so the model trains on a
reduced split: [`load_wikitext2`] gives `train` = the articles of `valid.txt` but its last
`validation_articles`, `validation` = those last articles, `test` = `test.txt`. One row per
article (`title`, `text`: its non-blank lines, each ending in a newline, which the tokenizer
turns into `<eol>`).

Then: [`group_texts`] cuts the concatenated token ids into fixed-length rows ("cut like a
sausage"; `labels` are the inputs, shifted by one inside the model), and
[`prediction_set`] / [`generation_prompts`] build the course's two evaluation sets from a split's
token stream, deterministically.
"""

from __future__ import annotations

import os
import re

import torch
from datasets import Dataset, DatasetDict

from .paths import data_file
from .text_files import DataFormatError, read_text, shorten

HEADING = re.compile(r"^ = [^=].* = $")
PROMPT_WORDS = 21


def read_wikitext_articles(path: str | os.PathLike) -> list[dict[str, str]]:
    """Articles of a WikiText file: `{"title", "text"}`, split at its level-1 headings (` = Title = `).

    Blank lines (WikiText's paragraph spacing) carry no words and are left out; every other line
    is kept with its spaces stripped and a trailing newline.

    Raises:
        [`DataFormatError`]: invalid UTF-8 (see [`read_text`]), words before the first heading,
            or no heading at all (names the file and line).
    """
    articles: list[dict[str, str]] = []
    lines: list[str] = []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if HEADING.match(line):
            if articles:
                articles[-1]["text"] = "".join(lines)
            articles.append({"title": line.strip(" =")})
            lines = [line.strip() + "\n"]
        elif line.strip():
            if not articles:
                raise DataFormatError(
                    f"{path}:{number}: words before the first article heading (' = Title = '): {shorten(line)}."
                )
            lines.append(line.strip() + "\n")
    if not articles:
        raise DataFormatError(f"{path}: no article heading (' = Title = ') found; is this a WikiText file?")
    articles[-1]["text"] = "".join(lines)
    return articles


def load_wikitext2(data_dir: str | os.PathLike | None = None, validation_articles: int = 6) -> DatasetDict:
    """WikiText-2 as a `DatasetDict` with `train`, `validation` (the last `validation_articles`
    articles of `valid.txt`, the rest trains) and `test` (`test.txt`); one row per article."""
    valid = read_wikitext_articles(data_file("wikitext-2/valid.txt", data_dir))
    test = read_wikitext_articles(data_file("wikitext-2/test.txt", data_dir))
    if not 0 < validation_articles < len(valid):
        raise ValueError(
            f"validation_articles={validation_articles}: valid.txt has {len(valid)} articles; keep at "
            "least one for training and one for validation."
        )
    return DatasetDict(
        train=Dataset.from_list(valid[:-validation_articles]),
        validation=Dataset.from_list(valid[-validation_articles:]),
        test=Dataset.from_list(test),
    )


def group_texts(examples: dict[str, list], block_size: int) -> dict[str, list[list[int]]]:
    """`Dataset.map(batched=True)` transform: concatenate `input_ids` and cut rows of `block_size`
    (the remainder shorter than a row is dropped); `labels` equal `input_ids` (the model shifts)."""
    ids = [i for row in examples["input_ids"] for i in row]
    total = (len(ids) // block_size) * block_size
    blocks = [ids[i : i + block_size] for i in range(0, total, block_size)]
    return {"input_ids": blocks, "labels": [list(b) for b in blocks]}


def tokenize_and_group(dataset: Dataset, tokenizer, block_size: int) -> Dataset:
    """Tokenise a split's `text` and cut it into `block_size` rows with [`group_texts`]. The map runs
    on the whole split at once so the rows run on across article boundaries, as one stream."""
    tokenized = dataset.map(
        lambda batch: {"input_ids": tokenizer(batch["text"])["input_ids"]},
        batched=True,
        remove_columns=dataset.column_names,
    )
    return tokenized.map(
        group_texts, batched=True, batch_size=None, fn_kwargs={"block_size": block_size}
    ).with_format("torch")


def token_stream(dataset: Dataset, tokenizer) -> torch.Tensor:
    """The split's articles, tokenised and concatenated: one 1-D `LongTensor` of word ids."""
    ids = tokenizer(list(dataset["text"]))["input_ids"]
    return torch.tensor([i for row in ids for i in row], dtype=torch.long)


def prediction_set(
    stream: torch.Tensor, prompt_words: int = PROMPT_WORDS
) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's "prediction" set from a token stream: consecutive, non-overlapping windows of
    `prompt_words + 1` words; returns (prompts `(N, prompt_words)`, targets `(N,)`: each window's
    last word)."""
    window = prompt_words + 1
    n = stream.numel() // window
    if n == 0:
        raise ValueError(f"prediction_set: a stream of {stream.numel()} words has no window of {window}.")
    windows = stream[: n * window].view(n, window)
    return windows[:, :-1].contiguous(), windows[:, -1].contiguous()


def generation_prompts(
    stream: torch.Tensor, num_prompts: int = 128, prompt_words: int = PROMPT_WORDS
) -> torch.Tensor:
    """The course's "generation" prompts: `num_prompts` windows of `prompt_words` words, evenly spaced
    over the stream (window `k` starts at `k * (len - prompt_words) // num_prompts`)."""
    span = stream.numel() - prompt_words
    if span < num_prompts:
        raise ValueError(
            f"generation_prompts: {num_prompts} prompts of {prompt_words} words do not fit in "
            f"{stream.numel()} words."
        )
    starts = [k * span // num_prompts for k in range(num_prompts)]
    return torch.stack([stream[s : s + prompt_words] for s in starts])


__all__ = [
    "PROMPT_WORDS",
    "generation_prompts",
    "group_texts",
    "load_wikitext2",
    "prediction_set",
    "read_wikitext_articles",
    "token_stream",
    "tokenize_and_group",
]
