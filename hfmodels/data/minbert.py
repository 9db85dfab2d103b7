"""The minBERT data sets (`docs/definitions.md`, section "Multitask BERT") as `datasets.DatasetDict`s:
SST-5, CFIMDB, Quora, STS.

Files (tab separated, header row, first column a row index; `data_dir/minbert/<name>`):

* `ids-sst-{train,dev,test-student}.csv`: id, sentence, sentiment 0-4;
* `ids-cfimdb-{train,dev,test-student}.csv`: id, sentence, sentiment 0/1;
* `quora.csv`: id, sentence1, sentence2, is_duplicate 0.0/1.0 (16,000 pairs, no official split here);
* `sts-{train,dev,test-student}.csv`: id, sentence1, sentence2, similarity 0.0-5.0.

**One record per line.** Each line (ended by `\\n` or `\\r\\n`) is one record, split into fields by
the `csv` module (tab delimiter; a field that starts with a quote is quoted, and doubled quotes
inside it, as in `\"\"\"...\"\"\"`, are literal quotes), never by `str.split`. No field of these
files spans lines, so a quote still open at the end of its line is a bad row at that line; the
`csv` module alone would read on into the following lines and merge them into one row. Every data
line is thus either a row or a named skip, and the reader checks that rows read plus rows skipped
equal the file's data lines. Sentences are stripped of surrounding white space (the files put a
space before every SST sentence); case is left to the tokenizer (the backbones are uncased).

**Encoding.** UTF-8, decoded by the rules every reader of `hfmodels.data` shares
(`hfmodels.data.text_files`): invalid UTF-8 raises a `MinBertFormatError` naming the file, the line
and the byte offset, in either mode (the file's encoding is wrong, not one row); a UTF-8 byte-order
mark at the start of the file is stripped with a warning naming the file; anywhere else it is part
of a field. Values quoted in messages are cut to 80 characters (`text_files.shorten`).

**Malformed test header.** `ids-sst-test-student.csv` and `ids-cfimdb-test-student.csv` start
with `0<TAB><TAB>id<TAB>sentence` instead of `<TAB>id<TAB>sentence`, and every row has an
extra second column (a float copy of the row index: `1<TAB>0.0<TAB>id<TAB>sentence`). The
loader recognises exactly that header and reads id and sentence from columns 3 and 4; any
other header raises a `MinBertFormatError` naming the file and what was expected. An empty file,
a file with a header and no rows, and a file whose rows are all bad are errors too.

**Bad rows** (wrong number of fields, an unclosed quote, a field over the `csv` module's limit of
131,072 characters, a carriage return inside the line, label missing, not a finite number or out
of range, empty sentence or id, an empty line) raise a `MinBertFormatError` naming the file, the
line and the value (cut to 80 characters), unless `on_bad_row="skip"`, which logs a warning naming
file, line and reason for each skipped row and then one warning listing every skipped line.
Quora defaults to `"skip"`: the shipped `quora.csv` has two truncated rows (lines 2577 and 14222,
an unterminated quote swallowed the label) that the original course code also dropped with a
bare `try/except`; they are reported, not hidden.

**Quora train/dev split** (`quora.csv` is the only Quora file available offline): a pair goes
to `validation` when `sha256(f"{seed}:{id}")`, read as an integer, modulo 10,000 is below
`dev_fraction * 10,000`; otherwise to `train`. Defaults `seed=11711`, `dev_fraction=0.2` give
12,779 train and 3,219 validation pairs (of the 15,998 well-formed ones). The split depends only
on each pair's id and the seed, so it is the same on every machine, in every row order and with
every library version.

Columns: `id` (string), `sentence` or `sentence1`/`sentence2` (string), `label` (`ClassLabel`
for sentiment and paraphrase, `float32` for similarity; absent from the `test` split).
[`tokenize_minbert`] adds `input_ids`, `attention_mask`, `token_type_ids` (and `*_2` for the
second sentence of a pair) through `Dataset.map(batched=True)` with the backbone's fast tokenizer.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import PreTrainedTokenizerBase

from .paths import data_file
from .text_files import DataFormatError, read_text, shorten

logger = logging.getLogger(__name__)

SST_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
CFIMDB_LABELS = ["negative", "positive"]
QUORA_LABELS = ["not duplicate", "duplicate"]
#: The malformed first line of the SST/CFIMDB test-student files (see the module docstring).
MALFORMED_TEST_HEADER = ["0", "", "id", "sentence"]
QUORA_SPLIT_SEED = 11711
QUORA_DEV_FRACTION = 0.2
#: Which task head each data set trains.
TASK_OF_DATASET = {"sst": "sentiment", "cfimdb": "sentiment", "quora": "paraphrase", "sts": "similarity"}


class MinBertFormatError(DataFormatError):
    """A minBERT file does not have the expected layout or encoding; the message names file and line."""


def _check_label(value: str, kind: str, where: str) -> int | float:
    """Parse a label: `kind` is "sst" (0-4), "cfimdb" (0/1), "quora" (0/1, written 0.0/1.0) or "sts" (0-5)."""
    try:
        number = float(value.strip())
    except ValueError:
        raise MinBertFormatError(f"{where}: label {shorten(value)} is not a number") from None
    if not math.isfinite(number):
        raise MinBertFormatError(f"{where}: label {shorten(value)} is not a finite number")
    if kind == "sts":
        if not 0.0 <= number <= 5.0:
            raise MinBertFormatError(f"{where}: similarity {shorten(value)} is outside 0.0-5.0")
        return number
    top = {"sst": 4, "cfimdb": 1, "quora": 1}[kind]
    if number != int(number) or not 0 <= number <= top:
        raise MinBertFormatError(f"{where}: label {shorten(value)} is not an integer in 0-{top}")
    return int(number)


def _read_lines(path: Path) -> list[str]:
    """The file's lines (without their `\\n` / `\\r\\n` ends), decoded by the rules every reader of
    `hfmodels.data` shares (`hfmodels.data.text_files.read_text`: a leading BOM stripped with a
    warning, invalid UTF-8 an error naming line and byte offset)."""
    if path.stat().st_size == 0:  # said here, where the header that should open the file is known
        return []
    try:
        text = read_text(path)
    except DataFormatError as err:
        raise MinBertFormatError(str(err)) from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the last line's own `\n`, not an empty line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _split_line(line: str, where: str) -> list[str]:
    """One line's tab-separated fields, by the `csv` module; a quote left open raises.

    The line is parsed on its own with its `\\n` put back, so a quoted field still open at the end
    of the line takes in that `\\n` (and nothing further): that is how an unclosed quote shows.
    """
    if "\r" in line:  # the csv module would end the record there and then fail with a misleading hint
        raise MinBertFormatError(f"{where}: a carriage return (\\r) inside the line: {shorten(line)}")
    try:
        fields = next(csv.reader([line + "\n"], delimiter="\t"))
    except csv.Error as err:
        raise MinBertFormatError(
            f"{where}: not a valid tab-separated line ({err}): {shorten(line)}"
        ) from None
    for k, field in enumerate(fields):
        if "\n" in field:
            raise MinBertFormatError(
                f'{where}: field {k + 1} opens a quote (") that is not closed on its line: '
                f"{shorten(chr(34) + field[:-1])}"
            )
    return fields


def _expected_header(kind: str, labeled: bool) -> tuple[list[str], list[str]]:
    """(the header row, the text columns) of a `kind` file."""
    text_cols = ["sentence1", "sentence2"] if kind in ("quora", "sts") else ["sentence"]
    label_col = {"sst": "sentiment", "cfimdb": "sentiment", "quora": "is_duplicate", "sts": "similarity"}[
        kind
    ]
    return ["", "id", *text_cols] + ([label_col] if labeled else []), text_cols


def _header_offset(path: Path, lines: list[str], kind: str, labeled: bool) -> int:
    """Check the header line; return the column of the id (2 for the malformed test header, else 1)."""
    expected, _ = _expected_header(kind, labeled)
    if not lines:
        raise MinBertFormatError(f"{path}, line 1: empty file, expected the header {expected}")
    header = _split_line(lines[0], f"{path}, line 1")
    if kind in ("sst", "cfimdb") and not labeled and header == MALFORMED_TEST_HEADER:
        return 2  # `0<TAB><TAB>id<TAB>sentence`: rows carry an extra column
    if header != expected:
        also = (
            ""
            if kind in ("quora", "sts") or labeled
            else f" (or the test-student files' {MALFORMED_TEST_HEADER})"
        )
        raise MinBertFormatError(
            f"{path}, line 1: header {shorten(lines[0])} does not match the expected {expected}{also}"
        )
    if len(lines) == 1:
        raise MinBertFormatError(f"{path}, line 2: no data lines after the header")
    return 1


def _parse_row(
    line: str, where: str, offset: int, n_fields: int, kind: str, text_cols: list[str], labeled: bool
) -> tuple[str, list[str], int | float | None]:
    """(id, texts, label or None) of one data line; raises [`MinBertFormatError`] for a bad one."""
    if not line.strip():
        raise MinBertFormatError(f"{where}: empty line")
    row = _split_line(line, where)
    if len(row) != n_fields:
        raise MinBertFormatError(
            f"{where}: {len(row)} tab-separated fields, expected {n_fields}: {shorten(line)}"
        )
    values = row[offset:]
    sent_id = values[0].strip()
    if not sent_id:
        raise MinBertFormatError(f"{where}: empty id: {shorten(line)}")
    texts = [v.strip() for v in values[1 : 1 + len(text_cols)]]
    for col, text in zip(text_cols, texts):
        if not text:
            raise MinBertFormatError(f"{where}: empty {col}: {shorten(line)}")
    label = _check_label(values[-1], kind, where) if labeled else None
    return sent_id, texts, label


def read_minbert_file(
    path: str | os.PathLike, kind: str, labeled: bool = True, on_bad_row: str = "error"
) -> dict[str, list]:
    """Read one minBERT file into columns, one record per line (see the module docstring).

    Args:
        path: the file.
        kind: `"sst"`, `"cfimdb"` (id, sentence, sentiment) or `"quora"`, `"sts"` (id,
            sentence1, sentence2, label).
        labeled: whether the file has the label column (`False` for `*-test-student.csv`).
        on_bad_row: `"error"` raises [`MinBertFormatError`] at the first bad row; `"skip"` logs a
            warning naming file, line and reason for each bad row, drops it, and then one warning
            listing all skipped lines. A bad header, an empty file, invalid UTF-8 or no usable row
            raise in either mode.

    Returns:
        `{"id": [...], "sentence": [...] (or "sentence1"/"sentence2"), "label": [...]}`
        (no `"label"` when unlabeled).
    """
    if kind not in TASK_OF_DATASET:
        raise ValueError(f"kind={kind!r}; allowed: {', '.join(TASK_OF_DATASET)}")
    if on_bad_row not in ("error", "skip"):
        raise ValueError(f"on_bad_row={on_bad_row!r}; allowed: error, skip")
    path = Path(path)
    lines = _read_lines(path)
    offset = _header_offset(path, lines, kind, labeled)
    expected, text_cols = _expected_header(kind, labeled)
    n_fields = offset + len(expected) - 1
    columns: dict[str, list] = {"id": [], **{c: [] for c in text_cols}}
    if labeled:
        columns["label"] = []
    skipped: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            sent_id, texts, label = _parse_row(
                line, f"{path}, line {number}", offset, n_fields, kind, text_cols, labeled
            )
        except MinBertFormatError as err:
            if on_bad_row == "error":
                raise
            logger.warning("skipping bad row: %s", err)
            skipped.append(number)
            continue
        columns["id"].append(sent_id)
        for col, text in zip(text_cols, texts):
            columns[col].append(text)
        if labeled:
            columns["label"].append(label)
    _reconcile(path, len(columns["id"]), skipped, len(lines) - 1)
    return columns


def _reconcile(path: Path, n_rows: int, skipped: list[int], n_data_lines: int) -> None:
    """Rows read plus rows skipped must be the file's data lines; report the skips in one line."""
    if n_rows + len(skipped) != n_data_lines:
        raise MinBertFormatError(
            f"{path}: read {n_rows} rows and skipped {len(skipped)} of {n_data_lines} data lines"
        )
    if skipped:
        logger.warning(
            "%s: skipped %d of %d data lines (lines %s); read %d rows",
            path,
            len(skipped),
            n_data_lines,
            ", ".join(map(str, skipped)),
            n_rows,
        )
    if n_rows == 0:
        raise MinBertFormatError(
            f"{path}, lines {', '.join(map(str, skipped))}: no usable rows, all {n_data_lines} data lines are bad"
        )


