"""The multitask BERT through transformers' pipelines: the `"multitask-bert"` pipeline (three tasks;
a saved folder's own copy with `trust_remote_code=True`, or the one `import hfmodels` registers),
`"feature-extraction"` (the encoder's embeddings) and `"text-classification"`, each checked against
the model's own forward on the same tokenised inputs (tiny BERTs, offline)."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from multitask_helpers import make_tokenizer, model_of
from transformers import pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import hfmodels  # noqa: F401  (registers the pipeline)
from hfmodels.multitask_bert import MultitaskBertModel
from hfmodels.multitask_bert import pipeline_multitask_bert as pipeline_module
from hfmodels.multitask_bert.pipeline_multitask_bert import MultitaskBertPipeline

ALL = ["sentiment", "paraphrase", "similarity"]


@pytest.fixture(scope="module", name="folder")
def folder_fixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mt")
    model_of(tasks=ALL, cross_encoder_tasks=["paraphrase"]).save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def _logits(pipe, task, text, pair=None):
    tok, model = pipe.tokenizer, pipe.model
    inputs = dict(tok(text, return_tensors="pt"))
    if pair is not None:
        inputs.update({f"{k}_2": v for k, v in tok(pair, return_tensors="pt").items()})
    with torch.no_grad():
        return model(**inputs, task=task).logits[0].float()


def test_registered_with_the_pipeline_registry():
    assert "multitask-bert" in PIPELINE_REGISTRY.supported_tasks
    _, targeted, _ = PIPELINE_REGISTRY.check_task("multitask-bert")
    assert targeted["impl"] is MultitaskBertPipeline


def test_saved_folders_declare_the_pipeline_and_old_ones_use_the_registered_one(folder, tmp_path):
    """`config.json` names the folder's copy of the pipeline (`custom_pipelines`), which transformers
    runs only with `trust_remote_code=True`; a folder saved without it (before remote code) and a
    model object get the pipeline `import hfmodels` registered, without the flag."""
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "multitask-bert": {
            "impl": "pipeline_multitask_bert.MultitaskBertPipeline",
            "pt": ["AutoModel"],
            "type": "text",
        }
    }
    assert (folder / "pipeline_multitask_bert.py").read_text() == Path(pipeline_module.__file__).read_text()
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        pipeline("multitask-bert", model=str(folder))
    remote = pipeline("multitask-bert", model=str(folder), trust_remote_code=True)
    assert type(remote).__module__.startswith("transformers_modules.")
    assert isinstance(remote.model, MultitaskBertModel)  # code registered by hfmodels wins over the copies

    old = tmp_path / "old"
    shutil.copytree(folder, old, ignore=shutil.ignore_patterns("*.py"))
    for key in ("auto_map", "custom_pipelines"):
        config.pop(key)
    (old / "config.json").write_text(json.dumps(config))
    for pipe in (
        pipeline("multitask-bert", model=str(old)),
        pipeline("multitask-bert", model=remote.model, tokenizer=remote.tokenizer),
    ):
        assert type(pipe) is MultitaskBertPipeline
        assert pipe("a great film") == remote("a great film")


def test_three_tasks_match_the_model(folder):
    pipe = pipeline("multitask-bert", model=str(folder), trust_remote_code=True)
    out = pipe("a great film")
    probs = torch.softmax(_logits(pipe, "sentiment", "a great film"), -1)
    names = ["very negative", "negative", "neutral", "positive", "very positive"]
    assert list(out["probabilities"]) == names
    assert torch.allclose(torch.tensor(list(out["probabilities"].values())), probs, atol=1e-6)
    assert out["label"] == names[int(probs.argmax())] and out["score"] == pytest.approx(float(probs.max()))

    q1, q2 = "how do i learn", "what is a cat"
    para = pipe({"text": q1, "text_pair": q2}, task="paraphrase")
    prob = float(torch.sigmoid(_logits(pipe, "paraphrase", q1, q2)))
    assert para["score"] == pytest.approx(prob, abs=1e-6)
    assert para["label"] == ("duplicate" if prob > 0.5 else "not duplicate")
    assert pipe({"text": q1, "text_pair": q2, "task": "paraphrase"})["score"] == pytest.approx(prob, abs=1e-6)

    s1, s2 = "a man plays guitar", "a woman plays"
    sim = pipe((s1, s2), task="similarity")
    expected = float(pipe.model.predict_similarity([s1], [s2], tokenizer=pipe.tokenizer)[0])
    assert sim == {"task": "similarity", "score": pytest.approx(expected, abs=1e-5)}
    assert 0.0 <= sim["score"] <= 5.0 + 1e-4
    batch = pipe(["a great film", "a bad film"])
    assert [b["task"] for b in batch] == ["sentiment", "sentiment"] and batch[0] == out


@pytest.mark.parametrize(
    "inputs, kwargs, message",
    [
        ({"text": "a man", "text_pair": "a dog"}, {}, "needs task="),
        ("a man", {"task": "similarity"}, "compares two sentences"),
        (("a man", "a dog"), {"task": "sentiment"}, "needs task="),
        ("a man", {"task": "nli"}, "task='nli'"),
        ({"text": "a man", "pair": "a dog"}, {"task": "paraphrase"}, "expected keys"),
        (42, {}, "a sentence, a 2-tuple"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(folder, inputs, kwargs, message):
    pipe = pipeline("multitask-bert", model=str(folder), trust_remote_code=True)
    with pytest.raises(ValueError, match=message):
        pipe(inputs, **kwargs)


def test_a_missing_head_is_named(tmp_path):
    model_of(tasks=["sentiment"]).save_pretrained(tmp_path)
    make_tokenizer().save_pretrained(tmp_path)
    pipe = pipeline("multitask-bert", model=str(tmp_path), trust_remote_code=True)
    with pytest.raises(ValueError, match="no 'similarity' head"):
        pipe(("a man", "a dog"), task="similarity")


def test_feature_extraction_returns_the_encoder_embeddings(folder):
    fe = pipeline("feature-extraction", model=str(folder))
    features = torch.tensor(fe("a man plays guitar"))
    tok, model = fe.tokenizer, fe.model
    inputs = tok("a man plays guitar", return_tensors="pt")
    with torch.no_grad():
        expected = model.bert(**inputs).last_hidden_state
        embedded = model(**inputs)
    assert features.shape == (1, inputs["input_ids"].shape[1], model.config.bert_config.hidden_size)
    assert torch.allclose(features, expected, atol=1e-6)
    assert torch.allclose(embedded.pooler_output, model.encode(**inputs), atol=1e-6)
    with pytest.raises(ValueError, match="needs task="):
        model(**inputs, labels=torch.tensor([1]))


def test_text_classification_gives_sst5_labels(folder):
    clf = pipeline("text-classification", model=str(folder), top_k=None)
    out = {d["label"]: d["score"] for d in clf(["a great film"])[0]}
    mt = pipeline("multitask-bert", model=str(folder), trust_remote_code=True)("a great film")[
        "probabilities"
    ]
    assert set(out) == set(mt) and all(out[k] == pytest.approx(mt[k], abs=1e-6) for k in mt)
