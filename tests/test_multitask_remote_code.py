"""A saved multitask BERT folder loads as remote code: in a fresh interpreter where `import hfmodels`
is impossible, `AutoConfig`, `AutoModel`, `AutoModelForSequenceClassification`, `AutoTokenizer` and
the `"multitask-bert"` and `"text-classification"` pipelines load it with `trust_remote_code=True`
(offline, `tests/remote_code.py`) and give exactly the logits and answers hfmodels gives in this
process; the same folder without `auto_map` does not load there."""

import json

import torch
from multitask_helpers import make_tokenizer, model_of
from remote_code import copy_without_auto_map, results_without_hfmodels
from transformers import pipeline

from hfmodels.multitask_bert import MultitaskBertForSequenceClassification

SENTENCES = ["a great film", "the bad dog is bad"]
PAIRS = [("how do i learn", "what is a cat"), ("a man plays guitar", "a woman plays")]
#: Two folders: bi-encoded heads with the similarity projection; a cross-encoded paraphrase head with
#: the MLP similarity head, the pooler and a frozen encoder.
VARIANTS = {
    "bi": dict(similarity_projection=True),
    "cross": dict(
        cross_encoder_tasks=["paraphrase"], similarity_head="mlp", pooling="pooler", option="pretrain"
    ),
}

AUTO_MAP = {
    "AutoConfig": "configuration_multitask_bert.MultitaskBertConfig",
    "AutoModel": "modeling_multitask_bert.MultitaskBertModel",
    "AutoModelForSequenceClassification": "modeling_multitask_bert.MultitaskBertForSequenceClassification",
}
CODE_FILES = ("configuration_multitask_bert.py", "modeling_multitask_bert.py", "pipeline_multitask_bert.py")

REMOTE_CODE_LOAD = """
import json
import sys

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

sentences, pairs = json.loads(sys.argv[1]), [tuple(pair) for pair in json.loads(sys.argv[2])]
folders = sys.argv[3:]
results = {}
for folder in folders:
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    classifier = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    one = tokenizer(sentences, padding=True, return_tensors="pt")
    two = tokenizer([b for _, b in pairs], padding=True, return_tensors="pt")
    first = tokenizer([a for a, _ in pairs], padding=True, return_tensors="pt")
    pair_inputs = {**first, **{k + "_2": v for k, v in two.items()}}
    with torch.no_grad():
        logits = {
            "sentiment": model(**one, task="sentiment").logits,
            "paraphrase": model(**pair_inputs, task="paraphrase").logits,
            "similarity": model(**pair_inputs, task="similarity").logits,
            "classifier": classifier(**one).logits,
        }
    multitask = pipeline("multitask-bert", model=folder, trust_remote_code=True)
    inferred = pipeline(model=folder, trust_remote_code=True)  # the folder's only custom pipeline
    results[folder] = dict(
        input_ids=one["input_ids"],
        logits=logits,
        classes=[type(o).__module__ + "." + type(o).__name__ for o in (config, model, classifier, multitask)],
        inferred=type(inferred).__name__,
        frozen=[not p.requires_grad for p in model.bert.parameters()],
        multitask=[
            multitask(sentences),
            multitask([{"text": a, "text_pair": b} for a, b in pairs], task="paraphrase"),
            multitask(pairs, task="similarity"),
        ],
        text_classification=pipeline(
            "text-classification", model=folder, trust_remote_code=True, top_k=None
        )(sentences),
    )
# saved again from the remote code (as a user without hfmodels would after fine-tuning)
model.save_pretrained(folders[-1] + "-resaved")
with torch.no_grad():
    resaved = AutoModel.from_pretrained(folders[-1] + "-resaved", trust_remote_code=True).eval()
    results["resaved"] = resaved(**pair_inputs, task="paraphrase").logits
try:
    AutoModel.from_pretrained(folders[0] + "-no-auto-map", trust_remote_code=True)
    results["no_auto_map"] = "loaded"
except (ValueError, KeyError) as error:
    results["no_auto_map"] = str(error)
"""


def _expected(model, tokenizer) -> dict:
    """What hfmodels gives in this process: the heads' logits, and the pipelines on the model object
    (the classes `import hfmodels` registered)."""
    one = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    first = tokenizer([a for a, _ in PAIRS], padding=True, return_tensors="pt")
    two = tokenizer([b for _, b in PAIRS], padding=True, return_tensors="pt")
    pair_inputs = {**first, **{k + "_2": v for k, v in two.items()}}
    classifier = MultitaskBertForSequenceClassification(model.config).eval()
    classifier.load_state_dict(model.state_dict())
    with torch.no_grad():
        logits = {
            "sentiment": model(**one, task="sentiment").logits,
            "paraphrase": model(**pair_inputs, task="paraphrase").logits,
            "similarity": model(**pair_inputs, task="similarity").logits,
            "classifier": classifier(**one).logits,
        }
    multitask = pipeline("multitask-bert", model=model, tokenizer=tokenizer)
    return dict(
        input_ids=one["input_ids"],
        logits=logits,
        multitask=[
            multitask(SENTENCES),
            multitask([{"text": a, "text_pair": b} for a, b in PAIRS], task="paraphrase"),
            multitask(PAIRS, task="similarity"),
        ],
        text_classification=pipeline(
            "text-classification", model=classifier, tokenizer=tokenizer, top_k=None
        )(SENTENCES),
    )


def test_saved_folders_load_score_and_answer_identically_without_hfmodels(tmp_path):
    tokenizer = make_tokenizer()
    folders, expected = [], {}
    for name, kwargs in VARIANTS.items():
        model = model_of(**kwargs)
        folder = str(tmp_path / name)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(folder)
        expected[folder] = _expected(model, tokenizer)
        assert "auto_map" not in json.loads((tmp_path / name / "tokenizer_config.json").read_text())
    config = json.loads((tmp_path / "bi" / "config.json").read_text())
    assert config["auto_map"] == AUTO_MAP
    copy_without_auto_map(tmp_path / "bi")  # the control: it cannot be loaded where hfmodels is missing

    got = results_without_hfmodels(
        REMOTE_CODE_LOAD, [json.dumps(SENTENCES), json.dumps(PAIRS), *folders], tmp_path
    )
    assert "multitask_bert" in got["no_auto_map"], got["no_auto_map"]
    resaved = tmp_path / "cross-resaved"
    assert json.loads((resaved / "config.json").read_text())["auto_map"] == AUTO_MAP
    for name in CODE_FILES:
        assert (resaved / name).read_text() == (tmp_path / "cross" / name).read_text()
    assert torch.equal(got["resaved"], expected[folders[-1]]["logits"]["paraphrase"])
    for folder in folders:
        want, have = expected[folder], got[folder]
        assert all(name.startswith("transformers_modules.") for name in have["classes"]), have["classes"]
        assert [name.rpartition(".")[2] for name in have["classes"]] == [
            "MultitaskBertConfig",
            "MultitaskBertModel",
            "MultitaskBertForSequenceClassification",
            "MultitaskBertPipeline",
        ]
        assert have["inferred"] == "MultitaskBertPipeline"
        assert torch.equal(have["input_ids"], want["input_ids"])
        assert set(have["logits"]) == set(want["logits"])
        for task, logits in want["logits"].items():
            assert torch.equal(have["logits"][task], logits), (folder, task)
        assert have["multitask"] == want["multitask"]
        assert have["text_classification"] == want["text_classification"]
        assert have["frozen"] == [folder.endswith("cross")] * len(have["frozen"])  # option="pretrain"
