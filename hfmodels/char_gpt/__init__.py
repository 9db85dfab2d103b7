"""Character-level GPT of the knowledge-access ("birthplace") study: config, model, tokenizer."""

from .configuration_char_gpt import ATTENTION_TYPES, CharGPTConfig
from .modeling_char_gpt import CharGPTForCausalLM, CharGPTModel, CharGPTPreTrainedModel
from .tokenization_char_gpt import MASK_CHAR, PAD_CHAR, CharTokenizer, UnknownCharacterError

__all__ = [
    "ATTENTION_TYPES",
    "CharGPTConfig",
    "CharGPTForCausalLM",
    "CharGPTModel",
    "CharGPTPreTrainedModel",
    "CharTokenizer",
    "UnknownCharacterError",
    "PAD_CHAR",
    "MASK_CHAR",
]
