"""Parameters of the or_labeling pipeline: coverage grid, bands, scenarios, solver; the executor block.

Coverage levels and bands are in days of forecast demand; the horizon in days.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from orpr_kedro.core.params.base import PositiveAmount, StrictModel

if TYPE_CHECKING:
    from orpr_kedro.core.simulation.actions import ActionGrid


class CoverageGrid(StrictModel):
    """Candidate coverage levels (days of forecast demand): start, stop (inclusive), step."""

    start: float = Field(0.0, ge=0)
    stop: float = Field(40.0, gt=0)
    step: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> CoverageGrid:
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) must not be below start ({self.start})")
        if (self.stop - self.start) / self.step + 1 > 2000:
            raise ValueError("the grid has more than 2000 candidates; use a larger step")
        return self

    def values(self) -> list[float]:
        """The grid, start to stop inclusive (days)."""
        count = int((self.stop - self.start) / self.step + 1e-9) + 1
        return [round(self.start + i * self.step, 10) for i in range(count)]


class Band(StrictModel):
    """Managerial band on coverage (days)."""

    min: float = Field(0.0, ge=0)
    max: float = Field(1e9, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must not be below min ({self.min})")
        return self


class SolverParams(StrictModel):
    """Solver choice and limits of the multiple-choice model."""

    name: Literal["auto", "gurobi", "highs"] = "auto"
    time_limit_s: float = Field(60.0, gt=0)
    mip_gap: float = Field(1e-3, ge=0, lt=1)
    threads: int = Field(1, ge=1)
    size_limit: int | None = Field(
        2000, ge=1, description="variables/constraints the Gurobi licence allows; null = unlimited"
    )

    @model_validator(mode="before")
    @classmethod
    def _licence_is_a_credential(cls, values: Any) -> Any:
        # Licence parameters are secrets: they come from the `gurobi` credentials
        # (the gurobi_licence dataset), never from committed parameters.
        if isinstance(values, dict) and "gurobi_options" in values:
            raise ValueError(
                "gurobi_options is no longer a parameter: put the Gurobi licence (WLSACCESSID, "
                "WLSSECRET, LICENSEID or LicenseFile) under 'gurobi' in conf/local/credentials.yml "
                "(see conf/local/credentials.yml.template)"
            )
        return values


class ExecutorParams(StrictModel):
    """Where independent tasks run (the OR model solves, the lane blocks of a stage): ``execution.executor``."""

    kind: Literal["serial", "processes", "dask"] = "serial"
    n_workers: int = Field(2, ge=1)
    scheduler_address: str | None = Field(
        None, description="dask scheduler, e.g. tcp://10.0.0.5:8786; null = local cluster"
    )
    memory_limit: str | None = Field(
        None, description="memory per worker of the local Dask cluster, e.g. 2GiB; null = Dask's share of the RAM"
    )


Period = Literal["train", "validation", "test"]


def _train_and_validation() -> list[Period]:
    return ["train", "validation"]


class ScenarioParams(StrictModel):
    """How scenario demand carries the forecast's error (``orpr_kedro.core.optimization.scenarios``)."""

    calibrate: bool = Field(
        True,
        description="add the bias and level error of horizon totals measured on validation origins; "
        "false: negative-binomial daily noise around the forecast only",
    )
    group: str = Field("category", description="lanes column whose groups get one error estimate each")
    min_rows: int = Field(30, ge=1, description="lane-origin pairs a group needs for its own estimate")
    window: Literal["horizon", "protection"] = Field(
        "horizon",
        description="demand window whose error is measured: horizon = the OR model's whole horizon; "
        "protection = each lane's mean lead time plus review period (what an order-up-to level covers)",
    )


