"""The foundation network, its input scaling, the saved payload and the policy plug-in."""

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io.core import DatasetError

from orpr_kedro.core.learning.features import ATTRIBUTE_COLUMNS, TARGET_COLUMNS, forecast_columns, history_columns
from orpr_kedro.core.learning.inputs import (
    PROMOTION_COLUMNS,
    STATE_FEATURES,
    TARGET_FEATURES,
    DecisionInputs,
    Normalisation,
    model_tensors,
)
from orpr_kedro.core.learning.network import FoundationModel, ModelConfig, count_parameters, pinball_loss
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import model_config
from orpr_kedro.core.params import PretrainingParams
from orpr_kedro.datasets import TorchModelDataset

GRID = [float(v) for v in range(41)]


def feature_frame(n_rows: int, history_days: int = 28, forecast_days: int = 28, seed: int = 0) -> pd.DataFrame:
    """Random rows shaped like mi_decision_features plus the state columns."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(1.5, 4.0, size=n_rows)
    frame = {
        "lane_id": np.arange(n_rows),
        "category_code": rng.integers(0, 4, n_rows),
        "history_days_available": rng.choice([history_days, history_days // 2, 200], n_rows),
        "forecast_std_sum": level * rng.uniform(1, 5, n_rows),
        "on_hand": rng.poisson(level * 10),
        "on_order": rng.poisson(level * 5),
    }
    for name in history_columns(history_days):
        frame[name] = rng.poisson(level)
    for name in forecast_columns(forecast_days):
        frame[name] = level * rng.uniform(0.8, 1.2, n_rows)
    for name in ATTRIBUTE_COLUMNS:
        frame[name] = rng.uniform(0.5, 20.0, n_rows)
    frame["case_pack"] = rng.choice([1, 6, 12], n_rows)
    frame["category_sales_share"] = rng.uniform(0, 0.2, n_rows)
    frame["target_turnover_days"] = rng.choice([14.0, 30.0, 45.0], n_rows)
    frame["alpha"] = rng.choice([0.96, 0.98], n_rows)
    for name in PROMOTION_COLUMNS:
        frame[name] = rng.integers(0, 3, n_rows).astype(float)
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def policy() -> FoundationPolicy:
    frame = feature_frame(64, 14, 14)
    normalisation = Normalisation.fit(DecisionInputs.from_frame(frame), n_categories=4)
    params = PretrainingParams.model_validate(
        {"network": {"d_model": 32, "n_heads": 2, "ff_dim": 64, "head_hidden": 32}}
    )
    torch.manual_seed(0)
    model = FoundationModel(model_config(normalisation, np.array(GRID[:16]), params))
    return FoundationPolicy(model, normalisation, batch_size=16)


def test_default_network_shapes_and_size():
    config = ModelConfig(28, 28, len(STATE_FEATURES), len(TARGET_FEATURES), 8, GRID)
    model = FoundationModel(config)
    n_parameters = count_parameters(model)
    assert 200_000 <= n_parameters <= 1_000_000
    batch = 5
    logits, forecast = model(
        torch.rand(batch, 56, 2),
        torch.randn(batch, len(STATE_FEATURES)),
        torch.zeros(batch, dtype=torch.long),
        torch.randn(batch, len(TARGET_FEATURES)),
    )
    assert logits.shape == (batch, 41)
    assert forecast.shape == (batch, 14, 3)
    assert torch.all(forecast[..., 1:] >= forecast[..., :-1])  # quantiles never cross
    assert torch.allclose(model.fusion_weights.sum(), torch.tensor(1.0))


def test_parameter_limit_is_enforced():
    from orpr_kedro.core.learning.pretraining import build_model

    params = PretrainingParams.model_validate(
        {"network": {"d_model": 256, "ff_dim": 1024, "max_parameters": 1_000_000}}
    )
    config = ModelConfig(28, 28, len(STATE_FEATURES), len(TARGET_FEATURES), 8, GRID, d_model=256, ff_dim=1024)
    with pytest.raises(ValueError, match=r"parameters, more than pretraining\.network\.max_parameters \(1,000,000\)"):
        build_model(config, params)


def test_windows_that_are_not_a_multiple_of_the_patch():
    config = ModelConfig(
        10,
        5,
        len(STATE_FEATURES),
        len(TARGET_FEATURES),
        3,
        GRID[:7],
        forecast_horizon=3,
        patch_days=4,
        d_model=16,
        n_heads=2,
        ff_dim=16,
        head_hidden=16,
        n_layers=1,
    )
    model = FoundationModel(config)
    logits, forecast = model(
        torch.rand(2, 15, 2),
        torch.randn(2, len(STATE_FEATURES)),
        torch.tensor([0, 2]),
        torch.randn(2, len(TARGET_FEATURES)),
    )
    assert logits.shape == (2, 7) and forecast.shape == (2, 3, 3)


def test_inputs_scale_by_level_and_mark_missing_history():
    frame = feature_frame(3, 14, 14)
    frame["history_days_available"] = [14, 5, 0]
    inputs = DecisionInputs.from_frame(frame)
    values, real = inputs.scaled_sequence()
    assert real[0].all() and real[1, :9].sum() == 0 and real[1, 9:].all() and real[2, :14].sum() == 0
    level = inputs.level()
    np.testing.assert_allclose(
        values[0, 14:], np.clip(frame.loc[0, forecast_columns(14)].to_numpy(float) / level[0], 0, 50)
    )
    raw = inputs.raw_state_features(level)
    cover = raw[:, list(STATE_FEATURES).index("on_hand_cover_days")]
    daily = frame[forecast_columns(14)[:7]].to_numpy(float).mean(axis=1)
    np.testing.assert_allclose(cover, np.clip(frame["on_hand"] / daily, 0, 400))


def test_state_must_be_given():
    frame = feature_frame(2).drop(columns=["on_hand"])
    with pytest.raises(ValueError, match="no on_hand: pass it or add an 'on_hand' column"):
        DecisionInputs.from_frame(frame)
    inputs = DecisionInputs.from_frame(frame, on_hand=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(inputs.on_hand, [1.0, 2.0])


def test_normalisation_uses_only_the_rows_it_is_fitted_on():
    frame = feature_frame(200, 14, 14)
    train, other = DecisionInputs.from_frame(frame.iloc[:100]), DecisionInputs.from_frame(frame.iloc[100:])
    normalisation = Normalisation.fit(train, n_categories=4)
    scaled = normalisation.state(train.raw_state_features())
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-9)
    assert np.abs(normalisation.state(other.raw_state_features()).mean(axis=0)).max() > 1e-6
    assert Normalisation.from_dict(normalisation.to_dict()) == normalisation
    inputs = DecisionInputs.from_frame(frame.iloc[:2].assign(category_code=[9, -1]))
    assert model_tensors(inputs, normalisation).category.tolist() == [4, 4]  # unseen: its own row


def test_window_mismatch_is_refused(policy):
    with pytest.raises(ValueError, match="trained on 14 history and 14 forecast days; got 28 and 28"):
        policy.decide(feature_frame(3, 28, 28))


def test_policy_decides_grid_values_in_batches(policy):
    frame = feature_frame(40, 14, 14, seed=3)
    coverage = policy.decide(frame)
    assert coverage.shape == (40,) and set(coverage) <= set(policy.coverage_grid)
    one_batch = FoundationPolicy(policy.model, policy.normalisation, batch_size=1000)
    np.testing.assert_array_equal(one_batch.decide(frame), coverage)
    # the state changes the decision input: same features, other stock
    more = policy.logits(frame, on_hand=frame["on_hand"] * 10 + 100, on_order=frame["on_order"])
    assert not np.allclose(more, policy.logits(frame))
    quantiles = policy.forecast(frame)
    assert quantiles.shape == (40, 14, 3) and (quantiles >= 0).all()


def test_save_and_load_round_trip_gives_identical_outputs(policy, tmp_path):
    frame = feature_frame(25, 14, 14, seed=5)
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.pt"))
    dataset.save(policy.to_payload(metadata={"seed": 1}))
    payload = dataset.load()
    assert payload["metadata"] == {"seed": 1}
    restored = FoundationPolicy.from_payload(payload, batch_size=policy.batch_size)  # same batches, same kernels
    assert torch.equal(torch.from_numpy(restored.logits(frame)), torch.from_numpy(policy.logits(frame)))
    np.testing.assert_array_equal(restored.forecast(frame), policy.forecast(frame))


def test_payload_loads_with_weights_only(policy, tmp_path):
    path = tmp_path / "model.pt"
    TorchModelDataset(filepath=str(path)).save(policy.to_payload())
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"format", "config", "normalisation", "state_dict", "metadata"}
    with pytest.raises(ValueError, match="not a foundation-model payload"):
        FoundationPolicy.from_payload({"format": "something else"})


def test_dataset_refuses_what_it_cannot_load_safely(tmp_path):
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.pt"))
    with pytest.raises(DatasetError, match="saves a mapping"):
        dataset.save([1, 2])
    with pytest.raises(DatasetError, match="refuses; keep to tensors"):
        dataset.save({"frame": pd.DataFrame({"a": [1]})})
    assert not (tmp_path / "model.pt").exists()
    with pytest.raises(DatasetError, match="always loads with weights_only=True"):
        TorchModelDataset(filepath=str(tmp_path / "model.pt"), load_args={"weights_only": False})


def test_versioned_dataset(tmp_path):
    from kedro.io import Version

    dataset = TorchModelDataset(filepath=str(tmp_path / "model.pt"), version=Version(None, None))
    dataset.save({"w": torch.arange(3)})
    assert dataset.exists()
    assert torch.equal(dataset.load()["w"], torch.arange(3))
    assert len(list((tmp_path / "model.pt").glob("*/model.pt"))) == 1


def test_pinball_loss_of_a_perfect_median_is_the_spread_only():
    actual = torch.tensor([[1.0, 2.0]])
    quantiles = torch.tensor([0.1, 0.5, 0.9])
    prediction = torch.tensor([[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]])
    assert float(pinball_loss(prediction, actual, quantiles)) == 0.0
    mask = torch.tensor([[True, False]])
    worse = prediction.clone()
    worse[0, 1] = 10.0  # a masked day does not count
    assert float(pinball_loss(worse, actual, quantiles, mask)) == 0.0


def test_columns_used_are_the_feature_tables():
    assert len(ATTRIBUTE_COLUMNS) + 10 == len(STATE_FEATURES)
    assert list(TARGET_FEATURES)[:3] == list(TARGET_COLUMNS)
