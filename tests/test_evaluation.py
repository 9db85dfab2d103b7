"""Batched greedy decoding, predictions file, exact-match accuracy, the split a score belongs to and the
strict reading of evaluation files (hfmodels.evaluation.birthplaces), and the analysis
(hfmodels.evaluation.analysis)."""

import os
import re
from pathlib import Path

import pytest
import torch

from hfmodels.char_gpt import MASK_CHAR, CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.data import DataFormatError
from hfmodels.evaluation.analysis import (
    confidence_report,
    coverage_curve,
    document_recall,
    place_exposure,
    selective_accuracy,
)
from hfmodels.evaluation.birthplaces import (
    Prediction,
    evaluate_birthplaces,
    greedy_decode,
    london_baseline,
    score_line,
    write_predictions,
)
from hfmodels.metrics.exact_match import ExactMatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cs224n-a5" / "birth_dev.tsv"
QUESTIONS = [
    "Where was Ada born?",
    "Where was Bob Dylan born?",
    "Where was X born?",
    "Where was Carla Z born?",
]


def _tokenizer():
    return CharTokenizer.from_corpus("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ?")


def _model(variant, tok, **kw):
    torch.manual_seed(0)
    config = CharGPTConfig(
        vocab_size=tok.vocab_size,
        block_size=48,
        n_layer=2,
        n_head=2,
        n_embd=16,
        attention_type=variant,
        bottleneck_dim=8,
        **kw,
    )
    return CharGPTForCausalLM(config).eval()


@pytest.mark.parametrize("variant", ["vanilla", "synthesizer", "perceiver"])
def test_batched_decoding_matches_generate_one_by_one(variant):
    tok = _tokenizer()
    model = _model(variant, tok)
    # Make ⁇ likely after some characters so that rows stop at different steps.
    with torch.no_grad():
        model.lm_head.weight[tok.mask_token_id] += (
            0.6
            * model.transformer.wte.weight[tok.char_to_id["e"]]
            / (model.transformer.wte.weight[tok.char_to_id["e"]].norm() ** 2)
        )
    preds = greedy_decode(model, tok, QUESTIONS, batch_size=3, max_new_tokens=12, bf16=False)
    for question, pred in zip(QUESTIONS, preds):
        prompt = torch.tensor([tok.encode_chars(question + MASK_CHAR)])
        out = model.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=tok.mask_token_id)
        text = "".join(tok.id_to_char[i] for i in out[0, prompt.shape[1] :].tolist())
        assert pred.text == text.split(MASK_CHAR)[0]
        assert pred.closed == (MASK_CHAR in text)
        assert len(pred.token_probs) == len(pred.text) + int(pred.closed)
        assert all(0.0 < p <= 1.0 for p in pred.token_probs)


def test_decoding_stops_at_mask_and_at_full_block():
    tok = _tokenizer()
    model = _model("vanilla", tok)
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.weight[tok.mask_token_id] = 0  # then bias the head: always ⁇
        model.transformer.ln_f.bias.fill_(1.0)
        model.lm_head.weight[tok.mask_token_id] = 5.0
    (pred,) = greedy_decode(model, tok, ["Where was Ada born?"], bf16=False)
    assert pred == Prediction("", pred.token_probs, True) and len(pred.token_probs) == 1
    with torch.no_grad():
        model.lm_head.weight[tok.mask_token_id] = -5.0
        model.lm_head.weight[tok.char_to_id["a"]] = 5.0
    question = "Where was Ada born?"  # 20 tokens with ⁇; block 48 leaves 28
    (pred,) = greedy_decode(model, tok, [question], max_new_tokens=100, bf16=False)
    assert pred.text == "a" * (48 - len(question) - 1) and not pred.closed
    with pytest.raises(ValueError, match="accepts 48"):
        greedy_decode(model, tok, ["Where was " + "A" * 40 + " born?"], bf16=False)


