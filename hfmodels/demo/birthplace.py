"""The Birthplace QA tab: a character GPT's answer to "Where was NAME born?", its confidence, the
London baseline, and whether the answer could have been retrieved from the pretraining corpus.

The answer is `generate()`'s greedy continuation of `question⁇` up to the next `⁇` (at most 32
characters, or what the block leaves), exactly as the library's evaluation decodes
(`hfmodels.evaluation.birthplaces`, docs/definitions.md "Birthplace examples"). Its confidence is
the probability of that whole answer, closing `⁇` included: the product of the generated tokens'
probabilities, from `output_scores=True` and `compute_transition_scores` (the confidence of
`hfmodels.evaluation.analysis`). "Could it have been retrieved" is the analysis's exposure test: the
person's document is the first line of wiki.txt that contains the name, and the answer is looked for
in that document. docs/demo.md, "What the numbers mean", states these definitions for users.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..char_gpt import MASK_CHAR
from ..data import BIRTHPLACE_FILES, WIKI_FILE, data_file, read_birthplace_file, read_wiki_file
from ..data.text_files import DataFormatError
from .loading import DemoError, LoadedModel

#: Most characters generated for an answer (the course's `sample(model, x, 32)`).
MAX_ANSWER_CHARS = 32
#: Characters of the person's document shown in the page.
DOCUMENT_PREVIEW_CHARS = 200
BASELINE_PLACE = "London"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|<>#~])")


def markdown_escape(text: str) -> str:
    """`text` with Markdown's special characters backslash-escaped, so names and answers print as typed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass
class BirthplaceAnswer:
    """A model's greedy answer: `text` (before the closing `⁇`), `token_probs` (of every generated
    token up to and including that `⁇`), and whether the `⁇` was generated (`closed`)."""

    text: str
    token_probs: list[float]
    closed: bool

    @property
    def confidence(self) -> float:
        """The probability of the whole answer: the product of `token_probs`."""
        return float(torch.tensor(self.token_probs, dtype=torch.float64).prod()) if self.token_probs else 1.0


def question_of(text: str) -> str:
    """The question for what the user typed: a name becomes `Where was NAME born?`; a text that
    starts with "Where was " must already be such a question. [`DemoError`] for an empty field or a
    malformed question."""
    text = text.strip()
    if not text:
        raise DemoError("Type a name (e.g. Ada Lovelace) or a question (Where was Ada Lovelace born?).")
    if text.lower().startswith("where was "):
        if not re.fullmatch(r"Where was \S(.*\S)? born\?", text):
            raise DemoError(f"{text[:80]!r} is not of the form 'Where was NAME born?'.")
        return text
    return f"Where was {text} born?"


@torch.no_grad()
def generate_answer(loaded: LoadedModel, question: str) -> BirthplaceAnswer:
    """Greedy `generate()` answer to `question` (see the module docstring); [`DemoError`] for a
    question the model cannot take (too long for its block, or a character outside its vocabulary)."""
    model, tokenizer = loaded.model, loaded.tokenizer
    limit = model.config.max_input_length
    if len(question) + 1 >= limit:
        raise DemoError(
            f"The question is {len(question) + 1} characters with its ⁇; {loaded.label} accepts at most "
            f"{limit - 1}, leaving room for an answer: type a shorter name."
        )
    try:
        prompt = tokenizer(question + MASK_CHAR)["input_ids"]
    except ValueError as err:
        raise DemoError(f"{loaded.label}: {err}; the model cannot read it.") from None
    mask_id = tokenizer.convert_tokens_to_ids(MASK_CHAR)
    input_ids = torch.tensor([prompt], device=model.device)
    out = model.generate(
        input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=min(MAX_ANSWER_CHARS, limit - len(prompt)),
        do_sample=False,
        num_beams=1,
        eos_token_id=mask_id,
        pad_token_id=model.config.pad_token_id,
        output_scores=True,
        return_dict_in_generate=True,
    )
    log_probs = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
    new = out.sequences[0, len(prompt) :].tolist()
    closed = mask_id in new
    end = new.index(mask_id) if closed else len(new)
    probs = log_probs[: end + int(closed)].double().exp().tolist()
    return BirthplaceAnswer("".join(tokenizer.convert_ids_to_tokens(new[:end])), probs, closed)


@dataclass
class BirthplaceData:
    """What the tab checks answers against: the pretraining corpus's documents (one per line of
    wiki.txt), the gold places of the data set's labelled files (by question, with the file's
    name), and the London baseline's dev accuracy. Every part is optional."""

    corpus_path: Path | None = None
    documents: list[str] = field(default_factory=list)
    gold: dict[str, tuple[str, str]] = field(default_factory=dict)
    london_dev_accuracy: float | None = None

    @classmethod
    def load(cls, corpus: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None):
        """Read `corpus` (default: wiki.txt of the data directory, if there) with the library's strict
        reader, and the train and validation questions (birth_dev.tsv) of the data directory when
        present. Nothing is downloaded."""
        corpus_path = _corpus_file(corpus, data_dir) if corpus else _optional_data_file(WIKI_FILE, data_dir)
        documents = read_wiki_file(corpus_path)["text"] if corpus_path else []
        gold: dict[str, tuple[str, str]] = {}
        london = None
        for split in ("train", "validation"):
            path = _optional_data_file(BIRTHPLACE_FILES[split], data_dir)
            if path is None:
                continue
            rows = read_birthplace_file(path, labelled=True)
            gold.update((q, (p, path.name)) for q, p in zip(rows["question"], rows["place"]))
            if split == "validation" and len(rows):
                london = sum(p == BASELINE_PLACE for p in rows["place"]) / len(rows)
        return cls(corpus_path, documents, gold, london)

    def document_of(self, name: str) -> tuple[int, str] | None:
        """(1-based line, text) of the first corpus document that contains `name`, or None."""
        for number, doc in enumerate(self.documents, start=1):
            if name in doc:
                return number, doc
        return None


