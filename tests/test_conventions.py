"""Conventions over the whole catalog and parameters, in every environment."""

import inspect
import posixpath
import typing
from pathlib import Path, PurePosixPath

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset
from pydantic import BaseModel

from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.params import PARAMETER_MODELS, parse_params
from orpr_kedro.pipelines.evaluation.nodes import ORDER_LINKS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ["base", "test", "test-byof", "staging", "scale", "prod"]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def context(request):
    """The Kedro context of one environment, as `kedro run --env <env>` builds it.

    Nothing is read from disk but configuration, so every environment resolves here:
    prod needs neither its Dask scheduler nor its client files, and every environment
    runs without credentials files (conf/base/credential_defaults.yml).
    """
    bootstrap_project(PROJECT_ROOT)
    env = None if request.param == "base" else request.param
    with KedroSession.create(project_path=PROJECT_ROOT, env=env) as session:
        yield session.load_context()


def _pipeline_datasets() -> set[str]:
    names = set()
    for pipeline in pipelines.values():
        names |= pipeline.datasets()
    return {name for name in names if not name.startswith("params:") and name != "parameters"}


def test_every_dataset_is_declared_and_persisted_with_a_layer(context):
    catalog = context.catalog
    problems = []
    for name in sorted(_pipeline_datasets()):
        declared = name in catalog.keys() or catalog.config_resolver.match_dataset_pattern(name) is not None
        if not declared:
            problems.append(f"{name}: neither declared nor matched by a dataset factory (would be a MemoryDataset)")
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, MemoryDataset):
            problems.append(f"{name}: MemoryDataset")
            continue
        layer = (getattr(dataset, "metadata", None) or {}).get("kedro-viz", {}).get("layer")
        if not layer:
            problems.append(f"{name}: no kedro-viz layer in its metadata")
    assert not problems, "\n".join(problems)


def test_raw_files_in_messages_match_the_catalog(context):
    catalog = context.catalog
    raw_files = parse_params("data_processing", context.params["data_processing"]).raw_files
    for name, path in raw_files.items():
        assert str(catalog.get(name)._filepath).endswith(path.lstrip("/")), name


def test_the_report_links_the_order_files_where_the_catalog_writes_them(context):
    """The report's links (relative to its folder) reach mo_orders and mo_recommendations in every environment."""
    catalog = context.catalog
    folder = PurePosixPath(str(catalog.get("rpt_report_markdown")._filepath)).parent
    for key, name in (("orders", "mo_orders"), ("recommendations", "mo_recommendations")):
        linked = posixpath.normpath(str(folder / ORDER_LINKS[key]))
        assert linked == posixpath.normpath(str(catalog.get(name)._filepath)), (key, name)


def test_no_parameter_is_unused(context):
    used = set()
    for pipeline in pipelines.values():
        used |= {name.removeprefix("params:").split(".")[0] for name in pipeline.inputs() if name.startswith("params:")}
    unused = set(context.params) - used
    assert not unused, f"parameters read by no node: {sorted(unused)}"


def test_every_parameter_block_has_a_model(context):
    """Every block is a model: Kedro converted it (context.params), as the nodes reading it declare."""
    blocks = {key for key, value in context.params.items() if isinstance(value, dict | BaseModel)}
    assert blocks <= set(PARAMETER_MODELS), (
        f"parameter blocks without a pydantic model: {sorted(blocks - set(PARAMETER_MODELS))}"
    )
    unconverted = {
        key: type(context.params[key]).__name__
        for key in blocks
        if not isinstance(context.params[key], PARAMETER_MODELS[key])
    }
    assert not unconverted, f"blocks Kedro did not convert to their model (no node declares it): {unconverted}"


def test_every_node_declares_the_model_of_its_parameter_blocks():
    """A node reading ``params:<block>`` types that input as the block's model, so Kedro validates and converts it."""
    problems = []
    for node in pipelines["__default__"].nodes:
        hints = typing.get_type_hints(node.func)
        for dataset, argument in zip(node.inputs, inspect.signature(node.func).parameters, strict=False):
            block = dataset.removeprefix("params:")
            if (
                dataset.startswith("params:")
                and block in PARAMETER_MODELS
                and hints.get(argument) is not PARAMETER_MODELS[block]
            ):
                problems.append(
                    f"{node.name}: {argument} ({dataset}) is {hints.get(argument)}, not {PARAMETER_MODELS[block].__name__}"
                )
    assert not problems, "\n".join(problems)


