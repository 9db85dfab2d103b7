"""Configuration of the AddSub encoder-decoder Transformer (docs/addsub.md)."""

from __future__ import annotations

from transformers import PretrainedConfig


class AddSubConfig(PretrainedConfig):
    """Configuration of [`AddSubTransformerForConditionalGeneration`]; defaults are lab 3's
    reference setup.

    Args:
        vocab_size (`int`, 17): the 16 AddSub tokens plus padding.
        emb_dim (`int`, 32): width of the embeddings and of every block.
        num_heads (`int`, 4): attention heads per attention layer (width `emb_dim // num_heads` each).
        feedforward_dim (`int`, 32): hidden width of the feed-forward blocks.
        encoder_layers (`int`, 4): encoder blocks.
        decoder_layers (`int`, 4): decoder blocks.
        dropout (`float`, 0.2): dropout after each LayerNorm of every block.
        layer_norm_eps (`float`, 1e-5): epsilon of the LayerNorms.
        max_position_embeddings (`int`, 16): longest sequence the sinusoidal positions are used for
            (inputs have 9 tokens, answers 5).
        pad_token_id, bos_token_id, eos_token_id (`int`, 16, 14, 15): the tokenizer's ids.
        decoder_start_token_id (`int`, 14): the decoder starts from `BOS`.
    """

    model_type = "addsub"
    attribute_map = {
        "hidden_size": "emb_dim",
        "num_attention_heads": "num_heads",
        "num_hidden_layers": "decoder_layers",
    }

    def __init__(
        self,
        vocab_size: int = 17,
        emb_dim: int = 32,
        num_heads: int = 4,
        feedforward_dim: int = 32,
        encoder_layers: int = 4,
        decoder_layers: int = 4,
        dropout: float = 0.2,
        layer_norm_eps: float = 1e-5,
        max_position_embeddings: int = 16,
        pad_token_id: int = 16,
        bos_token_id: int = 14,
        eos_token_id: int = 15,
        decoder_start_token_id: int = 14,
        is_encoder_decoder: bool = True,
        **kwargs,
    ):
        if emb_dim % num_heads:
            raise ValueError(f"AddSubConfig: emb_dim={emb_dim} is not divisible by num_heads={num_heads}.")
        self.vocab_size = vocab_size
        self.emb_dim = emb_dim
        self.num_heads = num_heads
        self.feedforward_dim = feedforward_dim
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.dropout = dropout
        self.layer_norm_eps = layer_norm_eps
        self.max_position_embeddings = max_position_embeddings
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.decoder_start_token_id = decoder_start_token_id
        super().__init__(is_encoder_decoder=is_encoder_decoder, **kwargs)


# `save_pretrained` writes `auto_map` and copies this file, so a saved folder loads with
# `trust_remote_code=True` where hfmodels is not installed.
AddSubConfig.register_for_auto_class()

__all__ = ["AddSubConfig"]
