"""Tests of orpr_kedro.core.optimization."""
