"""The base of every parameter model: immutable, unknown keys rejected, numbers finite.

:class:`StrictModel` forbids extra keys and refuses ``.inf`` and ``.nan``; :data:`DailyRate` is a
rate per unit-day (a share of unit cost, in [0, 1)) and :data:`PositiveAmount` a positive, finite
capacity or amount. :class:`ParameterError` is what every failed validation raises.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ParameterError(ValueError):
    """A parameter block failed validation; the message names each bad key."""


class StrictModel(BaseModel):
    """Base for parameter models: immutable, unknown keys rejected, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# A rate per unit-day (a share of unit cost): non-negative and below 1.
DailyRate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
# A capacity or amount that must be positive and finite.
PositiveAmount = Annotated[float, Field(gt=0, allow_inf_nan=False)]
