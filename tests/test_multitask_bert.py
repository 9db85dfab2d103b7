"""Multitask BERT model: config validation, the task heads and their losses, frozen vs finetuned
encoder, Auto round trip, folders saved with the old head names, label names and the
text-classification pipeline."""

import os
import re

import pytest
import torch
import torch.nn.functional as F
from multitask_helpers import (  # noqa: F401  (pytest fixtures)
    LEGACY,
    backbone_dir_fixture,
    batch,
    model_of,
    tiny_bert_config,
    tokenizer_fixture,
)
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModel,
    BertConfig,
    BertModel,
)

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.multitask_bert import MultitaskBertConfig, MultitaskBertModel
from hfmodels.multitask_bert.modeling_multitask_bert import join_pair, pair_features

os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.mark.parametrize(
    "field, value",
    [
        ("tasks", ["sentiment", "nli"]),
        ("tasks", []),
        ("option", "freeze"),
        ("pooling", "max"),
        ("head_dropout", 1.5),
        ("pair_features", ["u", "u+v"]),
        ("pair_features", ["u", "u"]),
        ("similarity_head", "dot"),
        ("num_sentiment_labels", 1),
        ("pair_hidden_size", -1),
        ("cross_encoder_tasks", ["sentiment"]),
        ("cross_encoder_tasks", ["paraphrase", "paraphrase"]),
        ("cross_encoder_bi_features", "yes"),
        ("similarity_projection", 1),
    ],
)
def test_config_rejects_invalid_values_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=re.escape(f"invalid {field}={value!r}")):
        MultitaskBertConfig(bert_config=tiny_bert_config(), **{field: value})


@pytest.mark.parametrize("other", [{"similarity_head": "mlp"}, {"cross_encoder_tasks": ["similarity"]}])
def test_config_rejects_a_similarity_projection_that_no_head_would_use(other):
    with pytest.raises(ValueError, match="invalid similarity_projection=True; it applies to the cosine"):
        MultitaskBertConfig(bert_config=tiny_bert_config(), similarity_projection=True, **other)
    MultitaskBertConfig(bert_config=tiny_bert_config(), similarity_projection=True)  # the cosine head: fine


@pytest.mark.parametrize("pooling", ["cls", "pooler", "mean"])
def test_every_head_and_loss(pooling):
    model = model_of(pooling=pooling, similarity_head="mlp")
    ids, mask, ids2, mask2 = batch()
    sent = model(task="sentiment", input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 4, 2]))
    assert sent.logits.shape == (4, 5)
    assert torch.allclose(sent.loss, F.cross_entropy(sent.logits, torch.tensor([0, 1, 4, 2])))
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    para = model(
        task="paraphrase",
        input_ids=ids,
        attention_mask=mask,
        input_ids_2=ids2,
        attention_mask_2=mask2,
        labels=y,
    )
    assert para.logits.shape == (4,)
    assert torch.allclose(para.loss, F.binary_cross_entropy_with_logits(para.logits, y))
    s = torch.tensor([0.0, 2.5, 5.0, 1.2])
    sim = model(
        task="similarity",
        input_ids=ids,
        attention_mask=mask,
        input_ids_2=ids2,
        attention_mask_2=mask2,
        labels=s,
    )
    assert sim.logits.shape == (4,)
    assert torch.allclose(sim.loss, F.mse_loss(sim.logits, s))
    with pytest.raises(ValueError, match="input_ids_2"):
        model(task="paraphrase", input_ids=ids)
    with pytest.raises(ValueError, match="Unknown task 'nli'"):
        model(task="nli", input_ids=ids)


def test_pair_encoding_matches_separate_encoding_and_cosine_head():
    model = model_of(pooling="mean", similarity_head="cosine")
    ids, mask, ids2, mask2 = batch(seed=1)
    u = model.encode(ids, mask)
    v = model.encode(ids2, mask2)
    out = model(
        task="similarity", input_ids=ids, attention_mask=mask, input_ids_2=ids2, attention_mask_2=mask2
    )
    # the two sides share one padded encoder call; padding must not change the embeddings
    assert torch.allclose(out.logits, 5 * F.cosine_similarity(u, v), atol=1e-5)
    cls = model_of(pooling="cls")
    assert torch.allclose(
        cls.encode(ids, mask), cls.bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
    )


