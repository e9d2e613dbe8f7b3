"""Tests of orpr_kedro.core.learning."""
