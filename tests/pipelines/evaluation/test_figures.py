"""The report's figures: one colour per policy in every figure, readable text, trade-off labels that never overlap."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from orpr_kedro.core.evaluation.report import POLICY_LABELS
from orpr_kedro.core.figure_style import POLICY_COLOURS, TEXT_POINTS, policy_colour
from orpr_kedro.core.rl.curves import training_curves_figure
from orpr_kedro.pipelines.evaluation import figures
from orpr_kedro.pipelines.evaluation.labels import _crosses, text_boxes
from orpr_kedro.pipelines.evaluation.nodes import FIGURE_DPI

POLICIES = ["incumbent", "base_stock", "tuned_base_stock", "or_policy", "baseline_learner", "pretrained", "orpr"]


def _kpis(policies: list[str], turnover: np.ndarray, in_stock: np.ndarray) -> pd.DataFrame:
    n = len(policies)
    return pd.DataFrame(
        {
            "policy": policies,
            "scope": "all",
            "total_cost": np.linspace(900.0, 1_500.0, n),
            "holding_cost": np.linspace(300.0, 500.0, n),
            "lost_sales_cost": np.linspace(400.0, 600.0, n),
            "order_cost": np.linspace(200.0, 400.0, n),
            "turnover_days": turnover,
            "in_stock_rate": in_stock,
        }
    )


def _trajectories(policies: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    dates = pd.date_range("2025-01-06", periods=10)
    rows = [
        {"policy": p, "lane_id": lane, "date": d, "on_hand_end": 10.0 + i, "demand": 3.0}
        for lane in (0, 1)
        for i, p in enumerate(policies)
        for d in dates
    ]
    lanes = pd.DataFrame({"lane_id": [0, 1], "sku_id": ["S1", "S2"], "dc_id": ["D1", "D1"], "category": ["a", "b"]})
    return pd.DataFrame(rows), lanes


def _sweep(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alpha": np.linspace(0.9, 0.999, n).round(3),
            "turnover_days": np.linspace(9.0, 9.6, n),
            "in_stock_rate": np.linspace(0.93, 0.95, n),
            "total_cost": 1_000.0,
        }
    )


def _drawn(figure: Figure):
    """The figure drawn by Agg (as the catalog saves it), and its renderer."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_a_policy_has_the_same_colour_in_every_figure() -> None:
    kpis = _kpis(POLICIES, np.linspace(5, 20, len(POLICIES)), np.linspace(0.8, 0.99, len(POLICIES)))
    # the trajectories list the policies in another order, and only some of them
    daily, lanes = _trajectories(["orpr", "incumbent", "or_policy"])
    bars = figures.kpi_comparison(kpis, currency="EUR").axes[1]
    points = figures.tradeoff(_sweep(3), kpis).axes[0]
    lines = figures.trajectories(daily, lanes).axes[0]
    bar_colour = {patch.get_label(): to_hex(patch.get_facecolor()) for patch in bars.patches}
    point_colour = {c.get_label(): to_hex(c.get_facecolor()[0]) for c in points.collections}
    line_colour = {line.get_label(): to_hex(line.get_color()) for line in lines.get_lines()}
    for policy in POLICIES:
        label = POLICY_LABELS[policy]
        assert bar_colour[label] == point_colour[label] == POLICY_COLOURS[policy].lower()
    for policy in ("orpr", "incumbent", "or_policy"):
        assert line_colour[POLICY_LABELS[policy]] == bar_colour[POLICY_LABELS[policy]]
    assert line_colour["ORPR"] == "#d55e00" and bar_colour["Incumbent rule"] == "#595959"
    # eight policies, eight colours
    assert len(set(POLICY_COLOURS.values())) == len(POLICY_COLOURS) == 9


def test_a_policy_outside_the_palette_keeps_its_colour() -> None:
    assert policy_colour("planner_rule") == policy_colour("planner_rule")
    assert policy_colour("planner_rule") not in POLICY_COLOURS.values()


