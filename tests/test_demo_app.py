"""The demo's handlers without a browser (hfmodels.demo): each tab on tiny saved models, the bad
inputs' messages, the Results tab's plots, and the Space push against the local stand-in Hub
(`tests/hub_stand_in.py`)."""

import json
import math
import os
from pathlib import Path

import pytest
import torch
from demo_helpers import (
    CORPUS,
    reference_answer,
    save_addsub,
    save_char_gpt,
    save_lstm_lm,
    save_multitask_bert,
    write_corpus,
)
from hub_stand_in import TOKEN, HubStandIn, hub_fixture  # noqa: F401

from hfmodels.char_gpt import CharTokenizer
from hfmodels.demo import DemoError, ModelCache
from hfmodels.demo.addsub import addsub_answer, expression_of
from hfmodels.demo.app import build_demo, guarded, sort_folders
from hfmodels.demo.birthplace import (
    BirthplaceData,
    birthplace_markdown,
    generate_answer,
    markdown_escape,
    question_of,
)
from hfmodels.demo.lstm_lm import continue_prompt
from hfmodels.demo.multitask_bert import paraphrase, sentiment, similarity
from hfmodels.demo.plots import loss_curves, retrieved_or_invented_figure, retrieved_or_invented_splits
from hfmodels.demo.space import push_space
from hfmodels.evaluation.addsub import greedy_answers
from hfmodels.evaluation.birthplaces import greedy_decode


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_models")
    return {
        "vanilla": save_char_gpt(root / "vanilla"),
        "perceiver": save_char_gpt(root / "perceiver", "perceiver", seed=1),
        "bert": save_multitask_bert(root / "bert"),
        "addsub": save_addsub(root / "addsub"),
        "lstm": save_lstm_lm(root / "lstm"),
        "corpus": write_corpus(root / "data"),
        "root": root,
    }


@pytest.fixture(scope="module")
def cache():
    return ModelCache()


@pytest.fixture(scope="module")
def data(folders):
    # An empty data directory: no train/dev files, so no gold places and no London accuracy.
    return BirthplaceData.load(folders["corpus"], data_dir=folders["root"] / "no_data")


