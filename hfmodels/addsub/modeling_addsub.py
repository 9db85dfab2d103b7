"""The AddSub encoder-decoder Transformer of lab 3, built from `hfmodels.from_scratch`
(docs/addsub.md, "The model").

One embedding table serves the encoder and the decoder, sinusoidal positions are added to it,
the encoder and decoder are stacks of the course's post-LN blocks, and a linear head maps the
decoder's output to the vocabulary. `generate()` works through `GenerationMixin`; the decoder's
self-attention keys and values are kept in the `EncoderDecoderCache` it passes in, so each
new answer token runs the decoder on that token only.

A saved folder carries this file, the configuration and the blocks (`blocks_addsub.py`) and
loads with `trust_remote_code=True` where hfmodels is not installed (docs/conventions.md,
"Remote code").
"""

from __future__ import annotations

import fnmatch
import math
import os
import shutil
import sys
import tempfile

import torch
import torch.nn.functional as F
from huggingface_hub import HfApi, ModelCard
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from .blocks_addsub import DecoderBlock, EncoderBlock, LayerNorm, causal_mask, position_encoding_sinusoid
from .configuration_addsub import AddSubConfig

#: The name under which a saved folder holds the file defining the from-scratch blocks.
BLOCKS_FILE = "blocks_addsub.py"

#: Files of the folder a model was loaded from that `push_to_hub` uploads beside the freshly saved
#: weights, config and code: the project's card, the tokenizer and the run's reports (top level
#: only, so no Trainer checkpoint, `training_args.bin` or TensorBoard events).
FOLDER_FILES_PUSHED = ("README.md", "tokenizer_config.json", "*.py", "metrics.json", "summary.md")


def loaded_folder_files(folder: str | os.PathLike) -> list[str]:
    """The files of `folder` named by [`FOLDER_FILES_PUSHED`] (empty when it is not a local folder)."""
    if not folder or not os.path.isdir(folder):
        return []
    return sorted(
        name
        for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name))
        and any(fnmatch.fnmatch(name, pattern) for pattern in FOLDER_FILES_PUSHED)
    )


class AddSubPreTrainedModel(PreTrainedModel):
    """Base class: config class, the course's weight initialisation, and the main input's name."""

    config_class = AddSubConfig
    base_model_prefix = "addsub"
    main_input_name = "input_ids"

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """`PreTrainedModel.save_pretrained` (weights, config with `auto_map`, generation config, and
        copies of this file and the configuration), then the file that defines the blocks
        (`hfmodels/from_scratch/blocks.py`, or a remote-code folder's copy of it) written over the
        package's re-exporting `blocks_addsub.py` that transformers copied: the folder is
        self-contained. Overridden because transformers copies only a modeling file's siblings.

        `push_to_hub=True` is refused: transformers would push before the blocks are written, and
        with its generic card; save, then call [`push_to_hub`]."""
        if kwargs.get("push_to_hub"):
            raise ValueError(
                "AddSubTransformerForConditionalGeneration.save_pretrained: push_to_hub=True is not "
                "supported; save the folder, then call model.push_to_hub(repo_id)."
            )
        result = super().save_pretrained(save_directory, *args, **kwargs)
        target = os.path.join(save_directory, BLOCKS_FILE)
        if os.path.isfile(target):  # written by this rank's custom_object_save
            source = sys.modules[DecoderBlock.__module__].__file__
            partial = f"{target}.{os.getpid()}.tmp"
            shutil.copyfile(source, partial)
            os.replace(partial, target)  # atomic: a reader never sees half a file
        return result

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | None = None,
    ):
        """Upload the model folder: `save_pretrained`'s weights, config, generation config and code,
        plus the project's card (`README.md`), the tokenizer and the reports of the folder the model
        was loaded from ([`FOLDER_FILES_PUSHED`]); returns the `CommitInfo`.

        Overridden because `PushToHubMixin.push_to_hub` replaces `README.md` with the repo's card or
        transformers' generic one; the model package cannot build a card (cards are
        `hfmodels.reporting`'s), so it keeps its folder's. `tags` are added to that card's metadata.
        A model without a loaded folder card is pushed the transformers way."""
        source = self.name_or_path
        kept = loaded_folder_files(source)
        if "README.md" not in kept:
            return super().push_to_hub(
                repo_id,
                commit_message=commit_message,
                commit_description=commit_description,
                private=private,
                token=token,
                revision=revision,
                create_pr=create_pr,
                max_shard_size=max_shard_size,
                tags=tags,
            )
        api = HfApi(token=token if isinstance(token, str) else None)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, max_shard_size=max_shard_size)
            for name in kept:
                if not os.path.exists(os.path.join(tmp, name)):
                    shutil.copy2(os.path.join(source, name), os.path.join(tmp, name))
            card_tags = [*(self.model_tags or []), *(tags or [])]
            if card_tags:
                card = ModelCard.load(os.path.join(tmp, "README.md"))
                card.data.tags = list(dict.fromkeys([*(card.data.tags or []), *card_tags]))
                card.save(os.path.join(tmp, "README.md"))
            return api.upload_folder(
                folder_path=tmp,
                repo_id=repo_id,
                commit_message=commit_message or "Upload model folder",
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )

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


# `save_pretrained` writes `auto_map` and copies this family's files (the blocks included), so a
# saved folder loads with `trust_remote_code=True` where hfmodels is not installed.
AddSubTransformerForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

__all__ = [
    "BLOCKS_FILE",
    "FOLDER_FILES_PUSHED",
    "AddSubEncoder",
    "AddSubPreTrainedModel",
    "AddSubTransformerForConditionalGeneration",
    "loaded_folder_files",
]
