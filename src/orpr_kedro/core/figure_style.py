"""How every figure of the project looks: one colour per policy, and text a reader can read.

A policy has the same colour in every figure (:data:`POLICY_COLOURS`, after the
Okabe-Ito palette, readable with the common colour-vision deficiencies): the classic
rules in greys and blues, the OR models in greens, the learned policies in warm
colours, ORPR in vermillion. :func:`policy_colour` gives a policy outside the table a
colour derived from its name, so it too keeps its colour from figure to figure.

:func:`readable` sets the text of a finished figure to at least :data:`TEXT_POINTS`
(ticks and legends) and :data:`TITLE_POINTS` (titles and axis labels); the figures
call it last, so no plot needs its own font sizes. No Kedro, no pyplot.
"""

from __future__ import annotations

import zlib

from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = ["POLICY_COLOURS", "TEXT_POINTS", "TITLE_POINTS", "policy_colour", "readable"]

POLICY_COLOURS = {
    "incumbent": "#595959",
    "base_stock": "#56B4E9",
    "tuned_base_stock": "#0072B2",
    "or_policy": "#009E73",
    "or_hindsight": "#8C9A2C",
    "baseline_learner": "#CC79A7",
    "pretrained": "#E69F00",
    "orpr": "#D55E00",
    "aligned": "#F0A582",
}

# Colours for policies outside POLICY_COLOURS (a client's own rule), none of them used above.
_SPARE_COLOURS = ("#882255", "#44AA99", "#332288", "#AA4499", "#117733", "#999933", "#661100", "#6699CC")

TEXT_POINTS = 10.0
TITLE_POINTS = 11.0


def policy_colour(policy: str) -> str:
    """The hex colour of ``policy`` in every figure.

    >>> policy_colour("orpr")
    '#D55E00'
    >>> policy_colour("my_rule") == policy_colour("my_rule")
    True
    """
    if policy in POLICY_COLOURS:
        return POLICY_COLOURS[policy]
    return _SPARE_COLOURS[zlib.crc32(policy.encode("utf-8")) % len(_SPARE_COLOURS)]


def readable(figure: Figure) -> Figure:
    """``figure`` with every text at least :data:`TEXT_POINTS`, titles and axis labels :data:`TITLE_POINTS`.

    Tick labels are set through ``tick_params``, so ticks that matplotlib adds when it
    draws get the size as well. Larger sizes a figure chose are kept.
    """
    for axis in figure.axes:
        axis.tick_params(labelsize=TEXT_POINTS)
        for label in (axis.title, axis.xaxis.label, axis.yaxis.label):
            _at_least(label, TITLE_POINTS)
    suptitle = getattr(figure, "_suptitle", None)  # matplotlib has no public getter of the Text
    if isinstance(suptitle, Text):
        _at_least(suptitle, TITLE_POINTS + 1)
    for text in figure.findobj(Text):  # tick labels, legends, annotations, figure texts
        _at_least(text, TEXT_POINTS)
    return figure


def _at_least(text: Text, points: float) -> None:
    if float(text.get_fontsize()) < points:
        text.set_fontsize(points)