def _cells(markdown: str, row: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {row} |"))
    return [cell.strip() for cell in line.strip("|").split("|")[1:]]


def test_side_by_side_answers_equal_generate_and_the_evaluation(folders, cache, data):
    models = [cache.load(folders["vanilla"]), cache.load(folders["perceiver"])]
    page = birthplace_markdown(models, "Ada Lovelace", data)
    question = "Where was Ada Lovelace born?"
    expected = [reference_answer(folders[v], question) for v in ("vanilla", "perceiver")]
    assert expected[0] != expected[1]  # two different models, two columns
    assert _cells(page, "answer") == [markdown_escape(a) or "(empty)" for a in expected]
    for loaded in models:
        answer = generate_answer(loaded, question)
        slow = CharTokenizer.from_pretrained(
            loaded.folder
        )  # the slow class: a tokenizer independent of the demo's
        decoded = greedy_decode(loaded.model, slow, [question], bf16=False)[0]
        assert answer.text == decoded.text and answer.closed == decoded.closed
        assert answer.confidence == pytest.approx(decoded.confidence, rel=1e-4)
        assert len(answer.token_probs) == len(answer.text) + int(answer.closed)
    assert "vanilla (vanilla)" in page and "perceiver (perceiver)" in page
    assert "**London baseline:** London" in page


def test_the_persons_document_and_whether_the_answer_is_in_it(folders, cache, data):
    model = cache.load(folders["vanilla"])
    page = birthplace_markdown([model], "Marie Curie", data)
    assert "Marie Curie has a document (wiki.txt, line 3" in page and f"> {CORPUS[2]}" in page
    answer = generate_answer(model, "Where was Marie Curie born?").text
    assert _cells(page, "answer in the person's document") == [
        "yes" if answer and answer in CORPUS[2] else "no"
    ]
    unknown = birthplace_markdown([model], "Where was Zed Q born?", data)
    assert (
        "no document of wiki.txt mentions Zed Q" in unknown
        and "answer in the person's document" not in unknown
    )


def test_gold_place_and_london_accuracy_from_the_data_directory(folders, cache, tmp_path):
    (tmp_path / "cs224n-a5").mkdir()
    (tmp_path / "cs224n-a5" / "birth_dev.tsv").write_text(
        "Where was Ada Lovelace born?\tLondon\nWhere was Alan Turing born?\tMaida Vale\n", encoding="utf-8"
    )
    with_gold = BirthplaceData.load(folders["corpus"], data_dir=tmp_path)
    assert with_gold.london_dev_accuracy == 0.5
    page = birthplace_markdown([cache.load(folders["vanilla"])], "Ada Lovelace", with_gold)
    assert "right for 50.0 % of birth_dev.tsv" in page and "**Gold place** (birth_dev.tsv): London" in page
    assert _cells(page, "right") == ["no"]  # the random model does not answer London


def test_a_bare_corpus_name_is_the_data_directorys_file(folders, tmp_path, monkeypatch):
    """`--corpus wiki.txt` names the data directory's file, as the recipes' arguments do."""
    (tmp_path / "cs224n-a5").mkdir()
    wiki = tmp_path / "cs224n-a5" / "wiki.txt"
    wiki.write_text(Path(folders["corpus"]).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no wiki.txt here
    data = BirthplaceData.load("wiki.txt", data_dir=tmp_path)
    assert data.corpus_path == wiki and len(data.documents) > 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Type a name"),
        ("   ", "Type a name"),
        ("Ada Lovelacé", "character 'é' (U+00E9) at index 21 is not in the vocabulary"),
        ("A" * 60, "characters with its ⁇; vanilla (vanilla) accepts at most 47"),
        ("Where was Ada", "is not of the form 'Where was NAME born?'"),
    ],
)
def test_bad_questions_give_messages(folders, cache, data, text, message):
    with pytest.raises(DemoError, match=None) as err:
        birthplace_markdown([cache.load(folders["vanilla"])], text, data)
    assert message in str(err.value)
    handler = guarded(lambda t: birthplace_markdown([cache.load(folders["vanilla"])], t, data), ("",))
    result, note = handler(text)
    assert result == "" and message in note and note.startswith("**⚠")


def test_one_model_that_cannot_answer_is_listed_and_the_others_answer(folders, cache, data, tmp_path):
    other = save_char_gpt(tmp_path / "small_block", seed=2, block_size=30)
    models = [cache.load(folders["vanilla"]), cache.load(other)]
    page = birthplace_markdown(models, "Ada Lovelace Alan Turing", data)
    assert "vanilla (vanilla)" in page and "**Not answered:**" in page and "accepts at most 29" in page


def test_folders_that_are_not_models_give_messages(folders, cache, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "gpt2"}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    cases = {
        str(tmp_path / "missing"): "no such folder",
        str(tmp_path / "empty"): "not a model folder (it has no config.json)",
        str(tmp_path / "other"): "model_type 'gpt2' has no tab in this demo",
        str(tmp_path / "broken"): "not a readable model config",
        "": "No model folder given",
    }
    for folder, message in cases.items():
        with pytest.raises(DemoError) as err:
            cache.load(folder)
        assert message in str(err.value)
    with pytest.raises(DemoError, match="its model_type is addsub; this tab needs a char_gpt folder"):
        cache.load(folders["addsub"], expected="char_gpt")
    by_family, problems = sort_folders(
        [str(folders["vanilla"]), str(tmp_path / "empty"), str(folders["bert"])]
    )
    assert by_family["char_gpt"] == [str(folders["vanilla"])] and by_family["multitask_bert"] == [
        str(folders["bert"])
    ]
    assert len(problems) == 1 and "not a model folder" in problems[0]


def test_a_folder_whose_weights_do_not_load_gives_a_message(folders, cache, tmp_path):
    broken = save_char_gpt(tmp_path / "bad_weights")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(DemoError, match="the char_gpt folder does not load"):
        cache.load(broken)


