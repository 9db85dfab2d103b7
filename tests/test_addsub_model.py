"""AddSub tokenizer, config and model: Auto classes, safetensors round trip, generate() with a cache."""

import os

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

import hfmodels  # noqa: F401
from hfmodels.addsub import (
    ADDSUB_TOKENS,
    AddSubConfig,
    AddSubTokenizer,
    AddSubTransformerForConditionalGeneration,
    UnknownAddSubTokenError,
)

EXPR = "BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS"


def _small(**kw):
    torch.manual_seed(0)
    cfg = dict(emb_dim=16, num_heads=2, feedforward_dim=16, encoder_layers=2, decoder_layers=2, dropout=0.0)
    cfg.update(kw)
    return AddSubTransformerForConditionalGeneration(AddSubConfig(**cfg)).eval()


def test_tokenizer_vocabulary_and_round_trip(tmp_path):
    tok = AddSubTokenizer()
    assert len(ADDSUB_TOKENS) == 16 and tok.vocab_size == 17
    ids = tok(EXPR)["input_ids"]
    assert ids == [14, 11, 3, 0, 13, 11, 3, 4, 15]
    assert tok.decode(ids) == EXPR
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (16, 14, 15)
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, AddSubTokenizer) and loaded(EXPR)["input_ids"] == ids


def test_tokenizer_refuses_unknown_words():
    with pytest.raises(UnknownAddSubTokenError, match="'plus' is not an AddSub token"):
        AddSubTokenizer()("BOS POSITIVE 1 0 plus POSITIVE 0 2 EOS")


def test_config_round_trip_and_validation(tmp_path):
    AddSubConfig(emb_dim=48, num_heads=4).save_pretrained(tmp_path)
    cfg = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(cfg, AddSubConfig) and cfg.emb_dim == 48 and cfg.num_hidden_layers == cfg.decoder_layers
    with pytest.raises(ValueError, match="not divisible"):
        AddSubConfig(emb_dim=30, num_heads=4)


def test_save_load_with_auto_class_gives_same_logits(tmp_path):
    model = _small()
    enc = AddSubTokenizer()([EXPR], return_tensors="pt")
    labels = torch.tensor([[10, 0, 4, 15]])
    before = model(**enc, labels=labels)
    model.save_pretrained(tmp_path)
    assert os.path.exists(tmp_path / "model.safetensors")
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, AddSubTransformerForConditionalGeneration)
    after = loaded(**enc, labels=labels)
    assert torch.isfinite(after.logits).all()
    assert torch.allclose(before.logits, after.logits, atol=1e-6)
    assert abs(before.loss.item() - after.loss.item()) < 1e-6


def test_decoder_is_causal():
    model = _small()
    enc = AddSubTokenizer()([EXPR], return_tensors="pt")
    a = model(**enc, decoder_input_ids=torch.tensor([[14, 10, 0, 4]])).logits
    b = model(**enc, decoder_input_ids=torch.tensor([[14, 10, 7, 7]])).logits
    assert torch.allclose(a[:, :2], b[:, :2], atol=1e-6) and not torch.allclose(a[:, 2:], b[:, 2:])


def test_generate_with_cache_feeds_one_token_per_step_and_matches_no_cache():
    model = _small()
    enc = AddSubTokenizer()([EXPR, "BOS POSITIVE 1 2 add POSITIVE 0 5 EOS"], return_tensors="pt")
    seen = []
    hook = model.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["decoder_input_ids"].shape[1]), with_kwargs=True
    )
    cached = model.generate(
        **enc, max_new_tokens=4, do_sample=False, output_scores=True, return_dict_in_generate=True
    )
    hook.remove()
    plain = model.generate(
        **enc,
        max_new_tokens=4,
        do_sample=False,
        use_cache=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    assert seen == [1, 1, 1, 1]
    assert torch.equal(cached.sequences, plain.sequences)
    for s1, s2 in zip(cached.scores, plain.scores):
        assert torch.allclose(s1, s2, atol=1e-5)


def test_a_trained_model_answers_with_generate(tmp_path):
    """Overfit eight expressions, save, reload with the Auto classes and answer them greedily."""
    tok = AddSubTokenizer()
    pairs = [
        ("BOS NEGATIVE 3 0 subtract NEGATIVE 3 4 EOS", "POSITIVE 0 4 EOS"),
        ("BOS POSITIVE 1 2 add POSITIVE 0 5 EOS", "POSITIVE 1 7 EOS"),
        ("BOS POSITIVE 5 0 subtract POSITIVE 7 5 EOS", "NEGATIVE 2 5 EOS"),
        ("BOS NEGATIVE 0 9 add POSITIVE 0 9 EOS", "POSITIVE 0 0 EOS"),
        ("BOS POSITIVE 4 4 add NEGATIVE 1 1 EOS", "POSITIVE 3 3 EOS"),
        ("BOS NEGATIVE 6 0 add NEGATIVE 2 1 EOS", "NEGATIVE 8 1 EOS"),
        ("BOS POSITIVE 9 9 subtract POSITIVE 9 8 EOS", "POSITIVE 0 1 EOS"),
        ("BOS POSITIVE 0 3 subtract POSITIVE 5 6 EOS", "NEGATIVE 5 3 EOS"),
    ]
    model = _small(emb_dim=32, num_heads=2, feedforward_dim=32, encoder_layers=1, decoder_layers=1).train()
    enc = tok([p[0] for p in pairs], return_tensors="pt")
    labels = torch.tensor(tok([p[1] for p in pairs])["input_ids"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        opt.zero_grad()
        model(**enc, labels=labels).loss.backward()
        opt.step()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    out = loaded.generate(**enc, max_new_tokens=4, do_sample=False)
    assert AutoTokenizer.from_pretrained(tmp_path).batch_decode(out) == ["BOS " + p[1] for p in pairs]


def test_the_model_is_built_from_the_from_scratch_blocks():
    """`blocks_addsub` (the modeling file's sibling import, copied into saved folders) re-exports
    `hfmodels.from_scratch`'s classes inside hfmodels: the model's layers are those classes."""
    from hfmodels import from_scratch

    model = _small()
    assert type(model.encoder.layers[0]) is from_scratch.EncoderBlock
    assert type(model.decoder_layers[0]) is from_scratch.DecoderBlock
    assert type(model.decoder_layers[0].norm1) is from_scratch.LayerNorm


def test_save_pretrained_refuses_push_to_hub(tmp_path):
    with pytest.raises(ValueError, match=r"push_to_hub=True is not supported.*model.push_to_hub\(repo_id\)"):
        _small().save_pretrained(tmp_path, push_to_hub=True)
    assert not any(tmp_path.iterdir())
