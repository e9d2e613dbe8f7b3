"""The baseline learner: gradient-boosted trees on the flattened decision inputs, fitted to the OR labels.

It sees exactly what the foundation model sees (:class:`~orpr_kedro.core.learning.inputs.DecisionInputs`),
so it measures what the network adds over a standard tabular learner.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from orpr_kedro.core.learning.inputs import (
    DecisionInputs,
)
from orpr_kedro.core.learning.samples import (
    _subsample,
    split_rows,
)
from orpr_kedro.core.params import PretrainingParams
from orpr_kedro.core.simulation.actions import ActionGrid, as_action_grid

logger = logging.getLogger(__name__)


def flat_features(inputs: DecisionInputs) -> np.ndarray:
    """Flattened features of the baseline: scaled history+forecast, scalar features, category code (last)."""
    level = inputs.level()
    values, _ = inputs.scaled_sequence(level)
    return np.concatenate(
        [
            values,
            inputs.raw_state_features(level),
            inputs.raw_target_features(),
            inputs.category_code[:, None].astype("float64"),
        ],
        axis=1,
    )


class BaselineLearner:
    """HistGradientBoostingClassifier on flattened features and the same OR labels.

    The point of comparison for the network: same rows, same labels, same inputs
    (flattened, no learned representation).
    """

    def __init__(self, classifier: HistGradientBoostingClassifier, coverage_grid: np.ndarray) -> None:
        self.classifier = classifier
        self.coverage_grid = np.asarray(coverage_grid, dtype="float64")  # the action values

    @classmethod
    def fit(
        cls, samples: pd.DataFrame, grid: ActionGrid | np.ndarray, params: PretrainingParams, seed: int
    ) -> BaselineLearner:
        """Train on the ``train`` split (held-out categories excluded)."""
        settings = params.baseline
        train = _subsample(split_rows(samples, "train"), settings.max_train_samples, seed)
        if train.empty:
            raise ValueError("the baseline learner needs training rows (split 'train') in the samples")
        features = flat_features(DecisionInputs.from_frame(train))
        classifier = HistGradientBoostingClassifier(
            learning_rate=settings.learning_rate,
            max_iter=settings.max_iter,
            max_leaf_nodes=settings.max_leaf_nodes,
            min_samples_leaf=settings.min_samples_leaf,
            l2_regularization=settings.l2_regularization,
            early_stopping=settings.early_stopping,
            categorical_features=[features.shape[1] - 1],
            random_state=seed,
        )
        started = time.perf_counter()
        classifier.fit(features, train["coverage_index"].to_numpy())
        logger.info(
            "Baseline learner: %d iterations on %d rows in %.1f s",
            classifier.n_iter_,
            len(train),
            time.perf_counter() - started,
        )
        return cls(classifier, as_action_grid(grid).values)

    def _inputs(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> DecisionInputs:
        return DecisionInputs.from_frame(inputs, on_hand, on_order) if isinstance(inputs, pd.DataFrame) else inputs

    def decide_index(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Grid index ``[N]`` of the most likely coverage."""
        inputs = self._inputs(inputs, on_hand, on_order)
        if len(inputs) == 0:
            return np.zeros(0, dtype="int64")
        return np.asarray(self.classifier.predict(flat_features(inputs)), dtype="int64")

    def decide(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """The chosen action's value ``[N]`` (coverage days, or a service level)."""
        return self.coverage_grid[self.decide_index(inputs, on_hand, on_order)]
