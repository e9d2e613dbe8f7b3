"""Kedro validates the typed parameter blocks; the project keeps its one-line key-path messages."""

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner
from kedro.validation import ParameterValidationError

from orpr_kedro.core.params import PARAMETER_MODELS, ORLabelingParams, ParameterError, as_params
from tests.conftest import PROJECT_ROOT


def _context(**runtime_params):
    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, env="test", runtime_params=runtime_params or None) as session:
        return session.load_context()


def test_kedro_hands_the_nodes_each_block_as_its_model():
    context = _context()
    for block, model in PARAMETER_MODELS.items():
        assert isinstance(context.params[block], model), block
    assert isinstance(context.catalog.load("params:or_labeling"), ORLabelingParams)
    assert context.catalog.load("params:or_labeling.solver.mip_gap") == context.params["or_labeling"].solver.mip_gap


def test_kedro_s_error_becomes_one_line_per_key_path():
    with pytest.raises(ParameterError) as caught:
        _context(or_labeling={"solver": {"mip_gap": -1}}, recommend={"batch_size": 0})
    assert str(caught.value).splitlines() == [
        "Invalid parameters:",
        "parameter 'or_labeling.solver.mip_gap': Input should be greater than or equal to 0 (got -1)",
        "parameter 'recommend.batch_size': Input should be greater than or equal to 1 (got 0)",
    ]
    assert isinstance(caught.value.__cause__, ParameterValidationError)  # Kedro's own, shown with --verbose


def test_a_misspelt_block_names_the_closest_key():
    with pytest.raises(
        ParameterError, match="unknown top-level parameter block 'or_labelling' in the runtime --params"
    ):
        _context(or_labelling={"solver": {"mip_gap": 0.01}})


def _kind(params: ORLabelingParams) -> str:
    return type(params).__name__ + ":" + type(as_params(ORLabelingParams, params)).__name__


def test_a_runner_on_a_plain_catalog_hands_the_node_the_dict():
    """Only the session's context converts: a test's catalog passes the dict, which ``as_params`` validates."""
    catalog = DataCatalog({"params:or_labeling": MemoryDataset({"mode": "scenario"})})
    outputs = SequentialRunner().run(Pipeline([node(_kind, "params:or_labeling", "kind")]), catalog)
    assert outputs["kind"].load() == "dict:ORLabelingParams"
