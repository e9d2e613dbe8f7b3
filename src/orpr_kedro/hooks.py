"""Project hooks."""

from __future__ import annotations

import importlib.util
import logging
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pandas as pd
import yaml
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io.core import DatasetError
from kedro.validation import ParameterValidationError, TypeExtractor
from pydantic import BaseModel

from orpr_kedro.core.data.contract import validate_table
from orpr_kedro.core.data.preflight import unknown_categories
from orpr_kedro.core.params import (
    ParameterError,
    parse_currency,
    parse_params,
    unknown_blocks,
    validate_parameters,
)
from orpr_kedro.demo_settings import demo_generator_enabled
from orpr_kedro.log_filters import quiet_node_lines
from orpr_kedro.tracking import model_params, report_metrics

logger = logging.getLogger(__name__)

# The recommend pipeline's own nodes: run alone, it validates the snapshot in its first node.
_RECOMMEND_NODES = {"validate_inventory_state", "recommend_orders", "summarise_recommendations"}


# Inputs of the report that another pipeline writes: dataset -> the pipeline that writes it.
# `kedro run` writes them before the report; a run without that pipeline reads an earlier run's.
REPORT_INPUTS = {"rpt_recommend_summary": "recommend", "rpt_recommend_by_dc_category": "recommend"}


class MissingRunInputError(RuntimeError):
    """An input of the run that no earlier run wrote and this run does not write; the message says which run does."""


# The runtime parameter that says the run's raw data came from the demo generator.
DEMO_PARAMETER = "data_is_demo"


class DemoDataHooks:
    """Tell the nodes whether this environment runs on the demo generator's data.

    The generator's switch lives outside the parameters (``conf/<env>/demo_data.yml``,
    read by ``kedro demo-data``): an environment is on generated data when its *own*
    ``demo_data.yml`` says ``enabled: true`` (:mod:`orpr_kedro.demo_settings`), so a
    client environment that inherits ``conf/base`` is not. That answer becomes the
    runtime parameter ``data_is_demo`` (``params:data_is_demo``), the way ``kedro run
    --params`` adds one; a value given there wins. It must run before any hook reads
    ``context.params``: pluggy calls the last-registered hook first, so settings.py
    registers it last.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Add ``data_is_demo`` to the runtime parameters of the context's config loader."""
        loader = context.config_loader
        runtime = dict(loader.runtime_params or {})
        if DEMO_PARAMETER not in runtime:
            runtime[DEMO_PARAMETER] = demo_generator_enabled(Path(loader.conf_source), context.env)
            loader.runtime_params = runtime


class ParameterValidationHooks:
    """At start-up, what Kedro's parameter validation leaves to the project, and its errors in one line per key.

    Kedro validates each parameter block against the pydantic model that the nodes
    reading it declare (``params: ORLabelingParams``) when the context's parameters
    are first read, which this hook does, so a wrong value fails before the first
    node. Kedro's :class:`~kedro.validation.ParameterValidationError` gives pydantic's
    multi-line report per block; it is re-raised as a :class:`ParameterError` with one
    line per key path (``parameter 'or_labeling.solver.mip_gap': ...``), which
    ``kedro run`` prints without a traceback. Kedro ignores a key that no node reads
    and passes plain values through, so this hook also refuses a top-level block no
    pipeline reads (a misspelt ``or_labelling:``), naming its file and the closest
    known key, and checks ``currency``.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Check the top-level keys, let Kedro validate the blocks, check ``currency``.

        Raises:
            ParameterError: for a top-level block no pipeline reads, naming its file and
                the closest known key; for every invalid value of a block, naming its key
                path; for a ``currency`` that is not an ISO 4217 code.
        """
        raw = context.config_loader["parameters"]
        unknown = unknown_blocks(raw)
        if unknown:
            files = _files_defining(context.config_loader, set(unknown))
            lines = [
                f"unknown top-level parameter block '{key}' in {files.get(key, 'the runtime --params')}"
                + (f": did you mean '{closest}'?" if closest else "")
                for key, closest in unknown.items()
            ]
            raise ParameterError(
                "Invalid parameters (no block of that name is read by any pipeline):\n" + "\n".join(lines)
            )
        try:
            params = context.params  # Kedro validates every typed params:<block> input here
        except ParameterValidationError as error:
            raise _key_path_error(raw, error) from error
        if "currency" in params:
            try:
                parse_currency(params["currency"])
            except ParameterError as error:
                raise ParameterError(f"Invalid parameters:\n{error}") from None
        logger.info(
            "Parameters validated for environment '%s': %s",
            context.env or "local",
            ", ".join(sorted(key for key, value in params.items() if isinstance(value, BaseModel))),
        )


