"""Transformer building blocks written out from their equations (docs/definitions.md, "Attention
from scratch"), torch only.

They are what the course has students build by hand; each is tested against its `torch.nn` twin
(`tests/test_from_scratch.py`), and the AddSub model (`hfmodels.addsub`) is assembled from them.
Masks follow the course's convention: a boolean tensor, `True` where a query may *not* look.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: A function that appends this step's keys and values (N, H, T_new, d) to a cache and returns
#: all of them (N, H, T_past + T_new, d): how a decoder's self-attention reuses earlier steps.
KVUpdate = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def scaled_dot_product_no_loop_batch(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched scaled dot-product attention, `softmax(Q Kᵀ / √M) V`, with `torch.bmm` and no loop.

    `query` (N, K, M), `key` (N, K_kv, M), `value` (N, K_kv, M_v); `mask` broadcastable to
    (N, K, K_kv), `True` where attention is forbidden (those scores become the dtype's minimum, so
    a fully masked row averages all values instead of returning NaN). Returns the output
    (N, K, M_v) and the attention weights (N, K, K_kv)."""
    scores = torch.bmm(query, key.transpose(1, 2)) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    return torch.bmm(weights, value), weights


class SelfAttention(nn.Module):
    """One attention head: `softmax(q(x_q) k(x_k)ᵀ / √dim_q) v(x_v)` with linear maps
    `q, k: dim_in → dim_q` and `v: dim_in → dim_v`."""

    def __init__(self, dim_in: int, dim_q: int, dim_v: int):
        super().__init__()
        self.q = nn.Linear(dim_in, dim_q)
        self.k = nn.Linear(dim_in, dim_q)
        self.v = nn.Linear(dim_in, dim_v)
        self.weights_softmax: torch.Tensor | None = None

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, K, dim_in) query, (N, K_kv, dim_in) key/value → (N, K, dim_v); keeps the attention
        weights in `self.weights_softmax` for inspection."""
        out, self.weights_softmax = scaled_dot_product_no_loop_batch(
            self.q(query), self.k(key), self.v(value), mask
        )
        return out


class MultiHeadAttention(nn.Module):
    """`num_heads` heads of [`SelfAttention`] (each `dim_in → dim_out`) side by side, their
    outputs concatenated and projected back to `dim_in` by one linear map.

    The heads' projections are applied together (`project`) and attended together (`attend`) so a
    decoder can put cached keys and values between the two steps; `forward` does both."""

    def __init__(self, num_heads: int, dim_in: int, dim_out: int):
        super().__init__()
        self.num_heads = num_heads
        self.heads = nn.ModuleList([SelfAttention(dim_in, dim_out, dim_out) for _ in range(num_heads)])
        self.proj = nn.Linear(num_heads * dim_out, dim_in)

    def project(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every head's queries, keys and values, stacked as (N, H, T, dim_out); the heads' maps
        are applied as one matrix product each (their weights concatenated), the same numbers as
        head by head with fewer, larger kernels."""
        return tuple(
            F.linear(
                x,
                torch.cat([getattr(h, name).weight for h in self.heads]),
                torch.cat([getattr(h, name).bias for h in self.heads]),
            )
            .unflatten(-1, (self.num_heads, -1))
            .transpose(1, 2)
            for name, x in (("q", query), ("k", key), ("v", value))
        )

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention of all heads at once on (N, H, T, d) tensors (folded to (N·H, T, d) for the
        batched kernel), heads concatenated, then projected; `mask` broadcastable to (N, T_q, T_kv)."""
        n, h, t_q, d = q.shape
        t_kv = k.shape[2]
        if mask is not None:
            mask = mask.expand(n, t_q, t_kv).repeat_interleave(h, dim=0)
        out, _ = scaled_dot_product_no_loop_batch(
            q.reshape(n * h, t_q, d), k.reshape(n * h, t_kv, d), v.reshape(n * h, t_kv, -1), mask
        )
        out = out.reshape(n, h, t_q, -1).transpose(1, 2).reshape(n, t_q, -1)
        return self.proj(out)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, K, dim_in) query, (N, K_kv, dim_in) key/value → (N, K, dim_in)."""
        return self.attend(*self.project(query, key, value), mask)


class LayerNorm(nn.Module):
    """`gamma · (x − mean) / √(var + epsilon) + beta` over the last dimension (biased variance,
    as `torch.nn.LayerNorm`)."""

    def __init__(self, emb_dim: int, epsilon: float = 1e-10):
        super().__init__()
        self.epsilon = epsilon
        self.gamma = nn.Parameter(torch.ones(emb_dim))
        self.beta = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each vector of the last dimension, then scale and shift."""
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        return self.gamma * (x - mean) / torch.sqrt(var + self.epsilon) + self.beta


class FeedForwardBlock(nn.Module):
    """`Linear(inp_dim → hidden_dim) → ReLU → Linear(hidden_dim → inp_dim)`, position by position."""

    def __init__(self, inp_dim: int, hidden_dim_feedforward: int):
        super().__init__()
        self.linear1 = nn.Linear(inp_dim, hidden_dim_feedforward)
        self.linear2 = nn.Linear(hidden_dim_feedforward, inp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(…, inp_dim) → (…, inp_dim)."""
        return self.linear2(torch.relu(self.linear1(x)))


