"""LstmLMTokenizer: word-level vocabulary from text, <unk>, <eol>, save and AutoTokenizer load."""

from transformers import AutoTokenizer

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.lstm_lm import LstmLMConfig, LstmLMTokenizer

TEXT = [" = Cats = \n the cat sat on the mat . \n", " the dog sat . \n"]


def test_vocabulary_is_frequency_ordered_with_specials_first():
    tok = LstmLMTokenizer.from_texts(TEXT)
    vocab = tok.get_vocab()
    assert vocab["<unk>"] == 0 and vocab["<eol>"] == 1
    # "the" x3, then the words seen twice in alphabetical order
    assert [vocab[w] for w in ("the", ".", "=", "sat")] == [2, 3, 4, 5]
    assert len(tok) == 2 + len({w for t in TEXT for w in t.split()})


def test_unknown_words_map_to_unk_and_lines_end_with_eol():
    tok = LstmLMTokenizer.from_texts(TEXT)
    ids = tok("the zebra sat\nthe")["input_ids"]
    vocab = tok.get_vocab()
    assert ids == [vocab["the"], 0, vocab["sat"], vocab["<eol>"], vocab["the"]]
    assert tok.count_unknown(["the zebra sat\n", "a cat"]) == (2, 6)


def test_min_count_and_save_load_roundtrip(tmp_path):
    tok = LstmLMTokenizer.from_texts(TEXT, min_count=2)
    assert "dog" not in tok.get_vocab() and "the" in tok.get_vocab()
    tok.save_pretrained(tmp_path)
    LstmLMConfig(vocab_size=len(tok)).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, LstmLMTokenizer)
    assert loaded("the dog sat\n")["input_ids"] == tok("the dog sat\n")["input_ids"]
    assert loaded.unk_token == "<unk>" and loaded.eos_token == "<eol>" and loaded.pad_token_id == 1
    assert loaded.decode(loaded("the cat sat")["input_ids"]) == "the <unk> sat"
