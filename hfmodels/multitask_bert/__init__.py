"""Multitask BERT: sentiment, paraphrase and similarity heads on one BERT encoder
(`docs/definitions.md`, "Multitask BERT").

The model package holds only the configuration and the model; batching is in
`hfmodels.data.multitask`, the trainer in `hfmodels.training.multitask`, evaluation and
ensembling in `hfmodels.evaluation.minbert` / `hfmodels.evaluation.ensemble`.
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
