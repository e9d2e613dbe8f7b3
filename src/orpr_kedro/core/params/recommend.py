"""Parameters of the recommend pipeline and the top-level ``currency`` (an ISO 4217 code)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from orpr_kedro.core.params.base import ParameterError, StrictModel


class RecommendParams(StrictModel):
    """Parameters of the recommend pipeline (today's orders from ORPR, the network the alignment gate deployed)."""

    min_history_days: int = Field(
        28,
        ge=1,
        le=364,
        description="days of sales history up to the snapshot a lane needs for ORPR; "
        "fewer = cold start: the incumbent rule decides and the row is flagged",
    )
    batch_size: int = Field(4096, ge=1, description="lanes per forward pass of the policy network")
    arrival_range_level: float = Field(
        0.9, gt=0, lt=1, description="two-sided level of the arrival date range (normal lead time)"
    )


def parse_currency(value: Any) -> str:
    """The top-level ``currency`` parameter (``conf/base/parameters.yml``): an ISO 4217 code such as ``EUR``.

    It labels every money column of the orders; values stay in the currency of ``unit_cost``.
    """
    if not (isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value)):
        raise ParameterError(
            f"parameter 'currency': expected a three-letter ISO 4217 code in capitals such as 'EUR' (got {value!r})"
        )
    return value
