"""hfmodels.data.wikitext: the article reader, the reduced split, sausage cutting, the HW4P1 sets."""

import pytest
import torch

from hfmodels.data.text_files import DataFormatError
from hfmodels.data.wikitext import (
    generation_prompts,
    group_texts,
    load_wikitext2,
    prediction_set,
    read_wikitext_articles,
    token_stream,
    tokenize_and_group,
)
from hfmodels.lstm_lm import LstmLMTokenizer


def article(title: str, body: str) -> str:
    return f" \n = {title} = \n \n {body} \n \n = = Section = = \n \n more about {title.lower()} . \n"


def write_wikitext(root, n_valid: int = 4, n_test: int = 2):
    d = root / "wikitext-2"
    d.mkdir(parents=True)
    (d / "valid.txt").write_text("".join(article(f"V{i}", f"valid words {i} here .") for i in range(n_valid)))
    (d / "test.txt").write_text("".join(article(f"T{i}", f"test words {i} <unk> .") for i in range(n_test)))
    return root


def test_reader_keeps_articles_and_drops_blank_lines(tmp_path):
    root = write_wikitext(tmp_path)
    rows = read_wikitext_articles(root / "wikitext-2" / "valid.txt")
    assert [r["title"] for r in rows] == ["V0", "V1", "V2", "V3"]
    assert rows[1]["text"] == "= V1 =\nvalid words 1 here .\n= = Section = =\nmore about v1 .\n"


def test_reader_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(" \n stray words \n = Title = \n")
    with pytest.raises(DataFormatError, match=r"bad.txt:2: words before the first article heading"):
        read_wikitext_articles(bad)
    bad.write_text(" \n \n")
    with pytest.raises(DataFormatError, match="no article heading"):
        read_wikitext_articles(bad)


def test_reduced_split_holds_out_the_last_valid_articles(tmp_path):
    ds = load_wikitext2(write_wikitext(tmp_path), validation_articles=1)
    assert ds["train"]["title"] == ["V0", "V1", "V2"]
    assert ds["validation"]["title"] == ["V3"] and ds["test"]["title"] == ["T0", "T1"]
    with pytest.raises(ValueError, match="validation_articles=4: valid.txt has 4 articles"):
        load_wikitext2(tmp_path, validation_articles=4)


def test_group_texts_cuts_the_concatenation_like_a_sausage():
    out = group_texts({"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9]]}, block_size=4)
    assert out["input_ids"] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert out["labels"] == out["input_ids"] and out["labels"][0] is not out["input_ids"][0]


def test_tokenize_and_group_and_stream_agree(tmp_path):
    ds = load_wikitext2(write_wikitext(tmp_path), validation_articles=1)
    tok = LstmLMTokenizer.from_texts(ds["train"]["text"])
    stream = token_stream(ds["train"], tok)
    rows = tokenize_and_group(ds["train"], tok, block_size=5)
    assert len(rows) == stream.numel() // 5
    assert torch.equal(torch.cat([r["input_ids"] for r in rows]), stream[: len(rows) * 5])
    assert (stream == tok.get_vocab()["<eol>"]).sum().item() == sum(
        t.count("\n") for t in ds["train"]["text"]
    )
    test_stream = token_stream(ds["test"], tok)
    unknown, total = tok.count_unknown(ds["test"]["text"])
    assert total == test_stream.numel() and unknown > 0
    assert (test_stream == 0).sum().item() == unknown + 2  # plus the two literal <unk> of test.txt


def test_prediction_set_is_consecutive_windows_of_22_words():
    stream = torch.arange(100)
    prompts, targets = prediction_set(stream)
    assert prompts.shape == (4, 21) and targets.tolist() == [21, 43, 65, 87]
    assert torch.equal(prompts[1], torch.arange(22, 43))
    with pytest.raises(ValueError, match="no window of 22"):
        prediction_set(torch.arange(10))


def test_generation_prompts_are_evenly_spaced_and_deterministic():
    stream = torch.arange(1000)
    prompts = generation_prompts(stream, num_prompts=8, prompt_words=21)
    assert prompts.shape == (8, 21)
    assert prompts[:, 0].tolist() == [k * 979 // 8 for k in range(8)]
    assert torch.equal(prompts, generation_prompts(stream, num_prompts=8))