def _key_path_error(raw: dict[str, Any], error: ParameterValidationError) -> ParameterError:
    """Kedro's validation error as one line per offending key path.

    The blocks are those Kedro validated (the typed ``params:`` inputs of the pipelines
    this session loads: all of them, or those of ``kedro run --pipelines``), checked again
    by :func:`validate_parameters`, whose messages name the key paths.
    """
    typed = TypeExtractor(dict(pipelines)).extract_types_from_pipelines()
    try:
        validate_parameters({key: value for key, value in raw.items() if key in typed})
    except ParameterError as explained:
        return explained
    return ParameterError(f"Invalid parameters:\n{error}")  # a rule of Kedro's that the models do not state


class RunInputHooks:
    """Check, before the first node, what the data says about the parameters and the late inputs.

    Categories named in the parameters of the run's pipelines (holding-rate overrides,
    the OR and RL bands) must exist in ``raw_category_targets``: a misspelt one would
    otherwise be ignored (bands) or fail late.

    ``kedro run`` validates the history tables in its first node but reads the
    inventory snapshot in ``recommend``, its last pipeline: an empty or broken
    snapshot would fail there, after every model of the run was written. When a run
    includes both, the snapshot's own rules (columns, types, at least one row) are
    checked here; its links to the lanes and sales follow in ``validate_inventory_state``.

    The report summarises the orders of the recommend pipeline (:data:`REPORT_INPUTS`).
    A run that writes the report without running recommend (``kedro run --pipelines
    evaluation``) reads them from an earlier run; if none wrote them, it stops here
    with a :class:`MissingRunInputError` that says which run writes them, rather than
    in the report's node after the whole evaluation.
    """

    @hook_impl
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        """Categories named in the parameters exist; the snapshot is valid if the run reads it late."""
        self._check_categories(pipeline, catalog)
        self._check_snapshot(pipeline, catalog)
        self._check_report_inputs(pipeline, catalog)

    @staticmethod
    def _check_report_inputs(pipeline: Any, catalog: Any) -> None:
        """The report's inputs from other pipelines exist when this run does not write them."""
        missing = [
            name for name in REPORT_INPUTS if name in pipeline.inputs() and name in catalog and not catalog.exists(name)
        ]
        if missing:
            writers = sorted({REPORT_INPUTS[name] for name in missing})
            raise MissingRunInputError(
                f"the report summarises this run's orders ({', '.join(missing)}), but no earlier run wrote them and "
                f"this run does not include {', '.join(writers)}: run `kedro run --pipelines evaluation,"
                f"{','.join(writers)}` (or `kedro run --pipelines {','.join(writers)}` first)"
            )

    @staticmethod
    def _check_categories(pipeline: Any, catalog: Any) -> None:
        """Every category a parameter block of this run names is in ``raw_category_targets``."""
        blocks = {name.removeprefix("params:") for name in pipeline.inputs() if name.startswith("params:")}
        if not blocks or "raw_category_targets" not in catalog or not catalog.exists("raw_category_targets"):
            return
        validated = validate_parameters(
            {key: value for key, value in catalog.load("parameters").items() if key in blocks}
        )
        try:
            targets = catalog.load("raw_category_targets")
        except DatasetError:
            return  # the run fails on this file in its first node, with the message and hint for it
        if "category" not in targets.columns:
            return  # the contract check of validate_raw_data names the missing column
        problems = unknown_categories(validated, targets["category"].dropna().astype(str).str.strip())
        if problems:
            raise ParameterError("Invalid parameters for this data; nothing was run:\n" + "\n".join(problems))

    @staticmethod
    def _check_snapshot(pipeline: Any, catalog: Any) -> None:
        names = {node.name.rsplit(".", 1)[-1] for node in pipeline.nodes}  # without the stage namespace
        if "validate_inventory_state" not in names or names <= _RECOMMEND_NODES:
            return
        if "raw_inventory_state" not in pipeline.inputs() or "raw_inventory_state" not in catalog:
            return
        settings = parse_params("data_processing", catalog.load("params:data_processing"))
        validate_table(
            catalog.load("raw_inventory_state"),
            "raw_inventory_state",
            sources=settings.raw_files,
            max_examples=settings.validation.max_example_rows,
            date_format=settings.date_formats.get("raw_inventory_state"),
        )


