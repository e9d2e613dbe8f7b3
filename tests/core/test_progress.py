"""Progress bars: drawn on a terminal, silent in logs."""

import io

from orpr_kedro.core.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_is_drawn_only_on_a_terminal():
    logged, terminal = io.StringIO(), Terminal()
    assert list(progress_bar(range(3), desc="labels", file=logged)) == [0, 1, 2]
    assert logged.getvalue() == ""  # a log file gets no bar and no escape codes
    list(progress_bar(range(3), desc="labels", file=terminal))
    assert "labels" in terminal.getvalue() and "3/3" in terminal.getvalue()
    off = Terminal()
    list(progress_bar(range(3), desc="labels", file=off, enabled=False))
    assert off.getvalue() == ""
