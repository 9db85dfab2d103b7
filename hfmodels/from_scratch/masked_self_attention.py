"""Masked (causal) self-attention with its backward pass written out by hand
(docs/definitions.md, "Masked self-attention and its backward pass").

Forward, for X (B, T, D) and weights W_q, W_k (D, D_k), W_v (D, D_v)::

    Q = X W_q,  K = X W_k,  V = X W_v
    A_w = Q Kᵀ + M                      M additive: −∞ above the diagonal and at padded keys
    A_σ = softmax(A_w / √D_k)           row by row
    X_new = A_σ V

Backward, for G = dL/dX_new::

    dV = A_σᵀ G,   dA_σ = G Vᵀ
    dA_w = A_σ ⊙ (dA_σ − rowsum(dA_σ ⊙ A_σ)) / √D_k      the softmax Jacobian, row by row
    dQ = dA_w K,   dK = dA_wᵀ Q
    dX = dQ W_qᵀ + dK W_kᵀ + dV W_vᵀ
    dW_q = Σ_b Xᵀ dQ,  dW_k = Σ_b Xᵀ dK,  dW_v = Σ_b Xᵀ dV    summed over the batch

Two `torch.autograd.Function`s implement it. [`MaskedSelfAttentionFunction`] saves A_σ, the
(B, T, T) probabilities, as the course's layer does. [`LeanMaskedSelfAttentionFunction`] saves
only the row log-sum-exp `L = logsumexp(A_w / √D_k)` (B, T) and the output, and recomputes
`A_σ = exp(A_w / √D_k − L)` block by block of query rows in the backward, using
`rowsum(dA_σ ⊙ A_σ) = rowsum(G ⊙ X_new)`, the identity FlashAttention's backward rests on: no
(B, T, T) tensor is saved or ever held whole. Both are written here because the point is the
derivation; `reference_masked_self_attention` is the same forward left to autograd.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def additive_mask(
    T: int, key_padding_mask: torch.Tensor | None, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The additive mask M: (1 or B, T, T), −∞ above the diagonal and in the columns of padded
    keys (`key_padding_mask` (B, T), `True` = padding), 0 elsewhere."""
    future = torch.ones(T, T, dtype=torch.bool, device=device).triu(1).unsqueeze(0)
    if key_padding_mask is not None:
        if key_padding_mask.shape[-1] != T or key_padding_mask.dim() != 2:
            raise ValueError(
                f"key_padding_mask must have shape (B, {T}), got {tuple(key_padding_mask.shape)}."
            )
        if bool(key_padding_mask[:, 0].any()):
            raise ValueError(
                "key_padding_mask: position 0 is padding in some sequence; with the causal mask its "
                "first row would see no key at all. Pad on the right."
            )
        future = future | key_padding_mask.bool().unsqueeze(1)
    zeros = torch.zeros(future.shape, dtype=dtype, device=device)
    return zeros.masked_fill(future, float("-inf"))


