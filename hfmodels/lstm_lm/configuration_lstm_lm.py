"""Configuration of the word-level LSTM language model (docs/lstm_lm.md)."""

from __future__ import annotations

from transformers import PretrainedConfig


class LstmLMConfig(PretrainedConfig):
    r"""
    Configuration for [`LstmLMForCausalLM`], a word-level LSTM language model with the
    regularisers of AWD-LSTM (Merity et al. 2018). Defaults are the course's reference shape
    (a 2-layer LSTM, embedding 128, hidden 128) with every regulariser off.

    Args:
        vocab_size (`int`, defaults to 33280):
            Number of words, `<unk>` and the end-of-line token `<eol>` included.
        embedding_size (`int`, defaults to 128):
            Width of the word vectors.
        hidden_size (`int`, defaults to 128):
            Width of every LSTM layer but the last.
        num_hidden_layers (`int`, defaults to 2):
            Number of stacked LSTM layers.
        last_hidden_size (`int`, *optional*):
            Width of the last LSTM layer; defaults to `embedding_size` when `tie_word_embeddings`
            is set (tying needs it) and to `hidden_size` otherwise.
        input_dropout (`float`, defaults to 0.0):
            Locked (variational) dropout on the embedded input: one mask per sequence, the same at
            every time step.
        locked_dropout (`float`, defaults to 0.0):
            Locked dropout between LSTM layers and on the last layer's output.
        embedding_dropout (`float`, defaults to 0.0):
            Probability of dropping a whole word (its row of the embedding matrix) for a batch;
            kept rows are scaled by `1 / (1 - p)`.
        weight_drop (`float`, defaults to 0.0):
            DropConnect on the hidden-to-hidden weights `W_hh` of every layer, one mask per batch.
        tie_word_embeddings (`bool`, defaults to `False`):
            Share one tensor between the input embedding and the output projection.
        ar_alpha (`float`, defaults to 0.0):
            Activation regularisation: `alpha * mean(h_t^2)` over the dropped last-layer outputs.
        tar_beta (`float`, defaults to 0.0):
            Temporal activation regularisation: `beta * mean((h_{t+1} - h_t)^2)` over the last
            layer's outputs before dropout.
        initializer_range (`float`, defaults to 0.1):
            Word vectors and the output projection are drawn from `U(-r, r)`; LSTM weights keep
            PyTorch's `U(-1/sqrt(H), 1/sqrt(H))`.
        unk_token_id (`int`, defaults to 0), eos_token_id (`int`, defaults to 1):
            Ids of `<unk>` and `<eol>`; `<eol>` also pads.
    """

    model_type = "lstm_lm"
    keys_to_ignore_at_inference = ["past_key_values", "cache"]

    def __init__(
        self,
        vocab_size: int = 33280,
        embedding_size: int = 128,
        hidden_size: int = 128,
        num_hidden_layers: int = 2,
        last_hidden_size: int | None = None,
        input_dropout: float = 0.0,
        locked_dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        weight_drop: float = 0.0,
        tie_word_embeddings: bool = False,
        ar_alpha: float = 0.0,
        tar_beta: float = 0.0,
        initializer_range: float = 0.1,
        unk_token_id: int = 0,
        eos_token_id: int = 1,
        pad_token_id: int | None = None,
        **kwargs,
    ):
        for name, p in (
            ("input_dropout", input_dropout),
            ("locked_dropout", locked_dropout),
            ("embedding_dropout", embedding_dropout),
            ("weight_drop", weight_drop),
        ):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"LstmLMConfig: {name}={p!r}, expected a probability in [0, 1).")
        if num_hidden_layers < 1:
            raise ValueError(f"LstmLMConfig: num_hidden_layers={num_hidden_layers!r}, expected >= 1.")
        if last_hidden_size is None:
            last_hidden_size = embedding_size if tie_word_embeddings else hidden_size
        if tie_word_embeddings and last_hidden_size != embedding_size:
            raise ValueError(
                f"LstmLMConfig: tie_word_embeddings needs last_hidden_size == embedding_size, got "
                f"{last_hidden_size} and {embedding_size}."
            )
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.last_hidden_size = last_hidden_size
        self.input_dropout = input_dropout
        self.locked_dropout = locked_dropout
        self.embedding_dropout = embedding_dropout
        self.weight_drop = weight_drop
        self.ar_alpha = ar_alpha
        self.tar_beta = tar_beta
        self.initializer_range = initializer_range
        self.unk_token_id = unk_token_id
        super().__init__(
            eos_token_id=eos_token_id,
            pad_token_id=eos_token_id if pad_token_id is None else pad_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )

    def layer_sizes(self) -> list[tuple[int, int]]:
        """(input size, hidden size) of each LSTM layer, bottom to top."""
        outs = [self.hidden_size] * (self.num_hidden_layers - 1) + [self.last_hidden_size]
        ins = [self.embedding_size] + outs[:-1]
        return list(zip(ins, outs))


# `save_pretrained` writes `auto_map` and copies this file, so a saved folder loads with
# `trust_remote_code=True` where hfmodels is not installed.
LstmLMConfig.register_for_auto_class()
