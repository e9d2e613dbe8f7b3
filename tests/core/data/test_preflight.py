"""Cross-checks of parameters and data before data_processing writes anything."""

import pytest

from orpr_kedro.core.data.contract import validate_raw_tables
from orpr_kedro.core.data.preflight import RunInputError, check_run_inputs
from orpr_kedro.core.params import DataProcessingParams


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
        "raw_category_targets: ['diary'] (categories there: ['beverages', 'dairy', 'personal_care', 'snacks'])"
    )


def test_history_too_short_for_the_splits_fails_before_the_first_write(typed):
    params = DataProcessingParams.model_validate({"splits": {"test_weeks": 20, "validation_weeks": 20}})
    with pytest.raises(RunInputError, match=r"no output was written:\n  - The sales data \(2025-01-01 to 2025-10-27\)"):
        check_run_inputs(typed, params)
