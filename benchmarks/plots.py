"""PNG plots of the benchmark results (matplotlib, Agg backend), written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hfmodels.reporting import save_figure_atomic  # noqa: E402


def _save(fig, path: Path) -> None:
    save_figure_atomic(fig, path, dpi=110, bbox_inches="tight")


def plot_perceiver_scaling(rows: list[dict], path: Path) -> None:
    """Forward+backward time and saved activation memory against sequence length, log-log."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        sel = [r for r in rows if r["variant"] == variant]
        xs = [r["length"] for r in sel]
        style = "-o" if variant == "vanilla" else "--s"
        axes[0].plot(xs, [r["ms"] for r in sel], style, label=variant)
        axes[1].plot(xs, [r["activation_mib"] for r in sel], style, label=variant)
    for ax, title in zip(
        axes, ("forward+backward time (ms, batch 1, bf16)", "activations saved for backward (MiB)")
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length ℓ (= block_size)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_pretraining(rows: list[dict], path: Path) -> None:
    """Horizontal bars of pretraining examples/s per path and variant."""
    labels = [f"{r['variant']} {r['precision']}: {r['path']}" for r in rows]
    values = [r["examples_per_s"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1))
    ax.barh(range(len(rows)), values, color=["#888" if "original" in lab else "#2a7" for lab in labels])
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("examples/s (full training step)")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.0f}", va="center", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    _save(fig, path)


__all__ = ["plot_perceiver_scaling", "plot_pretraining"]
