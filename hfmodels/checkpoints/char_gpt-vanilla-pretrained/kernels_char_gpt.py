"""CPU speed kernels of the character GPT: cheap dropout masks and the explicit-matmul attention.

They compute the same functions as `torch.nn.functional.dropout` and
`torch.nn.functional.scaled_dot_product_attention`; they exist because on CPU, at the study's
head size of 32, those library kernels spend time this model does not need to (see
`docs/performance.md`). On other devices the library kernels are used.

The attention functions at the end follow transformers' attention signature
(`module, query, key, value, attention_mask, dropout, scaling, is_causal, **kwargs` ->
`(output, weights)`); the model registers them with `AttentionInterface` (docs/conventions.md,
"Attention implementations and caches").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Keys are padded to a multiple of this on CPU (see `attend`).
KEY_MULTIPLE = 16
# Causal self-attention on CPU takes its queries in chunks of at least QUERY_CHUNK rows, at most
# QUERY_CHUNKS of them (see `attend`).
QUERY_CHUNK = 64
QUERY_CHUNKS = 8


def _keep_draw(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """int16 draws, negative exactly where dropout keeps the element (P = round((1 - p) 2**15) / 2**15).

    Hand-written because torch has no RNG that yields several narrow uniforms per random word.
    Four uniforms per 64-bit random word of torch's default generator; `r >> 1` of an int16 uniform
    is uniform on [-2**14, 2**14), and subtracting the threshold cannot overflow int16."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    return (words.view(torch.int16)[:n] >> 1).sub_(round((1.0 - p) * 32768) - 16384).view(shape)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Boolean dropout keep-mask with `P(keep) = round((1 - p) * 2**15) / 2**15`, drawn cheaply.

    Hand-written because `torch.bernoulli_` spends one float random number per element, which on
    CPU was ~15 % of a training step. One 64-bit random word gives four independent 16-bit uniforms
    (15 bits of each are used), so this needs a quarter of the random numbers and no float
    conversion (about 4x faster on CPU). It uses torch's default generator, so `torch.manual_seed`
    makes it reproducible. [`dropout_scale`] draws the same mask as numbers.
    """
    return _keep_draw(shape, p, device) < 0


def dropout_scale(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """The inverted-dropout multiplier `keep / (1 - p)` in `dtype`: [`keep_mask`] (the same draw for
    the same seed) as numbers.

    Hand-written because converting a bool tensor to a 16-bit float is several times slower on CPU
    than a pass of integer arithmetic: for 16-bit floats the draw's sign, spread by `>> 15`, selects
    the bits of `1 / (1 - p)` in `dtype`."""
    scale = 1.0 / (1.0 - p)
    if dtype not in (torch.bfloat16, torch.float16):
        return keep_mask(shape, p, device).to(dtype).mul_(scale)
    bits = torch.tensor(scale, dtype=dtype).view(torch.int16).item()
    return _keep_draw(shape, p, device).bitwise_right_shift_(15).bitwise_and_(bits).view(dtype)


def dropout(x: torch.Tensor, p: float, training: bool, fast: bool) -> torch.Tensor:
    """Inverted dropout `x * Bernoulli(1 - p) / (1 - p)`; `fast` draws the mask with [`dropout_scale`]
    on CPU (same Bernoulli distribution up to 2**-16 in the keep probability).

    Hand-written to route CPU tensors to the cheap mask; everything else goes to `F.dropout`."""
    if not training or p == 0.0:
        return x
    if not fast or x.device.type != "cpu" or torch.compiler.is_compiling():
        # Other devices have fast native RNG; under torch.compile `random_` breaks the graph.
        return F.dropout(x, p=p, training=True)
    return x * dropout_scale(x.shape, p, x.device, x.dtype)


class CharGPTDropout(nn.Dropout):
    """`nn.Dropout` that uses the cheap CPU mask of [`keep_mask`] when `fast` is set.

    A subclass of `nn.Dropout` so that `model.eval()` and every tool that looks for dropout
    layers treat it as one."""

    def __init__(self, p: float, fast: bool = True):
        super().__init__(p)
        self.fast = fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.fast)


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The boolean mask (True = may attend) as an additive bias: 0 where allowed, -inf elsewhere.

    Hand-written (one line) because adding a bias in place is one pass with an identity gradient,
    where `masked_fill` copies the scores forward and the gradient backward."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


def _attend_in_query_chunks(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
    scale: float,
    backend: str,
    fast_dropout: bool,
) -> torch.Tensor:
    """Causal attention with the queries in chunks, each against the keys up to its last row.

    The scores above the diagonal, masked out anyway, are mostly not computed (25 % fewer at 127
    rows in 2 chunks, 44 % in 8): the attention's forward and backward are about 1.3x as fast at 127
    rows, 2-3x at 512-2048; smaller chunks than tq / 8 cost more per chunk than they save."""
    tq, tk = q.shape[-2], k.shape[-2]
    rows = max(QUERY_CHUNK, -(-tq // (QUERY_CHUNKS * KEY_MULTIPLE)) * KEY_MULTIPLE)
    out, start = [], 0
    for q_chunk in q.split(rows, dim=-2):
        end = start + q_chunk.shape[-2]
        k_chunk, v_chunk = (k, v) if end == tk else (k[..., :end, :], v[..., :end, :])
        m_chunk = None if mask is None else mask[..., start:end, :end]
        out.append(attend(q_chunk, k_chunk, v_chunk, m_chunk, True, dropout_p, scale, backend, fast_dropout))
        start = end
    return torch.cat(out, dim=-2)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    dropout_p: float,
    scale: float,
    backend: str,
    fast_dropout: bool = True,
) -> torch.Tensor:
    """softmax(q k^T * scale + mask) v with dropout on the weights.

    Hand-written because SDPA's CPU flash backward dominates a training step at head size 32; the
    explicit matmuls here add key padding and query chunking, which pay on CPU.

    `mask` is boolean (True = may attend), broadcastable to (B, h, Tq, Tk), or None. `is_causal`
    says the attention is causal (query i, at position Tk - Tq + i, sees no later key): with `mask`
    None it is the plain lower-triangular mask; a `mask` given with it must be causal itself (it is
    used as given). `backend` picks SDPA or explicit matmuls (`"auto"`: matmuls on CPU, SDPA
    elsewhere); all compute the same function.
    """
    if backend == "auto":
        backend = "matmul" if q.device.type == "cpu" else "sdpa"
    if backend == "sdpa":
        if k.shape[1] != q.shape[1]:  # broadcast a shared key (synthesizer) over heads
            k = k.expand(-1, q.shape[1], -1, -1)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal and mask is None, scale=scale
        )
    tq, tk = q.shape[-2], k.shape[-2]
    if is_causal and tq == tk > QUERY_CHUNK and q.device.type == "cpu":
        return _attend_in_query_chunks(q, k, v, mask, dropout_p, scale, backend, fast_dropout)
    if mask is None and is_causal:
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
    pad = (-tk) % KEY_MULTIPLE if q.device.type == "cpu" and tq > 1 else 0
    if pad:
        # CPU softmax runs a scalar tail on rows whose length is not a multiple of the vector
        # width: bf16 rows of 127 take 2.3x as long as rows of 128. `pad` extra keys, masked out,
        # with zero values, leave every weight and output as they were.
        k, v = F.pad(k, (0, 0, 0, pad)), F.pad(v, (0, 0, 0, pad))
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device) if mask is None else mask
        mask = F.pad(mask, (0, pad), value=False)
    # Scale the (T x d/h) queries rather than the (T x T) scores: one pass fewer over the big tensor.
    att = torch.matmul(q * scale if scale != 1.0 else q, k.transpose(-2, -1))
    if mask is not None:
        att = att.add_(attention_bias(mask, att.dtype))
    att = torch.softmax(att, dim=-1)
    att = dropout(att, dropout_p, dropout_p > 0.0, fast_dropout)
    return torch.matmul(att.to(v.dtype), v)


def attend_with_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    dropout_p: float,
    scale: float,
    fast_dropout: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """[`attend`]'s function computed with explicit matmuls on every device, also returning the
    attention probabilities (B, h, Tq, Tk) after dropout, for `output_attentions=True`.

    Hand-written because `scaled_dot_product_attention` does not return its weights; no key
    padding or query chunking, which would change the weights' shape."""
    tq, tk = q.shape[-2], k.shape[-2]
    if mask is None and is_causal:
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
    att = torch.matmul(q * scale if scale != 1.0 else q, k.transpose(-2, -1))
    if mask is not None:
        att = att + attention_bias(mask, att.dtype)
    att = dropout(torch.softmax(att, dim=-1), dropout_p, dropout_p > 0.0, fast_dropout)
    return torch.matmul(att.to(v.dtype), v), att


