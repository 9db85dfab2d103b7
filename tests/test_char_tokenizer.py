"""CharTokenizer: the vocabulary of docs/definitions.md ("Vocabulary"), round trips, unknown
characters and bad vocabulary files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

import hfmodels  # noqa: F401
from hfmodels.char_gpt import (
    MASK_CHAR,
    PAD_CHAR,
    CharGPTConfig,
    CharTokenizer,
    CharTokenizerFast,
    UnknownCharacterError,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORPUS = "Ada Lovelace was born in London.\nAlan Turing, born 1912."


def test_vocabulary_is_pad_mask_then_sorted_characters():
    tok = CharTokenizer.from_corpus(CORPUS)
    chars = sorted(set(CORPUS))
    vocab = tok.get_vocab()
    assert vocab[PAD_CHAR] == 0 and vocab[MASK_CHAR] == 1
    assert [c for c, _ in sorted(vocab.items(), key=lambda kv: kv[1])][2:] == chars
    assert tok.vocab_size == len(chars) + 2
    assert tok.pad_token_id == 0 and tok.mask_token_id == 1


def test_specials_in_the_corpus_are_not_duplicated():
    tok = CharTokenizer.from_corpus(["ab" + MASK_CHAR, PAD_CHAR + "c"])
    assert tok.vocab_size == 5


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=sorted(set(CORPUS)) + [MASK_CHAR, PAD_CHAR], max_size=60))
def test_encode_decode_round_trip(text):
    tok = CharTokenizer.from_corpus(CORPUS)
    ids = tok(text).input_ids
    assert ids == tok.encode_chars(text)
    assert len(ids) == len(text)  # one id per character, nothing added around
    assert tok.decode(ids) == text


def test_unknown_character_is_an_error_naming_it():
    tok = CharTokenizer.from_corpus(CORPUS)
    with pytest.raises(UnknownCharacterError, match=r"'é' \(U\+00E9\) at index 3"):
        tok.encode_chars("Ada\u00e9")
    with pytest.raises(ValueError, match="U\\+00E9"):
        tok("Ad\u00e9")


def test_unknown_character_replacement_is_opt_in_and_saved(tmp_path):
    tok = CharTokenizer.from_corpus(CORPUS, unknown_char=" ")
    assert tok.encode_chars("A\u00e9a") == tok.encode_chars("A a")
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.unknown_char == " "
    assert again.encode_chars("A\u00e9a") == tok.encode_chars("A a")
    with pytest.raises(ValueError, match="unknown_char"):
        CharTokenizer.from_corpus(CORPUS, unknown_char="\u00e9")


def test_save_and_load_with_auto_tokenizer(tmp_path):
    tok = CharTokenizer.from_corpus(CORPUS)
    tok.save_pretrained(tmp_path)
    CharGPTConfig(vocab_size=tok.vocab_size).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, CharTokenizerFast)  # the fast class, built from the slow one's vocab.json
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded("Ada" + MASK_CHAR).input_ids == tok("Ada" + MASK_CHAR).input_ids
    assert loaded.padding_side == "left"
    batch = loaded(["A", "Ada"], padding=True)
    assert batch.input_ids[0][:2] == [0, 0] and batch.attention_mask[0] == [0, 0, 1]


def test_corrupt_vocabulary_file_is_rejected(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"a": 0, "b": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="must have id 0"):
        CharTokenizer(vocab_file=str(path))
    path.write_text(json.dumps({PAD_CHAR: 0, MASK_CHAR: 1, "a": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match="without gaps"):
        CharTokenizer(vocab_file=str(path))


def test_missing_vocabulary_file_is_an_error_naming_it(tmp_path):
    tok = CharTokenizer.from_corpus(CORPUS)
    tok.save_pretrained(tmp_path)
    CharGPTConfig(vocab_size=tok.vocab_size).save_pretrained(tmp_path)
    (tmp_path / "vocab.json").unlink()
    for load in (AutoTokenizer.from_pretrained, CharTokenizer.from_pretrained):
        with pytest.raises(
            ValueError, match=rf"{tmp_path / 'vocab.json'}: the vocabulary file does not exist"
        ):
            load(tmp_path)
    with pytest.raises(ValueError, match="nowhere.json: the vocabulary file does not exist"):
        CharTokenizer(vocab_file=str(tmp_path / "nowhere.json"))


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"a": 0,\n "b": 1,,\n}', r"line 2, column 9: not valid JSON"),
        ("", r"line 1, column 1: not valid JSON"),
        ('["a", "b"]', r"expected a JSON object .* found a list"),
        (
            '{"\u25a1": 0, "\u2047": 1, "a": 2.0}',
            r"entry 'a': 2.0 is not a single character mapped to an integer",
        ),
        ('{"\u25a1": false, "\u2047": true}', r"entry '\u25a1': False is not"),
        ('{"\u25a1": 0, "\u2047": 1, "ab": 2}', r"entry 'ab': 2 is not a single character"),
    ],
)
def test_malformed_vocabulary_file_is_an_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}: {message}"):
        CharTokenizer(vocab_file=str(path))


def test_vocabulary_file_errors_cut_huge_values_and_name_bad_bytes(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"x" * 10_000_000: 0}), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"entry 'xxx.*\.\.\. \(10000002 characters\): 0 is not a single"
    ) as err:
        CharTokenizer(vocab_file=str(path))
    assert len(str(err.value)) < 300 + len(str(path))  # a huge entry is cut, not pasted whole
    path.write_bytes(b'{"\xff": 0}')
    with pytest.raises(ValueError, match=rf"{path}: byte 2: not valid UTF-8"):
        CharTokenizer(vocab_file=str(path))


FAST_TEXTS = ["Ada Lovelace was born in London.", "Alan\tTuring,\nborn 1912." + MASK_CHAR, " ", PAD_CHAR * 3]


def test_fast_tokenizer_gives_the_slow_ids_and_round_trips(tmp_path):
    slow = CharTokenizer.from_corpus(CORPUS + "\t\n" + "".join(FAST_TEXTS))
    fast = CharTokenizerFast(vocab_file=slow.vocab_file_path, model_max_length=12)
    assert fast.get_vocab() == slow.get_vocab()
    assert fast(FAST_TEXTS).input_ids == [slow.encode_chars(t) for t in FAST_TEXTS]
    assert [fast.decode(slow.encode_chars(t)) for t in FAST_TEXTS[:2]] == FAST_TEXTS[:2]
    assert fast.eos_token == MASK_CHAR and fast.eos_token_id == 1 and fast.pad_token_id == 0
    assert len(fast(FAST_TEXTS[0], truncation=True).input_ids) == 12
    batch = fast(["A", "Ada"], padding=True)
    assert batch.input_ids[0] == [0, 0, slow.encode_chars("A")[0]] and batch.attention_mask[0] == [0, 0, 1]
    with pytest.raises(UnknownCharacterError, match=r"U\+00E9\) at index 1"):
        fast("A\u00e9a")
    fast.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "vocab.json").is_file()
    CharGPTConfig(vocab_size=slow.vocab_size).save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert type(again) is CharTokenizerFast and again.model_max_length == 12
    assert again(FAST_TEXTS).input_ids == fast(FAST_TEXTS).input_ids
    old = CharTokenizer.from_pretrained(tmp_path)  # the slow class still reads the folder
    assert old.get_vocab() == slow.get_vocab()


def test_fast_tokenizer_unknown_replacement_matches_the_slow_one():
    slow = CharTokenizer.from_corpus(CORPUS, unknown_char=" ")
    fast = CharTokenizerFast(vocab_file=slow.vocab_file_path, unknown_char=" ")
    assert fast("A\u00e9a").input_ids == slow.encode_chars("A\u00e9a") == slow.encode_chars("A a")


def test_a_reloaded_fast_tokenizer_saves_the_same_files(tmp_path):
    """Loading and saving again changes nothing; tokenizer_config.json holds no copy of the vocabulary,
    also when the folder was written by the slow class."""
    slow = CharTokenizer.from_corpus(CORPUS)
    slow.save_pretrained(tmp_path / "slow")
    fast = CharTokenizerFast.from_corpus(CORPUS, model_max_length=64)
    fast.save_pretrained(tmp_path / "a")
    CharTokenizerFast.from_pretrained(tmp_path / "a").save_pretrained(tmp_path / "b")
    CharTokenizerFast.from_pretrained(tmp_path / "slow", model_max_length=64).save_pretrained(tmp_path / "c")
    for name in ("tokenizer.json", "vocab.json"):
        first = (tmp_path / "a" / name).read_text(encoding="utf-8")
        assert (
            first
            == (tmp_path / "b" / name).read_text(encoding="utf-8")
            == (tmp_path / "c" / name).read_text(encoding="utf-8")
        ), name
    configs = [_tokenizer_config(tmp_path / f) for f in "abc"]
    assert configs[0] == configs[1] == configs[2]
    assert "vocab" not in configs[2] and configs[2]["backend"] == "tokenizers"
    assert configs[2]["eos_token"] == MASK_CHAR and configs[2]["model_max_length"] == 64


def _tokenizer_config(folder):
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    # transformers adds where a tokenizer was loaded from to what it saves
    return {k: v for k, v in config.items() if k not in ("is_local", "local_files_only")}


def test_load_folder_tokenizer_gives_the_fast_class_with_the_models_limit(tmp_path):
    from hfmodels.training.char_gpt import load_folder_tokenizer

    slow = CharTokenizer.from_corpus(CORPUS)
    slow.save_pretrained(tmp_path)  # a folder of the slow class: vocab.json only
    CharGPTConfig(vocab_size=slow.vocab_size, block_size=16, attention_type="synthesizer").save_pretrained(
        tmp_path
    )
    tok = load_folder_tokenizer(tmp_path)
    assert type(tok) is CharTokenizerFast and tok.model_max_length == 15 and tok.eos_token == MASK_CHAR
    assert tok(CORPUS).input_ids == slow(CORPUS).input_ids
    tok.save_pretrained(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    swapped = dict(vocab, A=vocab["d"], d=vocab["A"])
    (tmp_path / "vocab.json").write_text(json.dumps(swapped, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"tokenizer.json: its vocabulary differs from .*vocab.json .*damaged"
    ):
        load_folder_tokenizer(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps(dict(list(vocab.items())[:-1])), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"vocab_size={len(vocab)} but the tokenizer has {len(vocab) - 1}"):
        load_folder_tokenizer(tmp_path)


@pytest.mark.skipif(not (SHARED / "cs224n-a5").is_dir(), reason="the cs224n-a5 data is not present")
def test_fast_and_slow_give_the_same_ids_on_every_file_of_the_data():
    """wiki.txt line by line and every field (question, place) of the three birthplace files."""
    from hfmodels.data import build_char_tokenizer

    fast = build_char_tokenizer(SHARED)
    slow = CharTokenizer(vocab_file=fast.vocab_file)
    assert type(fast) is CharTokenizerFast and fast.get_vocab() == slow.get_vocab() and len(fast) == 256
    texts = {}
    for path in sorted((SHARED / "cs224n-a5").iterdir()):
        lines = path.read_text(encoding="utf-8").splitlines()
        texts[path.name] = [field for line in lines for field in line.split("\t")]
    assert set(texts) == {"wiki.txt", "birth_places_train.tsv", "birth_dev.tsv", "birth_test_inputs.tsv"}
    for name, pieces in texts.items():
        ids = fast(pieces).input_ids
        assert ids == slow(pieces).input_ids == [slow.encode_chars(p) for p in pieces], name
        assert sum(map(len, ids)) == sum(map(len, pieces)), name  # one id per character
