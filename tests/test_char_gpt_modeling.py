"""Behaviour of CharGPTConfig / CharGPTForCausalLM that a wrong implementation would break."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from remote_code import results_without_hfmodels
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

import hfmodels  # noqa: F401  (registers the Auto classes)
from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer, CharTokenizerFast

VARIANTS = ["vanilla", "synthesizer", "perceiver"]
CORPUS = "Where was Ada Lovelace born?\tLondon\nAlan Turing was born in Maida Vale, London.\n"


def tiny_config(attention_type: str, **kw) -> CharGPTConfig:
    base = dict(
        vocab_size=40,
        block_size=32,
        n_layer=3,
        n_head=2,
        n_embd=16,
        attention_type=attention_type,
        bottleneck_dim=8,
    )
    base.update(kw)
    return CharGPTConfig(**base)


def tiny_model(attention_type: str, seed: int = 0, **kw) -> CharGPTForCausalLM:
    torch.manual_seed(seed)
    return CharGPTForCausalLM(tiny_config(attention_type, **kw)).eval()


@pytest.mark.parametrize(
    "attention_type,bottleneck_dim,expected",
    [("vanilla", 32, 3_323_392), ("perceiver", 64, 3_339_776), ("synthesizer", 32, 3_076_988)],
)
def test_parameter_counts_match_the_course_model(attention_type, bottleneck_dim, expected):
    model = CharGPTForCausalLM(CharGPTConfig(attention_type=attention_type, bottleneck_dim=bottleneck_dim))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_per_head_synthesizer_has_one_basis_per_head():
    shared = CharGPTForCausalLM(CharGPTConfig(attention_type="synthesizer"))
    per_head = CharGPTForCausalLM(CharGPTConfig(attention_type="synthesizer", synthesizer_per_head=True))
    extra = sum(p.numel() for p in per_head.parameters()) - sum(p.numel() for p in shared.parameters())
    # B: (h-1) * d/h * 127 more entries, b2: (h-1) * 127 more, per layer
    assert extra == 4 * (7 * 32 * 127 + 7 * 127)


@pytest.mark.parametrize("attention_type", VARIANTS)
@pytest.mark.parametrize("t", [0, 5, 11, 20])
def test_future_tokens_never_change_past_logits(attention_type, t):
    """Changing any token after position t leaves the logits at positions <= t unchanged."""
    model = tiny_model(attention_type)
    gen = torch.Generator().manual_seed(t)
    x = torch.randint(2, 40, (3, 24), generator=gen)
    y = x.clone()
    y[:, t + 1 :] = torch.randint(2, 40, (3, 24 - t - 1), generator=gen)
    with torch.no_grad():
        a, b = model(x).logits, model(y).logits
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :], atol=1e-4), "later positions must see the change"


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_every_past_token_is_visible_within_the_model_view(attention_type):
    """Position j depends on position i < j (for the perceiver: while j < m, see the docstring)."""
    model = tiny_model(attention_type)
    x = torch.randint(2, 40, (1, 8))
    with torch.no_grad():
        base = model(x).logits
        for i in range(7):
            y = x.clone()
            y[0, i] = (x[0, i] + 1 - 2) % 38 + 2
            changed = (model(y).logits - base).abs().amax(-1)[0]
            assert torch.all(changed[i:] > 1e-6), (attention_type, i, changed)


def test_perceiver_positions_beyond_m_see_only_bottleneck_and_themselves():
    """The documented limited view: with m = 8, position 20 does not see inputs 8..19."""
    model = tiny_model("perceiver")
    x = torch.randint(2, 40, (1, 24))
    y = x.clone()
    y[0, 8:20] = (x[0, 8:20] + 3 - 2) % 38 + 2
    with torch.no_grad():
        a, b = model(x).logits, model(y).logits
    torch.testing.assert_close(a[:, 20:], b[:, 20:], rtol=0, atol=1e-6)


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_save_and_auto_load_give_identical_logits(tmp_path, attention_type):
    tokenizer = CharTokenizer.from_corpus(CORPUS)
    model = tiny_model(attention_type, vocab_size=tokenizer.vocab_size)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()

    config = AutoConfig.from_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    loaded_tok = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(config, CharGPTConfig) and config.attention_type == attention_type
    # A folder with only the slow class's vocab.json loads as the fast class, with the same vocabulary.
    assert type(loaded) is CharGPTForCausalLM and type(loaded_tok) is CharTokenizerFast
    assert loaded_tok.get_vocab() == tokenizer.get_vocab()

    ids = torch.tensor([loaded_tok("Where was Ada born?\u2047").input_ids])
    with torch.no_grad():
        expected = model(ids).logits
        got = loaded(ids).logits
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_init_follows_the_original():
    model = CharGPTForCausalLM(CharGPTConfig(attention_type="perceiver", bottleneck_dim=64))
    w = model.transformer.h[0].mlp.fc.weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    assert torch.all(model.transformer.h[0].mlp.fc.bias == 0)
    assert torch.all(model.transformer.ln_f.weight == 1) and torch.all(model.transformer.ln_f.bias == 0)
    c = model.transformer.down.C
    bound = math.sqrt(6.0 / (c.shape[1] * c.shape[2] + c.shape[2]))  # xavier fan_in/out of a (1, m, d) tensor
    assert c.abs().max() <= bound and c.std() > bound / 3
    synth = CharGPTForCausalLM(CharGPTConfig(attention_type="synthesizer"))
    attn = synth.transformer.h[0].attn
    assert attn.w2.abs().max() <= 0.001 and torch.all(attn.b2 == 0)


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_loss_ignores_pad_targets(attention_type):
    model = tiny_model(attention_type)
    ids = torch.randint(2, 40, (2, 16))
    labels = ids.clone()
    labels[:, 10:] = 0  # PAD targets
    labels[1, :4] = -100
    out = model(ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, 40)
    target = labels[:, 1:].reshape(-1)
    keep = (target != 0) & (target != -100)
    expected = F.cross_entropy(logits[keep], target[keep])
    torch.testing.assert_close(out.loss, expected)
    # Changing what sits at ignored target positions of the labels does not move the loss.
    labels2 = labels.clone()
    labels2[:, 12:] = -100
    torch.testing.assert_close(model(ids, labels=labels2).loss, out.loss)


def test_loss_equals_the_original_x_y_formulation():
    """Original: x = s[:-1], y = s[1:], cross_entropy(ignore_index=0). Ours: labels = input_ids."""
    model = tiny_model("vanilla")
    s = torch.randint(2, 40, (4, 32))
    s[:, 20:] = 0  # right padding with PAD
    x, y = s[:, :-1], s[:, 1:]
    with torch.no_grad():
        ours = model(x, labels=x).loss
        logits = model(x).logits
        original = F.cross_entropy(logits.reshape(-1, 40), y.reshape(-1), ignore_index=0)
    torch.testing.assert_close(ours, original)


@pytest.mark.parametrize("attention_type", VARIANTS)
@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generate_equals_a_hand_written_loop(attention_type, use_cache):
    model = tiny_model(attention_type, seed=3)
    prompt = torch.randint(2, 40, (1, 5))
    out = model.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, use_cache=use_cache)
    seq = prompt
    with torch.no_grad():
        for _ in range(12):
            nxt = model(seq).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(out, seq)


def test_perceiver_cached_steps_give_the_logits_of_the_whole_sequence():
    """Decoding with a cache recomputes only the bottleneck rows at or after the smallest new
    position (m = 8 here): every step's logits equal those of the whole left-padded sequence run
    without a cache, while positions pass m, for prompts of different lengths and for beam search."""
    from transformers.cache_utils import DynamicCache

    model = tiny_model("perceiver", seed=5)
    gen = torch.Generator().manual_seed(5)
    lengths = [1, 3, 6, 11]  # with 12 steps, every row passes m = 8
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)  # left padding (pad id 0)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n :] = torch.randint(2, 40, (n,), generator=gen)
        mask[row, width - n :] = 1
    cache = DynamicCache()
    with torch.no_grad():
        step = model(ids, attention_mask=mask, cache=cache, use_cache=True).logits[:, -1]
        for _ in range(12):
            full = model(ids, attention_mask=mask, use_cache=False).logits[:, -1]
            torch.testing.assert_close(step, full, rtol=1e-5, atol=1e-5)
            nxt = full.argmax(-1, keepdim=True)
            ids, mask = torch.cat([ids, nxt], 1), torch.cat([mask, torch.ones_like(nxt)], 1)
            step = model(nxt, attention_mask=mask, cache=cache, use_cache=True).logits[:, -1]
    prompt = torch.randint(2, 40, (2, 3), generator=gen)
    beams = [
        model.generate(
            prompt, max_new_tokens=10, num_beams=3, do_sample=False, eos_token_id=None, use_cache=c
        )
        for c in (True, False)
    ]
    assert torch.equal(beams[0], beams[1])


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_left_padded_batch_generates_like_single_rows(attention_type):
    tokenizer = CharTokenizer.from_corpus(CORPUS)
    model = tiny_model(attention_type, seed=4, vocab_size=tokenizer.vocab_size)
    prompts = ["Where?", "Ada Lovelace was "]
    batch = tokenizer(prompts, padding=True, return_tensors="pt")
    assert batch.input_ids[0, 0].item() == tokenizer.pad_token_id  # left padding
    out = model.generate(**batch, max_new_tokens=8, do_sample=False, eos_token_id=None)
    for row, prompt in enumerate(prompts):
        single = model.generate(
            torch.tensor([tokenizer.encode_chars(prompt)]),
            max_new_tokens=8,
            do_sample=False,
            eos_token_id=None,
        )
        assert out[row, -8:].tolist() == single[0, -8:].tolist()


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_cache_is_accepted_under_its_old_and_new_names(attention_type):
    """transformers 5.24 renamed `past_key_values` to `cache`; a step fed through either name
    continues the cached prefix exactly, and the output carries the cache under the installed
    version's field name."""
    from transformers.cache_utils import DynamicCache

    from hfmodels.char_gpt.modeling_char_gpt import CACHE_FIELD

    model = tiny_model(attention_type, seed=5).eval()
    ids = torch.randint(2, model.config.vocab_size, (2, 9))
    full = model(ids, use_cache=False).logits[:, -1]
    for name in ("cache", "past_key_values"):
        cache = DynamicCache()
        out = model(ids[:, :-1], use_cache=True, **{name: cache})
        assert getattr(out, CACHE_FIELD) is cache and cache.get_seq_length() == 8
        step = model(ids[:, -1:], use_cache=True, **{name: cache}).logits[:, -1]
        torch.testing.assert_close(step, full, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        model(ids, cache=DynamicCache(), past_key_values=DynamicCache())


def test_generation_stops_at_mask_and_sampling_is_seeded():
    model = tiny_model("vanilla", seed=5)
    # Make MASK (id 1) the argmax after any input: greedy decoding must stop right away.
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.weight[1] = 1.0
        model.transformer.ln_f.bias.fill_(1.0)
        model.transformer.ln_f.weight.zero_()
    out = model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=10, do_sample=False)
    assert out.tolist() == [[5, 6, 7, 1]]
    model = tiny_model("synthesizer", seed=6)
    torch.manual_seed(0)
    a = model.generate(torch.tensor([[5, 6]]), max_new_tokens=10, do_sample=True, top_k=10, eos_token_id=None)
    torch.manual_seed(0)
    b = model.generate(torch.tensor([[5, 6]]), max_new_tokens=10, do_sample=True, top_k=10, eos_token_id=None)
    assert a.shape == (1, 12) and torch.equal(a, b)


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_packed_rows_equal_separate_rows(attention_type):
    """position_ids restarting at 0 keep packed examples apart (padding-free batches)."""
    model = tiny_model(attention_type, seed=7)
    a = torch.randint(2, 40, (7,))
    b = torch.randint(2, 40, (9,))
    packed = torch.cat([a, b])[None]
    pos = torch.cat([torch.arange(7), torch.arange(9)])[None]
    with torch.no_grad():
        got = model(packed, position_ids=pos).logits[0]
        la = model(a[None]).logits[0]
        lb = model(b[None]).logits[0]
        torch.testing.assert_close(got[:7], la, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got[7:], lb, rtol=1e-5, atol=1e-5)
        # Loss over the packed row equals the token-weighted loss of the two rows.
        loss = model(packed, position_ids=pos, labels=packed).loss
        sum_a = model(a[None], labels=a[None]).loss * 6
        sum_b = model(b[None], labels=b[None]).loss * 8
        torch.testing.assert_close(loss, (sum_a + sum_b) / 14)


