"""Multitask BERT (SPEC §2): sentiment, paraphrase and similarity heads on one BERT encoder.

Training pieces (`batching`, `trainer`, `optimization`, `ensemble`, `reporting`) are imported from
their submodules.
"""

from .configuration_multitask_bert import MultitaskBertConfig
from .modeling_multitask_bert import MultitaskBertModel, MultitaskBertPreTrainedModel, default_backbone_path

__all__ = [
    "MultitaskBertConfig",
    "MultitaskBertModel",
    "MultitaskBertPreTrainedModel",
    "default_backbone_path",
]