class EncoderBlock(nn.Module):
    """Post-LN encoder layer in the course's order:
    `attn → LN(out + in) → dropout → FFN → LN(out + in) → dropout`.

    Each head has width `emb_dim // num_heads`, so the block has the shape of
    `torch.nn.TransformerEncoderLayer(emb_dim, num_heads, feedforward_dim)`; the two agree in
    eval mode (torch drops out before the residual sum, the course after the norm)."""

    def __init__(self, num_heads: int, emb_dim: int, feedforward_dim: int, dropout: float, eps: float = 1e-5):
        super().__init__()
        if emb_dim % num_heads:
            raise ValueError(f"EncoderBlock: emb_dim={emb_dim} is not divisible by num_heads={num_heads}.")
        self.attention = MultiHeadAttention(num_heads, emb_dim, emb_dim // num_heads)
        self.norm1 = LayerNorm(emb_dim, eps)
        self.feed_forward = FeedForwardBlock(emb_dim, feedforward_dim)
        self.norm2 = LayerNorm(emb_dim, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K, emb_dim) → (N, K, emb_dim); `mask` (N, 1 or K, K), `True` = do not attend."""
        out1 = self.dropout(self.norm1(self.attention(x, x, x, mask) + x))
        return self.dropout(self.norm2(self.feed_forward(out1) + out1))


class DecoderBlock(nn.Module):
    """Post-LN decoder layer, same residual/LN/dropout pattern as [`EncoderBlock`]: masked
    self-attention, then cross-attention to the encoder's output, then the feed-forward block."""

    def __init__(self, num_heads: int, emb_dim: int, feedforward_dim: int, dropout: float, eps: float = 1e-5):
        super().__init__()
        if emb_dim % num_heads:
            raise ValueError(f"DecoderBlock: emb_dim={emb_dim} is not divisible by num_heads={num_heads}.")
        self.attention_self = MultiHeadAttention(num_heads, emb_dim, emb_dim // num_heads)
        self.norm1 = LayerNorm(emb_dim, eps)
        self.attention_cross = MultiHeadAttention(num_heads, emb_dim, emb_dim // num_heads)
        self.norm2 = LayerNorm(emb_dim, eps)
        self.feed_forward = FeedForwardBlock(emb_dim, feedforward_dim)
        self.norm3 = LayerNorm(emb_dim, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        dec_inp: torch.Tensor,
        enc_out: torch.Tensor,
        self_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
        update_kv: KVUpdate | None = None,
    ) -> torch.Tensor:
        """(N, K, emb_dim) decoder input and (N, K_enc, emb_dim) encoder output → (N, K, emb_dim).

        `self_mask` (N, K, K_past + K) is the causal mask (`True` = future); `update_kv`, when
        given, merges this call's self-attention keys/values with the cached ones."""
        q, k, v = self.attention_self.project(dec_inp, dec_inp, dec_inp)
        if update_kv is not None:
            k, v = update_kv(k, v)
        out1 = self.dropout(self.norm1(self.attention_self.attend(q, k, v, self_mask) + dec_inp))
        out2 = self.dropout(self.norm2(self.attention_cross(out1, enc_out, enc_out, cross_mask) + out1))
        return self.dropout(self.norm3(self.feed_forward(out2) + out2))


def position_encoding_sinusoid(K: int, M: int, offset: int = 0) -> torch.Tensor:
    """Sinusoidal positions (1, K, M): `PE[p, 2i] = sin(p / 10000^(2i/M))`,
    `PE[p, 2i+1] = cos(p / 10000^(2i/M))`, for positions `p = offset … offset + K − 1`."""
    position = torch.arange(offset, offset + K, dtype=torch.float32).unsqueeze(1)
    freq = torch.pow(10000.0, -torch.arange(0, M, 2, dtype=torch.float32) / M)
    pe = torch.zeros(K, M)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: M // 2])
    return pe.unsqueeze(0)


def causal_mask(query_len: int, key_len: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, query_len, key_len) boolean mask, `True` above the diagonal: the last `query_len` of
    `key_len` positions each see themselves and everything before."""
    past = key_len - query_len
    q_pos = torch.arange(past, key_len, device=device).unsqueeze(1)
    k_pos = torch.arange(key_len, device=device).unsqueeze(0)
    return (k_pos > q_pos).unsqueeze(0)


__all__ = [
    "DecoderBlock",
    "EncoderBlock",
    "FeedForwardBlock",
    "KVUpdate",
    "LayerNorm",
    "MultiHeadAttention",
    "SelfAttention",
    "causal_mask",
    "position_encoding_sinusoid",
    "scaled_dot_product_no_loop_batch",
]
