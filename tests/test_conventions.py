"""Conventions over the whole catalog and parameters, in every environment."""

from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

from orpr_kedro.core.params import PARAMETER_MODELS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ["base", "test", "staging", "prod"]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def context(request):
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
    raw_files = context.params["data_processing"]["raw_files"]
    for name, path in raw_files.items():
        assert str(catalog.get(name)._filepath).endswith(path.lstrip("/")), name


def test_no_parameter_is_unused(context):
    used = set()
    for pipeline in pipelines.values():
        used |= {name.removeprefix("params:").split(".")[0] for name in pipeline.inputs() if name.startswith("params:")}
    unused = set(context.params) - used
    assert not unused, f"parameters read by no node: {sorted(unused)}"


def test_every_parameter_block_has_a_model(context):
    blocks = {key for key, value in context.params.items() if isinstance(value, dict)}
    assert blocks <= set(PARAMETER_MODELS), f"parameter blocks without a pydantic model: {sorted(blocks - set(PARAMETER_MODELS))}"


def test_models_and_reports_are_versioned(context):
    catalog = context.catalog
    for name in sorted(_pipeline_datasets()):
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
