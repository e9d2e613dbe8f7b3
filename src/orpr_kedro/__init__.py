"""orpr-kedro: OR-guided pretrain-then-reinforce inventory replenishment."""

__version__ = "0.1.0"
