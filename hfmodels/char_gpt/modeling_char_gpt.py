"""The character-level GPT of the knowledge-access study as a Hugging Face model.

minGPT-style: token + learned position embeddings, pre-LayerNorm blocks
`x = x + attn(ln1(x)); x = x + mlp(ln2(x))`, final LayerNorm, a bias-free head.
The attention variant is chosen by `config.attention_type` from the class table
`CHAR_GPT_VARIANTS` (one entry per name of `ATTENTION_TYPES`):

* ``vanilla``: causal multi-head self-attention.
* ``synthesizer``: dense Synthesizer, `Y_i = softmax(ReLU(X A_i + b1) B_i + b2) (X V_i)`
  (docs/definitions.md, "The synthesizer"). The scores depend on the query's content and the
  *key's position* only, so the key of position p is the column `B[:, p]` (with bias `b2[p]`):
  that makes the synthesizer a dot-product attention with position-only keys, which we exploit
  for the KV cache and for packed (padding-free) batches.
* ``perceiver``: simplified Perceiver AR (docs/definitions.md, "The perceiver's masks"). A
  DownProjectBlock cross-attends a learned basis `C` (m = `bottleneck_dim` rows) to the input
  (row i sees input positions <= i), the middle `n_layer - 2` blocks are causal self-attention at
  length m, and an UpProjectBlock lets input position j attend bottleneck rows <= j.

  **Limited view (documented on purpose).** In this simplified design position j >= m sees
  only its own input (through the residual) and the m bottleneck summaries, each of which
  covers a prefix of at most m positions: the inputs at positions m..j-1 are invisible to
  position j. A full Perceiver AR keeps the whole prefix visible by using the last m
  positions as queries and a residual over the full sequence. The seed numbers of the study
  (17.0 % dev accuracy at m = 64) refer to this simplified design, which is what this class
  implements.

All masks are defined on *positions* (from `position_ids`, or derived from `attention_mask`),
so a left-padded batch decodes exactly like its rows one at a time, and rows packed with
several examples (positions restarting at 0, as `DataCollatorWithFlattening` produces) are
kept apart for `vanilla` and `synthesizer`. The CPU kernels (cheap dropout masks, key padding,
query chunking) are in `kernels_char_gpt.py`.

Attention goes through transformers' interface: every variant calls
`ALL_ATTENTION_FUNCTIONS[config._attn_implementation]`, one of `"char_gpt"` (the default: the
explicit-matmul kernel on CPU, SDPA elsewhere), `"char_gpt_matmul"`, `"sdpa"` or `"eager"`
(docs/conventions.md, "Attention implementations and caches"). All variants decode with a
`DynamicCache`; only `vanilla` also takes a `StaticCache` (`cache_implementation="static"`) and a
`torch.compile(fullgraph=True)`d decoding step; `synthesizer` and `perceiver` refuse a static cache
with a ValueError saying why (`STATIC_CACHE_UNSUPPORTED`).
"""

from __future__ import annotations

import fnmatch
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from huggingface_hub import HfApi, ModelCard
from torch import nn
from transformers import AttentionInterface, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import (
    AttentionMaskInterface,
    and_masks,
    causal_mask_function,
    or_masks,
    packed_sequence_mask_function,
    padding_mask_function,
    prepare_padding_mask,
    sdpa_mask,
)
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_char_gpt import ATTENTION_TYPES, CharGPTConfig
from .kernels_char_gpt import (
    CharGPTDropout,
    char_gpt_attention_forward,
    char_gpt_matmul_attention_forward,
    eager_attention_forward,
)

# transformers 5.24 renamed the key/value cache from `past_key_values` to `cache`, as a forward
# argument (generate passes `cache=`) and as a field of the model outputs. Both names are accepted
# here, and outputs use the field the installed version declares, so every 5.x release works.
CACHE_FIELD = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"


def _tracing() -> bool:
    """Whether torch.compile or torch.export is tracing: the forward then decides from shapes and
    flags only, never from tensor values (which a traced graph cannot branch on)."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


# The model's own attention implementations (`attn_implementation`): "char_gpt" is the default.
CHAR_GPT_ATTENTION_FUNCTIONS = {
    "char_gpt": char_gpt_attention_forward,
    "char_gpt_matmul": char_gpt_matmul_attention_forward,
}
for _name, _function in CHAR_GPT_ATTENTION_FUNCTIONS.items():
    AttentionInterface.register(_name, _function)
    # Boolean masks (True = may attend), as for SDPA, when transformers builds a mask for them.
    AttentionMaskInterface.register(_name, sdpa_mask)


def _attend(
    module: nn.Module, q, k, v, mask, is_causal: bool, scale: float, output_attentions: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The attention function of `module.config._attn_implementation` (from `ALL_ATTENTION_FUNCTIONS`)
    with the module's dropout; output (B, Tq, h, d) and, where the implementation returns them
    ("eager", ours with `output_attentions`), the probabilities."""
    implementation = module.config._attn_implementation
    attention = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
    if implementation not in CHAR_GPT_ATTENTION_FUNCTIONS and implementation != "eager":
        if k.shape[1] != q.shape[1]:  # a shared key (synthesizer) broadcast over the heads
            k = k.expand(-1, q.shape[1], -1, -1)
        if is_causal and mask is None and q.shape[-2] != k.shape[-2]:
            # Library kernels align `is_causal` to the first key; this model's causal rows end at the last.
            mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril(
                k.shape[-2] - q.shape[-2]
            )
    return attention(
        module,
        q,
        k,
        v,
        mask,
        dropout=module.attn_pdrop if module.training else 0.0,
        scaling=scale,
        is_causal=is_causal,
        output_attentions=output_attentions,
    )