class ActionSpaceParams(StrictModel):
    """What a candidate (and the network's decision head) is: coverage days or a base-stock service level.

    ``coverage_days``: the values of ``or_labeling.coverage_grid``; ``service_level``: the
    lane's forecast base-stock level at each of ``service_levels`` (cycle fractiles).
    """

    kind: Literal["coverage_days", "service_level"] = "coverage_days"
    service_levels: list[float] = Field(
        default_factory=lambda: [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999],
        description="cycle service levels of the base-stock candidates (kind service_level)",
    )

    @model_validator(mode="after")
    def _levels(self) -> ActionSpaceParams:
        levels = self.service_levels
        if not levels or any(not 0 < p < 1 for p in levels):
            raise ValueError("service_levels must be a non-empty list of values strictly between 0 and 1")
        if any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
            raise ValueError("service_levels must be strictly increasing")
        return self


class ORLabelingParams(StrictModel):
    """Parameters of the or_labeling pipeline."""

    coverage_grid: CoverageGrid = Field(default_factory=CoverageGrid)
    action_space: ActionSpaceParams = Field(default_factory=ActionSpaceParams)
    horizon_days: int = Field(28, ge=1, le=365, description="days simulated per candidate")
    mode: Literal["scenario", "hindsight"] = "scenario"
    cadence: Literal["weekly", "review"] = Field(
        "weekly",
        description="weekly: one OR step per lane and decision date, held for the week; review: a step on every "
        "day, taken by the lanes reviewing that day (extra pretraining rows in mi_or_review_labels)",
    )
    n_scenarios: int = Field(20, ge=1)
    scenarios: ScenarioParams = Field(default_factory=ScenarioParams)
    periods: list[Period] = Field(default_factory=_train_and_validation)
    objective: Literal["holding_with_budget", "total_cost"] = "holding_with_budget"
    budget: bool = Field(True, description="lost-sales budget per category; always on for holding_with_budget")
    bands: dict[str, Band] = Field(
        default_factory=dict, description="per-category managerial bands; key 'default' for all"
    )
    dc_capacity: dict[str, PositiveAmount] = Field(
        default_factory=dict, description="average inventory volume (litres) allowed per DC; empty = no capacity rows"
    )
    in_stock_floor: dict[str, float] = Field(
        default_factory=dict,
        description="per category (key 'default' for all): the share of lane-days starting with stock that the "
        "OR plan must reach in expectation over the horizon; empty = no floor",
    )
    max_lead_time: int = Field(60, ge=1)
    save_candidates: bool = True
    solver: SolverParams = Field(default_factory=SolverParams)

    @model_validator(mode="before")
    @classmethod
    def _no_executor(cls, values: Any) -> Any:
        if isinstance(values, dict) and "executor" in values:
            raise ValueError(
                "or_labeling.executor is now execution.executor (conf/base/parameters.yml): one executor runs "
                "every stage, the OR models and the lane blocks alike; move the block there"
            )
        return values

    @model_validator(mode="after")
    def _floors(self) -> ORLabelingParams:
        bad = {key: value for key, value in self.in_stock_floor.items() if not 0 <= value < 1}
        if bad:
            raise ValueError(f"in_stock_floor values must lie in [0, 1) (a share of lane-days), got {bad}")
        if self.in_stock_floor and self.dc_capacity:
            raise ValueError(
                "in_stock_floor and dc_capacity cannot be combined yet: the coupled DC-capacity model has no "
                "in-stock rows; use bands (a minimum coverage) with dc_capacity"
            )
        return self

    def floor_of(self, category: str) -> float | None:
        """The category's in-stock floor (its own, else ``default``), or ``None`` without one."""
        floor = self.in_stock_floor.get(category, self.in_stock_floor.get("default"))
        return None if floor is None else float(floor)

    def action_grid(self) -> ActionGrid:
        """The candidates of the OR model and the network's decision head."""
        from orpr_kedro.core.simulation.actions import ActionGrid  # noqa: PLC0415 - simulation imports params

        if self.action_space.kind == "service_level":
            return ActionGrid("service_level", np.asarray(self.action_space.service_levels, dtype=np.float64))
        return ActionGrid("coverage_days", np.asarray(self.coverage_grid.values(), dtype=np.float64))