def test_join_pair_builds_what_the_tokenizer_builds_for_sentence_pairs(tokenizer):
    first = ["a man plays guitar", "a cat", "how do i learn what is good", "the dog"]
    second = ["a woman", "why is the film bad", "a", "the dog is good a man plays guitar"]
    one = tokenizer(first, padding=True, return_tensors="pt")
    two = tokenizer(second, padding=True, return_tensors="pt")
    ids, mask, types = join_pair(
        one["input_ids"], one["attention_mask"], two["input_ids"], two["attention_mask"]
    )
    expected = tokenizer(first, second, padding=True, return_tensors="pt")
    assert torch.equal(ids, expected["input_ids"])
    assert torch.equal(mask, expected["attention_mask"])
    assert torch.equal(types, expected["token_type_ids"])
    left = one["attention_mask"].flip(1)
    with pytest.raises(ValueError, match="right-padded.*attention_mask has padding"):
        join_pair(one["input_ids"], left, two["input_ids"], two["attention_mask"])


@pytest.mark.parametrize("pair_hidden_size", [0, 16])
def test_cross_encoder_heads_encode_the_joined_pair(tokenizer, pair_hidden_size):
    model = model_of(
        pooling="cls", cross_encoder_tasks=["paraphrase", "similarity"], pair_hidden_size=pair_hidden_size
    )
    assert [type(model.heads[t]).__name__ for t in ("paraphrase", "similarity")] == [
        "CrossEncoderParaphraseHead",
        "CrossEncoderSimilarityHead",
    ]
    s1, s2 = ["a man plays guitar", "a cat"], ["a woman plays", "why is the film bad"]
    one = tokenizer(s1, padding=True, return_tensors="pt")
    two = tokenizer(s2, padding=True, return_tensors="pt")
    pair = tokenizer(s1, s2, padding=True, return_tensors="pt")
    kw = {"input_ids": one["input_ids"], "attention_mask": one["attention_mask"]}
    kw.update(input_ids_2=two["input_ids"], attention_mask_2=two["attention_mask"])
    cls = model.bert(**pair).last_hidden_state[:, 0]
    para = model(task="paraphrase", labels=torch.tensor([1.0, 0.0]), **kw)
    torch.testing.assert_close(para.logits, model.heads.paraphrase.mlp(cls), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        para.loss, F.binary_cross_entropy_with_logits(para.logits, torch.tensor([1.0, 0.0]))
    )
    sim = model(task="similarity", labels=torch.tensor([3.0, 0.5]), **kw)
    torch.testing.assert_close(
        sim.logits, 5 * torch.sigmoid(model.heads.similarity.mlp(cls)), rtol=1e-5, atol=1e-5
    )
    assert ((sim.logits > 0) & (sim.logits < 5)).all()
    torch.testing.assert_close(sim.loss, F.mse_loss(sim.logits, torch.tensor([3.0, 0.5])))
    # the order of the sentences matters to a cross-encoder (token types, positions)
    swapped = dict(input_ids=kw["input_ids_2"], attention_mask=kw["attention_mask_2"])
    swapped.update(input_ids_2=kw["input_ids"], attention_mask_2=kw["attention_mask"])
    assert not torch.allclose(model(task="paraphrase", **swapped).logits, para.logits)
    # predict_* tokenise each side and give the same as the tensors
    flags = model.predict_paraphrase(s1, s2, tokenizer=tokenizer)
    assert flags.tolist() == (para.logits > 0).long().tolist()
    torch.testing.assert_close(model.predict_similarity(s1, s2, tokenizer=tokenizer), sim.logits)


