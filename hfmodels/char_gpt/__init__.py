"""Character-level GPT of the knowledge-access ("birthplace") study: config, model, tokenizer.

The folder imports only torch and transformers, so `save_pretrained` copies its files next to the
weights and a saved folder loads with `trust_remote_code=True` where hfmodels is not installed.
"""

from .configuration_char_gpt import ATTENTION_TYPES, CharGPTConfig
from .modeling_char_gpt import CHAR_GPT_VARIANTS, CharGPTForCausalLM, CharGPTModel, CharGPTPreTrainedModel
from .tokenization_char_gpt import (
    MASK_CHAR,
    PAD_CHAR,
    CharTokenizer,
    CharTokenizerFast,
    UnknownCharacterError,
    read_vocab_file,
)

__all__ = [
    "ATTENTION_TYPES",
    "CHAR_GPT_VARIANTS",
    "CharGPTConfig",
    "CharGPTForCausalLM",
    "CharGPTModel",
    "CharGPTPreTrainedModel",
    "CharTokenizer",
    "CharTokenizerFast",
    "UnknownCharacterError",
    "PAD_CHAR",
    "MASK_CHAR",
    "read_vocab_file",
]
