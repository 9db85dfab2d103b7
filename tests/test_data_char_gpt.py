"""Tests of the char-GPT study's data (hfmodels.data.birthplaces, span_corruption, packing,
text_files): file parsing and its errors, the span-corruption contract of docs/definitions.md
(property tests), packing, birthplace examples, collators with the model and DataLoader workers,
and the real files when ../shared/data is present."""

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfmodels.char_gpt import MASK_CHAR, PAD_CHAR, CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.char_gpt.tokenization_char_gpt import UnknownCharacterError
from hfmodels.data import (
    BirthplaceCollator,
    DataFormatError,
    SpanCorruptionCollator,
    birthplace_example,
    build_char_tokenizer,
    draw_spans,
    encode_birthplaces,
    encode_wiki_corpus,
    load_birthplaces,
    load_wiki_corpus,
    original_pair,
    question_prompts,
    read_birthplace_file,
    read_wiki_file,
    span_corrupt,
    split_of_file,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,()-'éÉ"
DOCS = [
    "Ada Lovelace. Ada Lovelace was a mathematician born in London .",
    "Alan Turing. Alan Turing was born in Maida Vale, London, and studied at King's College.",
    "Bo. Bo was born in Oslo.",
    "Émile Zola. Émile Zola (2 April 1840 - 29 September 1902) was a French novelist born in Paris . " * 3,
]
PAIRS = [("Where was Ada Lovelace born?", "London"), ("Where was Émile Zola born?", "Paris")]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return CharTokenizer.from_corpus(ALPHABET + "\n?", save_directory=str(tmp_path_factory.mktemp("tok")))


@pytest.fixture
def data_dir(tmp_path):
    """A toy cs224n-a5 directory in the real files' formats."""
    folder = tmp_path / "cs224n-a5"
    folder.mkdir()
    (folder / "wiki.txt").write_text(
        "\n".join(DOCS), encoding="utf-8"
    )  # no trailing newline, like the real one
    lines = "".join(f"{q}\t{p}\n" for q, p in PAIRS)
    (folder / "birth_places_train.tsv").write_text(lines, encoding="utf-8")
    (folder / "birth_dev.tsv").write_text(
        "".join(f"{q}\t{p}\n" for q, p in reversed(PAIRS)), encoding="utf-8"
    )
    (folder / "birth_test_inputs.tsv").write_text("".join(f"{q}\n" for q, _ in PAIRS), encoding="utf-8")
    return tmp_path


def _split_corrupted(s: str) -> tuple[str, str, str]:
    assert s.count(MASK_CHAR) == 2, s
    prefix, suffix, masked = s.split(MASK_CHAR)
    return prefix, suffix, masked


# ----------------------------------------------------------------------------------------------
# Loading and file errors


def test_load_wiki_and_tokenizer(data_dir):
    wiki = load_wiki_corpus(data_dir)
    assert wiki["text"] == DOCS
    assert wiki["line"] == [1, 2, 3, 4]
    assert wiki.features["text"].dtype == "string" and wiki.features["line"].dtype == "int32"
    tok = build_char_tokenizer(data_dir)
    text = "\n".join(DOCS)
    assert tok.convert_ids_to_tokens(list(range(tok.vocab_size))) == [PAD_CHAR, MASK_CHAR, *sorted(set(text))]


def test_wiki_trailing_newline_is_not_a_document(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text("a doc\nanother doc\n", encoding="utf-8")
    assert read_wiki_file(path)["text"] == ["a doc", "another doc"]


@pytest.mark.parametrize(
    "content, line, problem",
    [
        ("doc one\n\ndoc three", 2, "empty line"),
        ("doc one\ndoc two\n\n", 3, "empty line"),
        ("doc one\r\ndoc two", 1, "carriage return"),
        ("", 1, "the file is empty"),
    ],
)
def test_wiki_format_errors(tmp_path, content, line, problem):
    path = tmp_path / "wiki.txt"
    path.write_text(content, encoding="utf-8", newline="")
    where = f"{path}:{line}" if line else str(path)
    with pytest.raises(DataFormatError, match=re.escape(where) + ".*" + problem):
        read_wiki_file(path)


def test_wiki_invalid_utf8_names_line(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_bytes(b"good\nalso good\nbad \xff byte")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:3") + ".*UTF-8"):
        read_wiki_file(path)


def test_wiki_unknown_character_names_line(tmp_path, tok):
    path = tmp_path / "wiki.txt"
    path.write_text("fine\nnot fine \u2603", encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:2") + ".*U\\+2603.*column 10"):
        read_wiki_file(path, tokenizer=tok)


def test_load_birthplaces(data_dir, tok):
    ds = load_birthplaces(data_dir, tokenizer=tok, block_size=128)
    assert list(ds) == ["train", "validation", "test"]  # the project's split names, not the course's dev
    assert ds["train"]["question"] == [q for q, _ in PAIRS]
    assert ds["train"]["place"] == [p for _, p in PAIRS]
    assert ds["train"]["name"] == ["Ada Lovelace", "Émile Zola"]
    assert ds["validation"]["place"] == ["Paris", "London"]  # birth_dev.tsv, file order kept
    assert ds["validation"]["line"] == [1, 2]
    assert "place" not in ds["test"].column_names
    assert ds["test"]["question"] == [q for q, _ in PAIRS]


@pytest.mark.parametrize(
    "line, labelled, problem",
    [
        ("Where was X born?\tParis\textra", True, "2 tab\\(s\\), expected exactly one tab"),
        ("Where was X born?", True, "0 tab\\(s\\), expected exactly one tab"),
        ("Where was X born?\tParis", False, "1 tab\\(s\\), expected no tab"),
        ("Where was X born?\t", True, "empty place"),
        ("Where was X born?\t  ", True, "empty place"),
        ("Where was X born?\tParis ", True, "place 'Paris ' has leading or trailing spaces"),
        ("Where was  born?\tParis", True, "not of the form"),
        ("Where was X from?\tParis", True, "not of the form"),
        ("Paris\tWhere was X born?", True, "not of the form"),
        ("", True, "empty line"),
        ("Where was X born?\tPar\u2603s", True, "U\\+2603"),
    ],
)
def test_birthplace_format_errors(tmp_path, tok, line, labelled, problem):
    path = tmp_path / "birth.tsv"
    good = "Where was A B born?\tRome" if labelled else "Where was A B born?"
    path.write_text(f"{good}\n{line}\n{good}\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:2: ") + ".*" + problem):
        read_birthplace_file(path, labelled=labelled, tokenizer=tok)


def test_birthplace_too_long_for_block(tmp_path):
    path = tmp_path / "birth.tsv"
    path.write_text("Where was A born?\tRome\nWhere was A born?\t" + "x" * 120 + "\n", encoding="utf-8")
    assert len(read_birthplace_file(path, block_size=None)) == 2
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:2") + ".*block_size - 1 = 127"):
        read_birthplace_file(path, block_size=128)


def test_a_leading_bom_is_removed_with_a_warning_in_every_reader(tmp_path, caplog):
    wiki = tmp_path / "wiki.txt"
    wiki.write_bytes(b"\xef\xbb\xbf" + "\n".join(DOCS).encode("utf-8"))
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(DOCS), encoding="utf-8")
    with caplog.at_level("WARNING"):
        assert read_wiki_file(wiki)["text"] == DOCS
        tok = build_char_tokenizer(corpus_path=wiki)
    assert f"{wiki}: removed the UTF-8 byte-order mark" in caplog.text
    assert "\ufeff" not in tok.get_vocab()
    assert tok.get_vocab() == build_char_tokenizer(corpus_path=plain).get_vocab()
    tsv = tmp_path / "birth.tsv"
    tsv.write_bytes(b"\xef\xbb\xbf" + "".join(f"{q}\t{p}\n" for q, p in PAIRS).encode("utf-8"))
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert read_birthplace_file(tsv, labelled=None)["question"] == [q for q, _ in PAIRS]
    assert f"{tsv}: removed the UTF-8 byte-order mark" in caplog.text


def test_invalid_utf8_names_line_and_byte_offset_in_the_corpus_and_the_tokenizer(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_bytes(b"good\nbad \xc3\x28 byte\n")
    for read in (read_wiki_file, lambda p: build_char_tokenizer(corpus_path=p)):
        with pytest.raises(
            DataFormatError, match=re.escape(f"{path}:2: not valid UTF-8") + ".*byte offset 9"
        ):
            read(path)


def test_labelled_none_follows_the_first_line(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text("Where was A born?\nWhere was B born?\n", encoding="utf-8")
    assert read_birthplace_file(path, labelled=None).column_names == ["question", "name", "line"]
    path.write_text("Where was A born?\tRome\n", encoding="utf-8")
    assert read_birthplace_file(path, labelled=None)["place"] == ["Rome"]
    path.write_text("Where was A born?\tRome\nWhere was B born?\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:2: 0 tab(s)") + ".*line 1 has place"):
        read_birthplace_file(path, labelled=None)


def test_a_question_with_outer_spaces_and_a_huge_line_are_reported_readably(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text("Where was A born? \tRome\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError, match=re.escape(f"{path}:1: question 'Where was A born? ' has leading")
    ):
        read_birthplace_file(path)
    path.write_text("Where was A born?\tRome\n" + "y" * 10_000_000 + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:2: 0 tab(s)")) as err:
        read_birthplace_file(path)
    assert len(str(err.value)) < 300 and "(10000000 characters in all)" in str(err.value)


def test_test_inputs_need_room_for_an_answer(tmp_path):
    path = tmp_path / "birth_test_inputs.tsv"
    question = "Where was " + "A" * 20 + " born?"  # 36 characters, 37 with its ⁇
    path.write_text(question + "\n", encoding="utf-8")
    assert len(read_birthplace_file(path, labelled=False, block_size=39)) == 1
    with pytest.raises(
        DataFormatError, match=re.escape(f"{path}:1: the prompt question⁇ is 37") + ".*at most 36"
    ):
        read_birthplace_file(path, labelled=False, block_size=38)


@pytest.mark.parametrize(
    "path, split",
    [
        ("birth_dev.tsv", "validation"),
        ("/x/cs224n-a5/birth_dev.tsv", "validation"),
        ("birth_places_train.tsv", "train"),
        ("birth_test_inputs.tsv", "test"),
        ("undeveloped.tsv", None),
        ("dev.tsv", None),
        ("birth_dev.tsv.old", None),
        ("my_birth_dev.tsv", None),
    ],
)
def test_split_of_file_knows_only_the_data_sets_own_names(path, split):
    assert split_of_file(path) == split


def test_missing_file_is_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("HFMODELS_OFFLINE", "1")  # never reach for the internet in tests
    monkeypatch.setenv("HFMODELS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(tmp_path / "cs224n-a5" / "wiki.txt")) + ".*--data_dir"
    ):
        load_wiki_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match="birth_places_train.tsv"):
        load_birthplaces(tmp_path)


# ----------------------------------------------------------------------------------------------
# Span corruption: the contract of docs/definitions.md (hypothesis property tests)

docs_strategy = st.text(alphabet=ALPHABET, min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(doc=docs_strategy, block_size=st.sampled_from([32, 64, 128, 256]), seed=st.integers(0, 2**32 - 1))
def test_span_corrupt_layout_and_shift(doc, block_size, seed):
    s = span_corrupt(doc, block_size, np.random.default_rng(seed))
    prefix, suffix, masked = _split_corrupted(s)
    L = len(s) - 2
    truncated = doc[:L]
    assert prefix + masked + suffix == truncated  # layout prefix ⁇ suffix ⁇ masked of doc[:L]
    assert L <= int(block_size * 7 / 8) and (L >= 4 or L == len(doc))
    assert 1 <= len(masked) <= max(1, -(-L // 2) - 1)
    assert len(s) <= block_size - 1
    x, y = original_pair(s, block_size)
    assert len(x) == len(y) == block_size - 1
    assert x[1:] == y[:-1]  # the one-character shift
    assert (x + y[-1]) == s + PAD_CHAR * (block_size - len(s))  # right-padded with □
    assert x.startswith(s[:-1]) and set(x[len(s) :]) <= {PAD_CHAR}


def test_every_truncation_length_reachable():
    rng = np.random.default_rng(0)
    lengths, _, _ = draw_spans(np.full(20000, 500), 128, rng)
    assert set(lengths.tolist()) == set(range(4, 113))
    short, _, _ = draw_spans(np.full(2000, 50), 128, rng)  # capped by the document length
    assert set(short.tolist()) == set(range(4, 51))


@pytest.fixture(scope="module")
def many_draws():
    return draw_spans(np.full(400_000, 500), 128, np.random.default_rng(0))


@pytest.mark.parametrize("L", [4, 5, 6, 7, 17, 60, 111, 112])
def test_masked_length_averages_a_quarter(many_draws, L):
    lengths, masked, prefix = many_draws
    masked, prefix = masked[lengths == L], prefix[lengths == L]
    assert len(masked) > 3000
    assert masked.min() >= 1 and (prefix + masked <= L).all() and prefix.min() == 0
    assert (prefix + masked == L).any()  # empty suffix possible too
    mean, sem = masked.mean(), masked.std() / np.sqrt(len(masked))
    assert abs(mean - L / 4) < 5 * sem + 1e-9, (mean, L / 4)
    if L >= 6:  # sometimes shorter, sometimes longer than L/4
        assert masked.min() < L / 4 < masked.max()
        assert masked.std() > 0.2 * L / 4


def test_every_split_reachable_on_small_docs():
    rng = np.random.default_rng(1)
    for n in range(1, 9):
        doc = "abcdefgh"[:n]  # distinct characters: the corrupted string determines the split
        seen = set()
        for _ in range(1500):
            prefix, suffix, masked = _split_corrupted(span_corrupt(doc, 128, rng))
            seen.add((len(prefix) + len(suffix) + len(masked), len(prefix), len(masked)))
            assert prefix + masked + suffix == doc[: len(prefix) + len(suffix) + len(masked)]
        # L = n (or any of 4..n once drawn below n); m uniform in 1..ceil(max(1, L/2 - 1)); p in 0..L-m
        expected = set()
        for L in range(min(4, n), n + 1):
            h_max = int(np.ceil(max(1.0, L / 2 - 1)))
            expected |= {(L, p, m) for m in range(1, h_max + 1) for p in range(0, L - m + 1)}
        if n > 4:  # L < n only when the draw falls below n: rarer, allow those to be missing
            assert {t for t in expected if t[0] == n} <= seen
            assert seen <= expected
        else:
            assert seen == expected


def test_span_corrupt_matches_collator_draws(tok):
    examples = [{"text": d} for d in DOCS]
    collator = SpanCorruptionCollator(tok, seed=5)
    rows = collator.corrupt(examples)
    rng = np.random.default_rng(np.random.SeedSequence([5, 0, 0, 0]))
    lengths, masked, prefix = draw_spans([len(d) for d in DOCS], 128, rng)
    for row, doc, L, m, p in zip(rows, DOCS, lengths, masked, prefix):
        t = doc[:L]
        assert tok.decode(row.tolist()) == t[:p] + MASK_CHAR + t[p + m :] + MASK_CHAR + t[p : p + m]


# ----------------------------------------------------------------------------------------------
# Collators


def _examples_of(batch) -> list[tuple[list[int], list[int]]]:
    """(inputs, labels) of each example of a padded or packed batch, PAD/-100 padding removed."""
    out = []
    for r in range(batch["input_ids"].shape[0]):
        ids, labels = batch["input_ids"][r].tolist(), batch["labels"][r].tolist()
        if "position_ids" in batch:
            pos = batch["position_ids"][r].tolist()
            starts = [k for k, v in enumerate(pos) if v == 0]
            bounds = starts + [len(pos)]
            for a, b in zip(bounds, bounds[1:]):
                n = b - a
                while n and labels[a + n - 1] == -100 and ids[a + n - 1] == 0:
                    n -= 1
                out.append((ids[a : a + n], labels[a : a + n]))
        else:
            n = len(ids)
            while n and labels[n - 1] == -100 and ids[n - 1] == 0:
                n -= 1
            out.append((ids[:n], labels[:n]))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(docs_strategy, min_size=1, max_size=40), seed=st.integers(0, 2**31))
def test_packed_and_padded_give_the_same_pairs(tok, docs, seed):
    examples = [{"text": d} for d in docs]
    padded = SpanCorruptionCollator(tok, seed=seed)(examples)
    packed = SpanCorruptionCollator(tok, seed=seed, pack=True)(examples)
    full = SpanCorruptionCollator(tok, seed=seed, pad_to_block=True)(examples)
    expected = SpanCorruptionCollator(tok, seed=seed).corrupt(examples)
    pad_pairs = _examples_of(padded)
    assert pad_pairs == _examples_of(full)
    assert sorted(pad_pairs) == sorted(_examples_of(packed))  # same examples and targets
    for (ids, labels), row in zip(pad_pairs, expected):
        assert ids == row.tolist()
        assert labels == [-100] + row.tolist()[1:]  # every target after the first token
    assert full["input_ids"].shape == (len(docs), 127)
    assert padded["input_ids"].shape[1] == max(len(r) for r in expected)
    assert packed["input_ids"].shape[1] <= 127
    assert packed["input_ids"].numel() <= padded["input_ids"].numel()
    assert (packed["position_ids"] < 127).all()
    assert int((packed["labels"] != -100).sum()) == int((padded["labels"] != -100).sum())


def test_padded_batch_is_the_original_x_y(tok):
    examples = [{"text": d} for d in DOCS]
    batch = SpanCorruptionCollator(tok, seed=3, pad_to_block=True)(examples)
    rows = SpanCorruptionCollator(tok, seed=3).corrupt(examples)
    for r, row in enumerate(rows):
        s = tok.decode(row.tolist())
        x, y = original_pair(s, 128)
        assert batch["input_ids"][r].tolist() == tok.encode_chars(x)
        labels = batch["labels"][r].tolist()
        # label k is the target of input k-1, the original's y[k-1]; y ends with PAD (never a target)
        assert [tok.id_to_char[t] if t != -100 else PAD_CHAR for t in labels[1:]] == list(y[:-1])
        assert y[-1] == PAD_CHAR


def test_loss_equal_padded_packed_and_original_shapes(tok):
    torch.manual_seed(0)
    examples = [{"text": d} for d in DOCS * 3]
    for attention in ("vanilla", "synthesizer"):
        config = CharGPTConfig(
            vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=32, attention_type=attention,
            embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0,
        )  # fmt: skip
        model = CharGPTForCausalLM(config).eval()
        losses = []
        for kw in ({}, {"pack": True}, {"pad_to_block": True}):
            batch = SpanCorruptionCollator(tok, seed=11, **kw)(examples)
            with torch.no_grad():
                losses.append(model(**batch).loss.item())
        assert losses[0] == pytest.approx(losses[1], rel=1e-5) == pytest.approx(losses[2], rel=1e-5)


def test_new_corruption_every_call_and_reproducible(tok):
    examples = [{"text": DOCS[3]}] * 8
    c1, c2 = SpanCorruptionCollator(tok, seed=0), SpanCorruptionCollator(tok, seed=0)
    a, b = c1(examples), c1(examples)
    assert (
        not torch.equal(a["input_ids"][:, :20], b["input_ids"][:, :20])
        or a["input_ids"].shape != b["input_ids"].shape
    )
    assert torch.equal(c2(examples)["input_ids"], a["input_ids"])
    # without a seed, the stream follows torch's seed (Trainer's `seed`)
    torch.manual_seed(123)
    x = SpanCorruptionCollator(tok)(examples)
    torch.manual_seed(123)
    assert torch.equal(SpanCorruptionCollator(tok)(examples)["input_ids"], x["input_ids"])


def test_pickled_copy_does_not_share_the_stream(tok):
    collator = SpanCorruptionCollator(tok, seed=0)
    collator([{"text": DOCS[0]}])
    clone = pickle.loads(pickle.dumps(collator))
    assert clone._rng is None


class _Docs(torch.utils.data.Dataset):
    def __len__(self):
        return 32

    def __getitem__(self, i):
        return {"text": DOCS[3]}


def _corruptions(tok, workers: int) -> list[list[int]]:
    loader = torch.utils.data.DataLoader(
        _Docs(), batch_size=4, num_workers=workers, collate_fn=SpanCorruptionCollator(tok, pack=False)
    )
    return [row.tolist() for batch in loader for row in batch["input_ids"]]


def test_dataloader_workers_differ_and_runs_reproduce(tok):
    torch.manual_seed(7)
    first = _corruptions(tok, workers=2)
    torch.manual_seed(7)
    assert _corruptions(tok, workers=2) == first
    # the same document 32 times: two workers must not repeat each other's corruptions
    batches = [tuple(map(tuple, first[i : i + 4])) for i in range(0, 32, 4)]
    assert len(set(batches)) == len(batches)
    torch.manual_seed(8)
    assert _corruptions(tok, workers=2) != first


def test_pre_encoded_corpus_matches_text(data_dir, tok):
    wiki = load_wiki_corpus(data_dir, tokenizer=tok)
    encoded = encode_wiki_corpus(wiki, tok)
    assert encoded.column_names == ["line", "input_ids"]
    assert encoded[0]["input_ids"] == tok.encode_chars(DOCS[0])
    a = SpanCorruptionCollator(tok, seed=2, pack=True)([wiki[i] for i in range(len(wiki))])
    b = SpanCorruptionCollator(tok, seed=2, pack=True)([encoded[i] for i in range(len(encoded))])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_collator_errors(tok):
    with pytest.raises(ValueError, match="block_size 16 is too small"):
        SpanCorruptionCollator(tok, block_size=16)
    collator = SpanCorruptionCollator(tok, seed=0)
    with pytest.raises(UnknownCharacterError, match="corpus line 5: .*U\\+2603.*at index 3"):
        collator([{"text": "ok", "line": 4}, {"text": "abc\u2603 snowman", "line": 5}])
    with pytest.raises(UnknownCharacterError, match="example 1 of the batch: .*U\\+2603"):
        collator([{"text": "ok"}, {"text": "abc\u2603 snowman"}])
    with pytest.raises(ValueError, match="non-empty"):
        collator([{"text": ""}])
    with pytest.raises(KeyError, match="'text' or an 'input_ids'"):
        collator([{"question": "x"}])


def test_birthplace_example_is_the_original_name_dataset(tok):
    question, place = PAIRS[1]
    example = birthplace_example(question, place, tok)
    s = question + MASK_CHAR + place + MASK_CHAR
    assert example["input_ids"] == tok.encode_chars(s)
    labels = example["labels"]
    assert labels[: len(question)] == [-100] * len(question)
    assert labels[len(question) :] == tok.encode_chars(MASK_CHAR + place + MASK_CHAR)
    # the original: y = padded[1:] with y[:len(question)-1] replaced by PAD
    x, y = original_pair(s, 128)
    y = PAD_CHAR * (len(question) - 1) + y[len(question) - 1 :]
    assert [tok.id_to_char[t] if t != -100 else PAD_CHAR for t in labels[1:]] == list(y[: len(s) - 1])
    with pytest.raises(ValueError, match="block_size - 1"):
        birthplace_example(question, "x" * 200, tok, block_size=128)


def test_birthplace_collator_and_prompts(data_dir, tok):
    ds = load_birthplaces(data_dir, tokenizer=tok)
    rows = [ds["train"][i] for i in range(len(ds["train"]))]
    batch = BirthplaceCollator(tok)(rows)
    expected = [birthplace_example(r["question"], r["place"], tok) for r in rows]
    width = max(len(e["input_ids"]) for e in expected)
    assert batch["input_ids"].shape == batch["labels"].shape == (2, width)
    for r, e in enumerate(expected):
        n = len(e["input_ids"])
        assert batch["input_ids"][r, :n].tolist() == e["input_ids"]
        assert batch["labels"][r, :n].tolist() == e["labels"]
        assert (batch["input_ids"][r, n:] == 0).all() and (batch["labels"][r, n:] == -100).all()
    encoded = encode_birthplaces(ds["train"], tok, block_size=128)
    assert encoded.column_names == ["input_ids", "labels"]
    again = BirthplaceCollator(tok, pad_to_block=True)([encoded[i] for i in range(len(encoded))])
    assert again["input_ids"].shape == (2, 127)
    assert torch.equal(again["input_ids"][:, :width], batch["input_ids"])
    assert torch.equal(again["labels"][:, :width], batch["labels"])
    prompts = question_prompts(ds["test"], tok)
    assert [tok.decode(p) for p in prompts] == [q + MASK_CHAR for q, _ in PAIRS]


# ----------------------------------------------------------------------------------------------
# The real files


@pytest.mark.skipif(not (SHARED / "cs224n-a5").is_dir(), reason="../shared/data/cs224n-a5 is not present")
def test_real_files(tmp_path):
    tok = build_char_tokenizer(SHARED, save_directory=tmp_path)
    assert tok.vocab_size == 256
    wiki = load_wiki_corpus(SHARED, tokenizer=tok)
    assert len(wiki) == 2937
    ds = load_birthplaces(SHARED, tokenizer=tok, block_size=128)
    assert {k: len(v) for k, v in ds.items()} == {"train": 2000, "validation": 500, "test": 437}
    assert ds["validation"]["line"] == list(range(1, 501))
    assert all(p for p in ds["validation"]["place"])
    batch = SpanCorruptionCollator(tok, seed=0, pack=True)([wiki[i] for i in range(128)])
    assert batch["input_ids"].shape[1] <= 127


def test_collator_follows_the_tokenizers_unknown_char_rule(tmp_path):
    tok = CharTokenizer.from_corpus(ALPHABET, save_directory=str(tmp_path), unknown_char=" ")
    rows = SpanCorruptionCollator(tok, seed=0).corrupt([{"text": "ab\u2603cdefgh"}])
    assert tok.encode_chars("\u2603") == tok.encode_chars(" ")
    assert tok.char_to_id[" "] in rows[0].tolist()


def test_trainer_runs_with_the_collators(data_dir, tok, tmp_path):
    from transformers import Trainer, TrainingArguments

    config = CharGPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)
    model = CharGPTForCausalLM(config)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=4,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    wiki = load_wiki_corpus(data_dir, tokenizer=tok)
    # pre-encoded corpus: Trainer's default remove_unused_columns keeps `input_ids`
    collator = SpanCorruptionCollator(tok, pack=True)
    result = Trainer(
        model=model, args=args, train_dataset=encode_wiki_corpus(wiki, tok), data_collator=collator
    ).train()
    assert np.isfinite(result.training_loss)
    # birthplace finetuning from raw rows (the collator reads `question` / `place`)
    args.remove_unused_columns = False
    train = load_birthplaces(data_dir, tokenizer=tok)["train"]
    result = Trainer(
        model=model, args=args, train_dataset=train, data_collator=BirthplaceCollator(tok)
    ).train()
    assert np.isfinite(result.training_loss)


def test_packing_falls_back_to_one_example_per_row_when_that_is_smaller():
    """Four examples of 40 tokens would pack into rows of 120 and 40 (240 slots, padded to the
    fuller row); one example per row is 160 slots, with the same inputs and targets."""
    from hfmodels.data import layout_batch

    sizes = np.array([40, 40, 40, 40])
    tokens = np.arange(2, 2 + 4 * 127).reshape(4, 127) % 50 + 2
    valid = np.arange(127)[None, :] < sizes[:, None]
    padded = layout_batch(tokens, valid, sizes, 127, 0, pack=False, pad_to_block=False)
    packed = layout_batch(tokens, valid, sizes, 127, 0, pack=True, pad_to_block=False)
    assert packed["input_ids"].shape == padded["input_ids"].shape == (4, 40)
    assert torch.equal(packed["input_ids"], padded["input_ids"])
    assert torch.equal(packed["labels"], padded["labels"])
    assert torch.equal(packed["position_ids"], torch.arange(40).expand(4, 40))
    # Examples of different lengths still share rows.
    sizes = np.array([100, 27, 27, 27, 27])
    valid = np.arange(127)[None, :] < sizes[:, None]
    tokens = np.resize(tokens, (5, 127))
    assert layout_batch(tokens, valid, sizes, 127, 0, pack=True, pad_to_block=False)["input_ids"].shape == (
        2,
        127,
    )