def test_hybrid_cross_head_adds_the_bi_encoder_features(tokenizer):
    model = model_of(
        pooling="mean", cross_encoder_tasks=["paraphrase"], cross_encoder_bi_features=True, pair_hidden_size=0
    )
    head = model.heads.paraphrase
    assert head.mlp.out.in_features == 32 * (1 + 4)  # joined pair + [u, v, |u-v|, u*v]
    s1, s2 = ["a man plays guitar", "a cat"], ["a woman plays", "why is the film bad"]
    one = tokenizer(s1, padding=True, return_tensors="pt")
    two = tokenizer(s2, padding=True, return_tensors="pt")
    pair = tokenizer(s1, s2, padding=True, return_tensors="pt")
    joined = model.encode(pair["input_ids"], pair["attention_mask"], pair["token_type_ids"])
    u = model.encode(one["input_ids"], one["attention_mask"])
    v = model.encode(two["input_ids"], two["attention_mask"])
    expected = head.mlp.out(torch.cat([joined, u, v, (u - v).abs(), u * v], dim=-1)).squeeze(-1)
    out = model(
        task="paraphrase",
        input_ids=one["input_ids"],
        attention_mask=one["attention_mask"],
        input_ids_2=two["input_ids"],
        attention_mask_2=two["attention_mask"],
    )
    torch.testing.assert_close(out.logits, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="needs the bi-encoder vectors"):
        head(joined)


def test_similarity_projection_starts_as_the_cosine_head_and_is_similarity_only(backbone_dir):
    model = MultitaskBertModel.from_backbone(backbone_dir, pooling="mean", similarity_projection=True)
    plain = MultitaskBertModel.from_backbone(backbone_dir, pooling="mean")
    assert torch.equal(model.heads.similarity.projection.weight, torch.eye(32))
    ids, mask, ids2, mask2 = batch(seed=3)
    kw = dict(input_ids=ids, attention_mask=mask, input_ids_2=ids2, attention_mask_2=mask2)
    model.eval(), plain.eval()
    torch.testing.assert_close(model(task="similarity", **kw).logits, plain(task="similarity", **kw).logits)
    model.train()
    model(task="similarity", labels=torch.tensor([0.0, 1.0, 4.0, 2.0]), **kw).loss.backward()
    assert model.heads.similarity.projection.weight.grad.abs().sum() > 0
    model.zero_grad()
    model(task="paraphrase", labels=torch.tensor([0.0, 1.0, 1.0, 0.0]), **kw).loss.backward()
    assert (
        model.heads.similarity.projection.weight.grad is None
        or not model.heads.similarity.projection.weight.grad.any()
    )
    with torch.no_grad():
        model.heads.similarity.projection.weight.mul_(torch.linspace(0.1, 2.0, 32))
    model.eval()
    u, v = model.encode(ids, mask), model.encode(ids2, mask2)
    p = model.heads.similarity.projection
    torch.testing.assert_close(
        model(task="similarity", **kw).logits, 5 * F.cosine_similarity(p(u), p(v)), rtol=1e-5, atol=1e-5
    )


def test_pair_features_order_and_values():
    u, v = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 1.0]])
    got = pair_features(u, v, ["u", "v", "|u-v|", "u*v"])
    assert got.tolist() == [[1.0, -2.0, 3.0, 1.0, 2.0, 3.0, 3.0, -2.0]]
    assert pair_features(u, v, ["|u-v|"]).tolist() == [[2.0, 3.0]]
    assert model_of(pair_features=["u", "v"]).heads.paraphrase.mlp.out.in_features == 256
    assert model_of(pair_features=["u", "v"], pair_hidden_size=0).heads.paraphrase.mlp.out.in_features == 64


def test_single_task_cfimdb_classifier():
    model = model_of(tasks=["sentiment"], num_sentiment_labels=2)
    ids, mask, _, _ = batch()
    out = model(task="sentiment", input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 1, 0]))
    assert out.logits.shape == (4, 2) and out.loss is not None
    assert list(model.heads) == ["sentiment"]
    with pytest.raises(ValueError, match="Unknown task 'paraphrase'"):
        model(task="paraphrase", input_ids=ids, input_ids_2=ids)


