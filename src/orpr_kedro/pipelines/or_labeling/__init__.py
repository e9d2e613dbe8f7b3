"""or_labeling: simulation-augmented OR labels (coverage per lane and decision date)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
