"""Run manifests: what each ``kedro run`` wrote, and versions read from completed runs only.

Every run writes ``<data_root>/08_reporting/run_manifests/<run_id>.json``: the run
id (Kedro's session id, which is also the save version of every versioned dataset
the run writes), the environment, the pipelines, the git commit of the project
(when it is a git checkout), the seed, the status (``completed`` or ``failed``
with the error), the version of every versioned dataset it saved and the unversioned
ones it replaced with the sha256 of each file as written (their version: a later
run, or a person, can tell whether a table is still the one a run wrote).

A run that reads a versioned dataset it does not write itself (``kedro run
--pipeline rl_alignment`` reads ``mdl_foundation_model``) loads, by default, the
version written by the newest *completed* run that wrote it, not the newest file:
a run that was killed or failed after saving some models never hands a mix of its
half-finished outputs and older ones to the next stage. ``--load-versions`` still
wins, and a dataset no completed run lists (outputs from before manifests existed)
falls back to Kedro's newest version.

Why this and not something else: Kedro gives every dataset of one run the same
save version, so "one completed run" is a set of names and one version string; a
manifest written at the end of the run is the commit record of that set. Pinning
happens in ``before_pipeline_run`` through the catalog's public
``get(name, version=...)``, for free inputs of the run only, so datasets a run
writes and then reads stay its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fsspec
from kedro.framework.hooks import hook_impl
from kedro.io import Version
from kedro.io.core import AbstractVersionedDataset

logger = logging.getLogger(__name__)

MANIFEST_FOLDER = "08_reporting/run_manifests"


def git_commit(project_path: Path) -> str | None:
    """The checked-out commit of the project (with ``+dirty`` for local changes), or None."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_path,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def completed_versions(manifests: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """dataset name -> (version, run id) from the newest completed run that wrote it.

    >>> completed_versions([
    ...     {"run_id": "r1", "status": "completed", "versioned_outputs": {"a": "r1", "b": "r1"}},
    ...     {"run_id": "r2", "status": "failed", "versioned_outputs": {"a": "r2"}},
    ... ])
    {'a': ('r1', 'r1'), 'b': ('r1', 'r1')}
    """
    chosen: dict[str, tuple[str, str]] = {}
    for manifest in sorted(manifests, key=lambda item: str(item.get("run_id", ""))):
        if manifest.get("status") != "completed":
            continue
        for name, version in (manifest.get("versioned_outputs") or {}).items():
            chosen[name] = (str(version), str(manifest["run_id"]))
    return chosen


def _content_hash(dataset: Any) -> str | None:
    """``sha256:<hex>`` of a single-file dataset as saved (the version of an unversioned table), else None."""
    filepath, fs = getattr(dataset, "_filepath", None), getattr(dataset, "_fs", None)
    if filepath is None or fs is None:
        return None
    path = str(filepath)
    try:
        if not fs.isfile(path):
            return None  # a folder of figures, for example
        digest = hashlib.sha256()
        with fs.open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return f"sha256:{digest.hexdigest()}"


def _save_version(dataset: Any) -> str | None:
    """The save version of a versioned dataset (``versioned: true``), None for any other."""
    if not isinstance(dataset, AbstractVersionedDataset):
        return None
    return dataset.resolve_save_version()


class RunManifestHooks:
    """Write a manifest per run; read versioned inputs from completed runs (module docstring)."""

    def __init__(self) -> None:
        self._folder: str | None = None
        self._project_path = Path.cwd()
        self._seed: Any = None
        self._reset()

    def _reset(self) -> None:
        self._catalog: Any = None
        self._record: dict[str, Any] = {}
        self._versioned: dict[str, str] = {}
        self._replaced: dict[str, str | None] = {}
        self._pinned: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Where this environment keeps its manifests."""
        data_root = str(context.config_loader["globals"].get("data_root", "data"))
        self._project_path = Path(context.project_path)
        if "://" not in data_root and not Path(data_root).is_absolute():
            data_root = str(self._project_path / data_root)
        self._folder = f"{data_root.rstrip('/')}/{MANIFEST_FOLDER}"
        self._seed = context.params.get("seed")

    def _manifests(self) -> list[dict[str, Any]]:
        if self._folder is None:
            return []
        fs, path = fsspec.core.url_to_fs(self._folder)
        found = []
        for file in sorted(fs.glob(f"{path}/*.json")):
            try:
                with fs.open(file, "r") as stream:
                    found.append(json.load(stream))
            except (OSError, ValueError):
                logger.warning("Run manifest %s is unreadable; ignored", file)
        return found

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Pin the free versioned inputs of this run to the newest completed run's versions."""
        self._reset()
        self._catalog = catalog
        self._record = {
            "run_id": run_params.get("run_id"),
            "env": run_params.get("env"),
            "pipelines": run_params.get("pipeline_names"),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        explicit = set(run_params.get("load_versions") or {})
        chosen = completed_versions(self._manifests())
        for name in sorted(pipeline.inputs()):
            if name in explicit or name not in chosen or name not in catalog:
                continue
            dataset = catalog.get(name)
            if _save_version(dataset) is None:
                continue
            version, run_id = chosen[name]
            pinned = catalog.get(name, version=Version(version, dataset.resolve_save_version()))
            if not pinned.exists():
                logger.warning(
                    "%s: version %s of completed run %s is gone; loading the newest version", name, version, run_id
                )
                continue
            catalog[name] = pinned
            self._pinned[name] = version
            logger.info("%s: loading version %s, written by completed run %s", name, version, run_id)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Note what the run wrote."""
        if self._catalog is None:
            return
        dataset = self._catalog.get(dataset_name)
        version = _save_version(dataset)
        if version is not None:
            self._versioned[dataset_name] = version
        elif dataset is not None and type(dataset).__name__ != "MemoryDataset":
            self._replaced[dataset_name] = _content_hash(dataset)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Commit the run: its manifest says ``completed``."""
        self._write(run_params, "completed", None)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any]) -> None:
        """Record a failed run, so its outputs are never picked as a completed run's."""
        self._write(run_params, "failed", f"{type(error).__name__}: {error}"[:2000])

    def _write(self, run_params: dict[str, Any], status: str, error: str | None) -> None:
        if self._folder is None or self._catalog is None:
            return
        if not self._versioned and not self._replaced and status == "completed":
            self._reset()
            return  # nothing written (e.g. an empty pipeline): nothing to record
        manifest = {
            **self._record,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "status": status,
            "error": error,
            "git_commit": git_commit(self._project_path),
            "seed": self._seed,
            "runtime_params": run_params.get("runtime_params") or {},
            "load_versions": {**self._pinned, **(run_params.get("load_versions") or {})},
            "versioned_outputs": dict(sorted(self._versioned.items())),
            "replaced_outputs": dict(sorted(self._replaced.items())),
        }
        fs, path = fsspec.core.url_to_fs(self._folder)
        fs.makedirs(path, exist_ok=True)
        target = f"{path}/{manifest['run_id']}.json"
        partial = f"{target}.partial"
        with fs.open(partial, "w") as stream:
            json.dump(manifest, stream, indent=2, default=str)
        fs.mv(partial, target)
        logger.info("Run %s %s; manifest %s", manifest["run_id"], status, target)
        self._reset()
