"""rl_alignment: the pretrained policy is fine-tuned in the simulator (PPO or RLOO with a KL anchor)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
