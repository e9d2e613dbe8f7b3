"""Logging filters of the project's console configuration (``conf/logging.yml``).

Kedro logs two INFO lines per node ("Running node: <name>(<inputs>) -> [<outputs>]",
which wraps over several lines, and "Completed node: <name>"), about half of a run's
console. Each stage already logs its own summary line, and Kedro's "Completed N out of
M tasks" lines stay as the run's progress, so :class:`NodeLineFilter` drops the two
per-node lines from the console. They come back with ``--verbose`` logging, or by
setting ``ORPR_NODE_LINES=1``. :func:`quiet_node_lines` attaches the filter to the
root logger's handlers when a run starts (``orpr_kedro.hooks.QuietConsoleHooks``):
Kedro's ``conf/logging.yml`` accepts no filter factories and only allow-listed
handler modules.
"""

from __future__ import annotations

import logging
import os

__all__ = ["NODE_LINES_VARIABLE", "NodeLineFilter", "quiet_node_lines"]

NODE_LINES_VARIABLE = "ORPR_NODE_LINES"

_NODE_LINES = ("Running node: ", "Completed node: ")


class NodeLineFilter(logging.Filter):
    """Drop Kedro's per-node "Running node" / "Completed node" INFO records; keep everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith("kedro."):
            return True
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(_NODE_LINES)


def quiet_node_lines(logger: logging.Logger | None = None) -> int:
    """Attach one :class:`NodeLineFilter` to each handler of ``logger`` (root by default) that has none.

    Does nothing when ``ORPR_NODE_LINES`` is ``1``/``true``/``yes``. Returns the number of
    handlers given a filter.
    """
    if os.environ.get(NODE_LINES_VARIABLE, "").strip().lower() in {"1", "true", "yes"}:
        return 0
    added = 0
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, NodeLineFilter) for existing in handler.filters):
            handler.addFilter(NodeLineFilter())
            added += 1
    return added
