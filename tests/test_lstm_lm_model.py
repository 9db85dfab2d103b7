"""LstmLMForCausalLM: the regularisers' defining properties, tying, AR/TAR, the recurrent cache."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.lstm_lm import (
    LstmLMCache,
    LstmLMConfig,
    LstmLMForCausalLM,
    embedding_dropout,
    locked_dropout,
)


def tiny_config(**kwargs) -> LstmLMConfig:
    base = dict(vocab_size=40, embedding_size=8, hidden_size=12, num_hidden_layers=2)
    base.update(kwargs)
    return LstmLMConfig(**base)


def test_locked_dropout_mask_constant_over_time_and_scaled():
    torch.manual_seed(0)
    x = torch.ones(64, 30, 16)
    y = locked_dropout(x, 0.5, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y)), "the mask must be the same at every time step"
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert 0.4 < (y[:, 0] == 0).float().mean().item() < 0.6
    assert y[:, 0].mean().item() == pytest.approx(1.0, abs=0.06)
    assert not torch.equal(y[0, 0], y[1, 0]), "each sequence draws its own mask"
    assert locked_dropout(x, 0.5, training=False) is x


def test_embedding_dropout_drops_whole_words_and_preserves_expectation():
    torch.manual_seed(0)
    weight = torch.randn(2000, 6)
    dropped = embedding_dropout(weight, 0.3, training=True)
    zero_rows = (dropped == 0).all(dim=1)
    kept = ~zero_rows
    assert ((dropped == 0).any(dim=1) == zero_rows).all(), "a word is dropped whole or not at all"
    assert torch.allclose(dropped[kept], weight[kept] / 0.7)
    assert zero_rows.float().mean().item() == pytest.approx(0.3, abs=0.04)
    runs = torch.stack([embedding_dropout(weight, 0.3, True) for _ in range(400)]).mean(0)
    assert torch.allclose(runs, weight, atol=0.25 * weight.abs().max().item())
    assert embedding_dropout(weight, 0.3, training=False) is weight


def test_every_dropout_is_off_in_eval():
    torch.manual_seed(0)
    model = LstmLMForCausalLM(
        tiny_config(input_dropout=0.5, locked_dropout=0.5, embedding_dropout=0.5, weight_drop=0.5)
    ).eval()
    x = torch.randint(0, 40, (3, 7))
    assert torch.equal(model(x).logits, model(x).logits)
    model.train()
    assert not torch.equal(model(x).logits, model(x).logits)


def test_weight_drop_reaches_the_recurrent_weights_only_in_training():
    torch.manual_seed(0)
    model = LstmLMForCausalLM(tiny_config(weight_drop=0.6)).train()
    x = torch.randint(0, 40, (4, 9))
    model(x, labels=x).loss.backward()
    grad = model.model.layers[0].weight_hh_l0.grad
    assert (grad == 0).float().mean().item() > 0.4, "dropped recurrent weights get no gradient"
    assert (model.model.layers[0].weight_ih_l0.grad == 0).float().mean().item() < 0.1


def test_tying_is_one_tensor_and_survives_save_and_load(tmp_path):
    model = LstmLMForCausalLM(tiny_config(tie_word_embeddings=True))
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.config.last_hidden_size == 8
    n_untied = sum(p.numel() for p in LstmLMForCausalLM(tiny_config()).parameters())
    assert n_untied - sum(p.numel() for p in model.parameters()) > 0
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert isinstance(loaded, LstmLMForCausalLM) and isinstance(
        AutoConfig.from_pretrained(tmp_path), LstmLMConfig
    )
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    x = torch.randint(0, 40, (2, 5))
    assert torch.allclose(loaded.eval()(x).logits, model.eval()(x).logits)


def test_tying_needs_matching_sizes():
    with pytest.raises(ValueError, match="last_hidden_size == embedding_size"):
        LstmLMConfig(embedding_size=8, hidden_size=12, last_hidden_size=12, tie_word_embeddings=True)
    with pytest.raises(ValueError, match="weight_drop=1.5"):
        LstmLMConfig(weight_drop=1.5)


def test_ar_tar_change_the_gradient_not_the_reported_nll():
    x = torch.randint(0, 40, (4, 9), generator=torch.Generator().manual_seed(1))
    grads, outs = [], []
    for alpha, beta in ((0.0, 0.0), (2.0, 1.0)):
        torch.manual_seed(0)
        model = LstmLMForCausalLM(tiny_config(ar_alpha=alpha, tar_beta=beta)).train()
        out = model(x, labels=x)
        out.loss.backward()
        grads.append(model.model.layers[1].weight_ih_l0.grad.clone())
        outs.append(out)
    plain, regularised = outs
    assert torch.allclose(plain.nll, regularised.nll)
    assert plain.ar_tar is None and regularised.ar_tar.item() > 0
    assert torch.allclose(regularised.loss, regularised.nll + regularised.ar_tar)
    assert not torch.allclose(grads[0], grads[1])
    model.eval()
    evaluated = model(x, labels=x)
    assert evaluated.ar_tar is None and torch.equal(evaluated.loss, evaluated.nll)


def test_labels_are_shifted_inside():
    model = LstmLMForCausalLM(tiny_config()).eval()
    x = torch.randint(0, 40, (2, 6))
    out = model(x, labels=x)
    manual = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, 40), x[:, 1:].reshape(-1))
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)


def test_cache_continues_the_state_exactly():
    model = LstmLMForCausalLM(tiny_config()).eval()
    x = torch.randint(0, 40, (3, 10))
    full = model(x).logits
    first = model(x[:, :6], use_cache=True)
    assert isinstance(first.cache, LstmLMCache) and first.cache.get_seq_length() == 6
    rest = model(x[:, 6:], cache=first.cache, use_cache=True)
    assert torch.allclose(torch.cat([first.logits, rest.logits], 1), full, atol=1e-6)


def test_generate_with_cache_equals_without_and_feeds_one_word_per_step():
    torch.manual_seed(0)
    model = LstmLMForCausalLM(tiny_config(tie_word_embeddings=True)).eval()
    prompts = torch.randint(2, 40, (4, 5))
    lengths = []
    hook = model.model.register_forward_pre_hook(
        lambda m, a, kw: lengths.append(a[0].shape[1]), with_kwargs=True
    )
    cached = model.generate(
        prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=7, do_sample=False
    )
    hook.remove()
    assert lengths == [5] + [1] * 6, "after the prompt, each step feeds only the new word"
    plain = model.generate(
        prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=7, do_sample=False, use_cache=False
    )
    assert cached.shape == (4, 12) and torch.equal(cached, plain)


def test_padded_prompts_are_refused():
    model = LstmLMForCausalLM(tiny_config()).eval()
    x = torch.randint(2, 40, (2, 4))
    with pytest.raises(ValueError, match="attention_mask has zeros"):
        model(x, attention_mask=torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]))
