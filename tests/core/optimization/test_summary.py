"""The stage summary of many solves: one INFO line, WARNING lines for relaxations and fallbacks."""

import logging

import numpy as np
import pandas as pd

from orpr_kedro.core.optimization import MultipleChoiceProblem, solve
from orpr_kedro.core.optimization.summary import log_solve_summary, summarise_solves

LOGGER = logging.getLogger("tests.summary")


def _problem(model_id: str, budget: float) -> MultipleChoiceProblem:
    # two items, two candidates: the cheap one loses 3 per item, the dear one nothing
    return MultipleChoiceProblem(
        cost=np.array([[1.0, 4.0], [1.0, 4.0]]),
        loss=np.array([[3.0, 0.0], [3.0, 0.0]]),
        group=[0, 0],
        budgets=[budget],
        model_id=model_id,
        group_labels=("dairy",),
    )


def _log(results) -> pd.DataFrame:
    return pd.DataFrame([{"decision_date": pd.Timestamp("2025-01-06"), **r.to_record()} for r in results])


def test_one_info_line_and_no_per_model_line_at_info(caplog):
    results = [solve(_problem(f"m{i}", 10.0), solver="auto") for i in range(3)]
    with caplog.at_level(logging.DEBUG):
        summary = log_solve_summary("or_labeling", _log(results), LOGGER, elapsed_s=8.25, licence_kind="pip")
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [(r.levelno, r.getMessage()) for r in loud] == [
        (logging.INFO, "or_labeling: 3 models on 1 decision dates (3 Gurobi, pip licence), 0 budgets relaxed, 8.2 s")
    ]
    assert (summary.n_models, summary.by_solver, summary.n_to_highs) == (3, {"gurobi": 3}, 0)


def test_relaxed_budgets_and_fallbacks_are_one_warning_each(caplog):
    relaxed = solve(_problem("tight", -1.0), solver="gurobi")  # no choice loses less than 0
    to_highs = solve(_problem("big", 10.0), solver="auto", size_limit=1)  # 4 variables > 1
    plain = solve(_problem("plain", 10.0), solver="highs")  # asked for HiGHS: not a fallback
    assert relaxed.status == "infeasible_budget_relaxed"
    assert to_highs.solver == "highs"
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        summary = log_solve_summary("evaluation OR policy", _log([relaxed, to_highs, plain]), LOGGER)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    solving = relaxed.total_time_s + to_highs.total_time_s + plain.total_time_s
    assert messages == [
        (
            logging.INFO,
            "evaluation OR policy: 3 models on 1 decision dates (1 Gurobi, 2 HiGHS), 1 budgets relaxed, "
            f"{solving:.1f} s solving",
        ),
        (
            logging.WARNING,
            "evaluation OR policy: 1 lost-sales budgets could not be met by any choice and were relaxed to the "
            "least achievable loss (1 dairy); the solver log's relaxed_groups names each model",
        ),
        (
            logging.WARNING,
            "evaluation OR policy: 1 of 3 models fell back from Gurobi to HiGHS and 0 to the min-loss choice "
            "(1 over the Gurobi size limit); the solver log's fallback_reason has each reason",
        ),
    ]
    assert summary.relaxed_by_group == {"dairy": 1}
    assert summary.fallback_causes == {"over the Gurobi size limit": 1}


def test_an_empty_log_says_so(caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        summary = log_solve_summary("or_labeling", pd.DataFrame(), LOGGER, elapsed_s=0.0)
    assert summary == summarise_solves(pd.DataFrame())
    assert [r.getMessage() for r in caplog.records] == ["or_labeling: 0 models (none solved), 0 budgets relaxed, 0.0 s"]
