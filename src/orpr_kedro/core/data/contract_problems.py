"""What a failed contract check reports: one :class:`Problem` per broken rule, and the error that lists them all.

Row numbers are 0-based positions in the table as loaded (for a CSV file with a header line,
file line = row + 2).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    """Accumulates problems with a bounded number of example rows each."""

    def __init__(self, max_examples: int):
        self.max_examples = max_examples
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def whole(self, dataset: str, column: str, rule: str) -> None:
        """A problem of a whole column or table (no rows to show)."""
        self.problems.append(Problem(dataset, column, rule, np.arange(0), pd.DataFrame()))

    def add(self, dataset: str, column: str, rule: str, frame: pd.DataFrame, mask: np.ndarray | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self.problems.append(Problem(dataset, column, rule, rows, frame.iloc[rows[: self.max_examples]]))
