"""evaluation: every policy on held-out demand, bootstrap intervals, transfer, trade-off, simulated field test, the report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
