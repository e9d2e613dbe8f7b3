"""What a failed contract check reports: one :class:`Problem` per broken rule, and the error that lists them all.

Row numbers are 0-based positions in the table as loaded (for a CSV file with a header line,
file line = row + 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Problem:
    """One broken rule in one column of one raw table."""

    dataset: str
    column: str
    rule: str
    rows: np.ndarray
    examples: pd.DataFrame = field(repr=False)

    def describe(self, source: str | None) -> str:
        """Human-readable paragraph naming file, column, rule and example rows.

        A problem of the whole column or table (a missing column, an empty table)
        has no rows and prints no example frame.
        """
        where = f"{self.dataset} ({source})" if source else self.dataset
        if not len(self.rows):
            return f"  - {where}: column '{self.column}': {self.rule}"
        shown = ", ".join(str(row) for row in self.rows[: len(self.examples)])
        more = "" if len(self.rows) <= len(self.examples) else ", ..."
        table = self.examples.to_string(max_colwidth=40)
        indented = "\n".join("      " + line for line in table.splitlines())
        return (
            f"  - {where}: column '{self.column}': {self.rule}: "
            f"{len(self.rows)} row(s) (rows {shown}{more})\n{indented}"
        )


class DataContractError(ValueError):
    """Raw data broke the contract. Nothing downstream has been written."""

    def __init__(self, problems: list[Problem], sources: Mapping[str, str] | None = None):
        self.problems = problems
        self.sources = dict(sources or {})
        lines = [
            f"Raw data failed validation with {len(problems)} problem(s); "
            "no output was written. Fix the file(s) and run again."
        ]
        lines += [problem.describe(self.sources.get(problem.dataset)) for problem in problems]
        super().__init__("\n".join(lines))


class _Collector:
    """Accumulates problems with a bounded number of example rows each.

    Every check a collector is called with gets the next *slot* number, whether it
    finds a problem or not; ``slots[i]`` is the slot of ``problems[i]``. The same checks
    run on every part of a table (its lane blocks) call them in the same order, so one
    slot is one rule in every part: :func:`merge_problems` joins the parts by it.
    """

    def __init__(self, max_examples: int):
        self.max_examples = max_examples
        self.problems: list[Problem] = []
        self.slots: list[int] = []
        self.warnings: list[str] = []
        self._calls = 0

    def _append(self, problem: Problem | None) -> None:
        if problem is not None:
            self.problems.append(problem)
            self.slots.append(self._calls)
        self._calls += 1

    def whole(self, dataset: str, column: str, rule: str) -> None:
        """A problem of a whole column or table (no rows to show)."""
        self._append(Problem(dataset, column, rule, np.arange(0), pd.DataFrame()))

    def add(self, dataset: str, column: str, rule: str, frame: pd.DataFrame, mask: np.ndarray | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            self._append(None)
            return
        rows = np.flatnonzero(mask)
        self._append(Problem(dataset, column, rule, rows, frame.iloc[rows[: self.max_examples]]))

    def slotted(self, rows: np.ndarray | None = None) -> list[tuple[int, Problem]]:
        """``(slot, problem)`` pairs; with ``rows`` (row -> its position in the whole table) renumbered to it."""
        if rows is None:
            return list(zip(self.slots, self.problems, strict=True))
        return [
            (
                slot,
                Problem(
                    problem.dataset,
                    problem.column,
                    problem.rule,
                    rows[problem.rows],
                    problem.examples.set_axis(rows[problem.examples.index.to_numpy(dtype="int64")]),
                ),
            )
            for slot, problem in zip(self.slots, self.problems, strict=True)
        ]


def merge_problems(parts: Iterable[Sequence[tuple[int, Problem]]], max_examples: int) -> list[Problem]:
    """One problem per slot from the problems of a table's parts, in slot order.

    Each part's rows (and the index of its examples) are positions in the whole
    table. A merged problem has every part's rows, sorted, and the first
    ``max_examples`` of their examples; its rule text (which may quote a value, e.g.
    the first unreadable date) is that of the part with the first row, as the whole
    table would have given it.
    """
    by_slot: dict[int, list[Problem]] = {}
    for part in parts:
        for slot, problem in part:
            by_slot.setdefault(slot, []).append(problem)
    merged = []
    for slot in sorted(by_slot):
        group = by_slot[slot]
        if len(group) == 1:
            merged.append(group[0])
            continue
        with_rows = [problem for problem in group if len(problem.rows)]
        if not with_rows:  # a whole-column problem that every part reports
            merged.append(group[0])
            continue
        first = min(with_rows, key=lambda problem: int(problem.rows[0]))
        rows = np.sort(np.concatenate([problem.rows for problem in with_rows]))
        examples = pd.concat([problem.examples for problem in with_rows]).sort_index(kind="stable")
        merged.append(Problem(first.dataset, first.column, first.rule, rows, examples.iloc[:max_examples]))
    return merged