def minbert_features(kind: str, labeled: bool = True) -> Features:
    """The declared `Features` of a minBERT split (`ClassLabel` for sentiment and paraphrase)."""
    pair = kind in ("quora", "sts")
    feats = {"id": Value("string")}
    for col in ["sentence1", "sentence2"] if pair else ["sentence"]:
        feats[col] = Value("string")
    if labeled:
        feats["label"] = {
            "sst": ClassLabel(names=SST_LABELS),
            "cfimdb": ClassLabel(names=CFIMDB_LABELS),
            "quora": ClassLabel(names=QUORA_LABELS),
            "sts": Value("float32"),
        }[kind]
    return Features(feats)


def _load_split(relative: str, kind: str, data_dir, labeled: bool, on_bad_row: str) -> Dataset:
    path = data_file(f"minbert/{relative}", data_dir)
    columns = read_minbert_file(path, kind, labeled=labeled, on_bad_row=on_bad_row)
    return Dataset.from_dict(columns, features=minbert_features(kind, labeled))


def _load_three(prefix: str, kind: str, data_dir, on_bad_row: str, with_test: bool) -> DatasetDict:
    splits = {
        "train": _load_split(f"{prefix}-train.csv", kind, data_dir, True, on_bad_row),
        "validation": _load_split(f"{prefix}-dev.csv", kind, data_dir, True, on_bad_row),
    }
    if with_test:
        splits["test"] = _load_split(f"{prefix}-test-student.csv", kind, data_dir, False, on_bad_row)
    return DatasetDict(splits)


