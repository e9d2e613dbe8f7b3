"""recommend: the aligned policy's order for the next review of every SKU-DC, with its reason."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
