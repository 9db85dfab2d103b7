"""The from-scratch blocks against their torch.nn / F.scaled_dot_product_attention twins."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hfmodels.from_scratch import (
    DecoderBlock,
    EncoderBlock,
    FeedForwardBlock,
    LayerNorm,
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    position_encoding_sinusoid,
    scaled_dot_product_no_loop_batch,
)

TOL = 1e-5


def _max_err(a, b):
    return (a - b).abs().max().item()


def test_scaled_dot_product_matches_sdpa_with_and_without_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 5, 8), torch.randn(3, 7, 8), torch.randn(3, 7, 6)
    out, weights = scaled_dot_product_no_loop_batch(q, k, v)
    assert _max_err(out, F.scaled_dot_product_attention(q, k, v)) < TOL
    assert torch.allclose(weights.sum(-1), torch.ones(3, 5))
    mask = torch.rand(3, 5, 7) < 0.4
    mask[..., 0] = False  # every row keeps a key
    out, _ = scaled_dot_product_no_loop_batch(q, k, v, mask)
    assert _max_err(out, F.scaled_dot_product_attention(q, k, v, attn_mask=~mask)) < TOL


def test_self_attention_is_one_head_of_its_linear_maps():
    torch.manual_seed(1)
    head = SelfAttention(10, 4, 6)
    x = torch.randn(2, 5, 10)
    want = F.scaled_dot_product_attention(head.q(x), head.k(x), head.v(x))
    assert _max_err(head(x, x, x), want) < TOL
    assert head.weights_softmax.shape == (2, 5, 5)


def _copy_mha_into_torch(mha: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([torch.cat([getattr(h, n).weight for h in mha.heads]) for n in "qkv"])
        )
        ref.in_proj_bias.copy_(torch.cat([torch.cat([getattr(h, n).bias for h in mha.heads]) for n in "qkv"]))
        ref.out_proj.weight.copy_(mha.proj.weight)
        ref.out_proj.bias.copy_(mha.proj.bias)


def test_multi_head_attention_matches_torch_with_causal_mask():
    torch.manual_seed(2)
    mha = MultiHeadAttention(4, 16, 4)
    ref = nn.MultiheadAttention(16, 4, batch_first=True)
    _copy_mha_into_torch(mha, ref)
    x, mem = torch.randn(2, 6, 16), torch.randn(2, 9, 16)
    want, _ = ref(x, mem, mem, need_weights=False)
    assert _max_err(mha(x, mem, mem), want) < TOL
    mask = causal_mask(6, 6)
    want, _ = ref(x, x, x, attn_mask=mask[0], need_weights=False)
    assert _max_err(mha(x, x, x, mask), want) < TOL


def test_layer_norm_matches_torch():
    torch.manual_seed(3)
    x = torch.randn(4, 7, 12) * 3 + 1
    ours = LayerNorm(12, 1e-5)
    with torch.no_grad():
        ours.gamma.copy_(torch.randn(12))
        ours.beta.copy_(torch.randn(12))
    want = F.layer_norm(x, (12,), ours.gamma, ours.beta, 1e-5)
    assert _max_err(ours(x), want) < TOL


def test_feed_forward_matches_torch_composition():
    torch.manual_seed(4)
    ff = FeedForwardBlock(8, 20)
    ref = nn.Sequential(ff.linear1, nn.ReLU(), ff.linear2)
    x = torch.randn(3, 5, 8)
    assert _max_err(ff(x), ref(x)) < TOL


def _copy_norm(ours: LayerNorm, ref: nn.LayerNorm) -> None:
    with torch.no_grad():
        ours.gamma.copy_(torch.randn_like(ours.gamma))
        ours.beta.copy_(torch.randn_like(ours.beta))
        ref.weight.copy_(ours.gamma)
        ref.bias.copy_(ours.beta)


def _copy_ff(ours: FeedForwardBlock, ref) -> None:
    with torch.no_grad():
        ref.linear1.weight.copy_(ours.linear1.weight)
        ref.linear1.bias.copy_(ours.linear1.bias)
        ref.linear2.weight.copy_(ours.linear2.weight)
        ref.linear2.bias.copy_(ours.linear2.bias)


def test_encoder_block_matches_torch_post_ln_encoder_layer_in_eval():
    torch.manual_seed(5)
    block = EncoderBlock(4, 16, 24, dropout=0.2).eval()
    ref = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.2, batch_first=True, norm_first=False).eval()
    _copy_mha_into_torch(block.attention, ref.self_attn)
    _copy_ff(block.feed_forward, ref)
    _copy_norm(block.norm1, ref.norm1)
    _copy_norm(block.norm2, ref.norm2)
    x = torch.randn(3, 9, 16)
    assert _max_err(block(x), ref(x)) < TOL


def test_encoder_block_dropout_comes_after_the_norm():
    """Lab 3's order: in training mode, the dropped-out entries of the output are exact zeros."""
    torch.manual_seed(6)
    block = EncoderBlock(2, 8, 8, dropout=0.5).train()
    out = block(torch.randn(4, 9, 8))
    zeros = (out == 0).float().mean().item()
    assert 0.35 < zeros < 0.65


def test_decoder_block_matches_torch_post_ln_decoder_layer_in_eval():
    torch.manual_seed(7)
    block = DecoderBlock(4, 16, 24, dropout=0.1).eval()
    ref = nn.TransformerDecoderLayer(16, 4, 24, dropout=0.1, batch_first=True, norm_first=False).eval()
    _copy_mha_into_torch(block.attention_self, ref.self_attn)
    _copy_mha_into_torch(block.attention_cross, ref.multihead_attn)
    _copy_ff(block.feed_forward, ref)
    for ours, theirs in ((block.norm1, ref.norm1), (block.norm2, ref.norm2), (block.norm3, ref.norm3)):
        _copy_norm(ours, theirs)
    tgt, mem = torch.randn(2, 5, 16), torch.randn(2, 9, 16)
    mask = causal_mask(5, 5)
    want = ref(tgt, mem, tgt_mask=mask[0])
    assert _max_err(block(tgt, mem, self_mask=mask), want) < TOL


def test_decoder_block_with_kv_cache_equals_full_pass():
    torch.manual_seed(8)
    block = DecoderBlock(2, 8, 16, dropout=0.0).eval()
    tgt, mem = torch.randn(2, 5, 8), torch.randn(2, 9, 8)
    full = block(tgt, mem, self_mask=causal_mask(5, 5))
    cache = {}

    def update(k, v):
        if cache:
            k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
        cache.update(k=k, v=v)
        return k, v

    steps = [
        block(tgt[:, t : t + 1], mem, self_mask=causal_mask(1, t + 1), update_kv=update) for t in range(5)
    ]
    assert _max_err(torch.cat(steps, 1), full) < TOL


def test_position_encoding_sinusoid_formula():
    pe = position_encoding_sinusoid(7, 10)
    assert pe.shape == (1, 7, 10)
    for p in range(7):
        for i in range(5):
            angle = p / 10000 ** (2 * i / 10)
            assert abs(pe[0, p, 2 * i].item() - math.sin(angle)) < TOL
            assert abs(pe[0, p, 2 * i + 1].item() - math.cos(angle)) < TOL
    assert torch.allclose(position_encoding_sinusoid(3, 10, offset=4), pe[:, 4:7])


def test_blocks_refuse_widths_not_divisible_by_heads():
    with pytest.raises(ValueError, match="not divisible"):
        EncoderBlock(3, 16, 8, 0.0)
