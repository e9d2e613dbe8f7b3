"""Kedro's per-node console lines are left out; every other record passes."""

import logging

from orpr_kedro.log_filters import NODE_LINES_VARIABLE, NodeLineFilter, quiet_node_lines


def _record(name: str, level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("x",), None)


def test_only_kedros_per_node_info_lines_are_dropped():
    keep = NodeLineFilter().filter
    assert not keep(_record("kedro.pipeline.node", logging.INFO, "Running node: %s"))
    assert not keep(_record("kedro.runner.sequential_runner", logging.INFO, "Completed node: %s"))
    assert keep(_record("kedro.runner.sequential_runner", logging.INFO, "Completed 3 out of 41 tasks"))
    assert keep(_record("kedro.pipeline.node", logging.WARNING, "Running node: %s"))  # not INFO
    assert keep(_record("orpr_kedro.pipelines.x", logging.INFO, "Running node: %s"))  # not Kedro's


def test_the_filter_is_attached_once_per_handler_unless_asked_for_the_lines(monkeypatch):
    logger = logging.getLogger("orpr_kedro.tests.quiet")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        monkeypatch.setenv(NODE_LINES_VARIABLE, "1")
        assert quiet_node_lines(logger) == 0 and not handler.filters
        monkeypatch.delenv(NODE_LINES_VARIABLE)
        assert quiet_node_lines(logger) == 1 and quiet_node_lines(logger) == 0
        assert [type(f) for f in handler.filters] == [NodeLineFilter]
    finally:
        logger.removeHandler(handler)
