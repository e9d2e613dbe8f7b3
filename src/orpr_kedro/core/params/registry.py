"""The registry of parameter blocks: one model per top-level key, and the validation of a whole config.

Kedro converts each ``params:<block>`` input of a node into the model its signature
declares before any node runs. :func:`as_params` is what a node does with the value
it is handed (a model passes through; a mapping, as a test or a notebook passes, is
validated); :func:`parse_params` is the same by block name. :func:`validate_parameters`
checks every block with key-path messages (collecting all problems before raising),
:func:`unknown_blocks` names misspelt top-level keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orpr_kedro.core.params.base import ParameterError, StrictModel
from orpr_kedro.core.params.data_processing import DataProcessingParams
from orpr_kedro.core.params.evaluation import EvaluationParams
from orpr_kedro.core.params.execution import ExecutionParams
from orpr_kedro.core.params.or_labeling import ORLabelingParams
from orpr_kedro.core.params.pretraining import PretrainingParams
from orpr_kedro.core.params.recommend import RecommendParams, parse_currency
from orpr_kedro.core.params.rl_alignment import RLAlignmentParams

PARAMETER_MODELS: dict[str, type[StrictModel]] = {
    "data_processing": DataProcessingParams,
    "or_labeling": ORLabelingParams,
    "pretraining": PretrainingParams,
    "rl_alignment": RLAlignmentParams,
    "evaluation": EvaluationParams,
    "recommend": RecommendParams,
    "execution": ExecutionParams,
}


def _format_validation_error(key: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join([key, *(str(part) for part in item["loc"])])
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"parameter '{location}': {item['msg']}{shown}")
    return "\n".join(lines)


ModelT = TypeVar("ModelT", bound=BaseModel)


def as_params(model: type[ModelT], values: ModelT | Mapping[str, Any] | None) -> ModelT:
    """One parameter block as its model.

    A model (what Kedro hands a node whose signature declares it) is returned as it is;
    a mapping (a node called directly, or run on a plain catalog by a test) is validated.

    Args:
        model: the block's model, e.g. :class:`~orpr_kedro.core.params.ORLabelingParams`.
        values: the model, or the raw mapping from the configuration (``None``: defaults).

    Returns:
        The validated, immutable parameter model.

    Raises:
        ParameterError: naming every offending key by its path from the top-level block, e.g.
            ``parameter 'data_processing.forecast.horizon_days': Input should be
            greater than or equal to 7 (got 3)``.
    """
    if isinstance(values, model):
        return values
    try:
        return model.model_validate(values or {})
    except ValidationError as error:
        key = next((key for key, known in PARAMETER_MODELS.items() if known is model), model.__name__)
        raise ParameterError(_format_validation_error(key, error)) from None


def parse_params(key: str, values: Mapping[str, Any] | BaseModel | None) -> Any:
    """One parameter block by its top-level key (``"data_processing"``): :func:`as_params` with its model."""
    return as_params(PARAMETER_MODELS[key], values)


# Top-level parameter keys that are not a pipeline block.
# data_is_demo is added at start-up from the environment's demo_data.yml (orpr_kedro.hooks.DemoDataHooks).
TOP_LEVEL_KEYS: tuple[str, ...] = ("seed", "currency", "data_is_demo")


def unknown_blocks(keys: Iterable[str]) -> dict[str, str | None]:
    """Top-level parameter keys that no model reads, each with its closest known key.

    >>> unknown_blocks(["seed", "data_procesing"])
    {'data_procesing': 'data_processing'}
    """
    known = [*PARAMETER_MODELS, *TOP_LEVEL_KEYS]
    return {
        key: next(iter(difflib.get_close_matches(key, known, n=1, cutoff=0.6)), None)
        for key in keys
        if key not in known
    }


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every registered parameter block present in ``params``, with a message per key path.

    All problems are collected before raising, so one run reports them all. Kedro
    validates the same blocks in a session; this is how its error is explained
    (``orpr_kedro.hooks.ParameterValidationHooks``).
    """
    validated: dict[str, BaseModel] = {}
    problems: list[str] = []
    for key in PARAMETER_MODELS:
        if key not in params:
            continue
        if params[key] is None:  # Kedro refuses it too: a typed block must not be null
            problems.append(f"parameter '{key}': the block is empty (null); give its keys or remove it")
            continue
        try:
            validated[key] = parse_params(key, params[key])
        except ParameterError as error:
            problems.append(str(error))
    if "currency" in params:
        try:
            parse_currency(params["currency"])
        except ParameterError as error:
            problems.append(str(error))
    if problems:
        raise ParameterError("Invalid parameters:\n" + "\n".join(problems))
    return validated
