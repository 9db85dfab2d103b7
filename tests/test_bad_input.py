"""Malformed inputs through every reader and entry point: each gives an error whose message names the file
and the line, or a documented, tested repair, and never a silent change in row count."""

import logging
import re
from pathlib import Path

import pytest

from hfmodels.data.minbert import MinBertFormatError, load_minbert, load_quora, read_minbert_file

# --- minBERT readers: `read_minbert_file` and the `load_*` loaders -------------------------------------------

MINBERT_HEADERS = {
    "sst": "\tid\tsentence\tsentiment",
    "quora": "\tid\tsentence1\tsentence2\tis_duplicate",
    "sts": "\tid\tsentence1\tsentence2\tsimilarity",
}


def _minbert_good_dir(root: Path) -> Path:
    """A minBERT data directory whose files are all well formed (three rows each)."""
    d = root / "minbert"
    d.mkdir(parents=True)
    files = {
        "ids-sst-train.csv": [MINBERT_HEADERS["sst"]] + [f"{i}\ts{i}\tgood film {i}\t{i}" for i in range(3)],
        "ids-sst-dev.csv": [MINBERT_HEADERS["sst"]] + [f"{i}\td{i}\tbad film {i}\t{i}" for i in range(3)],
        "ids-sst-test-student.csv": ["0\t\tid\tsentence"]
        + [f"{i + 1}\t{i}.0\tt{i}\tfilm {i}" for i in range(3)],
        "quora.csv": [MINBERT_HEADERS["quora"]]
        + [f"{i}\tq{i}\tWhy {i}?\tHow {i}?\t{i % 2}.0" for i in range(3)],
        "sts-dev.csv": [MINBERT_HEADERS["sts"]]
        + [f"{i}\tp{i}\tA man {i}.\tA dog {i}.\t{i}.5" for i in range(3)],
        "sts-train.csv": [MINBERT_HEADERS["sts"]]
        + [f"{i}\to{i}\tA cat {i}.\tA cow {i}.\t{i}.0" for i in range(3)],
        "sts-test-student.csv": ["\tid\tsentence1\tsentence2", "0\tu0\tA cat.\tA dog."],
    }
    for name, lines in files.items():
        (d / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root


def _sst(*rows: str) -> bytes:
    return "".join(line + "\n" for line in (MINBERT_HEADERS["sst"], "0\tid0\tfine\t1", *rows)).encode()


#: (case, file under minbert/, content, outcome, line): outcome "bad row" is an error naming the line in strict
#: mode and a skip naming it in skip mode; "error" is an error naming the line in both; "repair" reads in both
#: modes with the documented repair (`line` is then the warning it logs and the ids it reads).
MINBERT_CASES = [
    ("unclosed quote", "ids-sst-train.csv", _sst('1\tid1\t"never closed\t2', "2\tid2\tok\t3"), "bad row", 3),
    (
        "unclosed quote (quora)",
        "quora.csv",
        MINBERT_HEADERS["quora"].encode() + b'\n0\tq0\t"What is this\tx?\t1.0\n1\tq1\ta?\tb?\t0.0\n',
        "bad row",
        2,
    ),
    ("nan label", "ids-sst-train.csv", _sst("1\tid1\tx\tnan", "2\tid2\tok\t3"), "bad row", 3),
    (
        "inf label",
        "sts-dev.csv",
        MINBERT_HEADERS["sts"].encode() + b"\n0\ta\tx\ty\t1.0\n1\tb\tx\ty\tinf\n",
        "bad row",
        3,
    ),
    ("label out of range", "ids-sst-dev.csv", _sst("1\tid1\tx\t5"), "bad row", 3),
    ("wrong column count", "ids-sst-train.csv", _sst("1\tid1\tx", "2\tid2\tok\t3"), "bad row", 3),
    ("empty line", "ids-sst-train.csv", _sst("", "2\tid2\tok\t3"), "bad row", 3),
    ("carriage return", "ids-sst-train.csv", _sst("1\tid1\tx\ry\t2", "2\tid2\tok\t3"), "bad row", 3),
    (
        "CRLF line ends",
        "ids-sst-train.csv",
        _sst("1\tid1\tx\t2").replace(b"\n", b"\r\n"),
        "repair",
        ("", ["id0", "id1"]),
    ),
    (
        "invalid UTF-8",
        "ids-sst-train.csv",
        _sst("1\tid1\tcaf\xe9\t2").replace(b"caf\xc3\xa9", b"caf\xe9"),
        "error",
        3,
    ),
    ("empty file", "ids-sst-dev.csv", b"", "error", 1),
    ("header only", "ids-sst-dev.csv", MINBERT_HEADERS["sst"].encode() + b"\n", "error", 2),
    ("other header", "ids-sst-test-student.csv", b"0\tfoo\tid\tsentence\n1\t0.0\tt0\tx\n", "error", 1),
    (
        "BOM",
        "ids-sst-train.csv",
        b"\xef\xbb\xbf" + _sst("1\tid1\tx\t2"),
        "repair",
        ("byte-order mark", ["id0", "id1"]),
    ),
    (
        "malformed test header",
        "ids-sst-test-student.csv",
        b"0\t\tid\tsentence\n1\t0.0\tt0\t x \n2\t1.0\tt1\ty\n",
        "repair",
        ("", ["t0", "t1"]),
    ),
]

#: which loader reads a file, and which of its splits the file becomes
MINBERT_FILE_SPLITS = {
    "ids-sst-train.csv": ("sst", "train", True),
    "ids-sst-dev.csv": ("sst", "validation", True),
    "ids-sst-test-student.csv": ("sst", "test", False),
    "quora.csv": ("quora", None, True),
    "sts-dev.csv": ("sts", "validation", True),
}


def _minbert_read(entry: str, data_dir: Path, name: str, mode: str) -> int:
    """Rows one entry point reads from `minbert/<name>` in `mode` ("read_minbert_file" or "load_*")."""
    kind, split, labeled = MINBERT_FILE_SPLITS[name]
    if entry == "read_minbert_file":
        return len(
            read_minbert_file(data_dir / "minbert" / name, kind, labeled=labeled, on_bad_row=mode)["id"]
        )
    if kind == "quora":
        ds = load_quora(data_dir, on_bad_row=mode)
        return len(ds["train"]) + len(ds["validation"])
    return len(load_minbert(kind, data_dir, on_bad_row=mode)[split])


@pytest.mark.parametrize("entry", ["read_minbert_file", "load_*"])
@pytest.mark.parametrize("mode", ["error", "skip"])
@pytest.mark.parametrize(
    "case, name, content, outcome, line", MINBERT_CASES, ids=[c[0] for c in MINBERT_CASES]
)
def test_minbert_bad_input(tmp_path, caplog, monkeypatch, entry, mode, case, name, content, outcome, line):
    monkeypatch.setenv("HFMODELS_OFFLINE", "1")  # a missing file must not be fetched
    data_dir = _minbert_good_dir(tmp_path)
    (data_dir / "minbert" / name).write_bytes(content)
    data_lines = max(content.count(b"\n") - 1, 0)
    if outcome == "error" or (outcome == "bad row" and mode == "error"):
        with pytest.raises(MinBertFormatError) as err:
            _minbert_read(entry, data_dir, name, mode)
        # "file, line N:" (the minBERT reader) or "file:N:" (the shared UTF-8 decoding)
        assert re.search(rf"{re.escape(name)}(, line |:){line}:", str(err.value)), str(err.value)
        return
    with caplog.at_level(logging.WARNING, logger="hfmodels.data.minbert"):
        rows = _minbert_read(entry, data_dir, name, mode)
    skips = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping bad row")]
    named = {int(m) for s in skips for m in re.findall(rf"{re.escape(name)}, line (\d+):", s)}
    # nothing vanishes unnamed: every data line is a row or a skip that names it
    assert rows + len(named) == data_lines, (rows, named, data_lines)
    if outcome == "bad row":
        assert named == {line}
        assert f"skipped 1 of {data_lines} data lines (lines {line})" in caplog.text
    else:
        warning, ids = line
        assert not named and warning in caplog.text
        kind, _, labeled = MINBERT_FILE_SPLITS[name]
        assert read_minbert_file(data_dir / "minbert" / name, kind, labeled=labeled)["id"] == ids


# --- char-GPT (birthplace study) readers: wiki.txt, the birthplace TSVs, and what reads them --------------

CHAR_GPT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,?"
CHAR_GPT_BLOCK = 48
CHAR_GPT_GOOD = {
    "wiki.txt": b"Ada. Ada was born in Paris.\nBo. Bo was born in Rome.\n",
    "birth_places_train.tsv": b"Where was Ada born?\tParis\nWhere was Bo born?\tRome\n",
    "birth_dev.tsv": b"Where was Ada born?\tParis\nWhere was Bo born?\tRome\n",
    "birth_test_inputs.tsv": b"Where was Ada born?\nWhere was Bo born?\n",
}
_Q = b"Where was Ada born?"

#: (case, file under cs224n-a5/, content, outcome, detail). "error": detail is (line, message fragment), the
#: error naming `file:line:`; "repair": detail is (logged warning, rows read). `decoding` cases reach the
#: vocabulary builder too (it reads the corpus as text, not as lines).
CHAR_GPT_CASES = [
    ("wiki empty line", "wiki.txt", b"Ada.\n\nBo.\n", "error", (2, "empty line")),
    ("wiki CRLF", "wiki.txt", b"Ada.\r\nBo.\r\n", "error", (1, "carriage return")),
    ("wiki invalid UTF-8", "wiki.txt", b"Ada.\nB\xffo.\n", "error", (2, "not valid UTF-8")),
    ("wiki empty file", "wiki.txt", b"", "error", (1, "the file is empty")),
    ("wiki unknown character", "wiki.txt", "Ada.\nBø.\n".encode(), "error", (2, "U+00F8")),
    ("wiki BOM", "wiki.txt", b"\xef\xbb\xbf" + CHAR_GPT_GOOD["wiki.txt"], "repair", ("byte-order mark", 2)),
    ("wiki no final newline", "wiki.txt", b"Ada.\nBo.", "repair", ("", 2)),
    (
        "empty gold place",
        "birth_dev.tsv",
        _Q + b"\tParis\nWhere was Bo born?\t\n",
        "error",
        (2, "empty place"),
    ),
    ("padded place", "birth_dev.tsv", _Q + b"\t Paris\n", "error", (1, "leading or trailing spaces")),
    (
        "padded question",
        "birth_dev.tsv",
        b" " + _Q + b"\tParis\n",
        "error",
        (1, "leading or trailing spaces"),
    ),
    ("two tabs", "birth_dev.tsv", _Q + b"\tParis\tRome\n", "error", (1, "2 tab(s)")),
    ("no tab", "birth_dev.tsv", _Q + b"\tParis\n" + _Q + b"\n", "error", (2, "0 tab(s)")),
    ("other question", "birth_dev.tsv", b"Who is Ada?\tParis\n", "error", (1, "not of the form")),
    ("tsv empty line", "birth_dev.tsv", _Q + b"\tParis\n\n" + _Q + b"\tRome\n", "error", (2, "empty line")),
    ("tsv CRLF", "birth_dev.tsv", _Q + b"\tParis\r\n", "error", (1, "carriage return")),
    (
        "tsv invalid UTF-8",
        "birth_dev.tsv",
        _Q + b"\tParis\n" + _Q + b"\tR\xc3me\n",
        "error",
        (2, "byte offset"),
    ),
    ("tsv empty file", "birth_dev.tsv", b"", "error", (1, "the file is empty")),
    ("tsv unknown character", "birth_dev.tsv", _Q + "\tParís\n".encode(), "error", (1, "U+00ED")),
    (
        "question too long",
        "birth_dev.tsv",
        b"Where was " + b"A" * 30 + b" born?\tParis\n",
        "error",
        (1, "block"),
    ),
    (
        "10 MB line",
        "birth_dev.tsv",
        b"Where is " + b"x" * 10_000_000 + b"?\tParis\n",
        "error",
        (1, "in all)"),
    ),
    (
        "tsv BOM",
        "birth_dev.tsv",
        b"\xef\xbb\xbf" + CHAR_GPT_GOOD["birth_dev.tsv"],
        "repair",
        ("byte-order mark", 2),
    ),
    (
        "test input with a place",
        "birth_test_inputs.tsv",
        _Q + b"\n" + _Q + b"\tRome\n",
        "error",
        (2, "1 tab(s)"),
    ),
    (
        "test input too long",
        "birth_test_inputs.tsv",
        b"Where was " + b"A" * 40 + b" born?\n",
        "error",
        (1, "room"),
    ),
    (
        "test input BOM",
        "birth_test_inputs.tsv",
        b"\xef\xbb\xbf" + _Q + b"\n",
        "repair",
        ("byte-order mark", 1),
    ),
]
_DECODING_CASES = {"wiki invalid UTF-8", "wiki empty file", "wiki BOM", "wiki no final newline"}
#: the entry points reading each file; the tokenizer-free London baseline reads labelled files only
CHAR_GPT_ENTRIES = {
    "wiki.txt": ["read_wiki_file", "load_wiki_corpus", "build_char_tokenizer"],
    "birth_dev.tsv": ["read_birthplace_file", "load_birthplaces", "evaluate_birthplaces", "london_baseline"],
    "birth_test_inputs.tsv": ["read_birthplace_file", "load_birthplaces", "evaluate_birthplaces"],
}


def _char_gpt_read(entry: str, data_dir: Path, name: str) -> int | None:
    """Rows one entry point reads from `cs224n-a5/<name>` (None for the vocabulary builder)."""
    import torch

    from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer
    from hfmodels.data import (
        build_char_tokenizer,
        load_birthplaces,
        load_wiki_corpus,
        read_birthplace_file,
        read_wiki_file,
    )
    from hfmodels.evaluation.birthplaces import evaluate_birthplaces, london_baseline

    path = data_dir / "cs224n-a5" / name
    tok = CharTokenizer.from_corpus(CHAR_GPT_ALPHABET + "\n", save_directory=str(data_dir / "tok"))
    split = {"birth_dev.tsv": "validation", "birth_test_inputs.tsv": "test"}.get(name)
    if entry == "read_wiki_file":
        return len(read_wiki_file(path, tokenizer=tok))
    if entry == "load_wiki_corpus":
        return len(load_wiki_corpus(data_dir, tokenizer=tok))
    if entry == "build_char_tokenizer":
        assert "\ufeff" not in build_char_tokenizer(corpus_path=path).get_vocab()
        return None
    if entry == "read_birthplace_file":
        return len(
            read_birthplace_file(
                path, labelled=split == "validation", tokenizer=tok, block_size=CHAR_GPT_BLOCK
            )
        )
    if entry == "load_birthplaces":
        return len(load_birthplaces(data_dir, tokenizer=tok, block_size=CHAR_GPT_BLOCK)[split])
    if entry == "london_baseline":
        return london_baseline(path)["london_total"]
    torch.manual_seed(0)
    config = CharGPTConfig(
        vocab_size=tok.vocab_size, block_size=CHAR_GPT_BLOCK, n_layer=1, n_head=2, n_embd=16
    )
    result = evaluate_birthplaces(CharGPTForCausalLM(config), tok, path, data_dir / "p", bf16=False)
    assert len(result.predictions) == len(result.examples) and result.split == split
    return len(result.examples)


@pytest.mark.parametrize(
    "case, name, content, outcome, detail", CHAR_GPT_CASES, ids=[c[0] for c in CHAR_GPT_CASES]
)
def test_char_gpt_bad_input(tmp_path, caplog, monkeypatch, case, name, content, outcome, detail):
    monkeypatch.setenv("HFMODELS_OFFLINE", "1")  # a missing file must not be fetched
    from hfmodels.data import DataFormatError

    folder = tmp_path / "cs224n-a5"
    folder.mkdir()
    for good, data in CHAR_GPT_GOOD.items():
        (folder / good).write_bytes(data)
    (folder / name).write_bytes(content)
    entries = CHAR_GPT_ENTRIES[name]
    if name == "wiki.txt" and case not in _DECODING_CASES:
        entries = entries[:2]
    if case in ("tsv unknown character", "question too long"):
        entries = [e for e in entries if e != "london_baseline"]  # it has no tokenizer or block to check
    for entry in entries:
        caplog.clear()
        if outcome == "error":
            line, fragment = detail
            with pytest.raises(DataFormatError) as err:
                _char_gpt_read(entry, tmp_path, name)
            message = str(err.value)
            assert f"{name}:{line}:" in message and fragment in message, (entry, message)
            assert len(message) < 400, (entry, len(message))
            continue
        warning, rows = detail
        with caplog.at_level(logging.WARNING):
            got = _char_gpt_read(entry, tmp_path, name)
        assert got in (rows, None), (entry, got)
        assert warning in caplog.text, entry