def _overlapping(figure: Figure) -> list[tuple[str, str]]:
    boxes = text_boxes(figure, _drawn(figure))
    return [
        (a.get_text(), b.get_text())
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.overlaps(box_b)
    ]


def _leaders_cross_no_label(figure: Figure) -> bool:
    """Whether every leader line of the alpha labels keeps out of every other label's box."""
    renderer = _drawn(figure)
    axis = figure.axes[0]
    labels = [t for t in axis.texts if t.get_text().startswith("α")]
    for text in labels:
        leader = getattr(text, "leader", None)
        if leader is None:
            continue
        start, end = axis.transData.transform(np.column_stack(leader.get_data()))
        for other in labels:
            box = other.get_window_extent(renderer)
            if other is not text and _crosses((*start, *end), box):
                return False
    return True


@pytest.mark.parametrize("n_alphas", [2, 6, 10])
@pytest.mark.parametrize("spread", [1.0, 0.0], ids=["close", "identical"])
def test_no_two_texts_of_the_tradeoff_plot_overlap(n_alphas: int, spread: float) -> None:
    # every point in one corner (or the sweep's points all on one spot): alpha labels must make
    # room for each other and the markers, in a column with leader lines where no place is free
    policies = [*POLICIES, "or_hindsight"]
    kpis = _kpis(policies, 9.0 + np.arange(8) * 0.08, 0.93 + np.arange(8) * 0.003)
    sweep = _sweep(n_alphas)
    sweep[["turnover_days", "in_stock_rate"]] = sweep[["turnover_days", "in_stock_rate"]].iloc[0] + spread * (
        sweep[["turnover_days", "in_stock_rate"]] - sweep[["turnover_days", "in_stock_rate"]].iloc[0]
    )
    figure = figures.tradeoff(sweep, kpis)
    alpha_labels = [t for t in figure.axes[0].texts if t.get_text().startswith("α")]
    assert len(alpha_labels) == n_alphas
    # as drawn, and as the catalog saves it (another dpi)
    for dpi in (figure.dpi, FIGURE_DPI):
        figure.set_dpi(dpi)
        assert _overlapping(figure) == []
        assert _leaders_cross_no_label(figure)
        # the labels stay inside the axes
        renderer = _drawn(figure)
        frame = figure.axes[0].get_window_extent(renderer)
        for text in alpha_labels:
            box = text.get_window_extent(renderer)
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    if spread == 0:  # one spot: no free place around it for two labels, so the column, each with its leader
        assert all(getattr(text, "leader", None) is not None for text in alpha_labels)


def test_the_leader_test_sees_a_crossing() -> None:
    assert _crosses((0.0, 0.0, 10.0, 10.0), Bbox.from_extents(4, 4, 6, 6))
    assert not _crosses((0.0, 0.0, 10.0, 0.0), Bbox.from_extents(4, 1, 6, 6))
    assert not _crosses((0.0, 0.0, 3.0, 3.0), Bbox.from_extents(4, 4, 6, 6))


def test_every_text_of_every_figure_is_at_least_ten_points() -> None:
    kpis = _kpis(POLICIES, np.linspace(5, 20, len(POLICIES)), np.linspace(0.8, 0.99, len(POLICIES)))
    daily, lanes = _trajectories(POLICIES)
    curves = pd.DataFrame(
        {"epoch": [1, 2], "reward": [-1.0, -0.9], "total_cost": [5.0, 4.5], "kl": [0.0, 0.01], "entropy": [2.0, 1.9]}
        | {name: [1.0, 1.0] for name in ("holding_cost", "lost_sales_cost", "order_cost")}
    )
    for figure in (
        figures.kpi_comparison(kpis, currency="EUR"),
        figures.tradeoff(_sweep(4), kpis),
        figures.trajectories(daily, lanes),
        training_curves_figure(curves),
    ):
        _drawn(figure)
        small = {t.get_text() for t in figure.findobj(Text) if t.get_text() and t.get_fontsize() < TEXT_POINTS}
        assert small == set()
        assert _overlapping(figure) == []
