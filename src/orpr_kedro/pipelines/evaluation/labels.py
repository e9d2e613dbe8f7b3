"""Point labels that do not overlap: each label takes the nearest free place around its point.

The figure is laid out first, then its layout and axis limits are fixed (the layout
engine is switched off), so the places chosen here are the places drawn when the
figure is saved, at any resolution. Every label then tries the places around its
point, nearest first (four diagonals, then the sides, at growing distances), and takes
the first whose box lies inside the axes, clear of every text already drawn (titles,
ticks, legend, earlier labels) and of the marked points, and whose leader line (drawn
for labels set away from their point) crosses no other label. Where some label finds
no free place (points too close together), every label goes into a column at the
side of the axes instead, one row each in the order of its point, each joined to its
point by a leader line. Finally the drawn labels' boxes are measured again; a label
that still touches another text sends the figure to the column too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["label_points", "overlapping_texts", "text_boxes"]

_DISTANCES = (5.0, 11.0, 18.0, 27.0, 38.0)  # points from the labelled point
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_LEADER_COLOUR, _LEADER_WIDTH = "0.45", 0.6
_LEADER_GAP = 3.0  # points between a point and the start of its leader line


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


def overlapping_texts(figure: Figure, renderer: RendererBase) -> list[tuple[Text, Text]]:
    """Every pair of texts of ``figure`` whose boxes (:func:`text_boxes`) overlap."""
    boxes = text_boxes(figure, renderer)
    return [
        (a, b) for index, (a, box_a) in enumerate(boxes) for b, box_b in boxes[index + 1 :] if box_a.overlaps(box_b)
    ]


@dataclass
class _Place:
    """Where one label goes, in display pixels: its box and its leader line (or none)."""

    label: str
    box: Bbox
    leader: tuple[float, float, float, float] | None


def label_points(
    axis: Axes,
    labelled: Sequence[tuple[float, float, str]],
    *,
    avoid: np.ndarray | None = None,
    fontsize: float = 10.0,
    marker_points: float = 6.0,
    pad_points: float = 2.0,
) -> list[Text]:
    """Label each ``(x, y, text)`` (data coordinates) of ``axis`` where it overlaps no text and no point.

    ``avoid``: further points (an ``(n, 2)`` array in data coordinates) no label may
    cover, each a square of ``marker_points`` around it; the labelled points are always
    avoided. The figure's layout and ``axis``' limits are fixed from here on. Returns
    the labels.
    """
    figure = axis.get_figure(root=True)
    assert isinstance(figure, Figure)
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)  # a renderer that can measure text
    _freeze(figure, axis)
    if not labelled:
        return []
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    scale = figure.dpi / 72.0
    pad = pad_points * scale
    frame = axis.get_window_extent(renderer)
    texts = [box for _, box in text_boxes(figure, renderer)]
    legend = axis.get_legend()
    if legend is not None:
        texts.append(legend.get_window_extent(renderer))
    points = np.asarray([(x, y) for x, y, _ in labelled], dtype=float).reshape(-1, 2)
    if avoid is not None and len(avoid):
        points = np.vstack([points, np.asarray(avoid, dtype=float).reshape(-1, 2)])
    pixels = axis.transData.transform(points) if len(points) else np.empty((0, 2))
    half = marker_points * scale / 2
    markers = [Bbox.from_extents(px - half, py - half, px + half, py + half) for px, py in pixels]
    sizes = [_text_size(axis, label, fontsize, renderer) for _, _, label in labelled]
    own, labels = pixels[: len(labelled)], [label for *_, label in labelled]
    places = _around(own, labels, sizes, texts, markers, frame, pad, scale)
    if places is not None:
        drawn = _draw(axis, places, fontsize, boxed=False)
        if _clear(figure, renderer, drawn):
            return drawn
        _remove(axis, drawn)
    places = _column(own, labels, sizes, markers, frame, pad, _LEADER_GAP * scale)
    return _draw(axis, places, fontsize, boxed=True)


def _freeze(figure: Figure, axis: Axes) -> None:
    """Lay the figure out, then keep that layout and ``axis``' limits for every later draw."""
    figure.draw_without_rendering()
    figure.draw_without_rendering()  # a second pass: the layout of the ticks the first one chose
    figure.set_layout_engine("none")
    axis.set_xlim(axis.get_xlim())
    axis.set_ylim(axis.get_ylim())
    figure.draw_without_rendering()


