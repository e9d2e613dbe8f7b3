"""Tests of orpr_kedro.core.rl."""
