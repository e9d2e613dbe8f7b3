"""One package per Kedro pipeline; nodes stay thin and call ``orpr_kedro.core``."""