def _text_size(axis: Axes, label: str, fontsize: float, renderer: RendererBase) -> tuple[float, float]:
    probe = axis.text(0, 0, label, fontsize=fontsize)
    box = probe.get_window_extent(renderer)
    probe.remove()
    return box.width, box.height


def _around(
    pixels: np.ndarray,
    labels: list[str],
    sizes: list[tuple[float, float]],
    texts: list[Bbox],
    markers: list[Bbox],
    frame: Bbox,
    pad: float,
    scale: float,
) -> list[_Place] | None:
    """The nearest free place around each point, or None when some label has none."""
    places: list[_Place] = []
    for index, ((px, py), label, (width, height)) in enumerate(zip(pixels, labels, sizes, strict=True)):
        # a leader starts at its point: the markers on that point (a policy with the same KPIs) do not count
        others = [box for box in markers if not box.contains(px, py)]
        chosen = None
        for distance in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                box = _box(px, py, dx, dy, distance * scale, width, height)
                leader = None if distance == _DISTANCES[0] else _leader(px, py, box, dx, dy, _LEADER_GAP * scale)
                if _free(box.padded(pad), leader, frame, [*texts, *(p.box for p in places)], markers, others, places):
                    chosen = _Place(label, box, leader)
                    break
            if chosen is not None:
                break
        if chosen is None:
            return None
        places.append(chosen)
    return places


def _free(
    box: Bbox,
    leader: tuple[float, float, float, float] | None,
    frame: Bbox,
    texts: list[Bbox],
    markers: list[Bbox],
    other_markers: list[Bbox],
    places: list[_Place],
) -> bool:
    """Whether ``box`` lies in ``frame`` clear of every text and point, its leader of every text and point but its own."""
    if not (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1):
        return False
    if any(box.overlaps(other) for other in (*texts, *markers)):
        return False
    if leader is not None and any(_crosses(leader, other) for other in (*texts, *other_markers)):
        return False
    return not any(place.leader is not None and _crosses(place.leader, box) for place in places)