def load_sst(
    data_dir: str | os.PathLike | None = None, on_bad_row: str = "error", with_test: bool = True
) -> DatasetDict:
    """SST-5: `train` (8,544), `validation` (1,101), `test` (2,210, unlabeled) sentences."""
    return _load_three("ids-sst", "sst", data_dir, on_bad_row, with_test)


def load_cfimdb(
    data_dir: str | os.PathLike | None = None, on_bad_row: str = "error", with_test: bool = True
) -> DatasetDict:
    """CFIMDB: `train` (1,707), `validation` (245), `test` (488, unlabeled) movie reviews."""
    return _load_three("ids-cfimdb", "cfimdb", data_dir, on_bad_row, with_test)


def load_sts(
    data_dir: str | os.PathLike | None = None, on_bad_row: str = "error", with_test: bool = True
) -> DatasetDict:
    """STS benchmark: `train` (6,040), `validation` (863), `test` (1,725, unlabeled) pairs."""
    return _load_three("sts", "sts", data_dir, on_bad_row, with_test)


def quora_split_of(
    sent_id: str, seed: int = QUORA_SPLIT_SEED, dev_fraction: float = QUORA_DEV_FRACTION
) -> str:
    """`"validation"` or `"train"` for the Quora pair `sent_id` (see the module docstring)."""
    bucket = int(hashlib.sha256(f"{seed}:{sent_id}".encode()).hexdigest(), 16) % 10_000
    return "validation" if bucket < dev_fraction * 10_000 else "train"