@pytest.mark.parametrize("option", ["pretrain", "finetune"])
def test_frozen_vs_finetuned_encoder_gradients(option):
    model = model_of(option=option).train()
    ids, mask, ids2, mask2 = batch()
    loss = model(task="sentiment", input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 2, 3])).loss
    loss = loss + model(task="paraphrase", input_ids=ids, input_ids_2=ids2, labels=torch.ones(4)).loss
    loss.backward()
    encoder_grads = [p.grad for p in model.bert.parameters() if p.grad is not None]
    if option == "pretrain":
        assert encoder_grads == []
        assert not any(p.requires_grad for p in model.bert.parameters())
    else:
        assert encoder_grads and any(g.abs().sum() > 0 for g in encoder_grads)
    assert model.heads.sentiment.classifier.weight.grad.abs().sum() > 0
    assert model.heads.paraphrase.mlp.out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"option": "pretrain", "pooling": "pooler"},
        {"similarity_head": "mlp", "pair_features": ["u", "v", "|u-v|"]},
        {"cross_encoder_tasks": ["paraphrase", "similarity"], "pair_hidden_size": 0},
        {"cross_encoder_tasks": ["paraphrase"], "cross_encoder_bi_features": True},
        {"similarity_projection": True},
    ],
)
def test_auto_round_trip_gives_identical_outputs(tmp_path, kwargs):
    model = model_of(**kwargs)
    ids, mask, ids2, mask2 = batch()
    before = {
        t: model(task=t, input_ids=ids, attention_mask=mask, input_ids_2=ids2, attention_mask_2=mask2).logits
        for t in ("sentiment", "paraphrase", "similarity")
    }
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, MultitaskBertConfig) and isinstance(config.bert_config, BertConfig)
    assert config.bert_config.to_dict() == model.config.bert_config.to_dict()
    fields = ("tasks", "option", "pooling", "pair_features", "similarity_head", "head_dropout")
    for field in (*fields, "cross_encoder_tasks", "cross_encoder_bi_features", "similarity_projection"):
        assert getattr(config, field) == getattr(model.config, field)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, MultitaskBertModel) and not loaded.training
    for task, logits in before.items():
        after = loaded(
            task=task, input_ids=ids, attention_mask=mask, input_ids_2=ids2, attention_mask_2=mask2
        ).logits
        assert torch.isfinite(after).all()
        torch.testing.assert_close(after, logits, rtol=0, atol=1e-6)
    frozen = kwargs.get("option") == "pretrain"
    assert all(p.requires_grad != frozen for p in loaded.bert.parameters())


@pytest.mark.parametrize("name", ["mlp_sim_linear", "projection_pooler", "cross_both", "cross_hybrid"])
def test_folders_saved_with_the_old_head_names_load_with_identical_outputs(tmp_path, name):
    """Folders written before the heads moved into `heads` (keys `sentiment_head.*`,
    `paraphrase_head.*`, `similarity_head.*`, `similarity_projection.*`) load with every weight
    and give bit-identical logits (recorded by the code that saved them); saved again, they
    use the new names and load the same."""
    folder = LEGACY / name
    old_keys = load_file(folder / "model.safetensors")
    assert any(k.endswith("_head.weight") or "_head." in k for k in old_keys)  # the fixture is old-style
    model, info = MultitaskBertModel.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    state = model.state_dict()
    assert len(state) == len(old_keys) and not [k for k in state if "_head." in k]
    inputs = load_file(LEGACY / "batch.safetensors")
    recorded = load_file(folder / "logits.safetensors")
    assert set(recorded) == set(model.config.tasks)
    model.save_pretrained(tmp_path)
    resaved = AutoModel.from_pretrained(tmp_path)
    assert all(k.startswith(("bert.", "heads.")) for k in load_file(tmp_path / "model.safetensors"))
    for task, logits in recorded.items():
        kw = inputs if task != "sentiment" else {k: v for k, v in inputs.items() if not k.endswith("_2")}
        with torch.no_grad():
            assert torch.equal(model.eval()(task=task, **kw).logits, logits), task
            assert torch.equal(resaved(task=task, **kw).logits, logits), task


