"""Multitask BERT: sentiment, paraphrase and similarity heads on one BERT encoder
(`docs/definitions.md`, "Multitask BERT").

The model package holds only the configuration and the model; batching is in
`hfmodels.data.multitask`, the trainer in `hfmodels.training.multitask`, evaluation and
ensembling in `hfmodels.evaluation.minbert` / `hfmodels.evaluation.ensemble`. The folder imports
only torch, transformers and huggingface_hub, so `save_pretrained` copies its configuration,
modeling and pipeline files next to the weights and a saved folder loads with
`trust_remote_code=True` where hfmodels is not installed.
"""

from .configuration_multitask_bert import MultitaskBertConfig
from .modeling_multitask_bert import (
    TASK_HEADS,
    MultitaskBertForSequenceClassification,
    MultitaskBertModel,
    MultitaskBertPreTrainedModel,
)

__all__ = [
    "MultitaskBertConfig",
    "MultitaskBertForSequenceClassification",
    "MultitaskBertModel",
    "MultitaskBertPreTrainedModel",
    "TASK_HEADS",
]
