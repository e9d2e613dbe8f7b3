"""Typed parameters of every pipeline (pydantic models).

Each pipeline reads one top-level block of ``conf/<env>/parameters_<pipeline>.yml``.
Its nodes declare the block's model as the type of their ``params:<block>`` input, so
Kedro validates the block and hands the node the model before the first node runs
(Kedro's parameter validation; a project hook turns its error into one line per key
path). A node called with a mapping instead (a test on a plain catalog) validates it
with :func:`as_params`. Unknown keys are errors at every level: a misspelt top-level block
(``data_procesing:``) is caught by :func:`unknown_blocks`, a misspelt key inside a
block by its model, so a typo never silently falls back to a default. Every number
is finite (``.inf`` and ``.nan`` are refused) and every rate and cost is bounded
below by zero.

The models live one pipeline per module; every name is importable from here:

* :mod:`~orpr_kedro.core.params.base`
* :mod:`~orpr_kedro.core.params.data_processing`
* :mod:`~orpr_kedro.core.params.or_labeling`
* :mod:`~orpr_kedro.core.params.pretraining`
* :mod:`~orpr_kedro.core.params.rl_alignment`
* :mod:`~orpr_kedro.core.params.evaluation`
* :mod:`~orpr_kedro.core.params.recommend`
* :mod:`~orpr_kedro.core.params.demo_data`
* :mod:`~orpr_kedro.core.params.execution`
* :mod:`~orpr_kedro.core.params.registry`
"""

from orpr_kedro.core.params.base import DailyRate, ParameterError, PositiveAmount, StrictModel
from orpr_kedro.core.params.data_processing import (
    CostParams,
    DataProcessingParams,
    DataQualityParams,
    FeatureParams,
    ForecastBoundsParams,
    ForecastParams,
    SplitParams,
    ValidationParams,
)
from orpr_kedro.core.params.demo_data import DemoDataConfig
from orpr_kedro.core.params.evaluation import (
    BootstrapParams,
    EvaluationParams,
    EvaluationTargets,
    FieldTestParams,
    TunedBaseStockParams,
)
from orpr_kedro.core.params.execution import ExecutionParams
from orpr_kedro.core.params.or_labeling import (
    Band,
    CoverageGrid,
    ExecutorParams,
    ORLabelingParams,
    Period,
    ScenarioParams,
    SolverParams,
)
from orpr_kedro.core.params.pretraining import (
    BaselineLearnerParams,
    ForecastHeadParams,
    NetworkParams,
    PretrainingParams,
    StageParams,
    TrainingParams,
)
from orpr_kedro.core.params.recommend import RecommendParams, parse_currency
from orpr_kedro.core.params.registry import (
    PARAMETER_MODELS,
    TOP_LEVEL_KEYS,
    as_params,
    parse_params,
    unknown_blocks,
    validate_parameters,
)
from orpr_kedro.core.params.rl_alignment import (
    DeployParams,
    FixedEpisodesParams,
    PPOParams,
    RewardParams,
    RLAlignmentParams,
    RLOOParams,
    ValidationRunParams,
)

__all__ = [
    "Band",
    "BaselineLearnerParams",
    "BootstrapParams",
    "CostParams",
    "CoverageGrid",
    "DailyRate",
    "DataProcessingParams",
    "DataQualityParams",
    "DemoDataConfig",
    "EvaluationParams",
    "EvaluationTargets",
    "DeployParams",
    "ExecutionParams",
    "ExecutorParams",
    "FeatureParams",
    "FixedEpisodesParams",
    "FieldTestParams",
    "ForecastBoundsParams",
    "ForecastHeadParams",
    "ForecastParams",
    "NetworkParams",
    "ORLabelingParams",
    "PARAMETER_MODELS",
    "PPOParams",
    "ParameterError",
    "Period",
    "PositiveAmount",
    "PretrainingParams",
    "RLAlignmentParams",
    "RLOOParams",
    "RecommendParams",
    "RewardParams",
    "ScenarioParams",
    "SolverParams",
    "SplitParams",
    "StageParams",
    "StrictModel",
    "TOP_LEVEL_KEYS",
    "TrainingParams",
    "TunedBaseStockParams",
    "ValidationParams",
    "ValidationRunParams",
    "as_params",
    "parse_currency",
    "parse_params",
    "unknown_blocks",
    "validate_parameters",
]
