"""The OR policy in the closed loop: the multiple-choice model re-solved on every decision date.

From the policy's own simulated state, by the OR window step the labeler also takes
(:func:`~orpr_kedro.core.optimization.window.decide_window`: candidate simulation,
multiple-choice models per category, the configured solver with its visible fallback):
scenario mode samples demand from the forecast (non-anticipative); hindsight mode uses
the actual demand (an oracle bound no real policy can reach). Needs neither torch nor
a model payload.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization.labeling import LaneState
from orpr_kedro.core.optimization.licence import GurobiLicence
from orpr_kedro.core.optimization.window import decide_window
from orpr_kedro.core.params import ORLabelingParams
from orpr_kedro.core.simulation.actions import LaneRisk
from orpr_kedro.core.simulation.period import Lanes, Period
from orpr_kedro.core.simulation.policies import Decision, DecisionState

__all__ = ["ORPolicy"]


class ORPolicy:
    """The OR policy, re-solved on every decision date from the policy's own state.

    Uses the labeling code path (candidate simulation, multiple-choice models per
    category, the configured solver with its visible fallback). ``params.mode`` picks
    scenario (sampled demand) or hindsight (actual demand: the oracle bound; near the
    end of the data its horizon is cut to the days left). The solver records of every
    date accumulate in :attr:`solver_log`.
    """

    def __init__(
        self,
        data: Period,
        params: ORLabelingParams,
        seed: int,
        executor: TaskExecutor,
        name: str = "or_policy",
        licence: GurobiLicence | None = None,
    ) -> None:
        self.data = data
        self.licence = licence or GurobiLicence()
        self.params = params
        self.seed = int(seed)
        self.executor = executor
        self.name = name
        self.grid = params.action_grid()
        self.risk = LaneRisk.of_period(data)
        self._log: list[pd.DataFrame] = []
        self._expected: list[pd.DataFrame] = []

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        if state.on_hand is None or state.pipeline is None:
            raise ValueError(f"{self.name} re-solves from the simulated state: run it in the closed loop")
        date = pd.Timestamp(state.date)
        window = self.data.window(date)
        current = LaneState(
            on_hand=np.asarray(state.on_hand, dtype=np.float64), pipeline=np.asarray(state.pipeline, dtype=np.float64)
        )
        decision = decide_window(
            self.data,
            window,
            current,
            self.grid,
            self.params,
            self.seed,
            self.executor,
            self.licence,
            truncate_hindsight=True,
            description=f"{self.name} {(date + pd.Timedelta(days=state.day_offset)).date()}",
            day_offset=state.day_offset,
        )
        results, choice = decision.results, decision.choice
        lanes_table = self.data.lanes
        if state.day_offset == 0:  # the plan of the week's date: what the calibration table holds against the week
            self._expected.append(
                pd.DataFrame(
                    {
                        "decision_date": date,
                        "lane_id": lanes_table["lane_id"].to_numpy(),
                        "category": lanes_table["category"].to_numpy(),
                        "expected_cost": decision.costs.interval_total_cost[np.arange(len(choice)), choice],
                    }
                )
            )
        day = date + pd.Timedelta(days=state.day_offset)
        self._log.append(pd.DataFrame([{"policy": self.name, "decision_date": day, **r.to_record()} for r in results]))
        return self.grid.decision(state.forecast, choice, state.n_days, self.risk)

    @property
    def expected_costs(self) -> pd.DataFrame:
        """Per decision date and lane: the expected total cost of the chosen plan over the decision interval.

        The OR model's own prediction (its scenarios), to hold against the cost realised
        on actual demand (:func:`~orpr_kedro.core.evaluation.comparison.calibration_table`).
        With decisions at each lane's review, only the plans of the weeks' decision dates
        (``day_offset`` 0) are recorded: the week the realised cost is summed over.
        """
        columns = ["decision_date", "lane_id", "category", "expected_cost"]
        return pd.concat(self._expected, ignore_index=True) if self._expected else pd.DataFrame(columns=columns)

    @property
    def solver_log(self) -> pd.DataFrame:
        """One row per solved model: policy, date, solver, status, gap, time, fallback reason."""
        return pd.concat(self._log, ignore_index=True) if self._log else pd.DataFrame()
