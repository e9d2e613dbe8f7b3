"""pretraining: the foundation model learns the OR labels (and demand) from decision-time inputs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
