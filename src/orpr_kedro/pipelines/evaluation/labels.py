"""Point labels that do not overlap: each label takes the nearest free place around its point.

The figure is laid out first (its axes and limits fixed), then every label tries the
places around its point, nearest first (four diagonals, then the sides, at growing
distances), and takes the first whose box lies inside the axes and clear of every
text already drawn (titles, ticks, legend, earlier labels) and of the marked points.
Labels stay out of the layout engine, so the layout, and with it the places, do not
change when the figure is saved. Labels set away from their point get a thin leader
line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["label_points", "text_boxes"]

_DISTANCES = (5.0, 11.0, 18.0, 27.0, 38.0)  # points from the labelled point
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_HA = {1: "left", 0: "center", -1: "right"}
_VA = {1: "bottom", 0: "center", -1: "top"}


def text_boxes(figure: Figure, renderer: RendererBase) -> list[tuple[Text, Bbox]]:
    """Every text ``figure`` draws (non-empty, visible, in a visible axes) with its box in display pixels.

    Tick labels count only where their tick lies inside the axis' view: matplotlib keeps
    the labels of ticks beyond the limits, with stale positions, and does not draw them.
    Minor tick labels (these figures have none) are left out.
    """
    ticks: set[int] = set()
    drawn: set[int] = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick, location in zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=False):
                labels = (tick.label1, tick.label2)
                ticks.update(id(label) for label in labels)
                if axes.get_visible() and low - 1e-9 * (high - low) <= location <= high + 1e-9 * (high - low):
                    drawn.update(id(label) for label in labels)
            for tick in axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
    boxes = []
    for text in figure.findobj(Text):
        if id(text) in ticks and id(text) not in drawn:
            continue
        if text.get_visible() and text.get_text().strip() and (text.axes is None or text.axes.get_visible()):
            box = text.get_window_extent(renderer)
            if box.width > 0 and box.height > 0:
                boxes.append((text, box))
    return boxes


def label_points(
    axis: Axes,
    labelled: Sequence[tuple[float, float, str]],
    *,
    avoid: np.ndarray | None = None,
    fontsize: float = 10.0,
    marker_points: float = 6.0,
    pad_points: float = 2.0,
) -> list[Text]:
    """Annotate each ``(x, y, text)`` (data coordinates) of ``axis`` where it overlaps nothing.

    ``avoid``: further points (an ``(n, 2)`` array in data coordinates) no label may
    cover, each a square of ``marker_points`` around it; the labelled points are always
    avoided. Where no place is free, the label takes the place it overlaps least.
    Returns the annotations.
    """
    figure = axis.get_figure(root=True)
    assert isinstance(figure, Figure)
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)  # a renderer that can measure text
    figure.draw_without_rendering()  # fixes the layout and the axis limits
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    scale = figure.dpi / 72.0
    pad = pad_points * scale
    frame = axis.get_window_extent(renderer)
    taken = [box for _, box in text_boxes(figure, renderer)]
    legend = axis.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent(renderer))
    points = np.asarray([(x, y) for x, y, _ in labelled], dtype=float).reshape(-1, 2)
    if avoid is not None and len(avoid):
        points = np.vstack([points, np.asarray(avoid, dtype=float).reshape(-1, 2)])
    half = marker_points * scale / 2
    taken += [Bbox.from_extents(px - half, py - half, px + half, py + half) for px, py in _pixels(axis, points)]
    annotations: list[Text] = []
    for (x, y, label), (px, py) in zip(labelled, _pixels(axis, points[: len(labelled)]), strict=True):
        probe = axis.text(0, 0, label, fontsize=fontsize)
        width, height = probe.get_window_extent(renderer).width, probe.get_window_extent(renderer).height
        probe.remove()
        best, best_overlap = None, np.inf
        for distance in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                box = _box(px, py, dx, dy, distance * scale, width, height)
                overlap = _overlap(box.padded(pad), taken) + _outside(box, frame)
                if overlap < best_overlap:
                    best, best_overlap = (distance, dx, dy, box), overlap
                if overlap == 0:
                    break
            if best_overlap == 0:
                break
        assert best is not None
        distance, dx, dy, box = best
        annotation = axis.annotate(
            label,
            (x, y),
            xytext=(dx * distance, dy * distance),
            textcoords="offset points",
            ha=_HA[dx],
            va=_VA[dy],
            fontsize=fontsize,
            arrowprops={"arrowstyle": "-", "color": "0.45", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3}
            if distance > _DISTANCES[0]
            else None,
        )
        annotation.set_in_layout(False)
        taken.append(box)
        annotations.append(annotation)
    return annotations


def _pixels(axis: Axes, points: np.ndarray) -> np.ndarray:
    return axis.transData.transform(points) if len(points) else np.empty((0, 2))


def _box(px: float, py: float, dx: int, dy: int, offset: float, width: float, height: float) -> Bbox:
    """The box of a label aligned as ``_HA[dx]``/``_VA[dy]`` at ``offset`` pixels from ``(px, py)``."""
    x0 = px + offset if dx > 0 else px - offset - width if dx < 0 else px - width / 2
    y0 = py + offset if dy > 0 else py - offset - height if dy < 0 else py - height / 2
    return Bbox.from_bounds(x0, y0, width, height)


def _overlap(box: Bbox, taken: list[Bbox]) -> float:
    """Total area (pixels) ``box`` shares with ``taken``."""
    total = 0.0
    for other in taken:
        width = min(box.x1, other.x1) - max(box.x0, other.x0)
        height = min(box.y1, other.y1) - max(box.y0, other.y0)
        if width > 0 and height > 0:
            total += width * height
    return total


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area (pixels) of ``box`` outside ``frame``."""
    inside_width = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0))
    inside_height = max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
    return box.width * box.height - inside_width * inside_height
