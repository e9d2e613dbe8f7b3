"""Typed parameters: a wrong value fails at start-up naming the key."""

import pytest

from orpr_kedro.core.params import ParameterError, parse_params, validate_parameters


def test_defaults_are_valid():
    params = parse_params("data_processing", {})
    assert params.forecast.horizon_days == 42


def test_wrong_value_names_the_key():
    with pytest.raises(
        ParameterError,
        match=r"parameter 'data_processing\.forecast\.horizon_days': .*greater than or equal to 7 \(got 3\)",
    ):
        parse_params("data_processing", {"forecast": {"horizon_days": 3}})


def test_typo_is_an_error():
    with pytest.raises(
        ParameterError, match=r"data_processing\.costs\.holding_rate_per_dya': Extra inputs are not permitted"
    ):
        parse_params("data_processing", {"costs": {"holding_rate_per_dya": 0.001}})


def test_cross_field_rule():
    with pytest.raises(
        ParameterError, match=r"features\.forecast_days \(50\) must not exceed forecast\.horizon_days \(42\)"
    ):
        parse_params("data_processing", {"features": {"forecast_days": 50}})


def test_all_problems_reported_at_once():
    with pytest.raises(ParameterError) as caught:
        validate_parameters({"data_processing": {"splits": {"test_weeks": 0}, "costs": {"order_cost": -1}}, "seed": 1})
    message = str(caught.value)
    assert "data_processing.splits.test_weeks" in message and "data_processing.costs.order_cost" in message
