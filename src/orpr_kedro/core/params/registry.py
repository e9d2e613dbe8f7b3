"""The registry of parameter blocks: one model per top-level key, and the validation of a whole config.

:func:`parse_params` validates one block, :func:`validate_parameters` every block at start-up
(collecting all problems before raising), :func:`unknown_blocks` names misspelt top-level keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from orpr_kedro.core.params.base import ParameterError, StrictModel
from orpr_kedro.core.params.data_processing import DataProcessingParams
from orpr_kedro.core.params.evaluation import EvaluationParams
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
}


def _format_validation_error(key: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join([key, *(str(part) for part in item["loc"])])
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"parameter '{location}': {item['msg']}{shown}")
    return "\n".join(lines)


def parse_params(key: str, values: dict[str, Any] | BaseModel) -> Any:
    """Validate one parameter block against its model.

    Args:
        key: top-level parameter key, e.g. ``"data_processing"``.
        values: the raw mapping from the configuration (or an already built model).

    Returns:
        The validated, immutable parameter model.

    Raises:
        ParameterError: naming every offending key, e.g.
            ``parameter 'data_processing.forecast.horizon_days': Input should be
            greater than or equal to 7 (got 3)``.
    """
    model = PARAMETER_MODELS[key]
    if isinstance(values, model):
        return values
    try:
        return model.model_validate(values or {})
    except ValidationError as error:
        raise ParameterError(_format_validation_error(key, error)) from None


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
    """Validate every registered parameter block present in ``params``.

    All problems are collected before raising, so one run reports them all.
    """
    validated: dict[str, BaseModel] = {}
    problems: list[str] = []
    for key in PARAMETER_MODELS:
        if key not in params:
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
