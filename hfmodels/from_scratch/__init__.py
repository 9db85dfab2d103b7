"""Attention and Transformer blocks written from their equations (docs/definitions.md,
"Attention from scratch"), torch only: the batched attention kernel, single- and multi-head
attention, LayerNorm, the feed-forward, encoder and decoder blocks, sinusoidal positions, the
masked self-attention with a hand-written backward pass (and its memory-lean variant), and the
numerics of the attention-exploration exercises."""

from .blocks import (
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
from .masked_self_attention import (
    LeanMaskedSelfAttentionFunction,
    MaskedSelfAttention,
    MaskedSelfAttentionFunction,
    masked_self_attention,
    reference_masked_self_attention,
)

__all__ = [
    "DecoderBlock",
    "EncoderBlock",
    "FeedForwardBlock",
    "LayerNorm",
    "LeanMaskedSelfAttentionFunction",
    "MaskedSelfAttention",
    "MaskedSelfAttentionFunction",
    "MultiHeadAttention",
    "SelfAttention",
    "causal_mask",
    "masked_self_attention",
    "position_encoding_sinusoid",
    "reference_masked_self_attention",
    "scaled_dot_product_no_loop_batch",
]
