"""Run manifests: what each ``kedro run`` wrote, and versions read from completed runs only.

Every run writes ``<data_root>/08_reporting/run_manifests/<run_id>.json``: the run
id (Kedro's session id, which is also the save version of every versioned dataset
the run writes), the environment, the pipelines, the git commit of the project
(when it is a git checkout), the seed, the status (``completed`` or ``failed``
with the error), the version of every versioned dataset it saved and the unversioned
ones it published with the sha256 of each file (their version: a later run, or a
person, can tell whether a table is still the one a run wrote; a folder of figures
has none). A failed run publishes no unversioned output: its manifest lists them
under ``unpublished_outputs`` and names the ``staging_folder`` that holds them.

The unversioned outputs are staged while the run lasts and published together when
it completes, the manifest last (:mod:`orpr_kedro.staging`): an interrupted or
failed run leaves every earlier table as it was, never the early layers of the new
run next to the later ones of the old.

A run that reads a versioned dataset it does not write itself (``kedro run
--pipelines rl_alignment`` reads ``mdl_foundation_model``) loads, by default, the
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
writes and then reads stay its own. What a run wrote is read from the files at its
end, not from save hooks, so every runner (``ParallelRunner`` saves in worker
processes) gets the same manifest.
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

from orpr_kedro.staging import RunStaging, quiet_replacement, recover_leftovers, write_json_atomically

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


def _file_hash(url: str) -> str | None:
    """``sha256:<hex>`` of a file (the version of an unversioned table), None for a folder of figures."""
    fs, path = fsspec.core.url_to_fs(url)
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
    """Stage a run's tables, publish them with its manifest; read versioned inputs from completed runs.

    See the module docstring for the manifest and :mod:`orpr_kedro.staging` for the staging
    of the unversioned outputs: the manifest is the last file a completed run writes.
    """

    def __init__(self) -> None:
        self._folder: str | None = None
        self._data_root: str | None = None
        self._project_path = Path.cwd()
        self._seed: Any = None
        self._reset()

    def _reset(self) -> None:
        self._catalog: Any = None
        self._record: dict[str, Any] = {}
        self._pinned: dict[str, str] = {}
        self._staging: RunStaging | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Where this environment keeps its manifests."""
        data_root = str(context.config_loader["globals"].get("data_root", "data"))
        self._project_path = Path(context.project_path)
        if "://" not in data_root and not Path(data_root).is_absolute():
            data_root = str(self._project_path / data_root)
        self._data_root = data_root.rstrip("/")
        self._folder = f"{self._data_root}/{MANIFEST_FOLDER}"
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
    def after_catalog_created(self, catalog: Any, load_versions: dict[str, str] | None) -> None:
        """Every catalog, a run's or a notebook's, loads versioned datasets from completed runs.

        Outside a run (``catalog.load`` in a notebook, kedro-viz) this is what keeps a failed
        run's newer models and reports from being shown next to a completed run's tables. A
        run un-pins its own outputs again in ``before_pipeline_run``: it reads what it writes.
        """
        explicit = set(load_versions or {})
        for name, (version, _run_id) in sorted(completed_versions(self._manifests()).items()):
            if name in explicit or name not in catalog:
                continue
            dataset = catalog.get(name)
            if _save_version(dataset) is None:
                continue
            pinned = catalog.get(name, version=Version(version, dataset.resolve_save_version()))
            if pinned.exists():  # a version deleted since: the newest one, as Kedro would load
                with quiet_replacement():
                    catalog[name] = pinned

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Finish what earlier runs left; pin the free versioned inputs; stage the unversioned outputs."""
        self._reset()
        self._catalog = catalog
        run_id = str(run_params.get("run_id"))
        self._record = {
            "run_id": run_params.get("run_id"),
            "env": run_params.get("env"),
            "pipelines": run_params.get("pipeline_names"),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if self._data_root is not None:
            recover_leftovers(self._data_root, run_id)  # may publish a completed run: before the pins
        self._unpin_outputs(run_params, pipeline, catalog)
        self._pin_inputs(run_params, pipeline, catalog)
        if self._data_root is not None:
            self._staging = RunStaging(self._data_root, run_id)
            self._staging.stage(catalog, pipeline.all_outputs())

    @staticmethod
    def _unpin_outputs(run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """A dataset the run writes loads the run's own version, not the one ``after_catalog_created`` chose."""
        explicit = set(run_params.get("load_versions") or {})
        for name in sorted(pipeline.all_outputs() - explicit):
            dataset = catalog.get(name)
            version = getattr(dataset, "_version", None)
            if _save_version(dataset) is None or version is None or version.load is None:
                continue
            with quiet_replacement():
                catalog[name] = catalog.get(name, version=Version(None, version.save))

    def _pin_inputs(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
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
            with quiet_replacement():
                catalog[name] = pinned
            self._pinned[name] = version
            logger.info("%s: loading version %s, written by completed run %s", name, version, run_id)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Commit the run: publish its staged outputs, then its manifest, which says ``completed``."""
        if self._folder is None or self._catalog is None:
            return
        staging = self._staging
        versioned = _versioned_outputs(pipeline, catalog)
        written = staging.written() if staging is not None else []
        if not versioned and not written:
            if staging is not None:
                staging.restore()
                staging.remove()
            self._reset()
            return  # nothing written (e.g. an empty pipeline): nothing to record
        replaced = {output.name: _file_hash(output.staged) for output in written}
        manifest = self._manifest(run_params, "completed", None, versioned, replaced)
        target = self._manifest_url(manifest)
        if staging is not None:
            staging.publish(manifest, target)
        else:
            _write_manifest(manifest, target)
        logger.info("Run %s completed; manifest %s", manifest["run_id"], target)
        self._reset()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Record a failed run, so its outputs are never picked as a completed run's; publish none of them."""
        if self._folder is None or self._catalog is None:
            return
        staging = self._staging
        manifest = self._manifest(
            run_params, "failed", f"{type(error).__name__}: {error}"[:2000], _versioned_outputs(pipeline, catalog), {}
        )
        if staging is not None:
            manifest["unpublished_outputs"] = sorted(output.name for output in staging.written())
            manifest["staging_folder"] = staging.folder if manifest["unpublished_outputs"] else None
            staging.abandon(f"failed ({type(error).__name__})")
        target = self._manifest_url(manifest)
        _write_manifest(manifest, target)
        logger.info("Run %s failed; manifest %s", manifest["run_id"], target)
        self._reset()

    def _manifest(
        self,
        run_params: dict[str, Any],
        status: str,
        error: str | None,
        versioned: Mapping[str, str],
        replaced: Mapping[str, str | None],
    ) -> dict[str, Any]:
        return {
            **self._record,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "status": status,
            "error": error,
            "git_commit": git_commit(self._project_path),
            "seed": self._seed,
            "runtime_params": run_params.get("runtime_params") or {},
            "load_versions": {**self._pinned, **(run_params.get("load_versions") or {})},
            "versioned_outputs": dict(sorted(versioned.items())),
            "replaced_outputs": dict(sorted(replaced.items())),
        }

    def _manifest_url(self, manifest: Mapping[str, Any]) -> str:
        return f"{self._folder}/{manifest['run_id']}.json"


def _versioned_outputs(pipeline: Any, catalog: Any) -> dict[str, str]:
    """name -> save version of every versioned output of ``pipeline`` that the run has written.

    Read from the files, not from save hooks: ``ParallelRunner`` calls those in its
    worker processes, where this hook's instance never sees them.
    """
    found = {}
    for name in sorted(pipeline.all_outputs()):
        dataset = catalog.get(name)
        version = _save_version(dataset)
        if version is not None and catalog.get(name, version=Version(version, version)).exists():
            found[name] = version
    return found


def _write_manifest(manifest: Mapping[str, Any], url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    write_json_atomically(fs, path, manifest)
