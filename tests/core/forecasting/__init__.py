"""Tests of orpr_kedro.core.forecasting."""