def test_bf16_decoding_gives_one_answer_per_question_and_restores_mode():
    tok = _tokenizer()
    model = _model("vanilla", tok)
    a = greedy_decode(model, tok, QUESTIONS, bf16=False, max_new_tokens=4)
    b = greedy_decode(model, tok, QUESTIONS, bf16=True, max_new_tokens=4)
    assert len(b) == len(a) and all(isinstance(p.text, str) for p in b)
    assert model.training is False


def test_predictions_file_and_accuracy(tmp_path):
    tok = _tokenizer()
    model = _model("vanilla", tok)
    tsv = tmp_path / "birth_dev.tsv"
    tsv.write_text("".join(f"{q}\tParis\n" for q in QUESTIONS))
    out = tmp_path / "sub" / "dev.predictions"
    result = evaluate_birthplaces(model, tok, tsv, out, bf16=False)
    lines = out.read_text().split("\n")
    assert lines[-1] == "" and lines[:-1] == [p.text for p in result.predictions]
    assert result.scores == {"exact_match": 0.0, "correct": 0, "total": 4}
    assert result.examples["line"] == [1, 2, 3, 4]
    assert result.split == "validation"  # the project's split name; its metric keys keep the course's dev_
    metrics = result.metrics()
    assert (
        metrics["dev_accuracy"] == 0.0
        and metrics["dev_total"] == 4
        and metrics["dev_predictions"] == str(out)
    )
    test = tmp_path / "birth_test_inputs.tsv"
    test.write_text("".join(f"{q}\n" for q in QUESTIONS))
    result = evaluate_birthplaces(model, tok, test, None, bf16=False)
    assert result.scores is None and result.split == "test"
    assert set(result.metrics()) == {"test_decode_seconds", "test_predictions"}


@pytest.mark.parametrize("name", ["undeveloped.tsv", "dev.tsv", "my_birth_dev.tsv", "birth_dev.tsv.bak"])
def test_a_file_is_dev_only_by_its_known_name_or_an_explicit_split(tmp_path, name):
    tok = _tokenizer()
    model = _model("vanilla", tok)
    tsv = tmp_path / name
    tsv.write_text("".join(f"{q}\tParis\n" for q in QUESTIONS))
    result = evaluate_birthplaces(model, tok, tsv, None, bf16=False, batch_size=4)
    assert result.split is None
    assert not any(k.startswith("dev_") for k in result.metrics())
    assert result.metrics()["eval_total"] == 4
    explicit = evaluate_birthplaces(model, tok, tsv, None, bf16=False, split="validation")
    assert explicit.split == "validation" and explicit.metrics()["dev_total"] == 4
    holdout = evaluate_birthplaces(model, tok, tsv, None, bf16=False, split="holdout")
    assert holdout.metrics()["holdout_total"] == 4
    with pytest.raises(ValueError, match="split='dev': the project calls this split 'validation'"):
        evaluate_birthplaces(model, tok, tsv, None, bf16=False, split="dev")


