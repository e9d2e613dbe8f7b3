"""Tests of orpr_kedro.core.evaluation."""
