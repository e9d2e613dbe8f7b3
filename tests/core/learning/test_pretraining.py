"""Samples, the staged trainer, the baseline learner and the report tables."""

import numpy as np
import pandas as pd
import pytest
import torch

from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.forecasting.model import build_demand_panels
from orpr_kedro.core.learning import pretraining, reports
from orpr_kedro.core.learning.baseline import BaselineLearner
from orpr_kedro.core.learning.features import build_decision_features
from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.samples import build_samples, decision_date_rows, sample_tensors, split_rows
from orpr_kedro.core.optimization import labeling
from orpr_kedro.core.params import ExecutorParams, ORLabelingParams, PretrainingParams
from tests.core.learning.test_network import feature_frame

GRID = np.arange(0.0, 31.0, 2.0)  # 16 coverages
OR_PARAMS = ORLabelingParams.model_validate(
    {"coverage_grid": {"start": 0, "stop": 30, "step": 2}, "horizon_days": 21, "n_scenarios": 6}
)
TINY = PretrainingParams.model_validate(
    {
        "forecast_head": {"horizon_days": 7},
        "network": {"d_model": 16, "n_heads": 2, "n_layers": 1, "ff_dim": 32, "head_hidden": 32, "dropout": 0.0},
        "training": {
            "batch_size": 32,
            "stage_forecast": {"epochs": 2, "learning_rate": 3e-3},
            "stage_decision_head": {"epochs": 2, "learning_rate": 3e-3},
            "stage_finetune": {"epochs": 2, "learning_rate": 2e-3},
            "progress_bar": False,
        },
        "baseline": {"max_iter": 5, "early_stopping": False},
    }
)


_TABLES: dict[int, dict] = {}


def tiny_tables(tiny_processed, fast_params) -> dict:
    """Decision features and OR labels (train + validation) of the tiny data set (built once per session)."""
    key = id(tiny_processed)
    if key not in _TABLES:
        _TABLES[key] = _build_tiny_tables(tiny_processed, fast_params)
    return _TABLES[key]


def _build_tiny_tables(tiny_processed, fast_params) -> dict:
    splits = tiny_processed["splits"]
    lanes, sales, forecasts = tiny_processed["lanes"], tiny_processed["daily_sales"], tiny_processed["forecasts"]
    panels = build_demand_panels(
        sales, tiny_processed["promotion_days"], lanes, splits.data_end, fast_params.forecast.horizon_days
    )
    features = build_decision_features(forecasts, panels, lanes, splits, fast_params.features)
    data = labeling.labeling_data(lanes, sales, forecasts, splits.decision_dates(), splits.first_decision_date)
    windows = labeling.windows_to_label(data.decision_dates, splits, OR_PARAMS)
    with TaskExecutor(ExecutorParams(), progress=False) as pool:
        output = labeling.label_windows(data, windows, OR_PARAMS, 11, pool, labeling.initial_state(data.lanes))
    labels = output.labels
    labels["split"] = splits.period_of(labels["decision_date"])
    review_labels = output.review_labels.assign(split=splits.period_of(output.review_labels["decision_date"]))
    return {"features": features, "labels": labels, "review_labels": review_labels}


def synthetic_samples(n_lanes: int = 24, n_dates: int = 10, seed: int = 0) -> pd.DataFrame:
    """Sample rows with a learnable label: less cover on hand, more cover ordered."""
    frame = feature_frame(n_lanes * n_dates, 14, 14, seed=seed)
    frame["lane_id"] = np.tile(np.arange(n_lanes), n_dates)
    frame["decision_date"] = np.repeat(pd.date_range("2025-01-06", periods=n_dates, freq="7D"), n_lanes)
    frame["split"] = np.where(frame["decision_date"] < frame["decision_date"].unique()[-2], "train", "validation")
    frame["category"] = "c" + frame["category_code"].astype(str)
    frame["category_holdout"] = False
    daily = frame[[f"fcst_{h}" for h in range(7)]].mean(axis=1)
    cover = (frame["on_hand"] + frame["on_order"]) / daily
    index = np.clip(np.round(frame["target_turnover_days"] / 3 - cover / 10), 0, len(GRID) - 1).astype(int)
    frame["coverage_index"] = index
    frame["coverage_days"] = GRID[index]
    rng = np.random.default_rng(seed + 1)
    for h in range(7):
        frame[f"demand_{h}"] = rng.poisson(frame[f"fcst_{h}"])
    return frame