def test_any_other_failure_is_a_message_not_a_trace():
    def fails(_):
        raise KeyError("boom")

    assert guarded(fails, (None, None))("x") == (None, None, "**⚠ KeyError: 'boom'**")


def test_multitask_heads(folders, cache):
    loaded = cache.load(folders["bert"])
    model, tok = loaded.model, loaded.tokenizer
    probs = sentiment(loaded, "a great film")
    assert list(probs) == ["very negative", "negative", "neutral", "positive", "very positive"]
    logits = model(task="sentiment", **tok(["a great film"], return_tensors="pt")).logits[0]
    assert list(probs.values()) == pytest.approx(torch.softmax(logits, -1).tolist(), rel=1e-5)
    pair = paraphrase(loaded, "how do i learn", "what is the film")
    expected = model.predict_paraphrase(["how do i learn"], ["what is the film"], tok).item()
    assert set(pair) == {"duplicate", "not duplicate"} and pair["duplicate"] + pair[
        "not duplicate"
    ] == pytest.approx(1)
    assert (pair["duplicate"] > 0.5) == bool(expected)
    score = similarity(loaded, "a cat plays", "a dog plays")
    assert score == pytest.approx(
        model.predict_similarity(["a cat plays"], ["a dog plays"], tok).item(), rel=1e-5
    )
    for call in (lambda: sentiment(loaded, " "), lambda: similarity(loaded, "a", "")):
        with pytest.raises(DemoError, match="is empty"):
            call()
    with pytest.raises(DemoError, match="at most 1000"):
        sentiment(loaded, "a " * 600)


def test_addsub_answers_and_bad_expressions(folders, cache):
    loaded = cache.load(folders["addsub"])
    assert expression_of("12 + -7") == "BOS POSITIVE 1 2 add NEGATIVE 0 7 EOS"
    assert expression_of("30 - 45") == "BOS POSITIVE 3 0 subtract POSITIVE 4 5 EOS"
    page = addsub_answer(loaded, "12 + -7")
    expected = greedy_answers(loaded.model, loaded.tokenizer, ["BOS POSITIVE 1 2 add NEGATIVE 0 7 EOS"])[0]
    assert f"**Model's answer:** `{expected}`" in page and "the true result is 5" in page
    for text, message in [
        ("", "Type an expression"),
        ("100 + 1", "outside [-99, 99]"),
        ("99 + 1", "result 100 is outside"),
        ("3 * 4", "Type two numbers"),
    ]:
        with pytest.raises(DemoError) as err:
            expression_of(text)
        assert message in str(err.value)


def test_lstm_continuation_is_generate_and_controls_are_checked(folders, cache):
    loaded = cache.load(folders["lstm"])
    page = continue_prompt(loaded, "the game was", 5, temperature=0.0)
    ids = torch.tensor([loaded.tokenizer("the game was")["input_ids"]])
    out = loaded.model.generate(ids, max_new_tokens=5, do_sample=False, eos_token_id=None, pad_token_id=1)
    assert f"**Continuation:** {loaded.tokenizer.decode(out[0, 3:])}" in page
    sampled = [continue_prompt(loaded, "the game was", 8, 1.0, 3, seed) for seed in (0, 0, 1)]
    assert sampled[0] == sampled[1]
    assert "1 of 4 words are not in the vocabulary and read as \\<unk\\>" in continue_prompt(
        loaded, "the game was zzz", 2, 0
    )
    for args, message in [
        (("",), "Type a prompt"),
        (("the", 0), "between 1 and 200"),
        (("the", 3, -1.0), "cannot be negative"),
    ]:
        with pytest.raises(DemoError, match=message):
            continue_prompt(loaded, *args)