class ErrorHintHooks:
    """Add a hint on the likely fix to errors whose cause is common with client files.

    A CSV file in latin-1 or cp1252 (common exports from spreadsheets and ERPs)
    fails to load as UTF-8 with a bare ``'utf-8' codec can't decode byte``; the
    hint, attached as a note to the exception (shown under its traceback), says
    which ``load_args`` reads it.
    """

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        """Attach the hint that fits ``error``, if one does."""
        hint = error_hint(error)
        if hint and hint not in getattr(error, "__notes__", []):
            error.add_note(hint)
            logger.error(hint)


def error_hint(error: BaseException) -> str | None:
    """A hint for a known cause anywhere in the chain of ``error``, or None."""
    seen: BaseException | None = error
    texts = []
    while seen is not None:
        texts.append(str(seen))
        if isinstance(seen, UnicodeDecodeError):
            texts.append("codec can't decode")
        seen = seen.__cause__ or seen.__context__
    text = "\n".join(texts)
    if "codec can't decode" in text:
        return (
            "Hint: a file is not UTF-8 text (the default encoding). Name its encoding in its catalog entry, "
            "e.g. for a spreadsheet export\n  load_args:\n    encoding: latin-1   # or cp1252, utf-16\n"
            "in conf/<env>/catalog.yml (docs/bring_your_own_data.md)."
        )
    return None


def _files_defining(config_loader: Any, keys: set[str]) -> dict[str, str]:
    """key -> the parameter file(s) of the active environments whose top level defines it."""
    root = Path(config_loader.conf_source)
    found: dict[str, list[str]] = {}
    for env in dict.fromkeys([config_loader.base_env, config_loader.env or config_loader.default_run_env]):
        folder = root / env
        for path in sorted(folder.glob("**/parameters*")):
            if path.suffix not in {".yml", ".yaml", ".json"}:
                continue
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for key in keys & set(content if isinstance(content, dict) else ()):
                found.setdefault(key, []).append(str(path.relative_to(root.parent)))
    return {key: ", ".join(paths) for key, paths in found.items()}


