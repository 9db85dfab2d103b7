"""The character GPT's attention through transformers' interface: `attn_implementation` dispatch
(`AttentionInterface`), the default kernel on CPU, the saved `attention_backend`, static caches and
a compiled decoding step (docs/conventions.md, "Attention implementations and caches")."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from transformers import AttentionInterface, CompileConfig, StaticCache
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM
from hfmodels.char_gpt.kernels_char_gpt import char_gpt_attention_forward, char_gpt_matmul_attention_forward

VARIANTS = ["vanilla", "synthesizer", "perceiver"]
IMPLEMENTATIONS = ["char_gpt", "char_gpt_matmul", "sdpa", "eager"]


def tiny_model(attention_type: str, seed: int = 0, **kw) -> CharGPTForCausalLM:
    base = dict(
        vocab_size=40,
        block_size=48,
        n_layer=3,
        n_head=2,
        n_embd=16,
        attention_type=attention_type,
        bottleneck_dim=8,
        eos_token_id=None,  # generations run their full length
    )
    base.update(kw)
    torch.manual_seed(seed)
    return CharGPTForCausalLM(CharGPTConfig(**base)).eval()


def left_padded_batch(seed: int = 0, t: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 40, (3, t), generator=gen)
    mask = torch.ones_like(ids)
    for row, pad in ((0, 4), (2, 1)):
        ids[row, :pad], mask[row, :pad] = 0, 0
    return ids, mask


def count_calls(monkeypatch, name: str) -> list[int]:
    """Replace the registered attention function `name` by a wrapper that counts its calls."""
    calls = [0]
    original = AttentionInterface._global_mapping[name]

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setitem(AttentionInterface._global_mapping, name, counting)
    return calls


def test_the_model_kernels_are_registered_with_transformers():
    assert ALL_ATTENTION_FUNCTIONS["char_gpt"] is char_gpt_attention_forward
    assert ALL_ATTENTION_FUNCTIONS["char_gpt_matmul"] is char_gpt_matmul_attention_forward
    assert ALL_MASK_ATTENTION_FUNCTIONS["char_gpt"] is sdpa_mask
    assert {"char_gpt", "char_gpt_matmul", "sdpa"} <= set(ALL_ATTENTION_FUNCTIONS.valid_keys())


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_default_on_cpu_is_the_model_kernel_not_sdpa(monkeypatch, attention_type):
    ours, sdpa = count_calls(monkeypatch, "char_gpt"), count_calls(monkeypatch, "sdpa")

    def no_sdpa(*args, **kwargs):
        raise AssertionError("torch SDPA ran on CPU under the default attention")

    monkeypatch.setattr(F, "scaled_dot_product_attention", no_sdpa)
    model = tiny_model(attention_type)  # no attn_implementation given
    assert model.config._attn_implementation == "char_gpt"
    ids, mask = left_padded_batch()
    model(ids, attention_mask=mask)
    assert (ours[0], sdpa[0]) == (3, 0)  # one call per attention layer (perceiver: down, middle, up)


@pytest.mark.parametrize(
    "saved,requested,expected",
    [
        ("auto", None, "char_gpt"),
        ("matmul", None, "char_gpt_matmul"),
        ("sdpa", None, "sdpa"),
        ("eager", None, "eager"),
        ("matmul", "sdpa", "sdpa"),  # attn_implementation given at load time wins
    ],
)
def test_saved_attention_backend_selects_the_implementation(tmp_path, saved, requested, expected):
    model = tiny_model("vanilla")
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    config = json.loads(config_file.read_text())
    config["attention_backend"] = saved  # as a folder saved before attn_implementation existed
    config_file.write_text(json.dumps(config))
    kwargs = {} if requested is None else {"attn_implementation": requested}
    loaded = CharGPTForCausalLM.from_pretrained(tmp_path, **kwargs)
    assert loaded.config._attn_implementation == expected
    assert loaded.transformer.h[0].attn.config._attn_implementation == expected
    ids, mask = left_padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits
        )


def test_set_attn_implementation_is_saved_as_attention_backend(tmp_path):
    model = tiny_model("vanilla")
    model.set_attn_implementation("eager")
    assert model.config.attention_backend == "eager"
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["attention_backend"] == "eager"
    assert CharGPTForCausalLM.from_pretrained(tmp_path).config._attn_implementation == "eager"
    model.config.attention_backend = "matmul"
    assert model.config._attn_implementation == "char_gpt_matmul"


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_every_implementation_gives_the_same_logits_gradients_and_generations(attention_type):
    model = tiny_model(attention_type)
    ids, mask = left_padded_batch(t=30)  # causal rows over QUERY_CHUNK would be chunked on CPU: 30 < 64
    long_ids = torch.randint(2, 40, (2, 47), generator=torch.Generator().manual_seed(1))
    results = {}
    for implementation in IMPLEMENTATIONS:
        model.set_attn_implementation(implementation)
        model.zero_grad()
        logits = model(ids, attention_mask=mask).logits
        long_logits = model(long_ids).logits
        (logits[mask.bool()].square().mean() + long_logits.square().mean()).backward()
        grad = model.transformer.wte.weight.grad.clone()
        with torch.no_grad():
            generated = model.generate(
                ids[:, :9], attention_mask=mask[:, :9], max_new_tokens=8, do_sample=False, pad_token_id=0
            )
        results[implementation] = (logits.detach()[mask.bool()], long_logits.detach(), grad, generated)
    reference = results["char_gpt"]
    for implementation, (logits, long_logits, grad, generated) in results.items():
        torch.testing.assert_close(logits, reference[0], atol=1e-5, rtol=1e-5, msg=implementation)
        torch.testing.assert_close(long_logits, reference[1], atol=1e-5, rtol=1e-5, msg=implementation)
        torch.testing.assert_close(grad, reference[2], atol=1e-5, rtol=1e-4, msg=implementation)
        assert torch.equal(generated, reference[3]), implementation


@pytest.mark.parametrize("implementation", ["eager", "char_gpt"])
def test_output_attentions_returns_probabilities(implementation):
    model = tiny_model("vanilla", attn_implementation=implementation)
    ids, mask = left_padded_batch()
    out = model(ids, attention_mask=mask, output_attentions=True)
    assert len(out.attentions) == 3
    for weights in out.attentions:
        assert weights.shape == (3, 2, 11, 11)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 11))
        assert bool((weights.triu(1) == 0).all())  # causal
        assert bool((weights[0, :, 4:, :4] == 0).all())  # real tokens never see row 0's padding


def test_config_output_attentions_is_allowed_with_the_model_kernel():
    # transformers' config refuses it for any implementation but "eager"; ours returns the probabilities.
    model = tiny_model("vanilla")
    model.config.output_attentions = True
    ids, _ = left_padded_batch()
    attentions = model(ids).attentions
    assert len(attentions) == 3 and all(a.shape == (3, 2, 11, 11) for a in attentions)
    model.set_attn_implementation("sdpa")
    with pytest.raises(ValueError, match="output_attentions"):
        model.config.output_attentions = True


def test_output_attentions_under_sdpa_follows_transformers():
    # transformers' SDPA function cannot return weights: it warns and gives None, as for its own models.
    model = tiny_model("vanilla", attn_implementation="sdpa")
    ids, _ = left_padded_batch()
    out = model(ids, output_attentions=True)
    assert out.attentions == (None, None, None)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_static_cache_generates_like_the_dynamic_cache_for_a_left_padded_batch(implementation):
    model = tiny_model("vanilla", attn_implementation=implementation)
    ids, mask = left_padded_batch()
    kwargs = dict(attention_mask=mask, max_new_tokens=20, do_sample=False, pad_token_id=0)
    dynamic = model.generate(ids, **kwargs)
    static = model.generate(ids, cache_implementation="static", **kwargs)
    assert static.shape == (3, 31)
    assert torch.equal(static, dynamic)
    # and like each row alone, without padding
    for row, pad in ((0, 4), (1, 0), (2, 1)):
        alone = model.generate(ids[row : row + 1, pad:], max_new_tokens=20, do_sample=False)
        assert torch.equal(alone[0, -20:], static[row, -20:])


@pytest.mark.parametrize("attention_type", ["synthesizer", "perceiver"])
def test_static_cache_is_refused_clearly_by_the_other_variants(attention_type):
    model = tiny_model(attention_type)
    ids, mask = left_padded_batch()
    with pytest.raises(ValueError, match=f"cache_implementation='static'.*{attention_type} variant"):
        model.generate(ids, attention_mask=mask, max_new_tokens=3, cache_implementation="static")
    with pytest.raises(ValueError, match=f"{attention_type} variant cannot decode with a StaticCache"):
        model(ids, attention_mask=mask, cache=StaticCache(config=model.config, max_cache_len=20))


@pytest.mark.skipif(
    shutil.which("gcc") is None, reason="inductor compiles C++ on CPU: no gcc on this machine"
)
def test_compiled_decoding_step_with_a_static_cache_matches_eager():
    """`torch.compile(fullgraph=True)` of the forward on decoding steps (inductor, a C compiler on CPU):
    the same tokens and logits as the uncompiled steps, and one graph for all steps (no recompiles);
    `generate(..., compile_config=...)` with a static cache gives the tokens of the dynamic cache."""
    from torch._dynamo.testing import CompileCounterWithBackend

    model = tiny_model("vanilla")
    ids, mask = left_padded_batch()
    steps, max_len = 6, 24

    def decode(forward):
        cache = StaticCache(config=model.config, max_cache_len=max_len)
        with torch.no_grad():
            full = model.create_masks_for_generate(model.config, ids[..., None], mask, cache)
            token = model(ids, attention_mask=full, cache=cache).logits[:, -1:].argmax(-1)
            tokens, logits, grown = [token], [], mask
            for _ in range(steps):
                grown = torch.cat([grown, torch.ones_like(grown[:, :1])], dim=1)
                full = model.create_masks_for_generate(model.config, token[..., None], grown, cache)
                out = forward(token, attention_mask=full, cache=cache)
                token = out.logits[:, -1:].argmax(-1)
                tokens.append(token)
                logits.append(out.logits)
        return torch.cat(tokens, 1), torch.cat(logits, 1)

    eager_tokens, eager_logits = decode(model.forward)
    counter = CompileCounterWithBackend("inductor")
    torch._dynamo.reset()
    compiled_tokens, compiled_logits = decode(torch.compile(model.forward, backend=counter, fullgraph=True))
    assert counter.frame_count == 1, f"{counter.frame_count} graphs for {steps} decoding steps"
    assert torch.equal(compiled_tokens, eager_tokens)
    torch.testing.assert_close(compiled_logits, eager_logits, atol=1e-5, rtol=1e-5)
    generated = model.generate(
        ids, attention_mask=mask, max_new_tokens=steps + 1, do_sample=False, pad_token_id=0
    )
    assert torch.equal(generated[:, ids.shape[1] :], eager_tokens)
    # generate's own compiled decoding (on CPU only when asked for every device)
    compile_config = CompileConfig(fullgraph=True)
    compile_config._compile_all_devices = True
    torch._dynamo.reset()
    compiled_generate = model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=steps + 1,
        do_sample=False,
        pad_token_id=0,
        cache_implementation="static",
        compile_config=compile_config,
    )
    assert torch.equal(compiled_generate, generated)
    assert getattr(model, "_compiled_call", None) is not None  # generate did compile the forward
