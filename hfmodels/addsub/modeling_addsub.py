"""The AddSub encoder-decoder Transformer of lab 3, built from `hfmodels.from_scratch`
(docs/addsub.md, "The model").

One embedding table serves the encoder and the decoder, sinusoidal positions are added to it,
the encoder and decoder are stacks of the course's post-LN blocks, and a linear head maps the
decoder's output to the vocabulary. `generate()` works through `GenerationMixin`; the decoder's
self-attention keys and values are kept in the `EncoderDecoderCache` it passes in, so each
new answer token runs the decoder on that token only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from ..from_scratch import DecoderBlock, EncoderBlock, LayerNorm, causal_mask, position_encoding_sinusoid
from .configuration_addsub import AddSubConfig


class AddSubPreTrainedModel(PreTrainedModel):
    """Base class: config class, the course's weight initialisation, and the main input's name."""

    config_class = AddSubConfig
    base_model_prefix = "addsub"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        """Lab 3's initialisation: Linear weights Xavier-uniform, U(±√(6 / (fan_in + fan_out))),
        biases PyTorch's default U(±1/√fan_in); Embedding N(0, 1); LayerNorm γ = 1, β = 0."""
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                bound = 1.0 / math.sqrt(module.in_features)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, LayerNorm):
            init.ones_(module.gamma)
            init.zeros_(module.beta)


def _embed(embedding: nn.Embedding, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
    pe = position_encoding_sinusoid(ids.shape[1], embedding.embedding_dim, offset)
    return embedding(ids) + pe.to(device=ids.device, dtype=embedding.weight.dtype)


def _key_padding(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(N, T) 1/0 attention mask → (N, 1, T) boolean, `True` at padding (the blocks' convention)."""
    return None if attention_mask is None else (attention_mask == 0).unsqueeze(1)


class AddSubEncoder(nn.Module):
    """The token embedding (shared with the decoder) + sinusoidal positions + `encoder_layers`
    [`EncoderBlock`]s."""

    main_input_name = "input_ids"

    def __init__(self, config: AddSubConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.emb_dim)
        self.layers = nn.ModuleList(
            EncoderBlock(
                config.num_heads,
                config.emb_dim,
                config.feedforward_dim,
                config.dropout,
                config.layer_norm_eps,
            )
            for _ in range(config.encoder_layers)
        )

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> BaseModelOutput:
        """(N, T) token ids → `BaseModelOutput(last_hidden_state=(N, T, emb_dim))`."""
        hidden = _embed(self.embed_tokens, input_ids)
        mask = _key_padding(attention_mask)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return BaseModelOutput(last_hidden_state=hidden)


class AddSubTransformerForConditionalGeneration(AddSubPreTrainedModel, GenerationMixin):
    """Lab 3's encoder-decoder Transformer with a language-model head, trained with
    cross-entropy on the answer tokens. `labels` are the answer without its leading `BOS`
    (`POSITIVE 0 4 EOS`); the decoder input is `BOS` followed by the labels shifted right."""

    def __init__(self, config: AddSubConfig):
        super().__init__(config)
        self.encoder = AddSubEncoder(config)
        self.decoder_layers = nn.ModuleList(
            DecoderBlock(
                config.num_heads,
                config.emb_dim,
                config.feedforward_dim,
                config.dropout,
                config.layer_norm_eps,
            )
            for _ in range(config.decoder_layers)
        )
        self.lm_head = nn.Linear(config.emb_dim, config.vocab_size)
        self.post_init()

    def get_encoder(self) -> AddSubEncoder:
        """The encoder, which `generate()` runs once per input."""
        return self.encoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embed_tokens = value

    def shift_labels_right(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder input from labels: `BOS` then the labels without their last token (-100 → PAD)."""
        start = torch.full_like(labels[:, :1], self.config.decoder_start_token_id)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        return shifted.masked_fill(shifted == -100, self.config.pad_token_id)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Cache | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        """Logits (N, T_dec, vocab) of the next answer token at every decoder position; with
        `labels`, also their mean cross-entropy (positions labelled -100 ignored)."""
        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError(
                    "AddSubTransformerForConditionalGeneration: give input_ids or encoder_outputs."
                )
            encoder_outputs = self.encoder(input_ids, attention_mask)
        elif isinstance(encoder_outputs, tuple):
            encoder_outputs = BaseModelOutput(last_hidden_state=encoder_outputs[0])
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError(
                    "AddSubTransformerForConditionalGeneration: give decoder_input_ids or labels."
                )
            decoder_input_ids = self.shift_labels_right(labels)
        use_cache = use_cache if use_cache is not None else (labels is None and not self.training)
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        self_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
        past = self_cache.get_seq_length() if (use_cache and self_cache is not None) else 0

        hidden = _embed(self.encoder.embed_tokens, decoder_input_ids, offset=past)
        self_mask = causal_mask(hidden.shape[1], past + hidden.shape[1], hidden.device)
        cross_mask = _key_padding(attention_mask)
        memory = encoder_outputs.last_hidden_state
        for i, layer in enumerate(self.decoder_layers):
            update = None
            if use_cache and self_cache is not None:
                update = lambda k, v, i=i: self_cache.update(k, v, i)  # noqa: E731
            hidden = layer(hidden, memory, self_mask, cross_mask, update)
        logits = self.lm_head(hidden)

        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100
            )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            cache=cache if use_cache else None,
            encoder_last_hidden_state=memory,
        )


__all__ = ["AddSubEncoder", "AddSubPreTrainedModel", "AddSubTransformerForConditionalGeneration"]
