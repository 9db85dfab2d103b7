"""minBERT loaders: formats, malformed test header, file:line errors, seeded Quora split."""

import logging
import random
from pathlib import Path

import pytest
from datasets import ClassLabel, Value
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from hfmodels.data.minbert import (
    MALFORMED_TEST_HEADER,
    MinBertFormatError,
    load_cfimdb,
    load_minbert,
    load_quora,
    load_sst,
    load_sts,
    quora_split_of,
    read_minbert_file,
    tokenize_minbert,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "minbert"
    for prefix, top in (("ids-sst", 4), ("ids-cfimdb", 1)):
        for split in ("train", "dev"):
            write(
                d / f"{prefix}-{split}.csv",
                ["\tid\tsentence\tsentiment"]
                + [f"{i}\t{prefix}{split}{i}\t great film number {i} \t{i % (top + 1)}" for i in range(6)],
            )
        write(
            d / f"{prefix}-test-student.csv",
            ["\t".join(MALFORMED_TEST_HEADER)]
            + [f"{i + 1}\t{float(i)}\t{prefix}test{i}\t a test sentence {i}" for i in range(3)],
        )
    for split in ("train", "dev"):
        write(
            d / f"sts-{split}.csv",
            ["\tid\tsentence1\tsentence2\tsimilarity"]
            + [f"{i}\tsts{split}{i}\tA man {i}.\tA woman {i}.\t{i * 0.8:.1f}" for i in range(6)],
        )
    write(d / "sts-test-student.csv", ["\tid\tsentence1\tsentence2", "0\tststest0\tA cat.\tA dog."])
    rows = ["\tid\tsentence1\tsentence2\tis_duplicate"]
    rows += [f"{i}\tq{i:04d}\tHow do I learn {i}?\tWhat is {i}?\t{float(i % 2)}" for i in range(200)]
    rows.append('900\tquoted\t"""Do I need ""the"" here?"""\tplain?\t1.0')
    write(d / "quora.csv", rows)
    return tmp_path


def test_loaders_give_declared_features_and_splits(data_dir):
    sst = load_sst(data_dir)
    assert set(sst) == {"train", "validation", "test"}
    assert isinstance(sst["train"].features["label"], ClassLabel)
    assert sst["train"].features["label"].num_classes == 5
    assert sst["train"][1] == {"id": "ids-ssttrain1", "sentence": "great film number 1", "label": 1}
    assert "label" not in sst["test"].column_names
    cf = load_cfimdb(data_dir)
    assert cf["validation"].features["label"].num_classes == 2
    sts = load_sts(data_dir)
    assert sts["train"].features["label"] == Value("float32")
    assert sts["train"]["label"][5] == pytest.approx(4.0)
    assert sts["test"][0] == {"id": "ststest0", "sentence1": "A cat.", "sentence2": "A dog."}
    with pytest.raises(ValueError, match="unknown minBERT data set"):
        load_minbert("imdb", data_dir)


def test_malformed_test_header_is_recognised_explicitly(data_dir):
    test = load_sst(data_dir)["test"]
    # ids and sentences come from columns 3 and 4, not the float index column
    assert test["id"] == ["ids-ssttest0", "ids-ssttest1", "ids-ssttest2"]
    assert test["sentence"][2] == "a test sentence 2"
    # the same layout under any other header is rejected, naming file and line 1
    bad = write(data_dir / "x" / "bad-test.csv", ["0\tfoo\tid\tsentence", "1\t0.0\tid0\thello"])
    with pytest.raises(MinBertFormatError, match=r"bad-test\.csv, line 1: header"):
        read_minbert_file(bad, "sst", labeled=False)


def test_doubled_quotes_are_parsed_by_the_csv_reader(data_dir):
    quora = load_quora(data_dir, dev_fraction=0.5)
    both = quora["train"].to_list() + quora["validation"].to_list()
    quoted = next(r for r in both if r["id"] == "quoted")
    # `"""X ""the"" Y"""` is a quoted field whose doubled quotes are literal quotes
    assert quoted["sentence1"] == '"Do I need "the" here?"'
    assert quoted["label"] == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("7\tid7\tonly two fields", r"line 3: 3 tab-separated fields, expected 4"),
        ("7\tid7\tsentence\tfive", r"line 3: label 'five' is not a number"),
        ("7\tid7\tsentence\t5", r"line 3: label '5' is not an integer in 0-4"),
        ("7\tid7\tsentence\t2.5", r"line 3: label '2.5' is not an integer in 0-4"),
        ("7\tid7\t   \t2", r"line 3: empty sentence"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "ids-sst-train.csv", ["\tid\tsentence\tsentiment", "0\tid0\tfine\t1", line])
    with pytest.raises(MinBertFormatError, match=r"ids-sst-train\.csv, " + message):
        read_minbert_file(path, "sst")


def test_similarity_range_and_skip_mode(tmp_path, caplog):
    path = write(
        tmp_path / "sts.csv",
        ["\tid\tsentence1\tsentence2\tsimilarity", "0\ta\tx\ty\t5.5", "1\tb\tx\ty\t2.0", "2\tc\tx\t\t"],
    )
    with pytest.raises(MinBertFormatError, match=r"sts\.csv, line 2: similarity '5\.5' is outside 0\.0-5\.0"):
        read_minbert_file(path, "sts")
    with caplog.at_level(logging.WARNING, logger="hfmodels.data.minbert"):
        cols = read_minbert_file(path, "sts", on_bad_row="skip")
    assert cols["id"] == ["b"]
    assert "line 2" in caplog.text and "line 4" in caplog.text


def test_quora_split_is_seeded_deterministic_and_order_independent(data_dir, tmp_path):
    a = load_quora(data_dir)
    b = load_quora(data_dir)
    assert a["validation"]["id"] == b["validation"]["id"]
    dev, train = set(a["validation"]["id"]), set(a["train"]["id"])
    assert not dev & train and len(dev | train) == 201
    assert 15 <= len(dev) <= 70  # about 20 % of 201
    # the same rows in another order give the same split
    lines = (data_dir / "minbert" / "quora.csv").read_text().splitlines()
    body = lines[1:]
    random.Random(0).shuffle(body)
    other = tmp_path / "shuffled"
    write(other / "minbert" / "quora.csv", [lines[0]] + body)
    assert set(load_quora(other)["validation"]["id"]) == dev
    # another seed gives another split; each id's side is a pure function of (seed, id)
    assert set(load_quora(data_dir, seed=1)["validation"]["id"]) != dev
    assert all(quora_split_of(i) == "validation" for i in dev)
    with pytest.raises(ValueError, match="dev_fraction"):
        load_quora(data_dir, dev_fraction=1.5)


def quora_lines(n: int = 39) -> list[str]:
    """A header and `n` well-formed Quora rows."""
    rows = [f"{i}\tq{i}\tHow do I learn {i}?\tWhat is {i}?\t{float(i % 2)}" for i in range(n)]
    return ["\tid\tsentence1\tsentence2\tis_duplicate", *rows]


def test_unclosed_quote_is_a_bad_row_at_its_own_line(tmp_path, caplog):
    lines = quora_lines()
    lines[6] = '5\tq5\t"What is this\tWhat is 5?\t1.0'  # line 7: the quote never closes
    path = write(tmp_path / "quora.csv", lines)
    with pytest.raises(MinBertFormatError, match=r"quora\.csv, line 7: field 3 opens a quote") as err:
        read_minbert_file(path, "quora", on_bad_row="error")
    assert "'\"What is this\\tWhat is 5?\\t1.0'" in str(err.value)
    with caplog.at_level(logging.WARNING, logger="hfmodels.data.minbert"):
        cols = read_minbert_file(path, "quora", on_bad_row="skip")
    # only that line goes, by name; the lines after it are rows of their own, unchanged
    assert cols["id"] == [f"q{i}" for i in range(39) if i != 5]
    assert cols["sentence1"][5:7] == ["How do I learn 6?", "How do I learn 7?"]
    assert cols["label"][5:7] == [0, 1]
    assert "line 7" in caplog.text and "skipped 1 of 39 data lines (lines 7)" in caplog.text


def test_unclosed_quote_in_sst_is_blamed_on_the_line_it_opens(tmp_path):
    lines = ["\tid\tsentence\tsentiment"] + [f"{i}\tid{i}\tsentence {i}\t{i % 5}" for i in range(8)]
    lines[3] = '2\tid2\t"a quote that never closes\t2'
    path = write(tmp_path / "ids-sst-train.csv", lines)
    with pytest.raises(MinBertFormatError, match=r"ids-sst-train\.csv, line 4: field 3 opens a quote"):
        read_minbert_file(path, "sst")


def test_doubled_quote_fields_still_parse_and_a_closed_quote_ends_its_field(tmp_path):
    path = write(
        tmp_path / "quora.csv",
        quora_lines(2) + ['7\tq7\t"""Why ""this""?"""\t"a\tb"\t1.0', '8\tq8\tsaid "hi" twice\tok\t0.0'],
    )
    cols = read_minbert_file(path, "quora")
    assert cols["sentence1"][2:] == ['"Why "this"?"', 'said "hi" twice']
    assert cols["sentence2"][2] == "a\tb"  # a tab inside quotes belongs to the field


@pytest.mark.parametrize("label", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_non_finite_labels_are_bad_rows_in_both_modes(tmp_path, caplog, label):
    lines = ["\tid\tsentence\tsentiment", "0\tid0\tfine\t1", f"1\tid1\tbad\t{label}", "2\tid2\tok\t0"]
    path = write(tmp_path / "ids-sst-dev.csv", lines)
    with pytest.raises(
        MinBertFormatError, match=rf"ids-sst-dev\.csv, line 3: label '{label}' is not a finite"
    ):
        read_minbert_file(path, "sst")
    with caplog.at_level(logging.WARNING, logger="hfmodels.data.minbert"):
        assert read_minbert_file(path, "sst", on_bad_row="skip")["id"] == ["id0", "id2"]
    assert "line 3" in caplog.text
    sts = write(tmp_path / "sts.csv", ["\tid\tsentence1\tsentence2\tsimilarity", f"0\ta\tx\ty\t{label}"])
    with pytest.raises(MinBertFormatError, match=r"sts\.csv, line 2: label .* is not a finite number"):
        read_minbert_file(sts, "sts")


def test_invalid_utf8_names_line_and_byte_offset(tmp_path):
    data = b"\tid\tsentence\tsentiment\n0\tid0\tfine\t1\n" + b"1\tid1\tcaf\xe9 au lait\t2\n"
    path = tmp_path / "ids-sst-train.csv"
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    in_line = offset - data.rindex(b"\n", 0, offset)  # 1-based within line 3
    for mode in ("error", "skip"):
        with pytest.raises(
            MinBertFormatError,
            match=rf"ids-sst-train\.csv:3: not valid UTF-8 .* at byte offset {offset} "
            rf"of the file \(byte {in_line} of the line\): b'\\xe9'",
        ):
            read_minbert_file(path, "sst", on_bad_row=mode)


def test_a_leading_byte_order_mark_is_stripped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "ids-cfimdb-dev.csv"
    path.write_bytes(b"\xef\xbb\xbf" + b"\tid\tsentence\tsentiment\n0\tid0\tgood\t1\n")
    with caplog.at_level(logging.WARNING, logger="hfmodels.data.minbert"):
        cols = read_minbert_file(path, "cfimdb")
    assert cols == {"id": ["id0"], "sentence": ["good"], "label": [1]}
    assert "ids-cfimdb-dev.csv: removed the UTF-8 byte-order mark" in caplog.text


def test_long_values_are_cut_in_messages(tmp_path):
    header = "\tid\tsentence\tsentiment"
    path = write(tmp_path / "ids-sst-train.csv", [header, f"0\tid0\tfine\t{'x' * 100_000}"])
    with pytest.raises(
        MinBertFormatError, match=r"line 2: label 'x{80}'… \(100000 characters in all\)"
    ) as err:
        read_minbert_file(path, "sst")
    assert len(str(err.value)) < 300
    # a 10 MB line is over the csv module's field limit: named, cut, not pasted whole
    line = f"0\tid0\t{'x' * 10_000_000}\t1"
    path = write(tmp_path / "ids-sst-train.csv", [header, line])
    with pytest.raises(
        MinBertFormatError,
        match=rf"line 2: not a valid tab-separated line .*\({len(line)} characters in all\)",
    ) as err:
        read_minbert_file(path, "sst")
    assert len(str(err.value)) < 300


def test_empty_and_header_only_files_and_all_bad_rows_are_errors(tmp_path):
    header = "\tid\tsentence\tsentiment"
    for lines, message in (
        ([], r", line 1: empty file"),
        ([header], r", line 2: no data lines after the header"),
        ([header, "0\tid0\t\t1", "1\tid1\tx\t9"], r", lines 2, 3: no usable rows, all 2 data lines are bad"),
    ):
        path = tmp_path / "ids-sst-dev.csv"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        with pytest.raises(MinBertFormatError, match=r"ids-sst-dev\.csv" + message):
            read_minbert_file(path, "sst", on_bad_row="skip")


def test_rows_and_skips_are_reconciled_with_the_data_lines(tmp_path):
    from hfmodels.data import minbert

    minbert._reconcile(tmp_path / "f.csv", 3, [4], 4)  # 3 rows + 1 skip = 4 data lines
    with pytest.raises(MinBertFormatError, match=r"f\.csv: read 3 rows and skipped 0 of 4 data lines"):
        minbert._reconcile(tmp_path / "f.csv", 3, [], 4)


def tiny_fast_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {
        t: i
        for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "man", "woman", "cat", "dog", "."])
    }
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")


