"""The AddSub encoder-decoder Transformer family (lab 3): configuration, model and tokenizer."""

from .configuration_addsub import AddSubConfig
from .modeling_addsub import AddSubEncoder, AddSubPreTrainedModel, AddSubTransformerForConditionalGeneration
from .tokenization_addsub import ADDSUB_TOKENS, AddSubTokenizer, UnknownAddSubTokenError

__all__ = [
    "ADDSUB_TOKENS",
    "AddSubConfig",
    "AddSubEncoder",
    "AddSubPreTrainedModel",
    "AddSubTokenizer",
    "AddSubTransformerForConditionalGeneration",
    "UnknownAddSubTokenError",
]
