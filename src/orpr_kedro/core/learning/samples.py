"""Pretraining samples from the persisted tables, and their tensors.

Samples are the OR labels joined to the model-input features: one row per (lane,
decision date) of the labelled periods, with the state the OR policy reached
(``on_hand``, ``on_order``, units), the label (``coverage_index`` into the
or_labeling grid) and the actual demand of the ``horizon_days`` days from the
decision date (``demand_<h>``, units/day; NaN past the end of the data), the target
of the forecast head.

With OR labels at each lane's review (``or_labeling.cadence: review``) the other
review days of a week add rows (``day_offset`` 1-6): the same feature row as the
week's decision date (what the network sees on those days, as in evaluation and RL)
with the state and label of that day. Rows of the decision dates have ``day_offset`` 0;
:func:`decision_date_rows` keeps them (the one-row-per-lane-and-date reports).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from orpr_kedro.core.data.preparation import to_panel
from orpr_kedro.core.learning.inputs import (
    DecisionInputs,
    ModelTensors,
    Normalisation,
    model_tensors,
)
from orpr_kedro.core.simulation.actions import ActionGrid, as_action_grid, check_label_grid

LABEL_COLUMNS = ("coverage_days", "coverage_index", "on_hand", "on_order")


def demand_columns(horizon_days: int) -> list[str]:
    """Names of the demand-target columns, day 0 = the decision date."""
    return [f"demand_{h}" for h in range(horizon_days)]


def build_samples(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    daily_sales: pd.DataFrame,
    grid: ActionGrid | np.ndarray,
    horizon_days: int,
    review_labels: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One training sample per labelled (lane, decision date), and per other review day where labelled.

    Args:
        features: ``mi_decision_features``.
        labels: ``mi_or_labels`` (label and OR-trajectory state per lane and date).
        review_labels: ``mi_or_review_labels`` (label and state on the other review
            days of each week, keyed by the week's ``decision_date``), or ``None``/empty.
        daily_sales: ``prm_daily_sales``: actual sales (units/day), the demand target.
        grid: the or_labeling action grid that ``coverage_index`` points into (its
            ``action_value`` column, or ``coverage_days`` for labels without it, must match).
        horizon_days: days of demand target from the decision date.

    Returns:
        The feature row, ``day_offset``, the label columns (``coverage_days``,
        ``coverage_index``, ``on_hand``, ``on_order``) and ``demand_0 .. demand_<horizon_days - 1>``
        (from the decision date), sorted by decision date, day offset and lane.

    Raises:
        ValueError: when the labels do not point into ``grid`` or a label
            has no feature row.
    """
    check_label_grid(
        labels,
        as_action_grid(grid),
        "or_labeling's action grid",
        "rerun the or_labeling pipeline with the current grid",
    )
    keys = ["lane_id", "decision_date"]
    rows = labels[[*keys, *LABEL_COLUMNS]].assign(day_offset=0)
    if review_labels is not None and len(review_labels):
        check_label_grid(
            review_labels,
            as_action_grid(grid),
            "or_labeling's action grid",
            "rerun the or_labeling pipeline with the current grid",
        )
        extra = review_labels[[*keys, "day_offset", *LABEL_COLUMNS]]
        if (extra["day_offset"] < 1).any() or extra.duplicated([*keys, "day_offset"]).any():
            raise ValueError(
                "mi_or_review_labels must hold one row per lane, decision date and day_offset 1-6; "
                "rerun the or_labeling pipeline"
            )
        rows = pd.concat([rows, extra], ignore_index=True)
    samples = rows.merge(features, on=keys, how="left", validate="many_to_one", indicator=True)
    missing = samples["_merge"] != "both"
    if missing.any():
        example = samples.loc[missing, keys].head(3).to_dict("records")
        raise ValueError(
            f"{int(missing.sum())} OR labels have no row in mi_decision_features, e.g. {example}; rerun data_processing"
        )
    samples = (
        samples.drop(columns="_merge")
        .sort_values(["decision_date", "day_offset", "lane_id"], kind="stable")
        .reset_index(drop=True)
    )

    dates = pd.date_range(daily_sales["date"].min(), daily_sales["date"].max(), freq="D")
    n_lanes = int(max(daily_sales["lane_id"].max(), samples["lane_id"].max())) + 1
    panel = to_panel(daily_sales, "sales_units", n_lanes, dates, fill=0.0)
    start = ((samples["decision_date"].to_numpy() - dates[0].to_datetime64()) // np.timedelta64(1, "D")).astype("int64")
    day = start[:, None] + np.arange(horizon_days)[None, :]
    inside = (day >= 0) & (day < len(dates))
    demand = np.where(inside, panel[samples["lane_id"].to_numpy()[:, None], np.clip(day, 0, len(dates) - 1)], np.nan)
    targets = pd.DataFrame(demand, columns=demand_columns(horizon_days), index=samples.index)
    return pd.concat([samples, targets], axis=1)


def decision_date_rows(samples: pd.DataFrame) -> pd.DataFrame:
    """The rows of the decision dates (``day_offset`` 0): one per lane and date."""
    if "day_offset" not in samples.columns:
        return samples
    return samples[samples["day_offset"] == 0].reset_index(drop=True)


def split_rows(samples: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split; training rows exclude held-out categories."""
    rows = samples["split"] == split
    if split == "train" and "category_holdout" in samples.columns:
        rows &= ~samples["category_holdout"].astype(bool)
    return samples[rows].reset_index(drop=True)


def _subsample(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=limit, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


@dataclass
class SampleTensors:
    """Network inputs with the decision label and the scaled demand target of each row."""

    inputs: ModelTensors
    label: torch.Tensor  # [N] grid index
    demand: torch.Tensor  # [N, H] actual demand / level (0 where unknown)
    demand_known: torch.Tensor  # [N, H] bool

    def __len__(self) -> int:
        return len(self.inputs)

    def index(self, rows) -> SampleTensors:
        return SampleTensors(self.inputs.index(rows), self.label[rows], self.demand[rows], self.demand_known[rows])


def sample_tensors(samples: pd.DataFrame, normalisation: Normalisation, horizon_days: int) -> SampleTensors:
    """Tensors of a sample frame (its own state columns, labels and demand targets)."""
    inputs = model_tensors(DecisionInputs.from_frame(samples), normalisation)
    demand = samples[demand_columns(horizon_days)].to_numpy(dtype="float64")
    known = ~np.isnan(demand)
    scaled = np.where(known, np.nan_to_num(demand) / inputs.level.numpy()[:, None].astype("float64"), 0.0)
    return SampleTensors(
        inputs=inputs,
        label=torch.from_numpy(samples["coverage_index"].to_numpy(dtype="int64")),
        demand=torch.from_numpy(scaled.astype("float32")),
        demand_known=torch.from_numpy(known),
    )