@pytest.mark.parametrize(
    "content, where, problem",
    [
        ("Where was Ada born?\tParis\nWhere was Bob born?\t\n", ":2:", "empty place"),
        ("Where was Ada born?\t Paris \n", ":1:", "place ' Paris ' has leading or trailing spaces"),
        (" Where was Ada born?\tParis\n", ":1:", "leading or trailing spaces"),
        ("", ":1:", "the file is empty"),
        ("Where was Ada born?\tParis\n\nWhere was Bob born?\tRome\n", ":2:", "empty line"),
        ("Where was Ada born?\tParis\nWhere was Bob born?\n", ":2:", "line 1 has place, so every line must"),
        (
            "Where was Ada born?\nWhere was Bob born?\tRome\n",
            ":2:",
            "line 1 has no place, so every line must",
        ),
        ("Where was Ada born?\tParis\tRome\n", ":1:", "2 tab"),
        ("Where is Ada?\tParis\n", ":1:", "not of the form"),
        ("Where was Ada born?\tPar\u00efs\n", ":1:", "(U+00EF) at column 24"),
        ("Where was " + "A" * 30 + " born?\tParis\n", ":1:", "more than block_size - 1 = 47"),
        ("Where was " + "A" * 40 + " born?\n", ":1:", "leaves no room for an answer"),
        ("Where was Ada born?\r\n", ":1:", "carriage return"),
    ],
    ids=[
        "empty gold",
        "padded gold",
        "padded question",
        "empty file",
        "empty line",
        "missing place",
        "extra place",
        "two tabs",
        "other question",
        "unknown char",
        "too long",
        "question too long",
        "crlf",
    ],
)
def test_evaluation_files_are_read_strictly(tmp_path, content, where, problem):
    tok = _tokenizer()
    model = _model("vanilla", tok)
    path = tmp_path / "eval.tsv"
    path.write_text(content, encoding="utf-8", newline="")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}{where}") + ".*" + re.escape(problem)):
        evaluate_birthplaces(model, tok, path, tmp_path / "p", bf16=False)
    assert not (tmp_path / "p").exists()


def test_evaluation_file_invalid_utf8_and_huge_line_are_reported_readably(tmp_path):
    tok = _tokenizer()
    model = _model("vanilla", tok)
    path = tmp_path / "eval.tsv"
    path.write_bytes(b"Where was Ada born?\tParis\nWhere was B\xffb born?\tRome\n")
    with pytest.raises(
        DataFormatError,
        match=re.escape(f"{path}:2: not valid UTF-8")
        + ".*byte offset 37 of the file \\(byte 12 of the line\\)",
    ):
        evaluate_birthplaces(model, tok, path, None, bf16=False)
    path.write_text("Where is " + "x" * 10_000_000 + "?\tParis\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:1: question 'Where is xxx")) as err:
        evaluate_birthplaces(model, tok, path, None, bf16=False)
    assert len(str(err.value)) < 400 and "(10000010 characters in all) is not of the form" in str(err.value)


def test_exact_match_metric_and_predictions_file(tmp_path):
    metric = ExactMatch()
    assert metric.compute(
        predictions=["London", "Rome", "paris"], references=["London", "Paris", "Paris"]
    ) == {
        "exact_match": 1 / 3,
        "correct": 1,
        "total": 3,
    }
    write_predictions(tmp_path / "p.txt", ["a", "", "b"])  # an empty answer keeps its line
    assert (tmp_path / "p.txt").read_text() == "a\n\nb\n"
    assert not list(tmp_path.glob(".p.txt*"))
    assert (
        score_line({"correct": 25, "total": 500, "exact_match": 0.05}) == "Correct: 25.0 out of 500.0: 5.0%"
    )


def test_london_baseline_counts_london_and_writes_its_predictions(tmp_path):
    path = tmp_path / "birth_dev.tsv"
    path.write_text("Where was A born?\tLondon\nWhere was B born?\tParis\nWhere was C born?\tLondon\n")
    out = tmp_path / "london.predictions"
    assert london_baseline(path, out) == {"london_accuracy": 2 / 3, "london_correct": 2, "london_total": 3}
    assert out.read_text() == "London\n" * 3
    (tmp_path / "test.tsv").write_text("Where was A born?\n")
    with pytest.raises(DataFormatError, match="test.tsv:1: 0 tab"):
        london_baseline(tmp_path / "test.tsv")


@pytest.mark.skipif(not DEV.exists(), reason="shared data not present")
def test_london_baseline_is_five_percent_on_dev():
    assert london_baseline(DEV) == {"london_accuracy": 0.05, "london_correct": 25, "london_total": 500}