def test_tokenize_pairs_encodes_each_side(data_dir):
    sts = tokenize_minbert(load_sts(data_dir), tiny_fast_tokenizer(), max_length=3)
    row = sts["train"][0]
    assert {"input_ids", "attention_mask", "input_ids_2", "attention_mask_2", "id", "label"} <= set(row)
    assert "sentence1" not in row
    assert row["input_ids"] == [4, 5, 1]  # "A man 0." truncated to 3 tokens: a, man, [UNK]
    assert row["input_ids_2"] == [4, 6, 1]  # "A woman 0." encoded on its own


@pytest.mark.skipif(not (SHARED / "minbert" / "quora.csv").is_file(), reason="shared data not present")
def test_real_files_parse(caplog):
    sst = load_sst(SHARED)
    assert (len(sst["train"]), len(sst["validation"]), len(sst["test"])) == (8544, 1101, 2210)
    assert all(s and not s[0].isspace() for s in sst["test"]["sentence"][:50])
    cfimdb, sts = load_cfimdb(SHARED), load_sts(SHARED)
    assert [len(cfimdb[s]) for s in ("train", "validation", "test")] == [1707, 245, 488]
    assert [len(sts[s]) for s in ("train", "validation", "test")] == [6040, 863, 1725]
    with caplog.at_level(logging.WARNING, logger="hfmodels.data.minbert"):
        quora = load_quora(SHARED)
    # two truncated rows (lines 2577 and 14222) are skipped by name, the rest split about 80/20
    assert "skipped 2 of 16000 data lines (lines 2577, 14222)" in caplog.text
    assert len(quora["train"]) + len(quora["validation"]) == 15998
    assert 0.18 < len(quora["validation"]) / 15998 < 0.22