def reference_masked_self_attention(
    x: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The forward above in plain torch operations, differentiated by autograd."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    a_w = q @ k.transpose(1, 2) + additive_mask(x.shape[1], key_padding_mask, x.dtype, x.device)
    return torch.softmax(a_w / math.sqrt(w_q.shape[1]), dim=-1) @ v


def _weight_and_input_grads(x, w_q, w_k, w_v, d_q, d_k, d_v):
    d_x = d_q @ w_q.T + d_k @ w_k.T + d_v @ w_v.T
    # einsum sums over the batch and time axes at once: Σ_b X_bᵀ dQ_b
    return (
        d_x,
        torch.einsum("btd,bte->de", x, d_q),
        torch.einsum("btd,bte->de", x, d_k),
        torch.einsum("btd,bte->de", x, d_v),
    )


class MaskedSelfAttentionFunction(torch.autograd.Function):
    """Causal self-attention whose backward is the hand-written one of the module docstring;
    saves X, Q, K, V and A_σ. Call through [`masked_self_attention`]."""

    @staticmethod
    def forward(ctx, x, w_q, w_k, w_v, key_padding_mask=None):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        mask = additive_mask(x.shape[1], key_padding_mask, x.dtype, x.device).expand(x.shape[0], -1, -1)
        scale = 1.0 / math.sqrt(w_q.shape[1])
        # (Q Kᵀ + M) / √D_k in one fused call, so no second (B, T, T) tensor is made
        a_sigma = torch.softmax(torch.baddbmm(mask, q, k.transpose(1, 2), beta=scale, alpha=scale), dim=-1)
        ctx.save_for_backward(x, w_q, w_k, w_v, q, k, v, a_sigma)
        return torch.bmm(a_sigma, v)

    @staticmethod
    def backward(ctx, grad_out):
        x, w_q, w_k, w_v, q, k, v, a_sigma = ctx.saved_tensors
        d_v = torch.bmm(a_sigma.transpose(1, 2), grad_out)
        d_a_sigma = torch.bmm(grad_out, v.transpose(1, 2))
        row = (d_a_sigma * a_sigma).sum(dim=-1, keepdim=True)
        # in place: dA_w = A_σ ⊙ (dA_σ − row) / √D_k overwrites dA_σ, holding one (B, T, T) buffer
        d_a_w = d_a_sigma.sub_(row).mul_(a_sigma).mul_(1.0 / math.sqrt(w_q.shape[1]))
        d_q = torch.bmm(d_a_w, k)
        d_k = torch.bmm(d_a_w.transpose(1, 2), q)
        return (*_weight_and_input_grads(x, w_q, w_k, w_v, d_q, d_k, d_v), None)


def _block_scores(q_blk, k, start, scale, key_padding_mask):
    """Scaled, masked scores of query rows `start …` against every key: (B, rows, T)."""
    rows, T = q_blk.shape[1], k.shape[1]
    s = torch.bmm(q_blk, k.transpose(1, 2)) * scale
    q_pos = torch.arange(start, start + rows, device=k.device).unsqueeze(1)
    masked = (torch.arange(T, device=k.device).unsqueeze(0) > q_pos).unsqueeze(0)
    if key_padding_mask is not None:
        masked = masked | key_padding_mask.bool().unsqueeze(1)
    return s.masked_fill(masked, float("-inf"))


class LeanMaskedSelfAttentionFunction(torch.autograd.Function):
    """Same function and gradients as [`MaskedSelfAttentionFunction`], saving X, Q, K, V, the
    output and the row log-sum-exp instead of A_σ; forward and backward run over blocks of
    `block_size` query rows, so at most (B, block_size, T) scores exist at a time."""

    @staticmethod
    def forward(ctx, x, w_q, w_k, w_v, key_padding_mask=None, block_size=128):
        if key_padding_mask is not None:
            additive_mask(x.shape[1], key_padding_mask, x.dtype, x.device)  # validates the mask
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        scale = 1.0 / math.sqrt(w_q.shape[1])
        out = torch.empty(x.shape[0], x.shape[1], v.shape[2], dtype=x.dtype, device=x.device)
        lse = torch.empty(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)
        for start in range(0, x.shape[1], block_size):
            s = _block_scores(q[:, start : start + block_size], k, start, scale, key_padding_mask)
            lse[:, start : start + block_size] = torch.logsumexp(s, dim=-1, keepdim=True)
            out[:, start : start + block_size] = torch.bmm(torch.softmax(s, dim=-1), v)
        ctx.block_size = block_size
        ctx.save_for_backward(x, w_q, w_k, w_v, q, k, v, out, lse, key_padding_mask)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w_q, w_k, w_v, q, k, v, out, lse, key_padding_mask = ctx.saved_tensors
        scale = 1.0 / math.sqrt(w_q.shape[1])
        row = (grad_out * out).sum(dim=-1, keepdim=True)  # = rowsum(dA_σ ⊙ A_σ)
        d_q, d_k, d_v = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for start in range(0, x.shape[1], ctx.block_size):
            sl = slice(start, start + ctx.block_size)
            p = _block_scores(q[:, sl], k, start, scale, key_padding_mask).sub_(lse[:, sl]).exp_()
            g = grad_out[:, sl]
            d_v += torch.bmm(p.transpose(1, 2), g)
            d_s = torch.bmm(g, v.transpose(1, 2)).sub_(row[:, sl]).mul_(p).mul_(scale)
            d_q[:, sl] = torch.bmm(d_s, k)
            d_k += torch.bmm(d_s.transpose(1, 2), q[:, sl])
        return (*_weight_and_input_grads(x, w_q, w_k, w_v, d_q, d_k, d_v), None, None)


def masked_self_attention(
    x: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    lean: bool = False,
    block_size: int = 128,
) -> torch.Tensor:
    """X_new for X (B, T, D); `key_padding_mask` (B, T), `True` at padded keys (pad on the right);
    `lean=True` uses the log-sum-exp variant with `block_size` query rows per block."""
    if x.dim() != 3 or x.shape[-1] != w_q.shape[0]:
        raise ValueError(f"x must be (B, T, {w_q.shape[0]}), got {tuple(x.shape)}.")
    if lean:
        return LeanMaskedSelfAttentionFunction.apply(x, w_q, w_k, w_v, key_padding_mask, block_size)
    return MaskedSelfAttentionFunction.apply(x, w_q, w_k, w_v, key_padding_mask)


class MaskedSelfAttention(nn.Module):
    """The course's layer: weights `W_q`, `W_k` (D, D_k) and `W_v` (D, D_v), no biases, the
    hand-written backward ([`MaskedSelfAttentionFunction`], or the lean one with `lean=True`)."""

    def __init__(self, D: int, D_k: int, D_v: int, lean: bool = False, block_size: int = 128):
        super().__init__()
        self.W_q = nn.Parameter(torch.randn(D, D_k) / math.sqrt(D))
        self.W_k = nn.Parameter(torch.randn(D, D_k) / math.sqrt(D))
        self.W_v = nn.Parameter(torch.randn(D, D_v) / math.sqrt(D))
        self.lean = lean
        self.block_size = block_size

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) → (B, T, D_v)."""
        return masked_self_attention(
            x, self.W_q, self.W_k, self.W_v, key_padding_mask, self.lean, self.block_size
        )


__all__ = [
    "LeanMaskedSelfAttentionFunction",
    "MaskedSelfAttention",
    "MaskedSelfAttentionFunction",
    "additive_mask",
    "masked_self_attention",
    "reference_masked_self_attention",
]