def test_perceiver_rejects_packed_rows():
    model = tiny_model("perceiver")
    pos = torch.cat([torch.arange(4), torch.arange(4)])[None]
    with pytest.raises(ValueError, match="perceiver"):
        model(torch.randint(2, 40, (1, 8)), position_ids=pos)


@pytest.mark.parametrize("attention_type,limit", [("vanilla", 32), ("synthesizer", 31), ("perceiver", 32)])
def test_too_long_input_is_a_clear_error(attention_type, limit):
    model = tiny_model(attention_type)
    model(torch.randint(2, 40, (1, limit)))
    with pytest.raises(ValueError, match=f"at most {limit} positions"):
        model(torch.randint(2, 40, (1, limit + 1)))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(n_embd=250, n_head=8), "n_head"),
        (dict(attention_type="perceiver", bottleneck_dim=200, block_size=128), "bottleneck_dim"),
        (dict(attention_type="perceiver", bottleneck_dim=0), "bottleneck_dim"),
        (dict(attention_type="linformer"), "attention_type"),
        (dict(attention_backend="flash"), "attention_backend"),
        (dict(attn_pdrop=1.5), "attn_pdrop"),
        (dict(n_layer=0), "n_layer"),
        (dict(attention_type="perceiver", n_layer=1), "n_layer"),
        (dict(vocab_size=10, mask_token_id=12), "mask_token_id"),
        (dict(vocab_size=10, pad_token_id=11), "pad_token_id"),
        (dict(mask_token_id=0, pad_token_id=0), "mask_token_id"),
        (dict(fast_dropout="no"), "fast_dropout"),
        (dict(fast_dropout=0), "fast_dropout"),
        (dict(synthesizer_per_head="yes"), "synthesizer_per_head"),
        (dict(layer_norm_epsilon=-1e-5), "layer_norm_epsilon"),
        (dict(layer_norm_epsilon=0.0), "layer_norm_epsilon"),
        (dict(layer_norm_epsilon="1e-5"), "layer_norm_epsilon"),
    ],
)
def test_invalid_config_names_field_value_and_allowed(kwargs, field):
    with pytest.raises(ValueError) as err:
        CharGPTConfig(**kwargs)
    message = str(err.value)
    assert field in message
    assert repr(kwargs[field]) in message


