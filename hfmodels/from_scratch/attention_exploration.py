"""The attention-exploration exercises, computed (docs/attention_exploration.md).

Attention here is the exercise's unscaled form: weights `α = softmax(k_i · q)` over n keys, output
`c = Σ_i α_i v_i`. It is computed with the from-scratch kernel
[`scaled_dot_product_no_loop_batch`], the query multiplied by `√d` to cancel the kernel's
scaling. Keys and values are orthonormal unless drawn at random, so the part of `c` along `v_i`
is exactly `α_i` and distances read as errors in the weights.

- [`copying`]: `q = β k_j` puts weight `e^β / (e^β + n − 1)` on `v_j`, so `c → v_j` as β grows.
- [`averaging`]: `q = β (k_a + k_b)` splits the weight between `v_a` and `v_b`, `c → ½ (v_a + v_b)`.
- [`one_head_vs_two_heads`]: keys drawn `k_i ~ N(μ_i, α I)`; with `Σ_a = α I + ½ μ_a μ_aᵀ` the key
  `k_a ≈ γ μ_a` has a random length γ ~ N(1, ½). One head with `q = β (μ_a + μ_b)` then weighs
  `v_a` against `v_b` by `exp(β (γ − 1))` and swings to one of them; two heads with `q₁ = β μ_a`,
  `q₂ = β μ_b`, averaged, keep `c ≈ ½ (v_a + v_b)` whenever `β γ` is large.
"""

from __future__ import annotations

import math

import torch

from .blocks import scaled_dot_product_no_loop_batch


def attend(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`c = Σ_i softmax(k_i · q)_i v_i` for one query per sample: query (S, d), keys (S, n, d),
    values (S, n, d_v) → output (S, d_v) and weights (S, n)."""
    d = query.shape[-1]
    out, weights = scaled_dot_product_no_loop_batch(query.unsqueeze(1) * math.sqrt(d), keys, values)
    return out.squeeze(1), weights.squeeze(1)


def orthonormal(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """n orthonormal vectors of dimension d ≥ n (rows), from the QR of a seeded Gaussian matrix."""
    if n > d:
        raise ValueError(f"orthonormal: {n} vectors cannot be orthonormal in dimension {d}.")
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=torch.float64))
    return q.T.contiguous()


def copying(betas: list[float], n: int = 8, d: int = 16, j: int = 0, seed: int = 0) -> list[dict]:
    """For each β: the weight on `v_j` and `‖c − v_j‖` with `q = β k_j` (orthonormal keys and values)."""
    keys, values = orthonormal(n, d, seed), orthonormal(n, d, seed + 1)
    rows = []
    for beta in betas:
        c, w = attend((beta * keys[j]).unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0))
        rows.append(
            {
                "beta": beta,
                "weight_j": w[0, j].item(),
                "predicted_weight_j": math.exp(beta) / (math.exp(beta) + n - 1),
                "distance_to_v_j": (c[0] - values[j]).norm().item(),
            }
        )
    return rows


def averaging(
    betas: list[float], n: int = 8, d: int = 16, a: int = 0, b: int = 1, seed: int = 0
) -> list[dict]:
    """For each β: the weights on `v_a`, `v_b` and `‖c − ½(v_a + v_b)‖` with `q = β (k_a + k_b)`."""
    keys, values = orthonormal(n, d, seed), orthonormal(n, d, seed + 1)
    target = 0.5 * (values[a] + values[b])
    rows = []
    for beta in betas:
        q = (beta * (keys[a] + keys[b])).unsqueeze(0)
        c, w = attend(q, keys.unsqueeze(0), values.unsqueeze(0))
        rows.append(
            {
                "beta": beta,
                "weight_a": w[0, a].item(),
                "weight_b": w[0, b].item(),
                "distance_to_mean": (c[0] - target).norm().item(),
            }
        )
    return rows


def sample_keys(
    means: torch.Tensor, alpha: float, samples: int, boosted: int | None = None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys `k_i ~ N(μ_i, α I)` (samples, n, d); with `boosted = a`, key a instead has covariance
    `α I + ½ μ_a μ_aᵀ`, drawn as `μ_a + √α z + γ' μ_a` with γ' ~ N(0, ½) (‖μ_a‖ = 1). Also returns
    each sample's length factor γ = 1 + γ' of key a (ones when nothing is boosted)."""
    g = torch.Generator().manual_seed(seed)
    n, d = means.shape
    keys = means.unsqueeze(0) + math.sqrt(alpha) * torch.randn(samples, n, d, generator=g, dtype=means.dtype)
    gamma = torch.ones(samples, dtype=means.dtype)
    if boosted is not None:
        extra = math.sqrt(0.5) * torch.randn(samples, generator=g, dtype=means.dtype)
        keys[:, boosted] += extra.unsqueeze(1) * means[boosted]
        gamma = gamma + extra
    return keys, gamma


def one_head_vs_two_heads(
    samples: int = 2000,
    n: int = 4,
    d: int = 16,
    alpha: float = 1e-6,
    beta: float = 20.0,
    a: int = 0,
    b: int = 1,
    boosted: bool = True,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Per sample: the share `λ_a`, `λ_b` of `v_a`, `v_b` in the output and `‖c − ½(v_a + v_b)‖`
    for one head (`q = β(μ_a + μ_b)`) and for two heads (`q₁ = β μ_a`, `q₂ = β μ_b`, outputs averaged),
    plus the length factor γ of key a. `boosted=False` draws every key as `N(μ_i, α I)`."""
    means, values = orthonormal(n, d, seed), orthonormal(n, d, seed + 1)
    keys, gamma = sample_keys(means, alpha, samples, boosted=a if boosted else None, seed=seed + 2)
    vals = values.unsqueeze(0).expand(samples, n, d)
    target = 0.5 * (values[a] + values[b])
    one, _ = attend((beta * (means[a] + means[b])).expand(samples, d), keys, vals)
    head1, _ = attend((beta * means[a]).expand(samples, d), keys, vals)
    head2, _ = attend((beta * means[b]).expand(samples, d), keys, vals)
    two = 0.5 * (head1 + head2)
    return {
        "gamma": gamma,
        "one_head_share_a": one @ values[a],
        "one_head_share_b": one @ values[b],
        "two_heads_share_a": two @ values[a],
        "two_heads_share_b": two @ values[b],
        "one_head_distance": (one - target).norm(dim=-1),
        "two_heads_distance": (two - target).norm(dim=-1),
    }


__all__ = ["attend", "averaging", "copying", "one_head_vs_two_heads", "orthonormal", "sample_keys"]
