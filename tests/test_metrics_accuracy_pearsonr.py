"""The offline `evaluate` metrics of the multitask BERT against scikit-learn and SciPy."""

import math

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score

from hfmodels.evaluation.minbert import overall_score
from hfmodels.metrics.accuracy import Accuracy
from hfmodels.metrics.pearsonr import PearsonCorrelation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    preds = rng.integers(0, 5, n)
    refs = np.where(rng.random(n) < 0.4, preds, rng.integers(0, 5, n))
    weights = rng.random(n)
    metric = Accuracy()
    assert metric.compute(predictions=preds, references=refs)["accuracy"] == pytest.approx(
        accuracy_score(refs, preds)
    )
    assert metric.compute(predictions=preds, references=refs, normalize=False)["accuracy"] == pytest.approx(
        accuracy_score(refs, preds, normalize=False)
    )
    assert metric.compute(predictions=preds, references=refs, sample_weight=weights)[
        "accuracy"
    ] == pytest.approx(accuracy_score(refs, preds, sample_weight=weights))


def test_accuracy_incremental_batches_equal_one_shot():
    rng = np.random.default_rng(3)
    preds, refs = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    metric = Accuracy()
    for start in range(0, 50, 16):
        metric.add_batch(predictions=preds[start : start + 16], references=refs[start : start + 16])
    assert metric.compute()["accuracy"] == pytest.approx(float((preds == refs).mean()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pearson_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 500))
    refs = rng.uniform(0, 5, n)
    preds = 0.7 * refs + rng.normal(0, 1.0, n)
    got = PearsonCorrelation().compute(predictions=preds, references=refs)["pearsonr"]
    assert got == pytest.approx(pearsonr(preds, refs).statistic, abs=1e-10)


def test_pearson_constant_input_is_nan_and_bad_lengths_raise():
    assert math.isnan(
        PearsonCorrelation().compute(predictions=[1.0, 1.0, 1.0], references=[0.0, 1.0, 2.0])["pearsonr"]
    )
    with pytest.raises(ValueError):
        PearsonCorrelation().compute(predictions=[1.0], references=[2.0])


def test_overall_score_is_the_course_formula():
    rng = np.random.default_rng(4)
    for _ in range(10):
        sst, para, r = rng.random(), rng.random(), rng.uniform(-1, 1)
        assert overall_score(sst, para, r) == pytest.approx((sst + para + (r + 1) / 2) / 3)
    assert overall_score(1.0, 1.0, 1.0) == pytest.approx(1.0)
    assert overall_score(0.0, 0.0, -1.0) == pytest.approx(0.0)