def load_quora(
    data_dir: str | os.PathLike | None = None,
    seed: int = QUORA_SPLIT_SEED,
    dev_fraction: float = QUORA_DEV_FRACTION,
    on_bad_row: str = "skip",
) -> DatasetDict:
    """Quora question pairs from `quora.csv`, split into `train`/`validation` by a seeded hash of
    each pair's id (see the module docstring). Bad rows are skipped with a warning by default."""
    if not 0.0 < dev_fraction < 1.0:
        raise ValueError(f"dev_fraction={dev_fraction!r}; expected a fraction strictly between 0 and 1")
    path = data_file("minbert/quora.csv", data_dir)
    columns = read_minbert_file(path, "quora", labeled=True, on_bad_row=on_bad_row)
    full = Dataset.from_dict(columns, features=minbert_features("quora"))
    in_dev = [quora_split_of(i, seed, dev_fraction) == "validation" for i in columns["id"]]
    return DatasetDict(
        {
            "train": full.select([k for k, dev in enumerate(in_dev) if not dev]),
            "validation": full.select([k for k, dev in enumerate(in_dev) if dev]),
        }
    )


LOADERS: dict[str, Callable[..., DatasetDict]] = {
    "sst": load_sst,
    "cfimdb": load_cfimdb,
    "quora": load_quora,
    "sts": load_sts,
}


