"""Configuration of the character-level GPT of the knowledge-access study."""

from __future__ import annotations

import math

from transformers import PretrainedConfig

# The attention variants: the one list, used by the model's class table and by the recipes.
ATTENTION_TYPES = ("vanilla", "synthesizer", "perceiver")
ATTENTION_BACKENDS = ("auto", "sdpa", "matmul", "eager")
# `attention_backend` -> `attn_implementation` (the `AttentionInterface` key the model dispatches on).
# "auto" leaves the choice to the model, whose default is "char_gpt" (docs/conventions.md,
# "Attention implementations and caches").
ATTENTION_IMPLEMENTATIONS = {"auto": None, "sdpa": "sdpa", "matmul": "char_gpt_matmul", "eager": "eager"}
# The implementations registered by the model (`modeling_char_gpt`); both can return probabilities.
OWN_IMPLEMENTATIONS = ("char_gpt", "char_gpt_matmul")


class CharGPTConfig(PretrainedConfig):
    r"""
    Configuration for [`CharGPTForCausalLM`], the minGPT-style character model of the
    birthplace study. Defaults reproduce the course's model (3,323,392 parameters for
    `vanilla`); the definitions the model implements are in docs/definitions.md.

    Args:
        vocab_size (`int`, defaults to 256):
            Number of character ids, PAD (id 0) and MASK (id 1) included. 256 for `wiki.txt`
            (docs/definitions.md, "Vocabulary").
        block_size (`int`, defaults to 128):
            Longest sequence the model accepts (learned positional embeddings).
        n_layer (`int`, defaults to 4):
            Number of Transformer blocks. The `perceiver` variant needs at least 2
            (a down-projection and an up-projection block).
        n_head (`int`, defaults to 8):
            Attention heads per block; must divide `n_embd`.
        n_embd (`int`, defaults to 256):
            Width of the residual stream. The MLP is `n_embd -> 4*n_embd -> n_embd` with GELU.
        embd_pdrop (`float`, defaults to 0.1):
            Dropout on the sum of token and position embeddings.
        attn_pdrop (`float`, defaults to 0.1):
            Dropout on the attention weights.
        resid_pdrop (`float`, defaults to 0.1):
            Dropout on the outputs of the attention projection and of the MLP.
        attention_type (`str`, defaults to `"vanilla"`):
            One of `"vanilla"` (causal dot-product self-attention), `"synthesizer"` (dense
            Synthesizer, Tay et al. 2020; docs/definitions.md, "The synthesizer") or `"perceiver"`
            (simplified Perceiver AR with a learned bottleneck of `bottleneck_dim` rows;
            docs/definitions.md, "The perceiver's masks"). The allowed names are `ATTENTION_TYPES`.
        bottleneck_dim (`int`, defaults to 32):
            `m`, the number of rows of the perceiver's learned basis `C`; at most `block_size`.
            Ignored by the other variants.
        synthesizer_per_head (`bool`, defaults to `False`):
            `False` shares one `B` (and `b2`) across heads as the original course code does
            (3,076,988 parameters); `True` gives every head its own `B_i`, `b2_i`, as the
            equation `softmax(ReLU(X A_i + b1) B_i + b2) X V_i` is written.
        attention_backend (`str`, defaults to `"auto"`):
            The saved name of the attention implementation, a view of `attn_implementation`
            (the one source of truth, also settable with `from_pretrained(attn_implementation=...)`
            or `model.set_attn_implementation`): `"auto"` is the model's default `"char_gpt"`
            (explicit batched matrix products on CPU, faster at head size 32 because SDPA's CPU
            flash backward dominates a training step there, see BENCHMARKS.md; SDPA on other
            devices), `"matmul"` is `"char_gpt_matmul"` (the explicit matmuls on every device),
            `"sdpa"` and `"eager"` are transformers' implementations. All compute the same
            function. An `attn_implementation` given with it takes precedence.
        fast_dropout (`bool`, defaults to `True`):
            Draw dropout masks on CPU from 16-bit slices of 64-bit random words (4 masks per
            random number) instead of `torch.bernoulli_` (about 4x cheaper on CPU, where mask
            generation was ~15 % of a training step). The keep probability is
            `round((1 - p) * 2**15) / 2**15` (0.899994 for p = 0.1, off by < 2e-5), masks are
            independent across elements and follow torch's global seed. `False` uses
            `torch.nn.functional.dropout`. Ignored on other devices, which use the native kernel.
            Must be a bool.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the normal init of Linear and Embedding weights.
        layer_norm_epsilon (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm; a positive number.
        pad_token_id (`int`, defaults to 0), mask_token_id (`int`, defaults to 1):
            Ids of `□` (PAD, ignored as a target) and `⁇` (MASK, the span and answer delimiter);
            two different ids below `vocab_size`.
    """

    model_type = "char_gpt"
    keys_to_ignore_at_inference = ["past_key_values", "cache"]  # the name before and since transformers 5.24
    attribute_map = {
        "hidden_size": "n_embd",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
        "max_position_embeddings": "block_size",
    }

    def __init__(
        self,
        vocab_size: int = 256,
        block_size: int = 128,
        n_layer: int = 4,
        n_head: int = 8,
        n_embd: int = 256,
        embd_pdrop: float = 0.1,
        attn_pdrop: float = 0.1,
        resid_pdrop: float = 0.1,
        attention_type: str = "vanilla",
        bottleneck_dim: int = 32,
        synthesizer_per_head: bool = False,
        attention_backend: str = "auto",
        fast_dropout: bool = True,
        initializer_range: float = 0.02,
        layer_norm_epsilon: float = 1e-5,
        pad_token_id: int = 0,
        mask_token_id: int = 1,
        use_cache: bool | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.resid_pdrop = resid_pdrop
        self.attention_type = attention_type
        self.bottleneck_dim = bottleneck_dim
        self.synthesizer_per_head = synthesizer_per_head
        self.fast_dropout = fast_dropout
        self.initializer_range = initializer_range
        self.layer_norm_epsilon = layer_norm_epsilon
        self.mask_token_id = mask_token_id
        # Every variant generates with a key/value cache by default; the perceiver's also keeps the
        # bottleneck rows that a new position cannot change (see `CharGPTModel.forward`).
        self.use_cache = True if use_cache is None else use_cache
        self._validate()
        if attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(
                f"CharGPTConfig: invalid attention_backend={attention_backend!r}; "
                f"allowed: {', '.join(ATTENTION_BACKENDS)}."
            )
        if ATTENTION_IMPLEMENTATIONS[attention_backend] is not None:
            kwargs.setdefault("attn_implementation", ATTENTION_IMPLEMENTATIONS[attention_backend])
        if not isinstance(pad_token_id, int) or not 0 <= pad_token_id < vocab_size:
            raise ValueError(
                f"CharGPTConfig: invalid pad_token_id={pad_token_id!r}; must be an id below vocab_size={vocab_size}."
            )
        if pad_token_id == mask_token_id:
            raise ValueError(
                f"CharGPTConfig: invalid mask_token_id={mask_token_id!r}; it must differ from "
                f"pad_token_id={pad_token_id!r} (MASK is a target, PAD is ignored as one)."
            )
        kwargs.setdefault("bos_token_id", None)
        kwargs.setdefault("eos_token_id", mask_token_id)
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def _validate(self) -> None:
        def bad(field: str, value, allowed: str) -> ValueError:
            return ValueError(f"CharGPTConfig: invalid {field}={value!r}; {allowed}.")

        for field in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(field, value, "expected a positive integer")
        for field in ("embd_pdrop", "attn_pdrop", "resid_pdrop"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise bad(field, value, "expected a probability in [0, 1)")
        for field in ("synthesizer_per_head", "fast_dropout"):
            value = getattr(self, field)
            if not isinstance(value, bool):
                raise bad(field, value, "expected True or False")
        eps = self.layer_norm_epsilon
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0.0 < eps < math.inf:
            raise bad("layer_norm_epsilon", eps, "expected a positive number")
        if self.attention_type not in ATTENTION_TYPES:
            raise bad("attention_type", self.attention_type, f"allowed: {', '.join(ATTENTION_TYPES)}")
        if self.n_embd % self.n_head != 0:
            raise bad("n_head", self.n_head, f"n_embd={self.n_embd} must be divisible by n_head")
        if self.attention_type == "perceiver":
            if not isinstance(self.bottleneck_dim, int) or self.bottleneck_dim < 1:
                raise bad("bottleneck_dim", self.bottleneck_dim, "expected a positive integer")
            if self.bottleneck_dim > self.block_size:
                raise bad(
                    "bottleneck_dim",
                    self.bottleneck_dim,
                    f"must be at most block_size={self.block_size} (row i of the basis attends inputs <= i)",
                )
            if self.n_layer < 2:
                raise bad(
                    "n_layer", self.n_layer, "the perceiver needs at least 2 layers (down- and up-projection)"
                )
        if self.attention_type == "synthesizer" and self.block_size < 2:
            raise bad("block_size", self.block_size, "the synthesizer needs block_size >= 2")
        if not isinstance(self.mask_token_id, int) or not 0 <= self.mask_token_id < self.vocab_size:
            raise bad(
                "mask_token_id", self.mask_token_id, f"must be an id below vocab_size={self.vocab_size}"
            )

    @property
    def attention_backend(self) -> str:
        """The `attn_implementation` under its `ATTENTION_BACKENDS` name (`"auto"` for the model's
        default `"char_gpt"` or none chosen yet); an implementation without such a name is given as is."""
        implementation = self._attn_implementation
        if implementation in (None, "char_gpt"):
            return "auto"
        names = {impl: name for name, impl in ATTENTION_IMPLEMENTATIONS.items() if impl is not None}
        return names.get(implementation, implementation)

    @attention_backend.setter
    def attention_backend(self, value: str) -> None:
        if value not in ATTENTION_BACKENDS:
            raise ValueError(
                f"CharGPTConfig: invalid attention_backend={value!r}; allowed: {', '.join(ATTENTION_BACKENDS)}."
            )
        self._attn_implementation = ATTENTION_IMPLEMENTATIONS[value] or OWN_IMPLEMENTATIONS[0]

    @property
    def output_attentions(self) -> bool:
        """Whether the model returns every layer's attention probabilities."""
        return self._output_attentions

    @output_attentions.setter
    def output_attentions(self, value: bool) -> None:
        # transformers allows it under "eager" only; this model's own kernels return the probabilities too.
        if value and self._attn_implementation in OWN_IMPLEMENTATIONS:
            self._output_attentions = value
        else:
            PretrainedConfig.output_attentions.fset(self, value)

    def validate_output_attentions(self) -> None:
        """transformers' check, which also accepts this model's own kernels (they return the probabilities)."""
        if self._attn_implementation not in OWN_IMPLEMENTATIONS:
            super().validate_output_attentions()

    def to_dict(self) -> dict:
        """`PretrainedConfig.to_dict` plus `attention_backend`, so a saved folder keeps the chosen
        attention implementation (transformers does not save `attn_implementation`)."""
        output = super().to_dict()
        output["attention_backend"] = self.attention_backend
        return output

    @property
    def max_input_length(self) -> int:
        """Longest `input_ids` the model accepts: the synthesizer's `B` has `block_size - 1` columns
        (the original's inputs are 127 characters long), the other variants `block_size`."""
        return self.block_size - 1 if self.attention_type == "synthesizer" else self.block_size


# `save_pretrained` writes `auto_map` and copies this family's files, so a saved folder loads with
# `trust_remote_code=True` where hfmodels is not installed.
CharGPTConfig.register_for_auto_class()

__all__ = ["ATTENTION_BACKENDS", "ATTENTION_IMPLEMENTATIONS", "ATTENTION_TYPES", "CharGPTConfig"]
