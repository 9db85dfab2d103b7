"""Unigram and interpolated Kneser-Ney trigram baselines on tiny corpora."""

import math

import numpy as np
import pytest

from hfmodels.evaluation.ngram import KneserNeyTrigramLM, UnigramLM, perplexity

# ids 0..7 over a vocabulary of 10: ids 8 and 9 never occur in training
CORPUS = [1, 2, 3, 1, 2, 4, 1, 2, 3, 5, 6, 1, 2, 3, 7, 1, 5, 6, 2, 3, 0, 1, 2]


def test_unigram_is_the_relative_frequency_and_sums_to_one():
    lm = UnigramLM(10).fit(CORPUS)
    assert lm.distribution().sum() == pytest.approx(1.0)
    assert lm.distribution()[1] == pytest.approx(CORPUS.count(1) / len(CORPUS))
    assert lm.token_nlls([1, 2, 3]).tolist() == pytest.approx(
        [-math.log(CORPUS.count(2) / 23), -math.log(CORPUS.count(3) / 23)]
    )
    assert UnigramLM(10, add_k=1.0).fit(CORPUS).distribution()[9] == pytest.approx(1 / 33)


@pytest.mark.parametrize("context", [[1, 2], [2, 3], [9, 2], [8, 9], [5], []])
def test_kneser_ney_sums_to_one_over_the_vocabulary_for_every_context(context):
    lm = KneserNeyTrigramLM(10).fit(CORPUS)
    dist = lm.distribution(context)
    assert dist.sum() == pytest.approx(1.0, abs=1e-12)
    assert (dist > 0).all(), "every word of the vocabulary keeps some probability"


def test_kneser_ney_matches_the_formula_by_hand():
    lm = KneserNeyTrigramLM(10).fit(CORPUS)
    # context (1, 2) is followed by 3 three times, 4 once, and the end of the stream never
    c_12, types_12 = 4, 2
    assert lm.ctx[1, 2] == c_12 and lm.ctx_types[1, 2] == types_12
    p2 = lm._p2(3, 2)
    expected = (3 - lm.d3) / c_12 + lm.d3 * types_12 / c_12 * p2
    assert lm.prob(3, 1, 2) == pytest.approx(expected)
    # continuation counts: "2 3" follows 1 three times and 6 once: two distinct left words
    assert lm.cont2[2, 3] == 2
    assert lm.prob(3, 1, 2) > lm.prob(4, 1, 2) > lm.prob(9, 1, 2)


def test_trigram_beats_unigram_on_repetitive_text():
    uni, kn = UnigramLM(10).fit(CORPUS), KneserNeyTrigramLM(10).fit(CORPUS)
    held_out = [1, 2, 3, 1, 2, 4, 1, 5, 6]
    assert perplexity(kn.token_nlls(held_out)) < perplexity(uni.token_nlls(held_out))
    assert len(kn.token_nlls(held_out)) == len(held_out) - 1
    assert np.isfinite(kn.token_nlls([8, 9, 8, 9])).all()
