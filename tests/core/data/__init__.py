"""Tests of orpr_kedro.core.data."""
