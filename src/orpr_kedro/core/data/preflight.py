"""Checks that must pass before a run writes anything.

``validate_raw_data`` is the first node of ``data_processing``; whatever a later
node of the pipeline would fail on for reasons the raw data and the parameters
already show is checked here, so a run that cannot finish stops before it replaces
a single output of the previous run.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from orpr_kedro.core.data.splits import make_time_splits
from orpr_kedro.core.params import DataProcessingParams


class RunInputError(ValueError):
    """The validated inputs cannot carry the run; nothing has been written."""


def check_run_inputs(tables: Mapping[str, pd.DataFrame], params: DataProcessingParams) -> None:
    """Cross-check the parameters against the validated raw tables.

    Checks: every category named in ``costs.holding_rate_by_category`` exists in
    ``raw_category_targets``; the sales history is long enough for the configured
    warm-up, training, validation and test periods. (Held-out categories that are
    not in the data only give a warning, in ``define_time_splits``.)

    Args:
        tables: the typed tables of :func:`~orpr_kedro.core.data.contract.validate_raw_tables`.
        params: the data_processing parameters.

    Raises:
        RunInputError: listing every problem.
    """
    problems = []
    categories = sorted(set(tables["raw_category_targets"]["category"]))
    unknown = sorted(set(params.costs.holding_rate_by_category) - set(categories))
    if unknown:
        problems.append(
            f"parameter 'data_processing.costs.holding_rate_by_category' names categories that are not in "
            f"raw_category_targets: {unknown} (categories there: {categories})"
        )
    dates = tables["raw_sales"]["date"]
    try:
        make_time_splits(dates.min(), dates.max(), params.splits)
    except ValueError as error:
        problems.append(str(error))
    if problems:
        raise RunInputError(
            "The run cannot start; no output was written:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )
