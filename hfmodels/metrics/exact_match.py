"""Exact string match, the accuracy of the birthplace study (`docs/definitions.md`, "Birthplace examples").

`evaluate.load("exact_match")` fetches the metric's code from the Hub, which these machines
cannot reach, so the metric is defined here as an `evaluate.Metric` subclass and instantiated
directly: `ExactMatch().compute(predictions=[...], references=[...])`.
"""

from __future__ import annotations

import datasets
import evaluate

_DESCRIPTION = """Fraction of predictions equal to their reference string (no normalisation: the
course's `evaluate_places` compares `pred == true_place`)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): predicted strings.
    references (`list[str]`): gold strings, same length and order.
Returns:
    exact_match (`float`): correct / total (0.0 for an empty set).
    correct (`int`): number of exact matches.
    total (`int`): number of pairs.
Example:
    >>> ExactMatch().compute(predictions=["London", "Paris"], references=["London", "Rome"])
    {'exact_match': 0.5, 'correct': 1, 'total': 2}
"""


class ExactMatch(evaluate.Metric):
    """Exact string match accuracy, with the counts the course code prints
    ("Correct: 25.0 out of 500.0: 5.0%")."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions: list[str], references: list[str]) -> dict:
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        total = len(references)
        return {"exact_match": correct / total if total else 0.0, "correct": correct, "total": total}


__all__ = ["ExactMatch"]