# The planner's report lives at a fixed path a planner can bookmark (data/08_reporting/report.md
# and .html, figures/ and the embedded images beside them); every table it is built from is versioned.
FIXED_PATH_REPORTS = {"rpt_report_markdown", "rpt_report_html", "rpt_report_figures", "rpt_report_images"}


def test_models_and_reports_are_versioned(context):
    catalog = context.catalog
    for name in sorted(_pipeline_datasets() - FIXED_PATH_REPORTS):
        dataset = catalog.get(name)
        layer = (getattr(dataset, "metadata", None) or {}).get("kedro-viz", {}).get("layer")
        if layer in {"models", "reporting"}:
            assert getattr(dataset, "_version", None) is not None, f"{name} ({layer}) is not versioned"


LAYER_ORDER = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"]


def test_layers_follow_the_data_flow(context):
    """No node reads a later layer than it writes, so kedro-viz can draw the layers."""
    catalog = context.catalog

    def rank(name: str) -> int:
        layer = (getattr(catalog.get(name), "metadata", None) or {}).get("kedro-viz", {}).get("layer")
        return LAYER_ORDER.index(layer)

    problems = []
    for pipeline in pipelines.values():
        for node in pipeline.nodes:
            inputs = [name for name in node.inputs if not name.startswith("params:")]
            if inputs and node.outputs:
                latest_input = max(inputs, key=rank)
                earliest_output = min(node.outputs, key=rank)
                if rank(latest_input) > rank(earliest_output):
                    problems.append(f"{node.name}: reads {latest_input} but writes {earliest_output}")
    assert not problems, "\n".join(sorted(set(problems)))


# Dataset types by name prefix (the layer convention of conf/base/catalog.yml), and the
# explicit names outside it. An environment that swaps a type, or a new name outside
# the convention, fails here before a run writes anything.
PREFIX_TYPES = {
    "raw_": ("raw", {"pandas.ParquetDataset", "pandas.CSVDataset"}),
    "int_": ("intermediate", {"orpr_kedro.AtomicParquetDataset", "orpr_kedro.LaneBlockDataset"}),
    "prm_": ("primary", {"orpr_kedro.AtomicParquetDataset", "orpr_kedro.LaneBlockDataset"}),
    "ftr_": (
        "feature",
        {"orpr_kedro.AtomicParquetDataset", "orpr_kedro.AtomicPickleDataset", "orpr_kedro.LaneBlockDataset"},
    ),
    "mi_": ("model_input", {"orpr_kedro.AtomicParquetDataset", "orpr_kedro.LaneBlockDataset"}),
    "mdl_": ("models", {"orpr_kedro.AtomicPickleDataset", "orpr_kedro.TorchModelDataset"}),
    "mo_": ("model_output", {"orpr_kedro.AtomicParquetDataset", "orpr_kedro.AtomicCSVDataset"}),
    "rpt_": (
        "reporting",
        {
            "orpr_kedro.AtomicCSVDataset",
            "orpr_kedro.AtomicJSONDataset",
            "orpr_kedro.AtomicTextDataset",
            "matplotlib.MatplotlibDataset",
        },
    ),
    "plt_": ("reporting", {"matplotlib.MatplotlibDataset", "plotly.JSONDataset"}),
}
NAMED_TYPES = {
    "time_splits": ("primary", {"orpr_kedro.AtomicJSONDataset"}),
    "gurobi_licence": ("model_input", {"orpr_kedro.GurobiLicenceDataset"}),
    "raw_forecast": ("raw", {"orpr_kedro.OptionalDataset"}),
    # streamed in record batches; a client environment may load it whole with a pandas dataset
    "raw_sales": ("raw", {"orpr_kedro.ParquetSourceDataset", "pandas.ParquetDataset", "pandas.CSVDataset"}),
    "int_sales": ("intermediate", {"orpr_kedro.LaneBlockDataset"}),
}