def test_config_defaults_are_the_course_model():
    c = CharGPTConfig()
    assert (c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd) == (256, 128, 4, 8, 256)
    assert (c.embd_pdrop, c.attn_pdrop, c.resid_pdrop, c.bottleneck_dim) == (0.1, 0.1, 0.1, 32)
    assert c.num_hidden_layers == 4 and c.hidden_size == 256 and c.num_attention_heads == 8
    assert c.eos_token_id == 1 and c.pad_token_id == 0


def test_the_class_table_covers_every_attention_type():
    """One list of variants: the table's keys are ATTENTION_TYPES, and each model is built from its entry."""
    from hfmodels.char_gpt import ATTENTION_TYPES
    from hfmodels.char_gpt.modeling_char_gpt import CHAR_GPT_VARIANTS

    assert tuple(CHAR_GPT_VARIANTS) == ATTENTION_TYPES
    for attention_type in ATTENTION_TYPES:
        variant = CHAR_GPT_VARIANTS[attention_type]
        model = tiny_model(attention_type).transformer
        assert all(type(block.attn) is variant.attention for block in model.h)
        assert hasattr(model, "down") is hasattr(model, "up") is variant.bottleneck


@pytest.mark.parametrize("attention_type", VARIANTS)
@pytest.mark.parametrize("bad", [40, 41, -1])
def test_input_ids_outside_the_vocabulary_are_a_clear_error(attention_type, bad):
    model = tiny_model(attention_type)  # vocab_size 40
    ids = torch.tensor([[5, 6, bad, 7]])
    with pytest.raises(ValueError, match=rf"input id {bad} is outside the vocabulary.*vocab_size=40"):
        model(ids)
    model(torch.tensor([[0, 39, 5]]))  # the ends of the vocabulary are fine


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_empty_input_is_a_clear_error(attention_type):
    model = tiny_model(attention_type)
    empty = torch.zeros(2, 0, dtype=torch.long)
    with pytest.raises(ValueError, match="seq >= 1"):
        model(empty)
    with pytest.raises(ValueError, match="seq >= 1"):
        model.transformer(inputs_embeds=torch.zeros(2, 0, 16))
    with pytest.raises(ValueError, match="generate needs a prompt of at least one token"):
        model.generate(empty, max_new_tokens=3, do_sample=False)


