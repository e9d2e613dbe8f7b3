"""data_processing: validated raw data, primary tables, demand forecasts, model input."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
