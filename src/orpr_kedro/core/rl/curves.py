"""The RL alignment's training curves as a figure (plain matplotlib, no Kedro)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from orpr_kedro.core.figure_style import readable
from orpr_kedro.core.rl.rewards import REWARD_TERMS

__all__ = ["training_curves_figure"]


def training_curves_figure(curves: pd.DataFrame) -> Figure:
    """Reward and its terms, cost per lane-week, KL and entropy per epoch (means over the epoch's steps)."""
    figure = Figure(figsize=(17, 4.6), layout="constrained")
    axes = figure.subplots(1, 4)
    if curves.empty:
        for axis in axes:
            axis.text(0.5, 0.5, "no RL epochs (epochs: 0)", ha="center", va="center")
        return readable(figure)
    epoch = curves["epoch"]
    axes[0].plot(epoch, curves["reward"], marker="o", color="black", label="reward")
    for term in REWARD_TERMS:
        if term in curves and curves[term].abs().sum() > 0:
            axes[0].plot(epoch, curves[term], marker=".", label=term)
    axes[0].set_title("reward and weighted terms")
    axes[0].legend()
    for name in ("holding_cost", "lost_sales_cost", "order_cost", "total_cost"):
        axes[1].plot(epoch, curves[name], marker="o" if name == "total_cost" else ".", label=name.replace("_", " "))
    axes[1].set_title("cost per lane-week (currency)")
    axes[1].legend()
    for axis, name in ((axes[2], "kl"), (axes[3], "entropy")):
        if name in curves:
            axis.plot(epoch, curves[name], marker="o")
        axis.set_title("KL(policy || pretrained), nats" if name == "kl" else "policy entropy, nats")
    for axis in axes:
        axis.set_xlabel("epoch")
    figure.suptitle("RL alignment: training curves")
    return readable(figure)