REMOTE_CODE_LOAD = """
import sys

import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

results = {}
for folder in sys.argv[1:]:
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    ids = torch.tensor([tokenizer("Where was Ada born?\\u2047").input_ids])
    with torch.no_grad():
        out = model(ids, labels=ids)
    generated = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None)
    results[folder] = dict(logits=out.logits, loss=out.loss, generated=generated, cls=type(model).__module__)
bare = AutoModel.from_pretrained(sys.argv[1] + "-bare", trust_remote_code=True).eval()
with torch.no_grad():
    results["bare"] = bare(ids).last_hidden_state
"""


def test_saved_folders_load_as_remote_code_without_hfmodels(tmp_path):
    """`save_pretrained` writes `auto_map` and the family's files: a fresh interpreter where
    `import hfmodels` is impossible loads model and tokenizer with `trust_remote_code=True`, offline,
    and gets the same logits, loss and generated ids (`tests/remote_code.py`)."""
    import json

    tokenizer = CharTokenizer.from_corpus(CORPUS)
    folders, expected = [], {}
    for attention_type in VARIANTS:
        model = tiny_model(attention_type, seed=8, vocab_size=tokenizer.vocab_size)
        folder = str(tmp_path / attention_type)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        if attention_type == "vanilla":
            model.transformer.save_pretrained(folder + "-bare")
        folders.append(folder)
        ids = torch.tensor([tokenizer("Where was Ada born?\u2047").input_ids])
        with torch.no_grad():
            out = model(ids, labels=ids)
        generated = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None)
        expected[folder] = (out.logits, out.loss, generated)
    config = json.loads((tmp_path / "vanilla" / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_char_gpt.CharGPTConfig",
        "AutoModelForCausalLM": "modeling_char_gpt.CharGPTForCausalLM",
    }
    tokenizer_config = json.loads((tmp_path / "vanilla" / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"][0] == "tokenization_char_gpt.CharTokenizer"
    got = results_without_hfmodels(REMOTE_CODE_LOAD, folders, tmp_path)
    for folder in folders:
        logits, loss, generated = expected[folder]
        assert got[folder]["cls"].startswith("transformers_modules"), got[folder]["cls"]
        assert torch.equal(got[folder]["logits"], logits)
        assert torch.equal(got[folder]["loss"], loss)
        assert torch.equal(got[folder]["generated"], generated)
    bare = CharGPTForCausalLM.from_pretrained(folders[0]).transformer.eval()
    with torch.no_grad():
        assert torch.equal(
            got["bare"],
            bare(torch.tensor([tokenizer("Where was Ada born?\u2047").input_ids])).last_hidden_state,
        )
    # With hfmodels imported, the same folder loads the installed classes (no remote code).
    assert type(AutoModelForCausalLM.from_pretrained(folders[0])) is CharGPTForCausalLM


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_forward_contract_return_dict_hidden_states_and_attentions(attention_type):
    """return_dict=False gives the ModelOutput's tuple; hidden states are n_layer + 1 (first and
    last of the input's length); attentions are causal probabilities; asking for them leaves the
    logits as they were; the config's flags are the defaults."""
    model = tiny_model(attention_type)
    ids = torch.randint(2, 40, (2, 12))
    with torch.no_grad():
        plain = model(ids, labels=ids)
        out = model(ids, labels=ids, output_hidden_states=True, output_attentions=True)
        as_tuple = model(
            ids, labels=ids, output_hidden_states=True, output_attentions=True, return_dict=False
        )
    torch.testing.assert_close(out.logits, plain.logits, rtol=1e-5, atol=1e-6)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(out.to_tuple())
    assert all(torch.equal(a, b) for a, b in zip(as_tuple[:2], (out.loss, out.logits)))
    hs, att = out.hidden_states, out.attentions
    assert len(hs) == model.config.n_layer + 1 and len(att) == model.config.n_layer
    assert hs[0].shape == hs[-1].shape == (2, 12, 16)
    torch.testing.assert_close(hs[-1], model.transformer(ids).last_hidden_state, rtol=1e-5, atol=1e-6)
    for a in att:
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
    m = model.config.bottleneck_dim
    if attention_type == "perceiver":
        assert [h.shape[1] for h in hs] == [12, m, m, 12]
        assert [a.shape[-2:] for a in att] == [(m, 12), (m, m), (12, m)]
    else:
        assert all(a.shape[-2:] == (12, 12) for a in att)
    # Causal everywhere: query i attends keys (inputs or bottleneck rows) <= i only.
    assert all(torch.all(a.triu(1) == 0) for a in att), "a query must not attend a later key"
    model.config.output_hidden_states = True
    with torch.no_grad():
        assert len(model(ids).hidden_states) == model.config.n_layer + 1
    model.config.return_dict = False
    with torch.no_grad():
        assert isinstance(model(ids), tuple)


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_shift_labels_give_the_loss_of_the_shifted_labels(attention_type):
    model = tiny_model(attention_type)
    ids = torch.randint(2, 40, (2, 10))
    labels = ids.clone()
    labels[0, 4] = 0  # PAD targets are ignored in both forms
    shifted = torch.cat([labels[:, 1:], torch.full((2, 1), -100)], dim=1)
    with torch.no_grad():
        a = model(ids, labels=labels).loss
        b = model(ids, shift_labels=shifted).loss
        c = model(ids, shift_labels=labels).loss  # not shifted: other targets, another loss
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.isclose(a, c)


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_torch_export_and_fullgraph_compile_trace_the_forward(attention_type):
    """No value-dependent Python branch in the forward: torch.export and a full-graph compile trace it,
    with a padding mask, and give the eager logits."""
    model = tiny_model(attention_type)
    ids = torch.randint(2, 40, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    with torch.no_grad():
        expected = model(ids, attention_mask=mask, use_cache=False).logits
        exported = torch.export.export(model, (ids,), {"attention_mask": mask, "use_cache": False})
        got = exported.module()(ids, attention_mask=mask, use_cache=False).logits
        compiled = torch.compile(model, backend="eager", fullgraph=True)
        got_compiled = compiled(ids, attention_mask=mask, use_cache=False).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_compiled, expected, rtol=1e-5, atol=1e-5)


def test_perceiver_refuses_assisted_generation_clearly():
    model = tiny_model("perceiver")
    with pytest.raises(ValueError, match="assisted generation .*prompt_lookup_num_tokens.* perceiver"):
        model.generate(torch.randint(2, 40, (1, 5)), max_new_tokens=3, prompt_lookup_num_tokens=2)


@pytest.mark.parametrize("attention_type", VARIANTS)
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(attention_type):
    """gradient_checkpointing_enable() recomputes the blocks in the backward pass: same loss and
    gradients as without it, dropout on (the recomputation restores the RNG state)."""
    ids = torch.randint(2, 40, (2, 20))
    results = []
    for checkpointing in (False, True):
        model = tiny_model(attention_type).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        torch.manual_seed(5)
        loss = model(ids, labels=ids).loss
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert model.transformer.h[0].gradient_checkpointing
    torch.testing.assert_close(loss_b, loss_a, rtol=0, atol=0)
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=1e-5, atol=1e-7, msg=name)
