"""Project pipelines."""

from __future__ import annotations

import importlib.resources

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT = "__default__"


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


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every package under ``orpr_kedro.pipelines`` is one pipeline; ``__default__``
    chains them all in data-flow order. Each pipeline's nodes carry its name as their
    namespace, so that kedro-viz collapses a stage into one box and ``kedro run
    --namespaces or_labeling`` runs one stage; the dataset names stay as the catalog
    has them (``prefix_datasets_with_namespace=False``). Node names read
    ``<pipeline>.<node>``, e.g. ``or_labeling.create_or_labels``.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    found = find_pipelines(raise_errors=True)
    pipelines = {
        name: Pipeline(pipeline, namespace=name, prefix_datasets_with_namespace=False)
        for name, pipeline in found.items()
        if name != DEFAULT
    }
    pipelines[DEFAULT] = sum(pipelines.values(), Pipeline([]))
    return pipelines