def _one_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    if cache is not None and past_key_values is not None:
        raise ValueError("CharGPT: pass the key/value cache as `cache` or as `past_key_values`, not both.")
    if past_key_values is not None and CACHE_FIELD == "cache":
        warnings.warn(
            "CharGPT: `past_key_values` is deprecated since transformers 5.24; pass the cache as `cache`.",
            FutureWarning,
            stacklevel=3,
        )
    return cache if cache is not None else past_key_values


class CharGPTAttention(nn.Module):
    """Multi-head dot-product attention `softmax((X_q Q_i)(X_kv K_i)^T / sqrt(d/h)) (X_kv V_i)`,
    heads concatenated and projected by `A`. Used as causal self-attention (vanilla and the
    perceiver's middle blocks) and as the perceiver's cross-attention."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.config = config  # its `_attn_implementation` picks the attention function at each call
        self.attn_pdrop = config.attn_pdrop
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.fast_dropout = config.fast_dropout
        self.resid_drop = CharGPTDropout(config.resid_pdrop, config.fast_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, self.head_dim).transpose(1, 2)

    def project_kv(
        self, x_kv: torch.Tensor, position_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of `x_kv`, shaped (B, h, T, d/h); the keys depend on content, not on
        `position_ids` (taken for the blocks' one interface with the synthesizer)."""
        return self._heads(self.key(x_kv)), self._heads(self.value(x_kv))

    def forward(
        self,
        x_q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The attention's output and, with `output_attentions`, its probabilities (B, h, Tq, Tk)."""
        b, t, c = x_q.shape
        q = self._heads(self.query(x_q))
        y, weights = _attend(
            self, q, k, v, mask, is_causal, 1.0 / math.sqrt(self.head_dim), output_attentions
        )
        y = y.reshape(b, t, c)
        return self.resid_drop(self.proj(y)), weights


class CharGPTSynthesizerAttention(nn.Module):
    """Dense Synthesizer: `Y_i = softmax(ReLU(X A_i + b1) B_i + b2) (X V_i)`, heads concatenated
    and projected. `B` has `block_size - 1` columns (positions) as in the original code;
    `config.synthesizer_per_head` chooses one shared `B` (original) or one per head
    (docs/definitions.md, "The synthesizer")."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.config = config  # its `_attn_implementation` picks the attention function at each call
        self.attn_pdrop = config.attn_pdrop
        positions = config.block_size - 1
        self.w1 = nn.Linear(config.n_embd, config.n_embd)  # A_i (all heads) and b1
        if config.synthesizer_per_head:
            self.w2 = nn.Parameter(torch.empty(config.n_head, self.head_dim, positions))  # B_i
            self.b2 = nn.Parameter(torch.empty(config.n_head, positions))
        else:
            self.w2 = nn.Parameter(torch.empty(self.head_dim, positions))  # B shared by heads
            self.b2 = nn.Parameter(torch.empty(positions))
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.fast_dropout = config.fast_dropout
        self.resid_drop = CharGPTDropout(config.resid_pdrop, config.fast_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, self.head_dim).transpose(1, 2)

    def project_kv(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The key of position p is `[B[:, p], b2[p]]` (content-free); values are `X V_i`.
        Keys are (B, 1 or h, T, d/h + 1), values (B, h, T, d/h)."""
        if self.w2.dim() == 2:  # shared B: (P, d/h+1) table gathered by position
            table = torch.cat([self.w2.t(), self.b2[:, None]], dim=-1)
            k = table[position_ids].unsqueeze(1)
        else:
            table = torch.cat([self.w2.transpose(1, 2), self.b2[..., None]], dim=-1)  # (h, P, d/h+1)
            k = table[:, position_ids].permute(1, 0, 2, 3)
        return k, self._heads(self.value(x))

    def forward(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The attention's output and, with `output_attentions`, its probabilities (B, h, Tq, Tk)."""
        b, t, c = x.shape
        h = self._heads(F.relu(self.w1(x)))
        q = torch.cat([h, h.new_ones(b, self.n_head, t, 1)], dim=-1)  # the 1 picks up b2
        y, weights = _attend(self, q, k.to(q.dtype), v, mask, is_causal, 1.0, output_attentions)
        y = y.reshape(b, t, c)
        return self.resid_drop(self.proj(y)), weights


class CharGPTVariant(NamedTuple):
    """What `config.attention_type` decides about the model's layers."""

    attention: type[nn.Module]  # the self-attention class of the Transformer blocks
    bottleneck: bool  # blocks run on the perceiver's m learned rows, between a down- and an up-projection


# The class table of the attention variants, one entry per name of `ATTENTION_TYPES`.
CHAR_GPT_VARIANTS: dict[str, CharGPTVariant] = {
    "vanilla": CharGPTVariant(CharGPTAttention, bottleneck=False),
    "synthesizer": CharGPTVariant(CharGPTSynthesizerAttention, bottleneck=False),
    "perceiver": CharGPTVariant(CharGPTAttention, bottleneck=True),
}
if tuple(CHAR_GPT_VARIANTS) != ATTENTION_TYPES:
    raise ImportError(
        f"CHAR_GPT_VARIANTS {tuple(CHAR_GPT_VARIANTS)} must list ATTENTION_TYPES {ATTENTION_TYPES}"
    )


class CharGPTMLP(nn.Module):
    """`n_embd -> 4 n_embd -> n_embd` with GELU and residual dropout."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.drop = CharGPTDropout(config.resid_pdrop, config.fast_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class CharGPTBlock(GradientCheckpointingLayer):
    """Pre-LayerNorm block `x = x + attn(ln1(x)); x = x + mlp(ln2(x))` with the self-attention
    class `attention` (an entry of `CHAR_GPT_VARIANTS`)."""

    def __init__(self, config: CharGPTConfig, attention: type[nn.Module] = CharGPTAttention):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = attention(config)
        self.mlp = CharGPTMLP(config)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        is_causal: bool,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        layer_idx: int = 0,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The block's output and, with `output_attentions`, its attention probabilities."""
        h = self.ln1(x)
        k, v = self.attn.project_kv(h, position_ids)
        if cache is not None:
            k, v = cache.update(k, v, layer_idx)
        a, weights = self.attn(h, k, v, mask, is_causal, output_attentions)
        x = x + a
        return x + self.mlp(self.ln2(x)), weights


class CharGPTDownProjectBlock(GradientCheckpointingLayer):
    """Perceiver DownProjectBlock: `Y = C + CrossAttn(q=C, kv=ln1(X)); Y = Y + MLP(ln2(Y))` with the
    learned basis `C` (1 x m x d, Xavier-uniform) broadcast over the batch; row i attends input
    positions <= i."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.C = nn.Parameter(torch.empty(1, config.bottleneck_dim, config.n_embd))
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CharGPTAttention(config)
        self.mlp = CharGPTMLP(config)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        cache: Cache | None = None,
        start: int = 0,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Bottleneck rows `start..m-1` (`mask`: (B, 1, m, inputs) for all m rows; none when `start` is
        m); with a `cache`, the keys/values of the inputs are appended to its layer 0 and attended in full."""
        k, v = self.attn.project_kv(self.ln1(x))
        if cache is not None:
            k, v = cache.update(k, v, 0)
        if start >= self.C.shape[1]:
            return x[:, :0], None
        c = self.C[:, start:].expand(x.shape[0], -1, -1).to(x.dtype)
        a, weights = self.attn(c, k, v, mask[:, :, start:], output_attentions=output_attentions)
        y = c + a
        return y + self.mlp(self.ln2(y)), weights


class CharGPTUpProjectBlock(GradientCheckpointingLayer):
    """Perceiver UpProjectBlock: `Z = X + CrossAttn(q=X, kv=ln1(Y)); Z = Z + MLP(ln2(Z))`; input
    position j attends bottleneck rows <= j. Output length is the input's again."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CharGPTAttention(config)
        self.mlp = CharGPTMLP(config)

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        mask: torch.Tensor,
        cache: Cache | None = None,
        layer_idx: int = 0,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """With a `cache`, `y` holds the bottleneck rows after those its layer `layer_idx` keeps."""
        k, v = self.attn.project_kv(self.ln1(y))
        if cache is not None:
            k, v = cache.update(k, v, layer_idx)
        a, weights = self.attn(x, k, v, mask, output_attentions=output_attentions)
        z = x + a
        return z + self.mlp(self.ln2(z)), weights


def _same_index(batch_idx, head_idx, q_idx, kv_idx):
    """Mask function (`transformers.masking_utils` style): every query sees its own key."""
    return q_idx == kv_idx


# Why a variant cannot use a fixed-size, compileable cache (StaticCache); the vanilla variant can.
STATIC_CACHE_UNSUPPORTED = {
    "synthesizer": "its keys (one head of d/h + 1 position features) and values (h heads of d/h) have "
    "different shapes, where a static cache allocates both alike",
    "perceiver": "its cache holds the bottleneck's m rows, recomputed from the smallest new position on "
    "and cropped, not one entry per token written in order",
}


def _keep_first(cache: Cache, layer_idx: int, n: int) -> None:
    """Drop the entries after the first `n` from the cache's layer `layer_idx`."""
    extra = cache.get_seq_length(layer_idx) - n
    if extra > 0:
        cache.layers[layer_idx].crop(-extra)  # a negative size removes that many (every transformers 5)


@dataclass
class CharGPTRecorder:
    """Collects the hidden states and attention probabilities a forward call was asked for."""

    hidden_states: list[torch.Tensor] | None
    attentions: list[torch.Tensor] | None

    def hidden(self, x: torch.Tensor) -> None:
        """Record the input of a layer (or the final output)."""
        if self.hidden_states is not None:
            self.hidden_states.append(x)

    def attention(self, weights: torch.Tensor | None) -> None:
        """Record a layer's attention probabilities."""
        if self.attentions is not None:
            self.attentions.append(weights)

    def hidden_states_out(self) -> tuple[torch.Tensor, ...] | None:
        """The recorded hidden states as the output's tuple."""
        return None if self.hidden_states is None else tuple(self.hidden_states)

    def attentions_out(self) -> tuple[torch.Tensor, ...] | None:
        """The recorded attentions as the output's tuple."""
        return None if self.attentions is None else tuple(self.attentions)


@dataclass
class CharGPTPositions:
    """Where the tokens of one forward call sit; every mask is defined on these positions."""

    keys: torch.Tensor  # (B, past + T): position of every key, the cached ones included
    queries: torch.Tensor  # (B, T): position of every new token
    packed: bool  # a position restarts at 0 inside a row: the row holds several examples
    plain: bool  # neither a padding mask nor given positions: key i is at position i


#: Files of the folder a model was loaded from that `push_to_hub` uploads beside the freshly saved
#: weights/config: the project's card, the tokenizer, remote code and the run's reports (top level
#: only, so no Trainer checkpoint, `training_args.bin` or TensorBoard events).
FOLDER_FILES_PUSHED = (
    "README.md",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "*.py",
    "metrics.json",
    "report.md",
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


class CharGPTPreTrainedModel(PreTrainedModel):
    """Weight init (minGPT's, as the original course code) and the plumbing shared by the
    character GPT models."""

    config_class = CharGPTConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    _no_split_modules = ["CharGPTBlock", "CharGPTDownProjectBlock", "CharGPTUpProjectBlock"]
    # Every block is a `GradientCheckpointingLayer`: `gradient_checkpointing_enable()` recomputes
    # them in the backward pass (torch's checkpoint restores the RNG, so dropout draws the same masks).
    supports_gradient_checkpointing = True
    _supports_cache_class = True
    # `attn_implementation`: "char_gpt" (default), "char_gpt_matmul", "sdpa" or "eager"
    # (docs/conventions.md, "Attention implementations and caches").
    _supports_sdpa = True

    def get_correct_attn_implementation(
        self, requested_attention: str | None, is_init_check: bool = False
    ) -> str:
        """transformers' check of `attn_implementation`, with this model's default: none requested
        (nor saved as `attention_backend`) is "char_gpt", not SDPA, because the explicit-matmul kernel is
        faster on CPU at head size 32 (docs/performance.md); it runs SDPA on other devices itself."""
        if requested_attention is None:
            return "char_gpt"
        return super().get_correct_attn_implementation(requested_attention, is_init_check)

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
        """Upload the model folder: `save_pretrained`'s weights, config and generation config, plus
        the project's card (`README.md`), the tokenizer and the reports of the folder the model was
        loaded from ([`FOLDER_FILES_PUSHED`]); returns the `CommitInfo`.

        Overridden because `PushToHubMixin.push_to_hub` replaces `README.md` with the repo's current
        card or transformers' generic template (`create_and_tag_model_card`); the model package
        cannot build a card itself (cards are `hfmodels.reporting`'s), so it keeps the one its folder
        has. `tags` are added to that card's metadata. A model without a loaded folder card (e.g. a
        new `CharGPTForCausalLM(config)`) is pushed the transformers way."""
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
        """Linear/Embedding weights N(0, 0.02), biases 0, LayerNorm 1/0, perceiver basis C
        Xavier-uniform, synthesizer `B` U(-0.001, 0.001) and `b2` 0 (as the original)."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CharGPTDownProjectBlock):
            init.xavier_uniform_(module.C)
        elif isinstance(module, CharGPTSynthesizerAttention):
            init.uniform_(module.w2, -0.001, 0.001)
            init.zeros_(module.b2)


class CharGPTModel(CharGPTPreTrainedModel):
    """The bare character GPT: embeddings, blocks and final LayerNorm, returning hidden states.

    The layers follow `CHAR_GPT_VARIANTS[config.attention_type]`: `n_layer` blocks (`h`), or for a
    bottleneck variant a down-projection (`down`), `n_layer - 2` blocks on the bottleneck (`h`) and
    an up-projection (`up`)."""

    def __init__(self, config: CharGPTConfig):
        super().__init__(config)
        variant = CHAR_GPT_VARIANTS[config.attention_type]
        self.bottleneck = variant.bottleneck
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = CharGPTDropout(config.embd_pdrop, config.fast_dropout)
        if self.bottleneck:
            self.down = CharGPTDownProjectBlock(config)
            self.h = nn.ModuleList(
                [CharGPTBlock(config, variant.attention) for _ in range(config.n_layer - 2)]
            )
            self.up = CharGPTUpProjectBlock(config)
        else:
            self.h = nn.ModuleList([CharGPTBlock(config, variant.attention) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.wte

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.wte = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, seq)`): character ids.
            attention_mask (`torch.Tensor` of shape `(batch, past + seq)`, *optional*):
                1 for real tokens, 0 for padding (left padding for batched generation).
            position_ids (`torch.LongTensor` of shape `(batch, seq)`, *optional*):
                Positions of the tokens. Without a cache, a position that restarts at 0 inside a
                row starts a new, separate example (packed rows; vanilla and synthesizer only).
            cache (`Cache`, *optional*): key/value cache for incremental decoding
                (`past_key_values`, its name before transformers 5.24, is accepted too).
            output_attentions, output_hidden_states, return_dict (`bool`, *optional*): as in every
                transformers model, defaulting to the config's. Hidden states are `n_layer + 1`: the
                embeddings, the input of every later layer, and the final LayerNorm's output. For the
                perceiver the first and last have the input's length and the `n_layer - 1` between
                them (the down-projection's and middle blocks' outputs) the bottleneck's length m;
                its attentions are the down-projection's (m x inputs), the middle blocks' (m x m)
                and the up-projection's (inputs x m).
        """
        cfg = self.config
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = cfg.return_dict if return_dict is None else return_dict
        cache = self._cache_for_call(_one_cache(cache, past_key_values), use_cache)
        x = self._embed(input_ids, inputs_embeds)
        b, t = x.shape[:2]
        static = self._check_static_cache(cache)
        past = cache.get_seq_length() if cache is not None else 0  # a 0-dim tensor for a static cache
        kv_length = cache.get_mask_sizes(t, 0)[0] if static else past + t
        attention_mask = self._padding_mask(attention_mask, b, past, t, kv_length, x.device)
        positions = self._positions(attention_mask, position_ids, b, t, past, kv_length, static, x.device)
        x = self.drop(x + self.wpe(positions.queries))
        rec = CharGPTRecorder([] if output_hidden_states else None, [] if output_attentions else None)
        if self.bottleneck:
            x = self._bottleneck_layers(x, attention_mask, positions, cache, rec)
        else:
            mask = self._self_attention_mask(attention_mask, positions, past, kv_length)
            for i, block in enumerate(self.h):
                rec.hidden(x)
                x, weights = block(x, mask, True, positions.queries, cache, i, output_attentions)  # causal
                rec.attention(weights)
        x = self.ln_f(x)
        rec.hidden(x)
        out = BaseModelOutputWithPast(
            last_hidden_state=x,
            hidden_states=rec.hidden_states_out(),
            attentions=rec.attentions_out(),
            **{CACHE_FIELD: cache},
        )
        return out if return_dict else out.to_tuple()

    def _check_static_cache(self, cache: Cache | None) -> bool:
        """Whether `cache` is a compileable, fixed-size cache (`StaticCache`), which only the vanilla
        variant can use (a clear error for the others)."""
        if cache is None or not cache.is_compileable:
            return False
        why = STATIC_CACHE_UNSUPPORTED.get(self.config.attention_type)
        if why is not None:
            raise ValueError(
                f"CharGPTModel: the {self.config.attention_type} variant cannot decode with a {type(cache).__name__} "
                f"(cache_implementation='static'): {why}. Use the default DynamicCache."
            )
        return True

    def _cache_for_call(self, cache: Cache | None, use_cache: bool | None) -> Cache | None:
        """The cache this call reads and extends: a fresh one when caching in eval mode, none when off."""
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if not use_cache:
            return None
        if cache is None and not self.training:
            return DynamicCache()
        return cache

    def _embed(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings of `input_ids` (checked: at least one token, ids inside the vocabulary)
        or the given `inputs_embeds`."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("CharGPTModel: pass exactly one of input_ids or inputs_embeds.")
        x = (
            self.wte(_checked_ids(input_ids, self.config.vocab_size))
            if inputs_embeds is None
            else inputs_embeds
        )
        if x.dim() != 3 or x.shape[1] == 0:
            raise ValueError(
                f"CharGPTModel: the input has shape {tuple(x.shape[:-1])}; "
                "expected (batch, seq) with seq >= 1 "
                "(an empty sequence has nothing to attend to; generate needs a prompt of at least one token)."
            )
        return x

    @staticmethod
    def _padding_mask(
        attention_mask: torch.Tensor | None,
        b: int,
        past: int | torch.Tensor,
        t: int,
        kv_length: int,
        device: torch.device,
    ) -> torch.Tensor | None:
        """`attention_mask` as booleans of shape (B, kv_length), or None where nothing is padding.

        It covers the cached and new tokens (B, past + T); for a static cache it may also cover the
        whole cache (B, kv_length), as `generate` passes it (a fixed shape that a compiled step keeps)."""
        if attention_mask is None:
            return None
        attention_mask = attention_mask.to(device=device, dtype=torch.bool)
        if not _tracing():
            allowed = {(b, int(past) + t), (b, kv_length)}
            if tuple(attention_mask.shape) not in allowed:
                raise ValueError(
                    f"CharGPTModel: attention_mask has shape {tuple(attention_mask.shape)}, "
                    f"expected {(b, int(past) + t)} "
                    f"(batch, cached + new tokens)."
                )
        # A static cache's keys cover all its slots: the ones not written yet are padding.
        attention_mask = prepare_padding_mask(attention_mask, kv_length, 0)
        if _tracing():
            return attention_mask  # kept as given: a traced graph cannot test it for padding
        return None if bool(attention_mask.all()) else attention_mask

    def _positions(
        self,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        b: int,
        t: int,
        past: int | torch.Tensor,
        kv_length: int,
        static: bool,
        device: torch.device,
    ) -> CharGPTPositions:
        """Positions of keys and queries: the given `position_ids` (packing detected where one restarts
        at 0 inside a row, without a cache), else counted over the unpadded tokens. `past` is a tensor
        for a static cache, whose queries are then gathered (a traced graph cannot slice at it)."""
        if attention_mask is not None:
            keys = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        else:
            keys = torch.arange(kv_length, device=device).expand(b, kv_length)
        plain = attention_mask is None and position_ids is None
        packed = False
        if position_ids is None:
            if isinstance(past, int):
                queries = keys[:, past : past + t]
            else:
                queries = keys.index_select(1, torch.arange(t, device=device) + past)
        else:
            queries = position_ids.to(device).expand(b, t)
            if not static and past == 0:
                keys = queries
                starts = queries[:, 1:] == 0
                if attention_mask is not None:
                    starts = starts & attention_mask[:, 1:] & attention_mask[:, :-1]
                # Traced: every given position_ids are treated as possibly packed (the segment mask
                # is then computed; it is all-True for one example per row).
                packed = not self.bottleneck if _tracing() else bool(starts.any())
        if _tracing():
            return CharGPTPositions(keys=keys, queries=queries, packed=packed, plain=plain)
        max_pos, limit = int(queries.max()), self.config.max_input_length
        if max_pos >= limit or int(queries.min()) < 0:
            raise ValueError(
                f"CharGPTModel: position {max_pos} is out of range; this {self.config.attention_type} model "
                f"accepts at most {limit} positions (block_size={self.config.block_size})."
            )
        return CharGPTPositions(keys=keys, queries=queries, packed=packed, plain=plain)

    @staticmethod
    def _self_attention_mask(
        attention_mask: torch.Tensor | None,
        positions: CharGPTPositions,
        past: int | torch.Tensor,
        kv_length: int,
    ) -> torch.Tensor | None:
        """(B, 1, T, kv_length) boolean mask of the self-attention blocks: causal, padding keys hidden (a
        row still sees itself), packed examples kept apart; None where the plain causal mask will do.

        Built from `transformers.masking_utils`' mask functions with `sdpa_mask`, not with
        `create_causal_mask`: that one hides a padding query from itself too (a row of -inf, NaN through
        the explicit-matmul softmax) and splits packed rows at every position jump, not at a restart at 0."""
        b, t = positions.queries.shape
        if attention_mask is None and not positions.packed and kv_length == t:
            return None
        mask_function = causal_mask_function
        if attention_mask is not None:
            mask_function = and_masks(
                mask_function, or_masks(padding_mask_function(attention_mask), _same_index)
            )
        if positions.packed:
            segments = (positions.queries == 0).cumsum(-1)
            mask_function = and_masks(mask_function, packed_sequence_mask_function(segments))
        return sdpa_mask(
            batch_size=b,
            q_length=t,
            kv_length=kv_length,
            q_offset=past,
            mask_function=mask_function,
            allow_is_causal_skip=False,
            device=positions.queries.device,
        )

    def _bottleneck_masks(
        self, attention_mask: torch.Tensor | None, positions: CharGPTPositions
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks of the perceiver's down- and up-projection (docs/definitions.md, "The perceiver's
        masks"): (B, m, past + T), bottleneck row i sees input positions <= i; (B, T, m), position j
        sees bottleneck rows <= j."""
        if positions.packed:
            raise ValueError(
                "CharGPTModel: the perceiver variant cannot take packed rows (position_ids restarting at 0 "
                "inside a row): its bottleneck summarises one sequence. Pad instead of packing."
            )
        rows = torch.arange(self.config.bottleneck_dim, device=positions.keys.device)
        down_mask = positions.keys[:, None, :] <= rows[None, :, None]
        if attention_mask is not None:
            down_mask = down_mask & attention_mask[:, None, :]
            down_mask = down_mask | ~down_mask.any(-1, keepdim=True)  # rows of an all-pad input
        up_mask = rows[None, None, :] <= positions.queries[:, :, None]
        return down_mask, up_mask

    def _bottleneck_layers(
        self,
        x: torch.Tensor,
        attention_mask: torch.Tensor | None,
        positions: CharGPTPositions,
        cache: Cache | None,
        rec: CharGPTRecorder,
    ) -> torch.Tensor:
        """Down-projection, the middle blocks on the m bottleneck rows, up-projection."""
        down_mask, up_mask = self._bottleneck_masks(attention_mask, positions)
        if cache is not None:
            return self._cached_bottleneck_layers(x, down_mask, up_mask, positions, cache, rec)
        m = self.config.bottleneck_dim
        want = rec.attentions is not None
        x_kv = x
        if positions.plain and not want:  # returned attentions cover every input
            # Bottleneck row i < m attends input positions <= i, here the first m inputs: the
            # keys and values of the others would be masked out, so they are not computed.
            x_kv, down_mask = x[:, :m], down_mask[..., :m]
        rec.hidden(x)
        y, weights = self.down(x_kv, down_mask[:, None], output_attentions=want)
        rec.attention(weights)
        for block in self.h:
            rec.hidden(y)
            y, weights = block(y, None, True, output_attentions=want)
            rec.attention(weights)
        rec.hidden(y)
        z, weights = self.up(x, y, up_mask[:, None], output_attentions=want)
        rec.attention(weights)
        return z

    def _cached_bottleneck_layers(
        self,
        x: torch.Tensor,
        down_mask: torch.Tensor,
        up_mask: torch.Tensor,
        positions: CharGPTPositions,
        cache: Cache,
        rec: CharGPTRecorder,
    ) -> torch.Tensor:
        """The perceiver's incremental decoding.

        Cache layer 0 holds the inputs' keys/values; layers 1..n hold the keys/values of the
        bottleneck rows in the middle blocks and in the up-projection. Row i sees only inputs at
        positions <= i (and, in the middle blocks, rows <= i), so the rows below the smallest new
        position are as they were: only rows `start..m-1` are computed (none once every sequence is
        m long), the cached rows above `start` dropped first."""
        m = self.config.bottleneck_dim
        up_idx = len(self.h) + 1
        want = rec.attentions is not None
        if rec.hidden_states is not None or want or _tracing():
            start = 0  # every row's states are returned, or a traced graph cannot read the positions
        else:
            start = min(cache.get_seq_length(up_idx), int(positions.queries.min()), m)
        for layer_idx in range(1, up_idx + 1):
            _keep_first(cache, layer_idx, start)
        rec.hidden(x)
        y, weights = self.down(x, down_mask[:, None], cache, start, output_attentions=want)
        rec.attention(weights)
        for i, block in enumerate(self.h, 1):
            rec.hidden(y)
            if start < m:
                y, weights = block(y, None, True, cache=cache, layer_idx=i, output_attentions=want)
                rec.attention(weights)
        rec.hidden(y)
        z, weights = self.up(x, y, up_mask[:, None], cache, up_idx, output_attentions=want)
        rec.attention(weights)
        return z


def _checked_ids(input_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """`input_ids`, after checking in eager mode that every id is in `0..vocab_size - 1` (an
    embedding lookup would fail with a bare index error)."""
    if input_ids.numel() == 0 or torch.compiler.is_compiling():
        return input_ids
    low, high = (int(v) for v in torch.aminmax(input_ids))
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"CharGPTModel: input id {bad} is outside the vocabulary; ids must be in 0..{vocab_size - 1} "
            f"(vocab_size={vocab_size})."
        )
    return input_ids


# `generate` arguments that select assisted (speculative) decoding.
ASSISTED_GENERATION_ARGS = ("assistant_model", "prompt_lookup_num_tokens", "assistant_early_exit")


class CharGPTForCausalLM(CharGPTPreTrainedModel, GenerationMixin):
    """Character GPT with a bias-free linear head to the vocabulary.

    `labels` follow the transformers convention (they are shifted inside the model): pass
    `labels=input_ids` with ignored targets set to -100 or to PAD (id 0). PAD targets are
    ignored exactly as the original's `ignore_index=0` (docs/definitions.md, "Vocabulary"), so
    feeding the original `x = s[:-1]` with `labels = s[:-1]` gives the original loss on
    `y = s[1:]` (the target after the last input is always PAD in the study's data).
    """

    def __init__(self, config: CharGPTConfig):
        super().__init__(config)
        self.transformer = CharGPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head = new_embeddings

    def generate(self, inputs: torch.Tensor | None = None, *args, **kwargs):
        """`GenerationMixin.generate`, after refusing an empty prompt with a clear error (the stock
        method fails on it with a bare index error before the model runs)."""
        prompt = inputs if inputs is not None else kwargs.get("input_ids")
        if isinstance(prompt, torch.Tensor) and prompt.dim() == 2 and prompt.shape[1] == 0:
            raise ValueError(
                f"CharGPTForCausalLM.generate: the prompt has shape {tuple(prompt.shape)}; generate needs a "
                "prompt of at least one token (the study's prompts end with the ⁇ delimiter)."
            )
        variant = self.config.attention_type
        static = kwargs.get("cache_implementation") or self.generation_config.cache_implementation
        if static is not None and "static" in str(static) and variant in STATIC_CACHE_UNSUPPORTED:
            raise ValueError(
                f"CharGPTForCausalLM.generate: cache_implementation={static!r} is not supported by the {variant} "
                f"variant: {STATIC_CACHE_UNSUPPORTED[variant]}. Use the default dynamic cache."
            )
        assisted = [k for k in ASSISTED_GENERATION_ARGS if kwargs.get(k) is not None]
        if self.config.attention_type == "perceiver" and assisted:
            raise ValueError(
                f"CharGPTForCausalLM.generate: assisted generation ({', '.join(assisted)}) is not supported by "
                "the perceiver variant: its cache and middle hidden states hold the bottleneck's m rows, "
                "not one entry per token, so candidate tokens cannot be verified and cropped per position."
            )
        return super().generate(inputs, *args, **kwargs)

    def create_masks_for_generate(
        self,
        config: CharGPTConfig,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: Cache | None,
        **kwargs,
    ) -> torch.Tensor | None:
        """What `generate` passes as `attention_mask` with a compileable (static) cache: the 2D padding
        mask, padded with zeros to the cache's length, instead of transformers' 4D mask, because the model
        builds its masks from padding and positions itself (`CharGPTModel._self_attention_mask`); the
        fixed shape keeps a compiled decoding step from recompiling as the sequence grows."""
        if attention_mask is None or attention_mask.dim() != 2 or cache is None or not cache.is_compileable:
            return attention_mask
        return prepare_padding_mask(attention_mask, cache.get_mask_sizes(inputs_embeds.shape[1], 0)[0], 0)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        past_key_values: Cache | None = None,
        shift_labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch, seq)`, *optional*):
            Targets aligned with `input_ids` (shifted inside). -100 and PAD (id 0) are ignored.
            With `num_items_in_batch` (passed by `Trainer`) the loss is the sum over targets
            divided by that count, so gradient accumulation and several processes average
            per token exactly like one large batch.
        cache (`Cache`, *optional*): key/value cache (`past_key_values` before transformers 5.24).
        shift_labels (`torch.LongTensor` of shape `(batch, seq)`, *optional*):
            Targets already shifted (position i's target at i), as sequence-parallel training
            passes them; used instead of shifting `labels`. PAD and -100 are ignored.
        """
        past_key_values = _one_cache(cache, past_key_values)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if (labels is not None or shift_labels is not None) and use_cache is None:
            use_cache = False  # a loss computation never needs a fresh cache
        out = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(hidden)
        loss = None
        if shift_labels is not None:
            shift_labels = shift_labels.to(logits.device)
            shift_labels = shift_labels.masked_fill(shift_labels == self.config.pad_token_id, -100)
            loss = self.loss_function(
                logits=logits,
                labels=None,
                shift_labels=shift_labels,
                vocab_size=self.config.vocab_size,
                num_items_in_batch=kwargs.get("num_items_in_batch"),
            )
        elif labels is not None:
            labels = labels.to(logits.device).masked_fill(labels == self.config.pad_token_id, -100)
            if position_ids is not None and past_key_values is None and labels.shape[1] > 1:
                # Packed rows: the first token of each example is not the target of the
                # previous example's last token.
                restart = position_ids.to(labels.device).expand_as(labels)[:, 1:] == 0
                labels = torch.cat([labels[:, :1], labels[:, 1:].masked_fill(restart, -100)], dim=1)
            loss = self.loss_function(
                logits=logits,
                labels=labels,
                vocab_size=self.config.vocab_size,
                num_items_in_batch=kwargs.get("num_items_in_batch"),
            )
        result = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            **{CACHE_FIELD: getattr(out, CACHE_FIELD)},
        )
        return result if return_dict else result.to_tuple()


# `save_pretrained` writes `auto_map` and copies this family's files (this one, the configuration
# and the kernels), so a saved folder loads with `trust_remote_code=True` where hfmodels is not installed.
CharGPTModel.register_for_auto_class("AutoModel")
CharGPTForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "CHAR_GPT_VARIANTS",
    "CharGPTForCausalLM",
    "CharGPTModel",
    "CharGPTPreTrainedModel",
    "CharGPTVariant",
]
