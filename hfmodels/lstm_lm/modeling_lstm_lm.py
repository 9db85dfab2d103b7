"""Word-level LSTM language model with AWD-LSTM's regularisers (docs/lstm_lm.md).

Locked (variational) dropout, embedding dropout, DropConnect on the hidden-to-hidden weights,
weight tying and activation / temporal activation regularisation (AR/TAR), as defined in
docs/lstm_lm.md ("Definitions"). The recurrent state of every layer is the `generate()` cache
([`LstmLMCache`]), so decoding costs one LSTM step per new word. A saved folder carries this file
and the configuration and loads with `trust_remote_code=True` where hfmodels is not installed
(docs/conventions.md, "Remote code").
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import HfApi, ModelCard
from torch import nn
from torch.func import functional_call
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from .configuration_lstm_lm import LstmLMConfig

# transformers 5.24 renamed the cache from `past_key_values` to `cache` (argument and output field).
CACHE_FIELD = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"

#: Files of the folder a model was loaded from that `push_to_hub` uploads beside the freshly saved
#: weights, config and code: the project's card, the tokenizer and the run's reports (top level
#: only, so no Trainer checkpoint, `training_args.bin` or TensorBoard events).
FOLDER_FILES_PUSHED = (
    "README.md",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "*.py",
    "metrics.json",
    "summary.md",
)


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


class LstmLMCache(Cache):
    """The recurrent state `(h, c)` of every LSTM layer, carried between `generate()` steps.

    Hand-written because transformers' cache layers hold attention keys/values or the
    conv/recurrent states of linear attention, not an LSTM's pair of states. It holds no
    sequence dimension: its size does not grow with the number of words decoded."""

    def __init__(self) -> None:
        super().__init__(layers=[])
        self.states: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.seen_tokens = 0

    def __len__(self) -> int:
        return len(self.states)

    def update(self, states: list[tuple[torch.Tensor, torch.Tensor]], num_new_tokens: int) -> None:
        """Replace the layers' states with `states` after a forward over `num_new_tokens` words."""
        self.states = list(states)
        self.seen_tokens += num_new_tokens

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen_tokens

    def get_max_length(self, layer_idx: int | None = None) -> int:
        return -1

    def _map(self, fn) -> None:
        self.states = [(fn(h), fn(c)) for h, c in self.states]

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._map(lambda t: t.index_select(1, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map(lambda t: t.repeat_interleave(repeats, dim=1))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map(lambda t: t[:, indices])

    def crop(self, max_length: int) -> None:
        raise NotImplementedError("LstmLMCache: an LSTM state cannot be rolled back to an earlier word.")

    def reset(self) -> None:
        self.states, self.seen_tokens = [], 0

    @property
    def is_compileable(self) -> bool:
        return False

    @property
    def is_croppable(self) -> bool:
        return False

    @property
    def is_initialized(self) -> bool:
        return bool(self.states)

    @property
    def is_linear(self) -> list[bool]:
        return [True] * len(self.states)

    @property
    def is_sliding(self) -> list[bool]:
        return [False] * len(self.states)

    @property
    def batch_size(self) -> int:
        return self.states[0][0].shape[1]


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Variational dropout on `(batch, time, features)`: one mask per sequence, reused at every
    time step, kept units scaled by `1 / (1 - p)`; the identity when not training or `p == 0`."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1.0 - p).div_(1.0 - p)
    return x * mask


def embedding_dropout(weight: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Drop whole rows (words) of the embedding matrix with probability `p`, scale the kept rows by
    `1 / (1 - p)`; the identity when not training or `p == 0`."""
    if not training or p == 0.0:
        return weight
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1.0 - p).div_(1.0 - p)
    return weight * mask


@dataclass
class LstmLMModelOutput(BaseModelOutputWithPast):
    """[`LstmLMModel`]'s output: `last_hidden_state` is the top layer's output after locked dropout,
    `raw_last_hidden_state` the same before it (TAR's input)."""

    raw_last_hidden_state: torch.FloatTensor | None = None


@dataclass
class LstmLMCausalLMOutput(CausalLMOutputWithPast):
    """[`LstmLMForCausalLM`]'s output: `loss` is the training objective (NLL, plus AR/TAR in training
    mode), `nll` the next-word negative log-likelihood alone and `ar_tar` the AR + TAR term."""

    nll: torch.FloatTensor | None = None
    ar_tar: torch.FloatTensor | None = None


class LstmLMPreTrainedModel(PreTrainedModel):
    """Weight init and the plumbing shared by the LSTM language models."""

    config_class = LstmLMConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _is_stateful = True

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # generate() must not make a key/value DynamicCache: the forward creates an LstmLMCache.
        return False

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
        """Word vectors and output projection U(-r, r) (r = `initializer_range`), output bias 0,
        LSTM weights U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's default."""
        r = self.config.initializer_range
        if isinstance(module, nn.Embedding):
            init.uniform_(module.weight, -r, r)
        elif isinstance(module, nn.Linear):
            init.uniform_(module.weight, -r, r)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LSTM):
            bound = module.hidden_size**-0.5
            for param in module.parameters():
                init.uniform_(param, -bound, bound)


class LstmLMModel(LstmLMPreTrainedModel):
    """Embedding (with embedding dropout) and a stack of one-layer `nn.LSTM`s with locked dropout
    between them; one module per layer so each can have its own size, dropout and weight drop."""

    def __init__(self, config: LstmLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size)
        self.layers = nn.ModuleList(nn.LSTM(i, h, batch_first=True) for i, h in config.layer_sizes())
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def _run_layer(self, layer: nn.LSTM, x: torch.Tensor, state):
        p = self.config.weight_drop
        if not self.training or p == 0.0:
            return layer(x, state)
        dropped = F.dropout(layer.weight_hh_l0, p, training=True)
        return functional_call(layer, {"weight_hh_l0": dropped}, (x, state))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        cache: LstmLMCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool = False,
        output_hidden_states: bool = False,
    ) -> LstmLMModelOutput:
        """`input_ids` (batch, time) → top-layer outputs; continues from `cache`'s states if given."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("LstmLMModel: pass exactly one of input_ids and inputs_embeds.")
        cfg = self.config
        if inputs_embeds is None:
            weight = embedding_dropout(self.embed_tokens.weight, cfg.embedding_dropout, self.training)
            inputs_embeds = F.embedding(input_ids, weight)
        x = locked_dropout(inputs_embeds, cfg.input_dropout, self.training)
        previous = cache.states if cache is not None and cache.states else [None] * len(self.layers)
        states, hidden_states = [], [x] if output_hidden_states else None
        for i, layer in enumerate(self.layers):
            raw, state = self._run_layer(layer, x, previous[i])
            states.append(state)
            x = locked_dropout(raw, cfg.locked_dropout, self.training)
            if hidden_states is not None:
                hidden_states.append(x)
        if use_cache:
            cache = cache if cache is not None else LstmLMCache()
            cache.update(states, x.shape[1])
        return LstmLMModelOutput(
            last_hidden_state=x,
            raw_last_hidden_state=raw,
            hidden_states=tuple(hidden_states) if hidden_states is not None else None,
            **{CACHE_FIELD: cache if use_cache else None},
        )


class LstmLMForCausalLM(LstmLMPreTrainedModel, GenerationMixin):
    """LSTM language model with a linear head to the vocabulary (tied to the word vectors when
    `config.tie_word_embeddings`).

    `labels` follow the transformers convention (shifted inside the model; -100 ignored). In
    training mode AR/TAR (`config.ar_alpha`, `config.tar_beta`) are added to `loss`; `nll` always
    holds the next-word NLL alone, and in `eval()` `loss == nll`."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: LstmLMConfig):
        super().__init__(config)
        self.model = LstmLMModel(config)
        self.lm_head = nn.Linear(config.last_hidden_size, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head = new_embeddings

    def _ar_tar(self, dropped: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        term = dropped.new_zeros(())
        if cfg.ar_alpha:
            term = term + cfg.ar_alpha * dropped.pow(2).mean()
        if cfg.tar_beta and raw.shape[1] > 1:
            term = term + cfg.tar_beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        return term

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: LstmLMCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int = 0,
        past_key_values: LstmLMCache | None = None,
        **kwargs,
    ) -> LstmLMCausalLMOutput:
        r"""
        attention_mask (`torch.Tensor`, *optional*):
            Accepted for `generate()`; must be all ones (an LSTM reads every position, so padded
            prompts would change its state: batch prompts of equal length instead).
        cache (`LstmLMCache`, *optional*): the layers' recurrent state to continue from.
        labels (`torch.LongTensor` of shape `(batch, seq)`, *optional*):
            Targets aligned with `input_ids` (shifted inside), -100 ignored. With
            `num_items_in_batch` (passed by `Trainer`) the NLL is the sum over targets divided by it.
        """
        if cache is not None and past_key_values is not None:
            raise ValueError("LstmLMForCausalLM: pass the state as `cache` or `past_key_values`, not both.")
        cache = cache if cache is not None else past_key_values
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError(
                "LstmLMForCausalLM: attention_mask has zeros; padded prompts would run through the LSTM "
                "and change its state. Batch prompts of equal length (see docs/lstm_lm.md)."
            )
        if use_cache is None:
            use_cache = labels is None and not self.training
        out = self.model(
            input_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=bool(output_hidden_states),
        )
        hidden = out.last_hidden_state
        logits = self.lm_head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)
        loss = nll = ar_tar = None
        if labels is not None:
            nll = self.loss_function(
                logits=logits,
                labels=labels.to(logits.device),
                vocab_size=self.config.vocab_size,
                num_items_in_batch=kwargs.get("num_items_in_batch"),
            )
            loss = nll
            if self.training and (self.config.ar_alpha or self.config.tar_beta):
                ar_tar = self._ar_tar(hidden, out.raw_last_hidden_state)
                loss = nll + ar_tar
        return LstmLMCausalLMOutput(
            loss=loss,
            logits=logits,
            hidden_states=out.hidden_states,
            nll=nll,
            ar_tar=ar_tar,
            **{CACHE_FIELD: getattr(out, CACHE_FIELD)},
        )


# `save_pretrained` writes `auto_map` and copies this family's files, so a saved folder loads with
# `trust_remote_code=True` where hfmodels is not installed.
LstmLMModel.register_for_auto_class("AutoModel")
LstmLMForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "FOLDER_FILES_PUSHED",
    "LstmLMCache",
    "LstmLMCausalLMOutput",
    "LstmLMForCausalLM",
    "LstmLMModel",
    "LstmLMPreTrainedModel",
    "embedding_dropout",
    "loaded_folder_files",
    "locked_dropout",
]
