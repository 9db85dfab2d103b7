"""Each claim of docs/attention_exploration.md, within the tolerance stated there."""

import math

import torch

from hfmodels.from_scratch.attention_exploration import (
    attend,
    averaging,
    copying,
    one_head_vs_two_heads,
    orthonormal,
    sample_keys,
)


def test_attend_is_softmax_of_unscaled_dot_products():
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(3, 5, generator=g),
        torch.randn(3, 6, 5, generator=g),
        torch.randn(3, 6, 2, generator=g),
    )
    c, w = attend(q, k, v)
    want_w = torch.softmax(torch.einsum("sd,snd->sn", q, k), dim=-1)
    assert torch.allclose(w, want_w, atol=1e-6) and torch.allclose(
        c, torch.einsum("sn,snv->sv", want_w, v), atol=1e-6
    )


def test_copying_weight_follows_the_formula_and_c_reaches_v_j():
    rows = copying([0.0, 2.0, 5.0, 10.0, 20.0], n=8)
    for r in rows:
        assert abs(r["weight_j"] - r["predicted_weight_j"]) < 1e-12
        # c − v_j = Σ_{i≠j} α_i v_i − (1 − α_j) v_j: its norm is (1 − α_j) √(1 + 1/(n − 1))
        assert abs(r["distance_to_v_j"] - (1 - r["weight_j"]) * math.sqrt(1 + 1 / 7)) < 1e-9
    assert rows[0]["weight_j"] == 1 / 8
    assert rows[-1]["distance_to_v_j"] < 1e-7


def test_averaging_splits_the_weight_between_a_and_b():
    rows = averaging([0.0, 5.0, 10.0, 20.0], n=8)
    for r in rows:
        assert abs(r["weight_a"] - r["weight_b"]) < 1e-9
        assert abs(r["weight_a"] - math.exp(r["beta"]) / (2 * math.exp(r["beta"]) + 6)) < 1e-9
    assert rows[-1]["distance_to_mean"] < 1e-7 and rows[1]["distance_to_mean"] > 1e-3


def test_boosted_key_has_random_length_along_its_mean():
    means = orthonormal(4, 16)
    keys, gamma = sample_keys(means, 1e-6, 4000, boosted=0, seed=1)
    along = keys[:, 0] @ means[0]
    assert torch.allclose(along, gamma, atol=0.01)
    assert abs(gamma.mean().item() - 1) < 0.05 and abs(gamma.var().item() - 0.5) < 0.05


def test_one_head_averages_when_keys_are_tight():
    r = one_head_vs_two_heads(samples=2000, boosted=False)
    assert (r["one_head_distance"] < 0.05).float().mean() > 0.95
    assert r["one_head_share_a"].std() < 0.03


def test_one_head_swings_between_v_a_and_v_b_with_a_boosted_key():
    r = one_head_vs_two_heads(samples=2000, boosted=True)
    share = r["one_head_share_a"]
    # share_a ≈ 1 / (1 + exp(−β(γ − 1))) leaves [0.05, 0.95] when |γ − 1| > ln 19 / β, γ − 1 ~ N(0, ½)
    predicted = 1 - math.erf(math.log(19) / 20.0)
    extreme = ((share < 0.05) | (share > 0.95)).float().mean().item()
    assert abs(extreme - predicted) < 0.03 and extreme > 0.8
    assert 0.3 < (share > 0.5).float().mean() < 0.7  # a and b about equally often
    assert (share > 0.5).eq(r["gamma"] > 1).float().mean() > 0.95  # it is a's length that decides


def test_two_heads_keep_the_average_with_a_boosted_key():
    r = one_head_vs_two_heads(samples=2000, boosted=True)
    close = r["two_heads_distance"] < 0.05
    # head 1 weighs v_a by e^{βγ} / (e^{βγ} + 3); the average is within 0.05 when (1 − that)·√(4/3)/2 < 0.05
    gamma_min = math.log(3 / (0.1 / math.sqrt(4 / 3)) - 3) / 20.0
    predicted = 0.5 * (1 + math.erf((1 - gamma_min) / math.sqrt(0.5) / math.sqrt(2)))
    assert abs(close.float().mean().item() - predicted) < 0.03 and close.float().mean() > 0.85
    assert (r["gamma"][~close] < gamma_min + 0.02).all() and (r["gamma"][close] > gamma_min - 0.02).all()
    assert r["two_heads_share_a"].std() < r["one_head_share_a"].std() / 2
