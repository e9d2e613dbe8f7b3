"""Tests of orpr_kedro.core.simulation."""
