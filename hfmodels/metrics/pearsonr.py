"""Pearson correlation as an offline `evaluate` module.

As with [`hfmodels.metrics.accuracy.Accuracy`], the metric is an `evaluate.Metric`
subclass defined here (the Hub's `pearsonr` module cannot be fetched offline).
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Pearson correlation coefficient between predicted and gold scores (STS benchmark)."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[float]`): predicted scores.
    references (`list[float]`): gold scores.
Returns:
    pearsonr (`float`): the Pearson correlation, in [-1, 1]; NaN when either side is constant.
Examples:
    >>> PearsonCorrelation().compute(predictions=[1.0, 2.0, 3.0], references=[1.0, 2.0, 3.5])["pearsonr"] > 0.99
    True
"""


class PearsonCorrelation(evaluate.Metric):
    """Pearson's r between predictions and references (STS-benchmark similarity)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        x = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(references, dtype=np.float64)
        if x.shape != y.shape or x.size < 2:
            raise ValueError(
                f"need two equal-length sequences of at least 2 scores, got {x.size} and {y.size}"
            )
        x = x - x.mean()
        y = y - y.mean()
        denom = np.sqrt((x * x).sum() * (y * y).sum())
        return {"pearsonr": float((x * y).sum() / denom) if denom > 0 else float("nan")}


__all__ = ["PearsonCorrelation"]
