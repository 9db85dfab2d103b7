"""The character-level GPT of the knowledge-access study (SPEC §1) as a Hugging Face model.

minGPT-style: token + learned position embeddings, pre-LayerNorm blocks
`x = x + attn(ln1(x)); x = x + mlp(ln2(x))`, final LayerNorm, a bias-free head.
Three attention variants are chosen by `config.attention_type`:

* ``vanilla``: causal multi-head self-attention (SPEC "vanilla").
* ``synthesizer``: dense Synthesizer, `Y_i = softmax(ReLU(X A_i + b1) B_i + b2) (X V_i)`.
  The scores depend on the query's content and the *key's position* only, so the key of
  position p is the column `B[:, p]` (with bias `b2[p]`): that makes the synthesizer a
  dot-product attention with position-only keys, which we exploit for the KV cache and for
  packed (padding-free) batches.
* ``perceiver``: simplified Perceiver AR. A DownProjectBlock cross-attends a learned basis
  `C` (m = `bottleneck_dim` rows) to the input (row i sees input positions <= i), the middle
  `n_layer - 2` blocks are causal self-attention at length m, and an UpProjectBlock lets
  input position j attend bottleneck rows <= j.

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
kept apart for `vanilla` and `synthesizer`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from .configuration_char_gpt import CharGPTConfig

# transformers 5.24 renamed the key/value cache from `past_key_values` to `cache`, as a forward
# argument (generate passes `cache=`) and as a field of the model outputs. Both names are accepted
# here, and outputs use the field the installed version declares, so every 5.x release works.
CACHE_FIELD = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"


def _one_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    if cache is not None and past_key_values is not None:
        raise ValueError("CharGPT: pass the key/value cache as `cache` or as `past_key_values`, not both.")
    return cache if cache is not None else past_key_values


def _keep_draw(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """int16 draws, negative exactly where dropout keeps the element (P = round((1 - p) 2**15) / 2**15).

    Four uniforms per 64-bit random word of torch's default generator; `r >> 1` of an int16 uniform
    is uniform on [-2**14, 2**14), and subtracting the threshold cannot overflow int16."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    return (words.view(torch.int16)[:n] >> 1).sub_(round((1.0 - p) * 32768) - 16384).view(shape)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Boolean dropout keep-mask with `P(keep) = round((1 - p) * 2**15) / 2**15`, drawn cheaply.

    One 64-bit random word gives four independent 16-bit uniforms (15 bits of each are used), so
    this needs a quarter of the random numbers of `torch.bernoulli_` and no float conversion
    (about 4x faster on CPU). It uses torch's default generator, so `torch.manual_seed` makes it
    reproducible. [`dropout_scale`] draws the same mask as numbers.
    """
    return _keep_draw(shape, p, device) < 0


def dropout_scale(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """The inverted-dropout multiplier `keep / (1 - p)` in `dtype`: [`keep_mask`] (the same draw for
    the same seed) as numbers. For 16-bit floats it is built with integer operations on the bit
    patterns, because converting a bool tensor is several times slower on CPU than a pass of
    arithmetic: the draw's sign, spread by `>> 15`, selects the bits of `1 / (1 - p)` in `dtype`."""
    scale = 1.0 / (1.0 - p)
    if dtype not in (torch.bfloat16, torch.float16):
        return keep_mask(shape, p, device).to(dtype).mul_(scale)
    bits = torch.tensor(scale, dtype=dtype).view(torch.int16).item()
    return _keep_draw(shape, p, device).bitwise_right_shift_(15).bitwise_and_(bits).view(dtype)


def dropout(x: torch.Tensor, p: float, training: bool, fast: bool) -> torch.Tensor:
    """Inverted dropout `x * Bernoulli(1 - p) / (1 - p)`; `fast` draws the mask with [`dropout_scale`]
    on CPU (same Bernoulli distribution up to 2**-16 in the keep probability)."""
    if not training or p == 0.0:
        return x
    if not fast or x.device.type != "cpu" or torch.compiler.is_compiling():
        # Other devices have fast native RNG; under torch.compile `random_` breaks the graph.
        return F.dropout(x, p=p, training=True)
    return x * dropout_scale(x.shape, p, x.device, x.dtype)


class CharGPTDropout(nn.Dropout):
    """`nn.Dropout` that uses the cheap CPU mask of [`keep_mask`] when `fast` is set."""

    def __init__(self, p: float, fast: bool = True):
        super().__init__(p)
        self.fast = fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.fast)