def test_retrieved_or_invented_from_analysis_or_make_run_folder(tmp_path):
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    splits = {
        "name_in_pretraining_corpus": {"count": 500, "accuracy": 0.25},
        "name_not_in_pretraining_corpus": {"count": 0, "accuracy": None},
        "place_in_persons_document": {"count": 400, "accuracy": 0.3},
        "place_not_in_persons_document": {"count": 100, "accuracy": 0.05},
    }
    (analysis / "analysis.json").write_text(json.dumps(splits))
    got = retrieved_or_invented_splits(analysis)
    assert [v["accuracy"] for v in got.values()] == [0.25, None, 0.3, 0.05]
    run = tmp_path / "quickstart"
    run.mkdir()
    metrics = {"dev_name_in_corpus_accuracy": 0.2, "dev_name_in_corpus_count": 500}
    metrics |= {
        f"dev_{k}_accuracy": 0.1
        for k in ("name_not_in_corpus", "place_in_persons_document", "place_not_in_persons_document")
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    got = retrieved_or_invented_splits(run)
    assert next(iter(got.values())) == {"count": 500, "accuracy": 0.2}
    figure = retrieved_or_invented_figure(run)
    assert [round(b.get_height(), 6) for b in figure.axes[0].patches] == [20.0, 10.0, 10.0, 10.0]
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DemoError, match="no retrieved-or-invented figures"):
        retrieved_or_invented_splits(tmp_path / "nothing")


def test_learning_curves_from_tensorboard_events(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "run" / "tb" / "first"))
    for step in range(0, 50, 10):
        writer.add_scalar("train/loss", 3.0 - step / 100, step)
        writer.add_scalar("train/learning_rate", 1e-3, step)
    writer.close()
    curves = loss_curves(tmp_path / "run")
    assert list(curves) == ["train/loss"]
    assert curves["train/loss"] == pytest.approx({0: 3.0, 10: 2.9, 20: 2.8, 30: 2.7, 40: 2.6})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DemoError, match="no TensorBoard event files"):
        loss_curves(tmp_path / "empty")


def test_build_demo_with_every_family_and_a_bad_folder(folders, tmp_path):
    demo = build_demo(
        [str(folders[k]) for k in ("vanilla", "bert", "addsub", "lstm")] + [str(tmp_path)],
        corpus=folders["corpus"],
    )
    config = demo.get_config_file()
    values = {c["props"].get("elem_id"): c["props"].get("value") for c in config["components"]}
    assert values["char_gpt-folders"] == str(folders["vanilla"]) and values["lstm_lm-folders"] == str(
        folders["lstm"]
    )
    assert "not a model folder" in values["demo-status"]


def test_push_space_uploads_the_app_package_and_checkpoint(folders, hub):
    url = push_space(
        "student/hfmodels-demo",
        token=TOKEN,
        endpoint=os.environ["HF_ENDPOINT"],
        checkpoint_dir=folders["vanilla"],
    )
    assert url.endswith("/spaces/student/hfmodels-demo/commit/" + "a" * 40)
    assert HubStandIn.created[-1]["type"] == "space" and HubStandIn.created[-1]["sdk"] == "gradio"
    assert HubStandIn.commits == [("space", "student/hfmodels-demo")]
    files = hub["student/hfmodels-demo"]
    assert {"app.py", "requirements.txt", "README.md", "hfmodels/__init__.py", "hfmodels/demo/app.py"} <= set(
        files
    )
    checkpoint = "hfmodels/checkpoints/char_gpt-vanilla-pretrained/"
    assert files[checkpoint + "model.safetensors"] == (folders["vanilla"] / "model.safetensors").read_bytes()
    assert files[checkpoint + "vocab.json"] == (folders["vanilla"] / "vocab.json").read_bytes()
    assert not [p for p in files if "__pycache__" in p or p.endswith(".pyc")]
    assert b"sdk: gradio" in files["README.md"] and b"gradio>=6,<7" in files["requirements.txt"]
    assert b"build_demo()" in files["app.py"]
    assert math.isclose(
        len([p for p in files if p.startswith(checkpoint)]), len(list(folders["vanilla"].iterdir()))
    )


def test_a_name_becomes_the_studys_question():
    assert question_of("  Ada Lovelace ") == "Where was Ada Lovelace born?"
    assert question_of("Where was Ada Lovelace born?") == "Where was Ada Lovelace born?"
    with pytest.raises(DemoError, match="not of the form"):
        question_of("Where was  born?")