def load_minbert(name: str, data_dir: str | os.PathLike | None = None, **kwargs) -> DatasetDict:
    """Load one of `"sst"`, `"cfimdb"`, `"quora"`, `"sts"` (keyword arguments go to its loader)."""
    if name not in LOADERS:
        raise ValueError(f"unknown minBERT data set {name!r}; allowed: {', '.join(LOADERS)}")
    return LOADERS[name](data_dir, **kwargs)


def tokenize_minbert(
    dataset: DatasetDict | Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int = 128,
    keep_text: bool = False,
) -> DatasetDict | Dataset:
    """Tokenise with `tokenizer` (truncating to `max_length` tokens, no padding: batches are
    padded dynamically) through `Dataset.map(batched=True)`. Single sentences give
    `input_ids`/`attention_mask`/`token_type_ids`; pairs encode each side separately, the second
    into `input_ids_2`/`attention_mask_2`/`token_type_ids_2`. Text columns are dropped unless
    `keep_text`; `id` and `label` stay."""

    def encode(batch: dict) -> dict:
        if "sentence" in batch:
            return dict(tokenizer(batch["sentence"], truncation=True, max_length=max_length))
        first = tokenizer(batch["sentence1"], truncation=True, max_length=max_length)
        second = tokenizer(batch["sentence2"], truncation=True, max_length=max_length)
        out = dict(first)
        out.update({f"{k}_2": v for k, v in second.items()})
        return out

    def one(ds: Dataset) -> Dataset:
        text = [c for c in ("sentence", "sentence1", "sentence2") if c in ds.column_names]
        return ds.map(encode, batched=True, remove_columns=[] if keep_text else text, desc="Tokenizing")

    if isinstance(dataset, DatasetDict):
        return DatasetDict({split: one(ds) for split, ds in dataset.items()})
    return one(dataset)


__all__ = [
    "MinBertFormatError",
    "read_minbert_file",
    "minbert_features",
    "load_sst",
    "load_cfimdb",
    "load_quora",
    "load_sts",
    "load_minbert",
    "quora_split_of",
    "tokenize_minbert",
    "TASK_OF_DATASET",
    "SST_LABELS",
    "CFIMDB_LABELS",
    "QUORA_LABELS",
    "MALFORMED_TEST_HEADER",
]