class ExperimentTrackingHooks:
    """Metrics and artifacts of a tracked run; does nothing unless MLflow tracks it.

    kedro-mlflow (``make tracking``, docs/tracking.md) starts an MLflow run around
    ``kedro run`` and logs the parameters. While such a run is active this hook adds
    the parameter models of each node one key path each (:func:`orpr_kedro.tracking.model_params`),
    the headline metrics of every reporting table (:func:`orpr_kedro.tracking.report_metrics`)
    and logs ``rpt_*`` tables, ``plt_*`` figures and ``mdl_*`` models as artifacts.
    Without mlflow installed, or without an active run, it returns at once, so the
    default environment (``make run``, ``make test``) never touches MLflow.
    """

    def __init__(self) -> None:
        self._available = importlib.util.find_spec("mlflow") is not None

    @hook_impl
    def before_node_run(self, inputs: dict[str, Any]) -> None:
        """Log the node's parameter models one key path each (kedro-mlflow logs a model as one string)."""
        if not self._available:
            return
        import mlflow  # noqa: PLC0415 - optional: only with the tracking extra

        params = model_params(inputs)
        if params and mlflow.active_run() is not None:
            mlflow.log_params(params)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Log what ``dataset_name`` contributes to the active MLflow run."""
        if not self._available or not dataset_name.startswith(("rpt_", "plt_", "mdl_")):
            return
        import mlflow  # noqa: PLC0415 - optional: only with the tracking extra

        if mlflow.active_run() is None:
            return
        if dataset_name.startswith("rpt_") and isinstance(data, pd.DataFrame):
            metrics = report_metrics(dataset_name, data)
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.log_text(data.to_csv(index=False), f"reports/{dataset_name}.csv")
        elif isinstance(data, str):  # text reports (markdown, html)
            suffix = {"markdown": "md", "html": "html"}.get(dataset_name.rsplit("_", 1)[-1], "txt")
            mlflow.log_text(data, f"reports/{dataset_name}.{suffix}")
        elif dataset_name.startswith("mdl_"):
            self._log_model(mlflow, dataset_name, data)
        else:
            for name, figure in _figures(dataset_name, data).items():
                mlflow.log_figure(figure, f"figures/{name}.png")

    @staticmethod
    def _log_model(mlflow: Any, dataset_name: str, data: Any) -> None:
        """A model as saved by its dataset: torch payloads as ``.pt``, others pickled."""
        with tempfile.TemporaryDirectory() as folder:
            if isinstance(data, Mapping):  # TorchModelDataset payload (weights, config, normalisation)
                import torch  # noqa: PLC0415

                path = Path(folder) / f"{dataset_name}.pt"
                torch.save(dict(data), path)
            else:
                path = Path(folder) / f"{dataset_name}.pkl"
                path.write_bytes(pickle.dumps(data))
            mlflow.log_artifact(str(path), artifact_path="models")


def _figures(dataset_name: str, data: Any) -> dict[str, Any]:
    """The matplotlib figures in what a MatplotlibDataset saves (one, a list or a dict)."""
    if hasattr(data, "savefig"):
        return {dataset_name: data}
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, list | tuple):
        items = enumerate(data)
    else:
        return {}
    return {f"{dataset_name}/{key}": figure for key, figure in items if hasattr(figure, "savefig")}


class QuietConsoleHooks:
    """Leave Kedro's two per-node INFO lines out of the console (:mod:`orpr_kedro.log_filters`)."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        quiet_node_lines()


class PlannerOutputsHooks:
    """At the end of a run, name the files a planner opens: the report and the orders.

    Only the files this run wrote are named (``kedro run --pipelines or_labeling``
    names none). They are printed on stdout after the run's log, so they are the last
    lines of ``make run``.
    """

    # dataset -> what it is, in the order printed
    OUTPUTS = {
        "rpt_report_html": "Report",
        "rpt_report_markdown": "Report (markdown)",
        "mo_orders": "Orders to approve",
        "mo_recommendations": "Every lane's decision",
    }

    def __init__(self) -> None:
        self._saved: set[str] = set()

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Start a new list for this run."""
        self._saved = set()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Remember a planner's file when the run writes it."""
        if dataset_name in self.OUTPUTS:
            self._saved.add(dataset_name)

    @hook_impl
    def after_pipeline_run(self, catalog: Any) -> None:
        """Print one line per planner's file this run wrote."""
        lines = [
            f"{label}: {_shown_path(catalog.get(name))}" for name, label in self.OUTPUTS.items() if name in self._saved
        ]
        if lines:
            click.echo("\n".join(lines))


def _shown_path(dataset: Any) -> str:
    """The dataset's file, relative to the working directory when it lies under it."""
    path = Path(str(getattr(dataset, "_filepath", "")))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
