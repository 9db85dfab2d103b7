"""Accuracy as an `evaluate` module that needs no network.

`evaluate.load("accuracy")` fetches the metric's code from the Hugging Face Hub, which this
project's machines cannot reach, so the metric is defined here as an `evaluate.Metric` subclass
and instantiated directly: `Accuracy().compute(predictions=..., references=...)`.
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy: the fraction of predictions equal to their reference label."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class ids.
    references (`list[int]`): gold class ids.
    normalize (`bool`, defaults to `True`): the fraction correct if true, the count otherwise.
    sample_weight (`list[float]`, *optional*): per-example weights.
Returns:
    accuracy (`float`): the (weighted) fraction (or count) of correct predictions.
Examples:
    >>> Accuracy().compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666}
"""


class Accuracy(evaluate.Metric):
    """Classification accuracy (SST-5 / CFIMDB sentiment, Quora paraphrase detection)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(
        self, predictions, references, normalize: bool = True, sample_weight=None
    ) -> dict[str, float]:
        predictions = np.asarray(predictions)
        references = np.asarray(references)
        if predictions.shape != references.shape:
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        correct = (predictions == references).astype(np.float64)
        weights = (
            np.ones_like(correct) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        )
        total = float((correct * weights).sum())
        return {"accuracy": total / float(weights.sum()) if normalize else total}


__all__ = ["Accuracy"]
