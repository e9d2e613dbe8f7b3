"""Errors raised by :func:`orpr_kedro.core.optimization.solve.solve`."""

from __future__ import annotations


class OptimizationError(RuntimeError):
    """Base class of the errors raised by :func:`solve`."""


class GurobiSizeLimitError(OptimizationError):
    """A forced Gurobi solve of a model larger than the licence allows."""


class GurobiUnavailableError(OptimizationError):
    """A forced Gurobi solve without gurobipy or without a usable licence."""
