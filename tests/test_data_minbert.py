"""minBERT loaders: formats, malformed test header, file:line errors, seeded Quora split."""

import logging
import os
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
def test_real_files_parse():
    sst = load_sst(SHARED)
    assert (len(sst["train"]), len(sst["validation"]), len(sst["test"])) == (8544, 1101, 2210)
    assert all(s and not s[0].isspace() for s in sst["test"]["sentence"][:50])
    quora = load_quora(SHARED)
    # two truncated rows (lines 2577 and 14222) are skipped, the rest split about 80/20
    assert len(quora["train"]) + len(quora["validation"]) == 15998
    assert 0.18 < len(quora["validation"]) / 15998 < 0.22
    assert os.environ.get("HFMODELS_OFFLINE", "1")  # loaders read local files only