# Keys are padded to a multiple of this on CPU (see `attend`).
KEY_MULTIPLE = 16
# Causal self-attention on CPU takes its queries in chunks of at least QUERY_CHUNK rows, at most
# QUERY_CHUNKS of them (see `attend`).
QUERY_CHUNK = 64
QUERY_CHUNKS = 8


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
        # Queries in chunks, each against the keys up to its last row: the scores above the
        # diagonal, masked out anyway, are mostly not computed (25 % fewer at 127 rows in 2 chunks,
        # 44 % in 8). The attention's forward and backward: about 1.3x as fast at 127 rows, 2-3x
        # at 512-2048; smaller chunks than tq / 8 cost more per chunk than they save at long rows.
        rows = max(QUERY_CHUNK, -(-tq // (QUERY_CHUNKS * KEY_MULTIPLE)) * KEY_MULTIPLE)
        out, start = [], 0
        for q_chunk in q.split(rows, dim=-2):
            end = start + q_chunk.shape[-2]
            k_chunk, v_chunk = (k, v) if end == tk else (k[..., :end, :], v[..., :end, :])
            m_chunk = None if mask is None else mask[..., start:end, :end]
            out.append(
                attend(q_chunk, k_chunk, v_chunk, m_chunk, True, dropout_p, scale, backend, fast_dropout)
            )
            start = end
        return torch.cat(out, dim=-2)
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
        # The mask as a 0 / -inf bias added in place: one pass, and an identity gradient, where
        # `masked_fill` copies the scores forward and the gradient backward (reading a bool mask).
        att = att.add_(attention_bias(mask, att.dtype))
    att = torch.softmax(att, dim=-1)
    att = dropout(att, dropout_p, dropout_p > 0.0, fast_dropout)
    return torch.matmul(att.to(v.dtype), v)


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The boolean mask (True = may attend) as an additive bias: 0 where allowed, -inf elsewhere."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


class CharGPTAttention(nn.Module):
    """Multi-head dot-product attention `softmax((X_q Q_i)(X_kv K_i)^T / sqrt(d/h)) (X_kv V_i)`,
    heads concatenated and projected by `A`. Used as causal self-attention (vanilla and the
    perceiver's middle blocks) and as the perceiver's cross-attention."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.backend = config.attention_backend
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

    def project_kv(self, x_kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of `x_kv`, shaped (B, h, T, d/h)."""
        return self._heads(self.key(x_kv)), self._heads(self.value(x_kv))

    def forward(
        self,
        x_q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        b, t, c = x_q.shape
        q = self._heads(self.query(x_q))
        p = self.attn_pdrop if self.training else 0.0
        y = attend(
            q, k, v, mask, is_causal, p, 1.0 / math.sqrt(self.head_dim), self.backend, self.fast_dropout
        )
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_drop(self.proj(y))


class CharGPTSynthesizerAttention(nn.Module):
    """Dense Synthesizer: `Y_i = softmax(ReLU(X A_i + b1) B_i + b2) (X V_i)`, heads concatenated
    and projected. `B` has `block_size - 1` columns (positions) as in the original code;
    `config.synthesizer_per_head` chooses one shared `B` (original) or one per head."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.backend = config.attention_backend
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
    ) -> torch.Tensor:
        b, t, c = x.shape
        h = self._heads(F.relu(self.w1(x)))
        q = torch.cat([h, h.new_ones(b, self.n_head, t, 1)], dim=-1)  # the 1 picks up b2
        p = self.attn_pdrop if self.training else 0.0
        y = attend(q, k.to(q.dtype), v, mask, is_causal, p, 1.0, self.backend, self.fast_dropout)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_drop(self.proj(y))


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


class CharGPTBlock(nn.Module):
    """Pre-LayerNorm block `x = x + attn(ln1(x)); x = x + mlp(ln2(x))` (vanilla or synthesizer)."""

    def __init__(self, config: CharGPTConfig, synthesizer: bool = False):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CharGPTSynthesizerAttention(config) if synthesizer else CharGPTAttention(config)
        self.mlp = CharGPTMLP(config)
        self.synthesizer = synthesizer

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        is_causal: bool,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        layer_idx: int = 0,
    ) -> torch.Tensor:
        h = self.ln1(x)
        k, v = self.attn.project_kv(h, position_ids) if self.synthesizer else self.attn.project_kv(h)
        if cache is not None:
            k, v = cache.update(k, v, layer_idx)
        x = x + self.attn(h, k, v, mask, is_causal)
        return x + self.mlp(self.ln2(x))


class CharGPTDownProjectBlock(nn.Module):
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
        self, x: torch.Tensor, mask: torch.Tensor, cache: Cache | None = None, start: int = 0
    ) -> torch.Tensor:
        """Bottleneck rows `start..m-1` (`mask`: (B, 1, m, inputs) for all m rows; none when `start` is
        m); with a `cache`, the keys/values of the inputs are appended to its layer 0 and attended in full."""
        k, v = self.attn.project_kv(self.ln1(x))
        if cache is not None:
            k, v = cache.update(k, v, 0)
        if start >= self.C.shape[1]:
            return x[:, :0]
        c = self.C[:, start:].expand(x.shape[0], -1, -1).to(x.dtype)
        y = c + self.attn(c, k, v, mask[:, :, start:])
        return y + self.mlp(self.ln2(y))


class CharGPTUpProjectBlock(nn.Module):
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
    ) -> torch.Tensor:
        """With a `cache`, `y` holds the bottleneck rows after those its layer `layer_idx` keeps."""
        k, v = self.attn.project_kv(self.ln1(y))
        if cache is not None:
            k, v = cache.update(k, v, layer_idx)
        z = x + self.attn(x, k, v, mask)
        return z + self.mlp(self.ln2(z))


def _keep_first(cache: Cache, layer_idx: int, n: int) -> None:
    """Drop the entries after the first `n` from the cache's layer `layer_idx`."""
    extra = cache.get_seq_length(layer_idx) - n
    if extra > 0:
        cache.layers[layer_idx].crop(-extra)  # a negative size removes that many (every transformers 5)


class CharGPTPreTrainedModel(PreTrainedModel):
    """Weight init (SPEC §1) and the plumbing shared by the character GPT models."""

    config_class = CharGPTConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    _no_split_modules = ["CharGPTBlock", "CharGPTDownProjectBlock", "CharGPTUpProjectBlock"]
    _supports_cache_class = True

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
    """The bare character GPT: embeddings, blocks and final LayerNorm, returning hidden states."""

    def __init__(self, config: CharGPTConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = CharGPTDropout(config.embd_pdrop, config.fast_dropout)
        if config.attention_type == "perceiver":
            self.down = CharGPTDownProjectBlock(config)
            self.h = nn.ModuleList([CharGPTBlock(config) for _ in range(config.n_layer - 2)])
            self.up = CharGPTUpProjectBlock(config)
        else:
            synth = config.attention_type == "synthesizer"
            self.h = nn.ModuleList([CharGPTBlock(config, synthesizer=synth) for _ in range(config.n_layer)])
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
        output_hidden_states: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
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
        """
        past_key_values = _one_cache(cache, past_key_values)
        config = self.config
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("CharGPTModel: pass exactly one of input_ids or inputs_embeds.")
        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds
        b, t = x.shape[:2]
        use_cache = config.use_cache if use_cache is None else use_cache
        if use_cache and past_key_values is None and not self.training:
            past_key_values = DynamicCache()
        if not use_cache:
            past_key_values = None
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        total = past + t
        device = x.device

        if attention_mask is not None:
            attention_mask = attention_mask.to(device=device, dtype=torch.bool)
            if attention_mask.shape != (b, total):
                raise ValueError(
                    f"CharGPTModel: attention_mask has shape {tuple(attention_mask.shape)}, expected {(b, total)} "
                    f"(batch, cached + new tokens)."
                )
            if bool(attention_mask.all()):
                attention_mask = None
        # Positions of all keys (cached + new) and of the new tokens.
        packed = False
        if attention_mask is not None:
            key_pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        else:
            key_pos = torch.arange(total, device=device).expand(b, total)
        plain_positions = attention_mask is None and position_ids is None  # key i is at position i
        if position_ids is None:
            position_ids = key_pos[:, past:]
        else:
            position_ids = position_ids.to(device).expand(b, t)
            if past == 0:
                key_pos = position_ids
                starts = position_ids[:, 1:] == 0
                if attention_mask is not None:
                    starts = starts & attention_mask[:, 1:] & attention_mask[:, :-1]
                packed = bool(starts.any())
        if t > 0:
            max_pos = int(position_ids.max())
            if max_pos >= config.max_input_length or int(position_ids.min()) < 0:
                raise ValueError(
                    f"CharGPTModel: position {max_pos} is out of range; this {config.attention_type} model "
                    f"accepts at most {config.max_input_length} positions (block_size={config.block_size})."
                )
        x = self.drop(x + self.wpe(position_ids))
        hidden_states = (x,) if output_hidden_states else None

        if config.attention_type == "perceiver":
            if packed:
                raise ValueError(
                    "CharGPTModel: the perceiver variant cannot take packed rows (position_ids restarting at 0 "
                    "inside a row): its bottleneck summarises one sequence. Pad instead of packing."
                )
            rows = torch.arange(config.bottleneck_dim, device=device)
            down_mask = key_pos[:, None, :] <= rows[None, :, None]  # row i sees positions <= i
            if attention_mask is not None:
                down_mask = down_mask & attention_mask[:, None, :]
                down_mask = down_mask | ~down_mask.any(-1, keepdim=True)  # rows of an all-pad input
            up_mask = rows[None, None, :] <= position_ids[:, :, None]  # position j sees rows <= j
            m = config.bottleneck_dim
            if past_key_values is None:
                x_kv = x
                if plain_positions:
                    # Bottleneck row i < m attends input positions <= i, here the first m inputs: the
                    # keys and values of the others would be masked out, so they are not computed.
                    x_kv, down_mask = x[:, :m], down_mask[..., :m]
                y = self.down(x_kv, down_mask[:, None])
                for block in self.h:
                    y = block(y, None, True)
                    if output_hidden_states:
                        hidden_states += (y,)
                x = self.up(x, y, up_mask[:, None])
            else:
                # Incremental decoding. Cache layer 0 holds the inputs' keys/values; layers 1..n hold the
                # keys/values of the bottleneck rows in the middle blocks and in the up-projection. Row i
                # sees only inputs at positions <= i (and, in the middle blocks, rows <= i), so the rows
                # below the smallest new position are as they were: only rows `start..m-1` are computed
                # (none once every sequence is m long), the cached rows above `start` dropped first.
                up_idx = len(self.h) + 1
                start = min(past_key_values.get_seq_length(up_idx), int(position_ids.min()), m)
                if output_hidden_states:
                    start = 0  # every row's hidden state is returned
                for layer_idx in range(1, up_idx + 1):
                    _keep_first(past_key_values, layer_idx, start)
                y = self.down(x, down_mask[:, None], past_key_values, start)
                for i, block in enumerate(self.h, 1):
                    if start < m:
                        y = block(y, None, True, cache=past_key_values, layer_idx=i)
                    if output_hidden_states:
                        hidden_states += (y,)
                x = self.up(x, y, up_mask[:, None], past_key_values, up_idx)
        else:
            mask = None
            if attention_mask is not None or packed or past > 0:
                q_idx = torch.arange(past, total, device=device)
                k_idx = torch.arange(total, device=device)
                mask = (k_idx[None, :] <= q_idx[:, None]).expand(b, t, total)
                if attention_mask is not None:  # padding keys are hidden (a row may still see itself)
                    mask = mask & (attention_mask[:, None, :] | (k_idx[None, :] == q_idx[:, None]))
                if packed:
                    seg = (position_ids == 0).cumsum(-1)
                    mask = mask & (seg[:, :, None] == seg[:, None, :])
                mask = mask[:, None]
            for i, block in enumerate(self.h):
                x = block(x, mask, True, position_ids, past_key_values, i)  # mask: causal
                if output_hidden_states:
                    hidden_states += (x,)
        x = self.ln_f(x)
        if output_hidden_states:
            hidden_states += (x,)
        return BaseModelOutputWithPast(
            last_hidden_state=x, hidden_states=hidden_states, **{CACHE_FIELD: past_key_values}
        )


class CharGPTForCausalLM(CharGPTPreTrainedModel, GenerationMixin):
    """Character GPT with a bias-free linear head to the vocabulary.

    `labels` follow the transformers convention (they are shifted inside the model): pass
    `labels=input_ids` with ignored targets set to -100 or to PAD (id 0). PAD targets are
    ignored exactly as the spec's `ignore_index=0`, so feeding the original `x = s[:-1]` with
    `labels = s[:-1]` gives the original loss on `y = s[1:]` (the target after the last input
    is always PAD in the study's data, see `hfmodels.data`).
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

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int = 0,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `(batch, seq)`, *optional*):
            Targets aligned with `input_ids` (shifted inside). -100 and PAD (id 0) are ignored.
            With `num_items_in_batch` (passed by `Trainer`) the loss is the sum over targets
            divided by that count, so gradient accumulation and several processes average
            per token exactly like one large batch.
        cache (`Cache`, *optional*): key/value cache (`past_key_values` before transformers 5.24).
        """
        past_key_values = _one_cache(cache, past_key_values)
        if labels is not None and use_cache is None:
            use_cache = False  # a loss computation never needs a fresh cache
        out = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
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
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            hidden_states=out.hidden_states,
            **{CACHE_FIELD: getattr(out, CACHE_FIELD)},
        )


__all__ = ["CharGPTPreTrainedModel", "CharGPTModel", "CharGPTForCausalLM"]