def test_label_names_and_the_text_classification_pipeline(tmp_path, tokenizer):
    """SST-5 / CFIMDB class names in `id2label` (also for folders saved with transformers' LABEL_i),
    and `pipeline("text-classification")` on a multitask folder: the sentiment head's softmax
    under those names, offline."""
    from transformers import AutoModelForSequenceClassification, pipeline

    from hfmodels.multitask_bert import MultitaskBertForSequenceClassification

    sst = ["very negative", "negative", "neutral", "positive", "very positive"]
    model = model_of()
    assert [model.config.id2label[i] for i in range(5)] == sst
    assert model.config.label2id["neutral"] == 2 and model.config.paraphrase_labels == [
        "not duplicate",
        "duplicate",
    ]
    assert list(model_of(tasks=["sentiment"], num_sentiment_labels=2).config.id2label.values()) == [
        "negative",
        "positive",
    ]
    assert list(MultitaskBertConfig(num_sentiment_labels=3).id2label.values()) == [
        "LABEL_0",
        "LABEL_1",
        "LABEL_2",
    ]
    legacy = AutoConfig.from_pretrained(LEGACY / "cross_both")  # saved with {0: LABEL_0, 1: LABEL_1}
    assert [legacy.id2label[i] for i in range(5)] == sst
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert isinstance(
        AutoModelForSequenceClassification.from_pretrained(tmp_path), MultitaskBertForSequenceClassification
    )
    texts = ["a great film", "the bad dog is bad", "how do i learn"]
    classify = pipeline("text-classification", model=str(tmp_path), top_k=None)
    got = classify(texts)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model(task="sentiment", **enc).logits, -1)
    for row, p in zip(got, probs):
        assert {d["label"] for d in row} == set(sst)
        for d in row:
            assert d["score"] == pytest.approx(float(p[sst.index(d["label"])]), abs=1e-5)
    top = [sst[i] for i in model.predict_sentiment(texts, tokenizer=tokenizer).tolist()]
    assert [row[0]["label"] for row in got] == top
    model_of(tasks=["paraphrase"]).save_pretrained(tmp_path / "quora")
    with pytest.raises(ValueError, match="classifies sentiment; this model has the heads"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "quora")


def test_from_backbone_copies_the_encoder_and_predicts_from_strings(backbone_dir, tokenizer):
    model = MultitaskBertModel.from_backbone(backbone_dir, pooling="pooler", option="pretrain")
    reference = BertModel.from_pretrained(backbone_dir)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.bert.state_dict()[name], tensor), name
    assert model.config.backbone_name_or_path == str(backbone_dir)
    assert not any(p.requires_grad for p in model.bert.parameters())
    model.train()
    labels = model.predict_sentiment(["a great film", "a bad film"], tokenizer=tokenizer)
    assert labels.shape == (2,) and labels.dtype == torch.long and model.training  # mode restored
    enc = tokenizer(["a man plays"], return_tensors="pt")
    assert (
        model.predict_sentiment(enc).tolist()
        == model.predict_sentiment("a man plays", tokenizer=tokenizer).tolist()
    )
    para = model.predict_paraphrase(["how do i learn"], ["what is good"], tokenizer=tokenizer)
    assert set(para.tolist()) <= {0, 1}
    sim = model.predict_similarity(["a cat"], ["a cat"], tokenizer=tokenizer)
    assert sim.item() == pytest.approx(5.0, abs=1e-3)  # cosine head: identical sentences score 5
    with pytest.raises(ValueError, match="tokenizer"):
        model.predict_sentiment("a film")