def _short_type(dataset) -> str:
    """``pandas.ParquetDataset`` for kedro-datasets, ``orpr_kedro.<Class>`` for ours."""
    module = type(dataset).__module__
    if module.startswith("kedro_datasets."):
        return f"{module.split('.')[1]}.{type(dataset).__name__}"
    return f"{module.split('.')[0]}.{type(dataset).__name__}"


def _under(filepath: str, root: str) -> bool:
    root = root.split("://", 1)[-1]  # fsspec datasets keep the path without its protocol
    if "://" not in root and not Path(root).is_absolute():
        root = str(PROJECT_ROOT / root)
    return filepath == root or filepath.startswith(root.rstrip("/") + "/")


def test_every_default_pipeline_dataset_resolves_to_its_expected_type(context):
    """Each dataset of `kedro run` (factory-matched names included) in this environment:
    the type its name promises, its layer, no unresolved ``${...}`` or ``{placeholder}``,
    outputs under this environment's data_root and raw inputs at the globals' raw_files."""
    catalog = context.catalog
    data_root = context.config_loader["globals"]["data_root"]
    raw_files = context.config_loader["globals"]["raw_files"]
    names = {
        name for name in pipelines["__default__"].datasets() if not name.startswith("params:") and name != "parameters"
    }
    assert names, "the default pipeline has no datasets"
    problems = []
    for name in sorted(names):
        prefix = next((prefix for prefix in PREFIX_TYPES if name.startswith(prefix)), None)
        if name not in NAMED_TYPES and prefix is None:
            problems.append(f"{name}: no layer prefix ({', '.join(PREFIX_TYPES)}) and not in NAMED_TYPES")
            continue
        layer, types = NAMED_TYPES.get(name) or PREFIX_TYPES[prefix]
        dataset = catalog.get(name)
        kind = _short_type(dataset)
        if kind not in types:
            problems.append(f"{name}: {kind}, expected one of {sorted(types)}")
        found_layer = (getattr(dataset, "metadata", None) or {}).get("kedro-viz", {}).get("layer")
        if found_layer != layer:
            problems.append(f"{name}: layer {found_layer!r}, expected {layer!r}")
        shown = repr(dataset)
        if "${" in shown:
            problems.append(f"{name}: unresolved interpolation in {shown}")
        filepath = getattr(dataset, "_filepath", None)
        if filepath is None:
            continue
        filepath = str(filepath)
        if "{" in filepath or "}" in filepath:
            problems.append(f"{name}: unresolved placeholder in {filepath}")
        elif layer == "raw":
            if name not in raw_files or not _under(filepath, raw_files[name]):
                problems.append(f"{name}: {filepath} is not globals raw_files.{name} ({raw_files.get(name)})")
        elif not _under(filepath, data_root):
            problems.append(f"{name}: {filepath} is outside this environment's data_root {data_root}")
    assert not problems, "\n".join(problems)


def test_every_parameter_input_exists_and_validates(context):
    """Every ``params:`` input of the default pipeline is present and passes its model."""
    problems = []
    for name in sorted(pipelines["__default__"].inputs()):
        if not name.startswith("params:"):
            continue
        value, path = context.params, []
        for key in name.removeprefix("params:").split("."):
            path.append(key)
            if isinstance(value, BaseModel) and key in type(value).model_fields:
                value = getattr(value, key)
            elif isinstance(value, dict) and key in value:
                value = value[key]
            else:
                problems.append(f"{name}: no parameter {'.'.join(path)} in this environment")
                break
        else:
            block = name.removeprefix("params:").split(".")[0]
            if block in PARAMETER_MODELS:
                parse_params(block, context.params[block])  # raises ParameterError naming the key
            elif isinstance(value, dict):
                problems.append(f"{name}: a parameter block without a pydantic model")
    assert not problems, "\n".join(problems)


def test_every_environment_starts_on_the_pip_licence_without_credentials(context):
    licence = context.catalog.load("gurobi_licence")
    assert isinstance(licence, GurobiLicence)
    if not list((PROJECT_ROOT / "conf" / (context.env or "local")).glob("credentials*.yml")):
        assert licence.kind == "pip"  # conf/base/credential_defaults.yml
