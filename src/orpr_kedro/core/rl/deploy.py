"""Which network ORPR deploys: the aligned policy only where alignment earned its place.

The alignment's own validation summary (``rpt_rl_validation_kpis``: every policy closed
loop on the validation period) decides: the aligned policy replaces the pretrained
network only if its total cost there is lower. Evaluation and recommend both read this,
so the policy that is reported is the one that orders.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["deployed_network"]


def deployed_network(rl_validation_kpis: pd.DataFrame) -> str:
    """``aligned`` if alignment lowered the validation total cost below the pretrained network's, else ``pretrained``."""
    overall = rl_validation_kpis[rl_validation_kpis["scope"] == "all"].set_index("policy")["total_cost"]
    if {"aligned", "pretrained"} <= set(overall.index) and overall["aligned"] < overall["pretrained"]:
        return "aligned"
    return "pretrained"