def _column(
    pixels: np.ndarray,
    labels: list[str],
    sizes: list[tuple[float, float]],
    markers: list[Bbox],
    frame: Bbox,
    pad: float,
    gap: float,
) -> list[_Place]:
    """Every label in a column at the side of the axes that covers fewer points, in the order of its point.

    Rows are one label high plus ``pad``, so no two labels touch; a column that would
    be taller than the axes continues in the next one, inwards.
    """
    width = max(w for w, _ in sizes) + 2 * pad
    row = max(h for _, h in sizes) + 2 * pad
    per_column = max(1, int((frame.height - pad) // row))
    n_columns = -(-len(labels) // per_column)
    strips = {
        side: Bbox.from_extents(x0, frame.y0, x0 + n_columns * width, frame.y1)
        for side, x0 in (("right", frame.x1 - pad - n_columns * width), ("left", frame.x0 + pad))
    }
    side = min(strips, key=lambda name: (sum(strips[name].overlaps(m) for m in markers), name != "right"))
    order = sorted(range(len(labels)), key=lambda index: -pixels[index, 1])  # the highest point first
    places: list[_Place] = [None] * len(labels)  # type: ignore[list-item]
    for rank, index in enumerate(order):
        column, position = divmod(rank, per_column)
        rows_here = min(per_column, len(labels) - column * per_column)
        # the column's rows centred on its points' mean height, inside the axes
        centre = float(np.mean(pixels[[order[column * per_column + k] for k in range(rows_here)], 1]))
        top = min(frame.y1 - pad, max(frame.y0 + pad + rows_here * row, centre + rows_here * row / 2))
        y0 = top - (position + 1) * row + pad
        w, h = sizes[index]
        if side == "right":
            x0 = frame.x1 - pad - (column + 1) * width + pad
            box = Bbox.from_bounds(x0, y0, w, h)
            end = (box.x0 - pad / 2, box.y0 + h / 2)
        else:
            x0 = frame.x0 + pad + column * width + pad
            box = Bbox.from_bounds(x0 + (width - 2 * pad - w), y0, w, h)
            end = (box.x1 + pad / 2, box.y0 + h / 2)
        px, py = pixels[index]
        places[index] = _Place(labels[index], box, _shortened(px, py, *end, gap))
    return places


def _draw(axis: Axes, places: list[_Place], fontsize: float, *, boxed: bool) -> list[Text]:
    """Each label at its box (lower left corner, in data coordinates of the fixed layout) and its leader line."""
    to_data = axis.transData.inverted()
    drawn = []
    for place in places:
        x, y = to_data.transform((place.box.x0, place.box.y0))
        text = axis.text(
            x,
            y,
            place.label,
            ha="left",
            va="bottom",
            fontsize=fontsize,
            zorder=4,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5} if boxed else None,
        )
        text.set_in_layout(False)
        if place.leader is not None:
            start, end = to_data.transform(place.leader[:2]), to_data.transform(place.leader[2:])
            line = Line2D(
                [start[0], end[0]], [start[1], end[1]], color=_LEADER_COLOUR, linewidth=_LEADER_WIDTH, zorder=2.5
            )
            line.set_in_layout(False)
            axis.add_artist(line)  # not add_line: the leader takes no part in the axis limits
            text.leader = line  # type: ignore[attr-defined]
        drawn.append(text)
    return drawn


def _remove(axis: Axes, drawn: list[Text]) -> None:
    for text in drawn:
        leader = getattr(text, "leader", None)
        if leader is not None:
            leader.remove()
        text.remove()


def _clear(figure: Figure, renderer: RendererBase, drawn: list[Text]) -> bool:
    """Whether, drawn, none of ``drawn`` overlaps any text of ``figure``."""
    figure.draw_without_rendering()
    ours = {id(text) for text in drawn}
    return not any(id(a) in ours or id(b) in ours for a, b in overlapping_texts(figure, renderer))


def _box(px: float, py: float, dx: int, dy: int, offset: float, width: float, height: float) -> Bbox:
    """The box of a label set ``offset`` pixels from ``(px, py)`` in direction ``(dx, dy)``."""
    x0 = px + offset if dx > 0 else px - offset - width if dx < 0 else px - width / 2
    y0 = py + offset if dy > 0 else py - offset - height if dy < 0 else py - height / 2
    return Bbox.from_bounds(x0, y0, width, height)


def _leader(px: float, py: float, box: Bbox, dx: int, dy: int, gap: float) -> tuple[float, float, float, float]:
    """The leader line from ``gap`` pixels off the point to the nearest corner or edge middle of its label's box."""
    x = box.x0 if dx > 0 else box.x1 if dx < 0 else (box.x0 + box.x1) / 2
    y = box.y0 if dy > 0 else box.y1 if dy < 0 else (box.y0 + box.y1) / 2
    return _shortened(px, py, x, y, gap)


def _shortened(px: float, py: float, x: float, y: float, gap: float) -> tuple[float, float, float, float]:
    """The segment from ``(px, py)`` to ``(x, y)`` without its first ``gap`` pixels."""
    length = float(np.hypot(x - px, y - py))
    share = min(1.0, gap / length) if length > 0 else 0.0
    return px + share * (x - px), py + share * (y - py), x, y


def _crosses(segment: tuple[float, float, float, float], box: Bbox) -> bool:
    """Whether the segment ``(x0, y0, x1, y1)`` passes through the inside of ``box`` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = segment
    low, high = 0.0, 1.0
    for p, q in (
        (-(x1 - x0), x0 - box.x0),
        (x1 - x0, box.x1 - x0),
        (-(y1 - y0), y0 - box.y0),
        (y1 - y0, box.y1 - y0),
    ):
        if p == 0:
            if q <= 0:
                return False
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low >= high:
            return False
    return True
