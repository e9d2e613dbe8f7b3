"""Checks that must pass before a run writes anything.

``validate_raw_data`` is the first node of ``data_processing``; whatever a later
node of the pipeline would fail on for reasons the raw data and the parameters
already show is checked here, so a run that cannot finish stops before it replaces
a single output of the previous run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

import pandas as pd
from pydantic import BaseModel

from orpr_kedro.core.data.splits import make_time_splits
from orpr_kedro.core.params import DataProcessingParams, ORLabelingParams, RLAlignmentParams


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
    dates = tables["raw_sales"]["date"]
    check_run_span(tables["raw_category_targets"]["category"], dates.min(), dates.max(), params)


def check_run_span(
    categories: Iterable[str], first_date: pd.Timestamp, last_date: pd.Timestamp, params: DataProcessingParams
) -> None:
    """:func:`check_run_inputs` from the categories and the first and last sales date alone.

    What a run whose sales were validated in lane blocks knows without reading them
    again (the blocks' summaries, :class:`~orpr_kedro.core.data.contract.ValidatedSales`).

    Raises:
        RunInputError: listing every problem.
    """
    problems = unknown_categories({"data_processing": params}, categories)
    try:
        make_time_splits(pd.Timestamp(first_date), pd.Timestamp(last_date), params.splits)
    except ValueError as error:
        problems.append(str(error))
    if problems:
        raise RunInputError(
            "The run cannot start; no output was written:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


def categories_named(params: Mapping[str, BaseModel]) -> dict[str, list[str]]:
    """Parameter key -> the categories it names (``default`` of the bands aside).

    Held-out categories are not listed: one missing from the data is ignored with
    a warning (:func:`~orpr_kedro.core.data.splits.make_time_splits`).
    """
    named: dict[str, list[str]] = {}
    data_processing = params.get("data_processing")
    if isinstance(data_processing, DataProcessingParams):
        named["data_processing.costs.holding_rate_by_category"] = list(data_processing.costs.holding_rate_by_category)
    or_labeling = params.get("or_labeling")
    if isinstance(or_labeling, ORLabelingParams):
        named["or_labeling.bands"] = [key for key in or_labeling.bands if key != "default"]
        named["or_labeling.in_stock_floor"] = [key for key in or_labeling.in_stock_floor if key != "default"]
    rl_alignment = params.get("rl_alignment")
    if isinstance(rl_alignment, RLAlignmentParams):
        named["rl_alignment.reward.bands"] = [key for key in rl_alignment.reward.bands if key != "default"]
    return {key: values for key, values in named.items() if values}


def unknown_categories(params: Mapping[str, BaseModel], categories: Iterable[str]) -> list[str]:
    """One message per parameter key that names a category not in ``categories``.

    >>> from orpr_kedro.core.params import parse_params
    >>> bands = parse_params("or_labeling", {"bands": {"diary": {"max": 9}, "default": {"max": 30}}})
    >>> [message] = unknown_categories({"or_labeling": bands}, ["dairy", "snacks"])
    >>> message.split("; ")
    ["parameter 'or_labeling.bands' names categories that are not in raw_category_targets: ['diary'] \
(did you mean 'dairy'?)", "categories there: ['dairy', 'snacks']"]
    """
    known = sorted(set(categories))
    messages = []
    for key, named in categories_named(params).items():
        unknown = sorted(set(named) - set(known))
        if unknown:
            hints = [match for name in unknown for match in difflib.get_close_matches(name, known, n=1)]
            hint = f" (did you mean {', '.join(repr(match) for match in hints)}?)" if hints else ""
            messages.append(
                f"parameter '{key}' names categories that are not in raw_category_targets: {unknown}{hint}; "
                f"categories there: {known}"
            )
    return messages
