"""The AddSub task: format, the ±99 rule, seeded disjoint splits, the exhaustive set, strict parsing."""

import pytest

from hfmodels.addsub import AddSubTokenizer
from hfmodels.data.addsub import (
    MalformedExpressionError,
    all_expressions,
    build_addsub_dataset,
    exhaustive_addsub_dataset,
    format_answer,
    format_expression,
    parse_answer,
    parse_expression,
    read_addsub_tsv,
    tokenize_addsub,
    write_addsub_tsv,
)


def test_course_format():
    assert format_expression(-30, "subtract", -34) == "BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS"
    assert format_answer(4) == "BOS POSITIVE 0 4 EOS"
    assert format_answer(0) == "BOS POSITIVE 0 0 EOS"
    assert parse_expression("BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS") == (-30, "subtract", -34)
    assert parse_answer("BOS NEGATIVE 9 9 EOS") == -99


def test_every_expression_within_99_once():
    exprs = all_expressions()
    assert len(set(exprs)) == len(exprs)
    assert all(abs(a + b if op == "add" else a - b) <= 99 for a, op, b in exprs)
    # pairs with a + b = s number 199 - |s|; subtraction is the same count with b -> -b
    assert len(exprs) == 2 * sum(199 - abs(s) for s in range(-99, 100))
    assert (99, "add", 1) not in set(exprs) and (99, "subtract", 0) in set(exprs)


def test_splits_are_seeded_disjoint_and_cover_the_task():
    d = build_addsub_dataset(seed=0)
    total = len(all_expressions())
    assert len(d["test"]) == round(0.1 * total)
    assert len(d["validation"]) == round(0.1 * (total - len(d["test"])))
    sets = {name: set(ds["input"]) for name, ds in d.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["validation"])
    assert not (sets["validation"] & sets["test"])
    assert len(sets["train"] | sets["validation"] | sets["test"]) == total
    assert build_addsub_dataset(seed=0)["test"]["input"] == d["test"]["input"]
    assert build_addsub_dataset(seed=1)["test"]["input"] != d["test"]["input"]
    row = d["train"][0]
    assert (
        parse_answer(row["answer"])
        == row["result"]
        == (row["a"] + row["b"] if row["operation"] == "add" else row["a"] - row["b"])
    )


def test_exhaustive_set():
    ex = exhaustive_addsub_dataset()
    assert len(ex) == len(all_expressions()) == 59402
    assert ex.num_rows == len(set(ex["input"]))


@pytest.mark.parametrize(
    "text, message",
    [
        ("BOS POSITIVE 1 0 plus POSITIVE 0 2 EOS", "'plus' is not an operation"),
        ("POSITIVE 1 0 add POSITIVE 0 2 EOS EOS", "starts with BOS and ends with EOS"),
        ("BOS POSITIVE 1 0 add POSITIVE 0 2 BOS", "starts with BOS and ends with EOS"),
        ("BOS POSITIVE 1 0 add POSITIVE 0 2", "9 tokens, found 8"),
        ("BOS POSITIVE 1 X add POSITIVE 0 2 EOS", "'POSITIVE 1 X' is not a number"),
        ("BOS NEGATIVE 0 0 add POSITIVE 0 2 EOS", "zero is written POSITIVE 0 0"),
        ("BOS POSITIVE 9 9 add POSITIVE 0 1 EOS", "result 100 is outside"),
    ],
)
def test_malformed_expressions_are_named(text, message):
    with pytest.raises(MalformedExpressionError, match=message) as err:
        parse_expression(text)
    assert repr(text) in str(err.value)


def test_operand_out_of_range_is_refused():
    with pytest.raises(MalformedExpressionError, match="100 is outside"):
        format_expression(100, "add", 1)


def test_tsv_round_trip_and_errors_name_file_and_line(tmp_path):
    ds = build_addsub_dataset(seed=3)["test"].select(range(20))
    path = write_addsub_tsv(ds, tmp_path / "test.tsv")
    assert read_addsub_tsv(path)["input"] == ds["input"]
    lines = path.read_text().splitlines()
    r = ds[4]["result"]
    wrong = format_answer(r + 1 if r < 99 else r - 1)
    lines[4] = lines[4].split("\t")[0] + "\t" + wrong
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedExpressionError, match=f"{bad}, line 5: '{wrong}' is not the value"):
        read_addsub_tsv(bad)
    bad.write_text("BOS POSITIVE 1 0 add POSITIVE 0 2\tBOS POSITIVE 1 2 EOS\n")
    with pytest.raises(MalformedExpressionError, match=f"{bad}, line 1: .*9 tokens, found 8"):
        read_addsub_tsv(bad)


def test_tokenized_columns():
    ds = tokenize_addsub(build_addsub_dataset()["test"].select(range(5)), AddSubTokenizer())
    assert all(len(x) == 9 for x in ds["input_ids"]) and all(len(y) == 4 for y in ds["labels"])
    assert all(y[-1] == 15 and y[0] in (10, 11) for y in ds["labels"])
