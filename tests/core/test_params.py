"""Typed parameters: a wrong value fails at start-up naming the key."""

import re

import pytest

from orpr_kedro.core.params import (
    ORLabelingParams,
    ParameterError,
    as_params,
    parse_params,
    unknown_blocks,
    validate_parameters,
)


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


@pytest.mark.parametrize(
    ("costs", "fragment"),
    [
        (
            {"holding_rate_by_category": {"dairy": -0.001}},
            "costs.holding_rate_by_category.dairy': Input should be greater ",
        ),
        (
            {"holding_rate_by_category": {"dairy": 1.5}},
            "costs.holding_rate_by_category.dairy': Input should be less than 1",
        ),
        ({"order_cost": float("inf")}, "costs.order_cost': Input should be a finite number"),
        ({"order_cost": -1.0}, "costs.order_cost': Input should be greater than or equal to 0"),
        ({"lost_sale_cost_multiple": float("nan")}, "costs.lost_sale_cost_multiple': Input should be a finite number"),
        ({"holding_rate_per_day": 0.0}, "costs.holding_rate_per_day': Input should be greater than 0"),
    ],
)
def test_rates_and_costs_are_bounded_and_finite(costs, fragment):
    with pytest.raises(ParameterError, match=re.escape(f"parameter 'data_processing.{fragment}")):
        parse_params("data_processing", {"costs": costs})


def test_capacities_are_positive_and_finite():
    with pytest.raises(ParameterError, match=re.escape("or_labeling.dc_capacity.DC01': Input should be a finite")):
        parse_params("or_labeling", {"dc_capacity": {"DC01": float("inf")}})
    with pytest.raises(
        ParameterError, match=re.escape("or_labeling.dc_capacity.DC01': Input should be greater than 0")
    ):
        parse_params("or_labeling", {"dc_capacity": {"DC01": -5.0}})


def test_unknown_top_level_blocks_name_the_closest_key():
    keys = ["seed", "data_procesing", "or_labelling", "evaluation", "completely_else"]
    assert unknown_blocks(keys) == {
        "data_procesing": "data_processing",
        "or_labelling": "or_labeling",
        "completely_else": None,
    }


def test_date_formats_name_raw_tables_and_day_level_formats():
    params = parse_params("data_processing", {"date_formats": {"raw_promotions": "%d/%m/%Y"}})
    assert params.date_formats == {"raw_promotions": "%d/%m/%Y"}
    with pytest.raises(ParameterError, match=r"date_formats names 'raw_promos'; tables with dates: \['raw_inventory"):
        parse_params("data_processing", {"date_formats": {"raw_promos": "%d/%m/%Y"}})
    with pytest.raises(ParameterError, match=r"date_formats.raw_sales = '%m/%Y' is not a day-level strftime format"):
        parse_params("data_processing", {"date_formats": {"raw_sales": "%m/%Y"}})


def test_as_params_passes_a_model_through_and_validates_a_mapping():
    model = as_params(ORLabelingParams, {})
    assert as_params(ORLabelingParams, model) is model
    assert as_params(ORLabelingParams, None) == model  # an empty block: the defaults
    with pytest.raises(ParameterError, match=r"^parameter 'or_labeling\.solver\.mip_gap': Input should be greater"):
        as_params(ORLabelingParams, {"solver": {"mip_gap": -1}})


def test_a_null_block_is_an_error_at_start_up():
    with pytest.raises(ParameterError, match=r"parameter 'recommend': the block is empty \(null\)"):
        validate_parameters({"recommend": None})


def test_the_old_or_labeling_executor_names_its_new_place():
    with pytest.raises(ParameterError, match=r"or_labeling\.executor is now execution\.executor"):
        parse_params("or_labeling", {"executor": {"kind": "processes"}})
    assert parse_params("execution", {"executor": {"kind": "processes"}}).executor.kind == "processes"
