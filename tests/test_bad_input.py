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
        assert f"{name}, line {line}:" in str(err.value), str(err.value)
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
