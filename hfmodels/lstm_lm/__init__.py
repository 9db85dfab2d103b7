"""Word-level LSTM language model (WikiText-2): config, model with its recurrent-state cache, tokenizer."""

from .configuration_lstm_lm import LstmLMConfig
from .modeling_lstm_lm import (
    LstmLMCache,
    LstmLMCausalLMOutput,
    LstmLMForCausalLM,
    LstmLMModel,
    LstmLMPreTrainedModel,
    embedding_dropout,
    locked_dropout,
)
from .tokenization_lstm_lm import EOL_TOKEN, UNK_TOKEN, LstmLMTokenizer, split_words

__all__ = [
    "EOL_TOKEN",
    "UNK_TOKEN",
    "LstmLMCache",
    "LstmLMCausalLMOutput",
    "LstmLMConfig",
    "LstmLMForCausalLM",
    "LstmLMModel",
    "LstmLMPreTrainedModel",
    "LstmLMTokenizer",
    "embedding_dropout",
    "locked_dropout",
    "split_words",
]