def _corpus_file(corpus: str | os.PathLike, data_dir: str | os.PathLike | None) -> Path:
    """`corpus` as given if it exists (or is absolute), else the data directory's file of that name
    (`--corpus wiki.txt`, as the recipes take it); never downloads."""
    path = Path(corpus)
    if path.exists() or path.is_absolute():
        return path
    for relative in (f"cs224n-a5/{corpus}", str(corpus)):
        found = _optional_data_file(relative, data_dir)
        if found is not None:
            return found
    return path  # the reader's error names it


def _optional_data_file(relative: str, data_dir: str | os.PathLike | None) -> Path | None:
    try:
        return data_file(relative, data_dir, download=False)
    except (FileNotFoundError, DataFormatError):
        return None


def _percent(p: float) -> str:
    return f"{100 * p:.1f} %" if p >= 0.001 else f"{100 * p:.2g} %"


def _corpus_lines(data: BirthplaceData, name: str, document: tuple[int, str] | None) -> list[str]:
    if data.corpus_path is None:
        return ["**Pretraining corpus:** none loaded (start the demo with `--corpus wiki.txt`)."]
    where = markdown_escape(data.corpus_path.name)
    if document is None:
        return [
            f"**Pretraining corpus:** no document of {where} mentions {markdown_escape(name)}: "
            "an answer cannot have been retrieved from pretraining, only invented."
        ]
    line, text = document
    preview = text[:DOCUMENT_PREVIEW_CHARS] + ("…" if len(text) > DOCUMENT_PREVIEW_CHARS else "")
    return [
        f"**Pretraining corpus:** {markdown_escape(name)} has a document ({where}, line {line}, "
        f"{len(text)} characters):",
        "",
        f"> {markdown_escape(preview)}",
    ]


def birthplace_markdown(models: list[LoadedModel], text: str, data: BirthplaceData) -> str:
    """The tab's result for what the user typed: one column per model (answer, confidence, whether
    it appears in the person's document, whether it is right when the gold place is known), the
    London baseline and the person's document. Per-model problems are listed instead of a column."""
    if not models:
        raise DemoError("No character-GPT model loaded: give at least one model folder.")
    question = question_of(text)
    name = question[len("Where was ") : -len(" born?")]
    document = data.document_of(name)
    gold = data.gold.get(question)
    columns, problems = [], []
    for loaded in models:
        try:
            columns.append((loaded, generate_answer(loaded, question)))
        except DemoError as err:
            problems.append(f"- {err}")
    if not columns:
        raise DemoError("\n".join(p[2:] for p in problems))
    header = "| | " + " | ".join(markdown_escape(m.label) for m, _ in columns) + " |"
    rows = [header, "|---" * (len(columns) + 1) + "|"]
    rows.append("| answer | " + " | ".join(markdown_escape(a.text) or "(empty)" for _, a in columns) + " |")
    rows.append(
        "| confidence | "
        + " | ".join(_percent(a.confidence) + ("" if a.closed else " (no closing ⁇)") for _, a in columns)
        + " |"
    )
    if document is not None:
        found = ["yes" if a.text and a.text in document[1] else "no" for _, a in columns]
        rows.append("| answer in the person's document | " + " | ".join(found) + " |")
    if gold is not None:
        rows.append(
            "| right | " + " | ".join("yes" if a.text == gold[0] else "no" for _, a in columns) + " |"
        )
    london = f"**London baseline:** {BASELINE_PLACE}"
    if data.london_dev_accuracy is not None:
        london += (
            f" (the answer for everyone; right for {_percent(data.london_dev_accuracy)} of birth_dev.tsv)"
        )
    lines = [f"**Question:** {markdown_escape(question)}", "", *rows, "", london]
    if gold is not None:
        verdict = "right" if gold[0] == BASELINE_PLACE else "wrong"
        lines += ["", f"**Gold place** ({gold[1]}): {markdown_escape(gold[0])} (London is {verdict} here)"]
    lines += ["", *_corpus_lines(data, name, document)]
    if problems:
        lines += ["", "**Not answered:**", *problems]
    return "\n".join(lines) + "\n"


__all__ = [
    "BirthplaceAnswer",
    "BirthplaceData",
    "birthplace_markdown",
    "generate_answer",
    "markdown_escape",
    "question_of",
]
