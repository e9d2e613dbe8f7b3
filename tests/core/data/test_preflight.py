"""Cross-checks of parameters and data before data_processing writes anything."""

import pytest

from orpr_kedro.core.data.contract import validate_raw_tables
from orpr_kedro.core.data.preflight import RunInputError, categories_named, check_run_inputs, unknown_categories
from orpr_kedro.core.params import DataProcessingParams, parse_params


@pytest.fixture()
def typed(tiny_data):
    return validate_raw_tables(tiny_data.as_catalog_entries())


def test_valid_inputs_pass(typed, fast_params):
    check_run_inputs(typed, fast_params)


def test_unknown_category_in_holding_rates_fails_before_the_first_write(typed):
    params = DataProcessingParams.model_validate({"costs": {"holding_rate_by_category": {"diary": 0.001}}})
    with pytest.raises(RunInputError) as caught:
        check_run_inputs(typed, params)
    assert str(caught.value) == (
        "The run cannot start; no output was written:\n"
        "  - parameter 'data_processing.costs.holding_rate_by_category' names categories that are not in "
        "raw_category_targets: ['diary'] (did you mean 'dairy'?); "
        "categories there: ['beverages', 'dairy', 'personal_care', 'snacks']"
    )


def test_history_too_short_for_the_splits_fails_before_the_first_write(typed):
    params = DataProcessingParams.model_validate({"splits": {"test_weeks": 20, "validation_weeks": 20}})
    with pytest.raises(RunInputError, match=r"no output was written:\n  - The sales data \(2025-01-01 to 2025-10-27\)"):
        check_run_inputs(typed, params)


def test_categories_named_by_every_block_are_checked():
    params = {
        "or_labeling": parse_params("or_labeling", {"bands": {"default": {"max": 30}, "snacks": {"max": 9}}}),
        "rl_alignment": parse_params("rl_alignment", {"reward": {"bands": {"bevrages": {"max": 9}}}}),
        "data_processing": parse_params("data_processing", {}),
    }
    assert categories_named(params) == {"or_labeling.bands": ["snacks"], "rl_alignment.reward.bands": ["bevrages"]}
    assert unknown_categories(params, ["beverages", "snacks"]) == [
        "parameter 'rl_alignment.reward.bands' names categories that are not in raw_category_targets: ['bevrages'] "
        "(did you mean 'beverages'?); categories there: ['beverages', 'snacks']"
    ]