def _transformers_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    backend: str,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[`attend`] (or, with `output_attentions=True`, [`attend_with_weights`]) in the signature of
    transformers' attention functions: output (B, Tq, h, d), probabilities or None."""
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    fast = getattr(module, "fast_dropout", True)
    causal = bool(is_causal)
    if kwargs.get("output_attentions"):
        out, weights = attend_with_weights(query, key, value, attention_mask, causal, dropout, scale, fast)
    else:
        out, weights = attend(query, key, value, attention_mask, causal, dropout, scale, backend, fast), None
    return out.transpose(1, 2), weights


def char_gpt_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """The model's default attention, registered as `"char_gpt"`: [`attend`]'s explicit matmuls with key
    padding and query chunking on CPU, `scaled_dot_product_attention` on other devices.

    `attention_mask` is boolean (True = may attend) or None; `is_causal` with no mask is the
    lower-triangular mask aligned to the last key. With `output_attentions=True` it returns the
    probabilities too (the explicit-matmul path, on every device)."""
    return _transformers_attention(module, query, key, value, attention_mask, "auto", **kwargs)


def char_gpt_matmul_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """[`char_gpt_attention_forward`] with the explicit matmuls on every device, registered as
    `"char_gpt_matmul"` (`attention_backend="matmul"`)."""
    return _transformers_attention(module, query, key, value, attention_mask, "matmul", **kwargs)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`attn_implementation="eager"`: explicit `softmax(q k^T * scaling + mask) v` that always returns
    the probabilities, as transformers' eager attention does.

    Hand-written because transformers' eager functions live in each model's file and add a float
    mask, where this model's masks are boolean (True = may attend)."""
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    fast = getattr(module, "fast_dropout", True)
    out, weights = attend_with_weights(
        query, key, value, attention_mask, bool(is_causal), dropout, scale, fast
    )
    return out.transpose(1, 2), weights


__all__ = [
    "KEY_MULTIPLE",
    "QUERY_CHUNK",
    "QUERY_CHUNKS",
    "CharGPTDropout",
    "attend",
    "attend_with_weights",
    "attention_bias",
    "char_gpt_attention_forward",
    "char_gpt_matmul_attention_forward",
    "dropout",
    "dropout_scale",
    "eager_attention_forward",
    "keep_mask",
]
