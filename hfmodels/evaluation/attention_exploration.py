"""Figures and numbers of docs/attention_exploration.md, from `hfmodels.from_scratch.attention_exploration`.

    python -m hfmodels.evaluation.attention_exploration --out docs/figures

writes `attention_copying_averaging.png`, `attention_one_vs_two_heads.png` and
`attention_exploration.json` (the numbers quoted on the page).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..from_scratch.attention_exploration import averaging, copying, one_head_vs_two_heads
from ..reporting import save_figure_atomic, write_text_atomic

BETAS = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0]


def _fractions(r: dict, tol: float = 0.05) -> dict:
    share = r["one_head_share_a"]
    return {
        "one_head_within_tol_of_mean": (r["one_head_distance"] < tol).double().mean().item(),
        "two_heads_within_tol_of_mean": (r["two_heads_distance"] < tol).double().mean().item(),
        "one_head_share_a_std": share.std().item(),
        "two_heads_share_a_std": r["two_heads_share_a"].std().item(),
        "one_head_share_a_outside_5_95": ((share < 0.05) | (share > 0.95)).double().mean().item(),
        "one_head_picks_a": (share > 0.5).double().mean().item(),
    }


def numbers(samples: int = 2000) -> dict:
    """Every figure the page quotes."""
    tight = one_head_vs_two_heads(samples=samples, boosted=False)
    boosted = one_head_vs_two_heads(samples=samples, boosted=True)
    return {
        "copying": copying(BETAS),
        "averaging": averaging(BETAS),
        "keys_tight": _fractions(tight),
        "key_a_boosted": _fractions(boosted),
        "predicted_one_head_outside_5_95": 1 - math.erf(math.log(19) / 20.0),
        "_samples": (tight, boosted),
    }


def plot(result: dict, out: Path) -> list[Path]:
    """The two figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].semilogy(
        [r["beta"] for r in result["copying"]], [r["distance_to_v_j"] for r in result["copying"]], "o-"
    )
    ax[0].set(title="(a) copying: q = β k_j", xlabel="β", ylabel="‖c − v_j‖")
    ax[1].semilogy(
        [r["beta"] for r in result["averaging"]], [r["distance_to_mean"] for r in result["averaging"]], "o-"
    )
    ax[1].set(title="(b) averaging: q = β (k_a + k_b)", xlabel="β", ylabel="‖c − ½(v_a + v_b)‖")
    fig.tight_layout()
    paths = [save_figure_atomic(fig, out / "attention_copying_averaging.png", dpi=120)]

    tight, boosted = result["_samples"]
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    bins = [i / 40 for i in range(41)]
    ax[0].hist(tight["one_head_share_a"].numpy(), bins=bins, color="tab:gray")
    ax[0].set(title="one head, keys N(μ_i, αI)", xlabel="share of v_a in c", ylabel="samples")
    ax[1].hist(boosted["one_head_share_a"].numpy(), bins=bins, color="tab:red")
    ax[1].set(title="one head, Σ_a = αI + ½ μ_a μ_aᵀ", xlabel="share of v_a in c")
    ax[2].hist(boosted["two_heads_share_a"].numpy(), bins=bins, color="tab:blue")
    ax[2].set(title="two heads (q₁ = βμ_a, q₂ = βμ_b), same keys", xlabel="share of v_a in c")
    fig.tight_layout()
    paths.append(save_figure_atomic(fig, out / "attention_one_vs_two_heads.png", dpi=120))
    return paths


def main(argv: list[str] | None = None) -> dict:
    """Compute, plot and write the JSON next to the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args(argv)
    result = numbers(args.samples)
    plot(result, args.out)
    saved = {k: v for k, v in result.items() if not k.startswith("_")}
    write_text_atomic(args.out / "attention_exploration.json", json.dumps(saved, indent=2) + "\n")
    print(json.dumps({k: v for k, v in saved.items() if k not in ("copying", "averaging")}, indent=2))
    return saved


if __name__ == "__main__":
    main()