def test_confidence_analysis_numbers():
    preds = [
        Prediction("Paris", [0.9, 0.9], True),
        Prediction("Rome", [0.2], True),
        Prediction("Oslo", [0.6], True),
    ]
    refs = ["Paris", "Paris", "Oslo"]
    questions = ["Where was Ann born?", "Where was Bo born?", "Where was Cy born?"]
    corpus = (
        "Ann was born in Paris.\nBo lived in Lyon and was born in Paris much later on in a long text\nZed"
    )
    report = confidence_report(questions, preds, refs, corpus, seen_chars=30)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["name_in_pretraining_corpus"] == {"count": 2, "accuracy": 0.5}
    assert report["place_in_persons_document"] == {"count": 2, "accuracy": 0.5}
    assert report["place_in_first_30_chars"] == {"count": 1, "accuracy": 1.0}
    assert report["confidence"]["auroc_product"] == 1.0  # right answers are the confident ones
    assert coverage_curve([0.9, 0.1, 0.5], [True, False, True]) == [(1 / 3, 1.0), (2 / 3, 1.0), (1.0, 2 / 3)]
    sel = selective_accuracy([0.9, 0.1, 0.5], [True, False, True], 0.5)
    assert sel["coverage"] == pytest.approx(2 / 3) and sel["accuracy_of_answered"] == 1.0
    assert place_exposure(["Where was Ann born?"], ["Paris"], corpus.split("\n"), 10) == ([True], [False])


class _Oracle(torch.nn.Module):
    """Predicts the true next character of one fixed text (or, `wrong=True`, a different one)."""

    def __init__(self, tokenizer, text: str, wrong: bool = False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.next_ids = tokenizer.encode_chars(text)[1:] + [0]
        self.vocab, self.wrong = len(tokenizer), wrong

    def forward(self, ids):
        from types import SimpleNamespace

        targets = torch.tensor(self.next_ids[: ids.shape[1]])
        if self.wrong:
            targets = (targets + 1) % self.vocab
        return SimpleNamespace(logits=torch.nn.functional.one_hot(targets, self.vocab).float()[None])


def test_document_recall_checks_every_place_character_teacher_forced():
    doc = "Ann Lee. Ann Lee was born in Paris and lived in Rome."
    docs = [doc, "Bob Day. Bob Day lived somewhere far away from home for a long while, then in Oslo."]
    tokenizer = CharTokenizer.from_corpus("\n".join(docs))
    questions = ["Where was Ann Lee born?", "Where was Bob Day born?", "Where was Cy born?"]
    places = ["Paris", "Oslo", "Lima"]
    # Bob's Oslo lies beyond the 40 characters pretraining would show; nobody wrote about Cy
    assert document_recall(_Oracle(tokenizer, doc), tokenizer, questions, places, docs, seen_chars=40) == [
        True,
        None,
        None,
    ]
    assert document_recall(
        _Oracle(tokenizer, doc, wrong=True), tokenizer, questions[:1], places[:1], docs
    ) == [False]
    # one wrong character of the place is enough to fail: "Paris"'s 4th character predicted as "e"
    shifted = _Oracle(tokenizer, doc)
    shifted.next_ids[doc.index("Paris") + 2] = tokenizer.encode_chars("e")[0]
    assert document_recall(shifted, tokenizer, questions[:1], places[:1], docs) == [False]


def test_document_recall_needs_gold_places(tmp_path):
    from hfmodels.evaluation.analysis import write_document_recall

    path = tmp_path / "questions.tsv"  # test inputs: questions without places
    path.write_text("Where was Ann born?\nWhere was Bob born?\n", encoding="utf-8")
    corpus = tmp_path / "wiki.txt"
    corpus.write_text("Ann. Ann was born in Paris.\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"questions.tsv:1: 0 tab\(s\), expected exactly one tab"):
        write_document_recall(None, None, path, corpus, tmp_path / "out")
    path.write_text("Where was Ann born?\tParis\nWhere was Bob born?\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"questions.tsv:2: 0 tab"):
        write_document_recall(None, None, path, corpus, tmp_path / "out")