@pytest.fixture(scope="module")
def tables(tiny_processed, fast_params) -> dict:
    return tiny_tables(tiny_processed, fast_params)


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    return synthetic_samples()


def _trainer(samples, params=TINY, seed=0):
    train = split_rows(samples, "train")
    normalisation = Normalisation.fit(DecisionInputs.from_frame(train), n_categories=4)
    torch.manual_seed(seed)
    model = pretraining.build_model(pretraining.model_config(normalisation, GRID, params), params)
    data = sample_tensors(train, normalisation, params.forecast_head.horizon_days)
    return pretraining.StagedTrainer(model, params, seed), data


def test_samples_join_labels_features_and_demand(tables, tiny_processed):
    samples = build_samples(tables["features"], tables["labels"], tiny_processed["daily_sales"], GRID, 7)
    assert len(samples) == len(tables["labels"])
    assert set(samples["split"]) == {"train", "validation"}
    assert {"on_hand", "on_order", "coverage_index", "hist_14", "fcst_13", "demand_6"} <= set(samples.columns)
    sales = tiny_processed["daily_sales"].set_index(["lane_id", "date"])["sales_units"]
    row = samples.iloc[len(samples) // 2]
    for h in (0, 6):
        date = row["decision_date"] + pd.Timedelta(days=h)
        assert row[f"demand_{h}"] == sales.get((row["lane_id"], date), 0.0)
    late = build_samples(tables["features"], tables["labels"], tiny_processed["daily_sales"], GRID, 120)
    assert late["demand_119"].isna().any() and late["demand_0"].notna().all()


def test_samples_refuse_a_grid_that_does_not_match_the_labels(tables, tiny_processed):
    with pytest.raises(ValueError, match="do not match or_labeling's action grid .*rerun the or_labeling pipeline"):
        build_samples(tables["features"], tables["labels"], tiny_processed["daily_sales"], np.arange(0.0, 41.0), 7)
    with pytest.raises(ValueError, match="OR labels have no row in mi_decision_features"):
        build_samples(tables["features"].iloc[10:], tables["labels"], tiny_processed["daily_sales"], GRID, 7)


def test_decision_loss_prefers_near_misses():
    label = torch.tensor([5])
    near = torch.full((1, 16), -5.0)
    near[0, 6] = 5.0
    far = torch.full((1, 16), -5.0)
    far[0, 15] = 5.0
    for sigma, weight in ((0.0, 0.1), (1.0, 0.0), (1.0, 0.1)):
        assert pretraining.decision_loss(near, label, sigma, weight) < pretraining.decision_loss(
            far, label, sigma, weight
        )
    # with under_coverage_weight, one step short costs more than one step over
    short = torch.roll(near, -2, dims=1)  # peak at index 4
    for under, shorter_is_worse in ((1.0, False), (3.0, True)):
        gap = pretraining.decision_loss(short, label, 0.0, 1.0, under) - pretraining.decision_loss(
            near, label, 0.0, 1.0, under
        )
        assert (gap > 1e-3) == shorter_is_worse


def test_decision_metrics():
    metrics = pretraining.decision_metrics(np.array([3, 4, 6, 9]), np.array([3, 3, 4, 3]))
    assert metrics == {"top1_accuracy": 0.25, "within_1_step": 0.5, "within_2_steps": 0.75, "mean_abs_step_error": 2.25}
    assert pretraining.wape(np.array([1.0, 3.0, np.nan]), np.array([2.0, 2.0, 5.0])) == 0.5


def _snapshot(parameters) -> list[torch.Tensor]:
    return [p.detach().clone() for p in parameters]


def _unchanged(before, parameters) -> bool:
    return all(torch.equal(a, b.detach()) for a, b in zip(before, parameters, strict=True))


def test_staged_freezing_really_freezes(samples):
    trainer, data = _trainer(samples)
    model = trainer.model
    forecast_stage, head_stage, finetune_stage = trainer.stages()
    encoders, forecast_head, decision_head = (
        model.encoder_parameters(),
        list(model.forecast_head.parameters()),
        list(model.decision_head.parameters()),
    )
    batch = data.index(torch.arange(32))

    # stage 2: only the decision head moves
    trainer.set_trainable(head_stage)
    frozen, head = _snapshot(encoders + forecast_head), _snapshot(decision_head)
    trainer.train_step(head_stage, trainer.optimizer(head_stage), batch)
    assert _unchanged(frozen, encoders + forecast_head)
    assert not _unchanged(head, decision_head)
    assert all(not p.requires_grad for p in encoders + forecast_head)

    # stage 1: the decision head does not move
    trainer.set_trainable(forecast_stage)
    head, moving = _snapshot(decision_head), _snapshot(encoders)
    trainer.train_step(forecast_stage, trainer.optimizer(forecast_stage), batch)
    assert _unchanged(head, decision_head) and not _unchanged(moving, encoders)

    # stage 3: everything moves
    trainer.set_trainable(finetune_stage)
    everything = _snapshot(model.parameters())
    trainer.train_step(finetune_stage, trainer.optimizer(finetune_stage), batch)
    changed = [not torch.equal(a, b) for a, b in zip(everything, model.parameters(), strict=True)]
    assert sum(changed) >= 0.9 * len(changed)


def test_a_tiny_batch_can_be_overfitted(samples):
    params = TINY.model_copy(
        update={
            "training": TINY.training.model_copy(
                update={"label_sigma": 0.0, "ordinal_weight": 0.0, "aux_forecast_weight": 0.0}
            )
        }
    )
    with pretraining.reproducible_torch(0, 2):
        trainer, data = _trainer(samples, params)
        batch = data.index(torch.arange(32))
        stage = trainer.stages()[2]
        stage.params = stage.params.model_copy(update={"learning_rate": 5e-3})
        trainer.set_trainable(stage)
        optimizer = trainer.optimizer(stage)
        for _ in range(300):
            trainer.train_step(stage, optimizer, batch)
        trainer.model.eval()
        with torch.inference_mode():
            logits, _ = trainer.model(*batch.inputs.network_inputs())
    accuracy = float((logits.argmax(dim=1) == batch.label).float().mean())
    assert accuracy >= 0.97


def test_training_is_deterministic_for_a_seed(samples):
    first = pretraining.train_foundation_model(samples, GRID, TINY, seed=3)
    again = pretraining.train_foundation_model(samples, GRID, TINY, seed=3)
    other = pretraining.train_foundation_model(samples, GRID, TINY, seed=4)
    state, state_again = first.policy.model.state_dict(), again.policy.model.state_dict()
    assert all(torch.equal(state[name], state_again[name]) for name in state)
    pd.testing.assert_frame_equal(first.history.drop(columns="seconds"), again.history.drop(columns="seconds"))
    assert not torch.equal(state["decision_head.0.weight"], other.policy.model.state_dict()["decision_head.0.weight"])
    assert list(first.history["stage"].unique()) == list(pretraining.STAGES)
    assert first.summary["n_parameters"] == sum(p.numel() for p in first.policy.model.parameters())
    assert not torch.are_deterministic_algorithms_enabled()  # global torch settings restored


def test_training_needs_validation_rows(samples):
    with pytest.raises(
        ValueError, match="needs OR labels for the train and validation periods; got .* 0 validation rows"
    ):
        pretraining.train_foundation_model(samples[samples["split"] == "train"], GRID, TINY, seed=0)


def test_reports_side_by_side(samples):
    result = pretraining.train_foundation_model(samples, GRID, TINY, seed=1)
    baseline = BaselineLearner.fit(samples, GRID, TINY, seed=1)
    policy = FoundationPolicy.from_payload(result.payload())
    decisions = reports.decision_table(samples, {"pretrained": policy, "baseline_learner": baseline})
    assert set(decisions["baseline_learner_index"]) <= set(range(len(GRID)))
    accuracy = reports.accuracy_table(decisions, ["pretrained", "baseline_learner"])
    assert len(accuracy) == 4
    assert (accuracy["within_2_steps"] >= accuracy["within_1_step"]).all()
    assert (accuracy["within_1_step"] >= accuracy["top1_accuracy"]).all()
    forecast = reports.forecast_accuracy_table(policy, samples).set_index("model")
    assert list(forecast.index) == ["forecast_head", "data_processing_forecast"]
    assert forecast["wape"].notna().all() and forecast.loc["forecast_head", "horizon_days"] == 7
    schedules = reports.schedules_from_decisions(decisions, ["pretrained", "baseline_learner"], GRID)
    assert set(schedules) == {"or_policy", "pretrained", "baseline_learner"}
    columns = ["lane_id", "decision_date", "coverage_index", "coverage_days"]
    assert all(list(table.columns) == columns for table in schedules.values())
    learned = schedules["baseline_learner"]
    np.testing.assert_array_equal(learned["coverage_days"], GRID[learned["coverage_index"]])


def test_a_service_floor_in_the_payload_lifts_the_decisions_of_its_category_only(samples):
    payload = pretraining.train_foundation_model(samples, GRID, TINY, seed=1).payload()
    free = FoundationPolicy.from_payload(payload).decide_index(samples)
    code = int(samples["category_code"].iloc[0])
    floor = [{"category": "first", "category_code": code, "service_level": 0.99, "index": len(GRID) - 1}]
    guarded = FoundationPolicy.from_payload({**payload, "metadata": {"service_floor": floor}})
    assert guarded.floor_by("category") == {"first": len(GRID) - 1}
    index = guarded.decide_index(samples)
    own = samples["category_code"].to_numpy() == code
    assert own.any() and (~own).any()
    np.testing.assert_array_equal(index[own], len(GRID) - 1)
    np.testing.assert_array_equal(index[~own], free[~own])


def test_review_day_labels_add_rows_on_the_week_feature_row(tables, tiny_processed):
    labels = tables["labels"]
    week = labels[labels["decision_date"] == labels["decision_date"].iloc[0]].head(3)
    review = week[["lane_id", "decision_date", "split"]].assign(
        day_offset=[1, 2, 3],
        coverage_days=GRID[[2, 4, 6]],
        coverage_index=[2, 4, 6],
        action_value=GRID[[2, 4, 6]],
        on_hand=[1.0, 2.0, 3.0],
        on_order=[0.0, 5.0, 0.0],
    )
    samples = build_samples(tables["features"], labels, tiny_processed["daily_sales"], GRID, 7, review_labels=review)
    assert len(samples) == len(labels) + 3
    extra = samples[samples["day_offset"] > 0].sort_values("day_offset")
    np.testing.assert_array_equal(extra["coverage_index"], [2, 4, 6])
    np.testing.assert_array_equal(extra["on_order"], [0.0, 5.0, 0.0])
    first = samples[(samples["day_offset"] == 0) & (samples["decision_date"] == week["decision_date"].iloc[0])]
    same = first.set_index("lane_id").loc[extra["lane_id"]]
    np.testing.assert_array_equal(extra["fcst_3"].to_numpy(), same["fcst_3"].to_numpy())
    np.testing.assert_array_equal(extra["demand_0"].to_numpy(), same["demand_0"].to_numpy())
    plain = build_samples(tables["features"], labels, tiny_processed["daily_sales"], GRID, 7)
    pd.testing.assert_frame_equal(decision_date_rows(samples), plain)
    with pytest.raises(ValueError, match="one row per lane, decision date and day_offset 1-6"):
        build_samples(
            tables["features"], labels, tiny_processed["daily_sales"], GRID, 7, review_labels=pd.concat([review] * 2)
        )
