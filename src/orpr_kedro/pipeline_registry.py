"""Project pipelines."""

from __future__ import annotations

import importlib.resources

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT = "__default__"
REPORT = "report"  # the namespace of the nodes that write the planner's report


def pipeline_names() -> list[str]:
    """The names ``kedro run --pipelines`` accepts: ``__default__`` and one per package under ``orpr_kedro.pipelines``.

    Read from the package folders, without importing them (quick, for an error message).
    """
    package = importlib.resources.files("orpr_kedro.pipelines")
    stages = sorted(
        entry.name
        for entry in package.iterdir()
        if entry.is_dir() and not entry.name.startswith(("_", ".")) and entry.joinpath("__init__.py").is_file()
    )
    return [DEFAULT, *stages]


def _namespaced(stage: str, pipeline: Pipeline) -> Pipeline:
    """The stage's nodes in the namespace ``stage``, the nodes that write the planner's report in ``report``.

    The report nodes (all outputs ``rpt_report_*``) read the tables of every stage,
    reporting tables included: in the stage's box they would make it read the
    reporting layer and write model outputs, a cycle that turns kedro-viz's layers off.
    """
    report = [
        node for node in pipeline.nodes if node.outputs and all(o.startswith("rpt_report_") for o in node.outputs)
    ]
    work = [node for node in pipeline.nodes if node not in report]
    parts = [Pipeline(work, namespace=stage, prefix_datasets_with_namespace=False)]
    if report:
        parts.append(Pipeline(report, namespace=REPORT, prefix_datasets_with_namespace=False))
    return sum(parts, Pipeline([]))


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every package under ``orpr_kedro.pipelines`` is one pipeline; ``__default__``
    chains them all in data-flow order. Each pipeline's nodes carry its name as their
    namespace (the nodes writing the planner's report: ``report``), so that kedro-viz
    collapses a stage into one box and ``kedro run --namespaces or_labeling`` runs one
    stage; the dataset names stay as the catalog has them
    (``prefix_datasets_with_namespace=False``). Node names read ``<namespace>.<node>``,
    e.g. ``or_labeling.create_or_labels``.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    found = find_pipelines(raise_errors=True)
    pipelines = {name: _namespaced(name, pipeline) for name, pipeline in found.items() if name != DEFAULT}
    pipelines[DEFAULT] = sum(pipelines.values(), Pipeline([]))
    return pipelines
