"""Whole-run atomicity for the unversioned file outputs: a run's tables appear together or not at all.

An unversioned table (``int_*``, ``prm_*``, ``ftr_*``, ``mi_*``, ``mo_*``, the report at
its fixed path) keeps one copy. Written in place, a run that fails in ``evaluation``
would leave the tables of ``data_processing`` and ``or_labeling`` from the new data next
to the later tables of the old run. Instead, while a run lasts, every unversioned file
output of its pipeline is saved under ``<data_root>/.staging/<run_id>/`` (same relative
path), and the run's own later nodes read it there (:class:`StagedDataset`). When the
run completes, each staged file is renamed into place and the run manifest is written
last; a run that fails, or is killed, publishes nothing and leaves every earlier output
as it was.

The steps of a completed run, in order:

1. ``commit.json`` (the completed run's manifest) is written into the staging folder:
   from here on the run *will* be published;
2. every staged output is renamed onto its target (``os.rename`` on a local file
   system: one step per file, no copy; a folder output replaces the old folder);
3. the manifest is written to ``08_reporting/run_manifests``, then the staging folder
   is removed.

A run killed between 1 and 3 is finished by the next run (:func:`recover_leftovers`
repeats 2 and 3; each step can run twice). A run killed before 1 leaves only its
staging folder, which the next run removes once its owner (``run.json``: process id,
host) is no longer running. A failed run keeps its staging folder until the next run,
for inspection, and says so in the log.

Not staged: versioned datasets (a run writes a new version folder; the manifest says
which versions come from completed runs: :mod:`orpr_kedro.manifest`), memory datasets,
and files written outside the catalog (the RL checkpoints, resume state by design).
On object stores a "rename" is a copy and a delete, so publishing costs a copy there.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import os
import posixpath
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, AbstractVersionedDataset, get_filepath_str

logger = logging.getLogger(__name__)

STAGING_FOLDER = ".staging"
PLAN_FILE = "run.json"  # who owns the folder and what it stages: written before the first node
COMMIT_FILE = "commit.json"  # the completed run's manifest: once present, the run is published


class StagedDataset(AbstractDataset[Any, Any]):
    """A file output redirected to the run's staging folder; reads see the staged file first.

    ``save`` writes the staged copy; ``load`` reads it once written, else the published
    file (a node skipped by ``--only-missing-outputs`` keeps its published output);
    ``exists`` is true for either. Built by :class:`RunStaging` only.
    """

    def __init__(self, *, published: AbstractDataset, staged: AbstractDataset) -> None:
        """Wrap the catalog's dataset (``published``) and its copy that points into the staging folder."""
        self._published = published
        self._staged = staged
        self.metadata = getattr(published, "metadata", None)

    def _describe(self) -> dict[str, Any]:
        return {"staged": self._staged._describe(), "published": self._published._describe()}

    def load(self) -> Any:
        return (self._staged if self._staged.exists() else self._published).load()

    def save(self, data: Any) -> None:
        self._staged.save(data)

    def _exists(self) -> bool:
        return self._staged.exists() or self._published.exists()

    def _release(self) -> None:
        self._staged.release()
        self._published.release()


@dataclass(frozen=True)
class StagedOutput:
    """One output of the run: where it is written while the run lasts, and where it is published."""

    name: str
    staged: str  # URL (a local path without protocol)
    target: str


class _QuietReplacement(logging.Filter):
    """Drop the catalog's "Replacing dataset" warning for replacements made on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Replacing dataset")


@contextlib.contextmanager
def quiet_replacement() -> Iterator[None]:
    """Replace catalog entries (``catalog[name] = dataset``) without one warning per entry."""
    catalog_logger = logging.getLogger("kedro.io.data_catalog")
    quiet = _QuietReplacement()
    catalog_logger.addFilter(quiet)
    try:
        yield
    finally:
        catalog_logger.removeFilter(quiet)


def _is_file_output(dataset: Any) -> bool:
    """A dataset that keeps its data in one file or folder of an fsspec file system."""
    return all(getattr(dataset, attribute, None) is not None for attribute in ("_filepath", "_fs", "_protocol"))


def _url(path: str, protocol: str) -> str:
    return get_filepath_str(PurePosixPath(path), protocol)


class RunStaging:
    """The staging folder of one run: stage its outputs, then publish them, or leave them unpublished."""

    def __init__(self, data_root: str, run_id: str) -> None:
        """Stage under ``<data_root>/.staging/<run_id>``; ``data_root`` is a local path or an fsspec URL."""
        self.run_id = run_id
        self.root = f"{data_root.rstrip('/')}/{STAGING_FOLDER}"
        self.folder = f"{self.root}/{run_id}"
        self._fs, self._folder_path = fsspec.core.url_to_fs(self.folder)
        self._root_path = posixpath.normpath(fsspec.core.url_to_fs(data_root)[1])
        self._root_protocol = _protocol(self._fs)
        self.outputs: dict[str, StagedOutput] = {}
        self._originals: dict[str, AbstractDataset] = {}
        self._catalog: Any = None

    def _staged_path(self, dataset: Any) -> str:
        """Where ``dataset``'s file is written during the run (a path without protocol)."""
        target = posixpath.normpath(str(dataset._filepath))
        if dataset._protocol == self._root_protocol and target.startswith(f"{self._root_path}/"):
            return f"{self._folder_path}/{target[len(self._root_path) + 1 :]}"
        # outside the data root: a staging folder next to the target keeps the rename on its file system
        parent, name = posixpath.split(target)
        return f"{parent}/{STAGING_FOLDER}/{self.run_id}/{name}"

    def stage(self, catalog: Any, names: Iterable[str]) -> None:
        """Point every unversioned file output among ``names`` at the staging folder; record the plan.

        Outputs that are not files (a database table, say) are written in place, with a
        warning that names them: a failed run can leave those changed.
        """
        self._catalog = catalog
        in_place = []
        staged: dict[str, AbstractDataset] = {}
        for name in sorted(names):
            dataset = catalog.get(name)
            if dataset is None or type(dataset).__name__ in {"MemoryDataset", "SharedMemoryDataset"}:
                continue  # memory: nothing outlives the run
            if isinstance(dataset, AbstractVersionedDataset) and dataset.resolve_save_version() is not None:
                continue  # versioned: a new version folder, chosen by later runs only once the run completed
            if not _is_file_output(dataset):
                in_place.append(name)
                continue
            path = self._staged_path(dataset)
            twin = copy.copy(dataset)
            twin._filepath = PurePosixPath(path)
            staged[name] = StagedDataset(published=dataset, staged=twin)
            self.outputs[name] = StagedOutput(
                name, _url(path, dataset._protocol), _url(str(dataset._filepath), dataset._protocol)
            )
            self._originals[name] = dataset
        if in_place:
            logger.warning(
                "Not file datasets, written in place (a failed run can leave them changed): %s", ", ".join(in_place)
            )
        if not staged:
            return
        self._write_json(PLAN_FILE, self._plan("running"))
        with quiet_replacement():
            for name, dataset in staged.items():
                catalog[name] = dataset
        logger.info("Run %s stages %d unversioned output(s) in %s", self.run_id, len(staged), self.folder)

    def _plan(self, status: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": status,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "outputs": [vars(output) for output in self.outputs.values()],
        }

    def _write_json(self, name: str, content: Mapping[str, Any]) -> None:
        self._fs.makedirs(self._folder_path, exist_ok=True)
        write_json_atomically(self._fs, f"{self._folder_path}/{name}", content)

    def written(self) -> list[StagedOutput]:
        """The staged outputs the run has written so far."""
        found = []
        for output in self.outputs.values():
            fs, path = fsspec.core.url_to_fs(output.staged)
            if fs.exists(path):
                found.append(output)
        return found

    def restore(self) -> None:
        """Give the catalog back its own datasets (the published paths)."""
        if self._catalog is None:
            return
        with quiet_replacement():
            for name, dataset in self._originals.items():
                self._catalog[name] = dataset
        self._catalog = None

    def commit(self, manifest: Mapping[str, Any], manifest_url: str) -> None:
        """Record the run as completed (``commit.json``): from here on its outputs will be published."""
        self.restore()
        if self.outputs:
            self._write_json(COMMIT_FILE, {"manifest": manifest, "manifest_url": manifest_url})

    def publish(self, manifest: Mapping[str, Any], manifest_url: str) -> None:
        """Commit the completed run, move its outputs into place, then write its manifest (in that order)."""
        self.commit(manifest, manifest_url)
        _publish(list(self.outputs.values()), manifest, manifest_url, self.run_id)
        self.remove()

    def abandon(self, reason: str) -> None:
        """Leave the failed run's outputs unpublished: its staging folder stays, marked, for inspection."""
        self.restore()
        if not self.outputs:
            return
        written = self.written()
        if not written:
            self.remove()
            logger.error("Run %s %s; it had written no unversioned output: none was changed", self.run_id, reason)
            return
        plan = self._plan("failed")
        plan["pid"] = None  # no longer running: the next run may remove the folder
        self._write_json(PLAN_FILE, plan)
        logger.error(
            "Run %s %s: none of its %d unversioned output(s) was published, every earlier output is as it "
            "was; they stay in %s for inspection until the next run removes them",
            self.run_id,
            reason,
            len(written),
            self.folder,
        )

    def remove(self) -> None:
        """Delete the staging folder (and those next to outputs outside the data root)."""
        _remove_staging(self._fs, self._folder_path, self.outputs.values(), self.run_id)


def _protocol(fs: Any) -> str:
    protocol = fs.protocol
    return protocol[0] if isinstance(protocol, tuple | list) else protocol


def write_json_atomically(fs: Any, path: str, content: Mapping[str, Any]) -> None:
    """Write ``content`` as JSON to a temporary file beside ``path`` and rename it into place."""
    partial = f"{path}.partial"
    with fs.open(partial, "w") as stream:
        json.dump(content, stream, indent=2, default=str)
    fs.mv(partial, path)


def _replace(staged: str, target: str, run_id: str) -> None:
    """Move ``staged`` onto ``target``; each step may be repeated after an interruption."""
    fs, staged_path = fsspec.core.url_to_fs(staged)
    target_path = fsspec.core.url_to_fs(target)[1]
    displaced = f"{target_path}.replaced-{run_id}"
    if fs.exists(staged_path):
        fs.makedirs(posixpath.dirname(target_path), exist_ok=True)
        if fs.isdir(staged_path):
            # a folder (a dict of figures) cannot be renamed over another: move the old one aside first
            if fs.exists(target_path):
                if fs.exists(displaced):
                    fs.rm(displaced, recursive=True)
                fs.mv(target_path, displaced, recursive=True)
            fs.mv(staged_path, target_path, recursive=True)
        else:
            fs.mv(staged_path, target_path)
    if fs.exists(displaced):
        fs.rm(displaced, recursive=True)


def _publish(outputs: list[StagedOutput], manifest: Mapping[str, Any], manifest_url: str, run_id: str) -> None:
    for output in outputs:
        _replace(output.staged, output.target, run_id)
    fs, path = fsspec.core.url_to_fs(manifest_url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    write_json_atomically(fs, path, manifest)
    if outputs:
        logger.info("Run %s published %d unversioned output(s)", run_id, len(outputs))


def _remove_staging(fs: Any, folder: str, outputs: Iterable[StagedOutput], run_id: str) -> None:
    marker = f"/{STAGING_FOLDER}/{run_id}/"
    for output in outputs:  # the staging folders next to outputs outside the data root
        output_fs, staged = fsspec.core.url_to_fs(output.staged)
        if not staged.startswith(f"{folder}/") and marker in staged:
            _remove_run_folder(output_fs, staged[: staged.index(marker) + len(marker) - 1])
    _remove_run_folder(fs, folder)


def _remove_run_folder(fs: Any, folder: str) -> None:
    """Delete one run's staging folder, and the ``.staging`` folder above it once it is empty."""
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    root = posixpath.dirname(folder)
    with contextlib.suppress(OSError):  # another run's folder is still there
        if fs.exists(root) and not fs.ls(root, detail=False):
            fs.rmdir(root)


def _owner_running(plan: Mapping[str, Any], current_run: str) -> bool:
    """Whether the process that owns a staging folder may still be running it."""
    pid = plan.get("pid")
    if plan.get("status") != "running" or not isinstance(pid, int):
        return False
    if plan.get("host") != socket.gethostname():
        return True  # another machine's run: no way to tell from here
    if pid == os.getpid():
        return plan.get("run_id") == current_run  # an earlier run of this process ended without a hook
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_leftovers(data_root: str, current_run: str) -> None:
    """Finish or remove what earlier runs left in ``<data_root>/.staging``.

    A folder with ``commit.json`` is a completed run killed while publishing: its
    outputs are moved into place and its manifest written, as it would have done. A
    folder without it belongs to a run that failed or was killed before it completed:
    removed (nothing of it was ever published), unless its owner may still be running.
    """
    root = f"{data_root.rstrip('/')}/{STAGING_FOLDER}"
    fs, root_path = fsspec.core.url_to_fs(root)
    if not fs.exists(root_path):
        return
    for entry in sorted(fs.ls(root_path, detail=False)):
        folder = entry.rstrip("/")
        run_id = posixpath.basename(folder)
        if run_id == current_run or not fs.isdir(folder):
            continue
        plan = _read_json(fs, f"{folder}/{PLAN_FILE}") or {}
        outputs = [StagedOutput(**item) for item in plan.get("outputs", [])]
        commit = _read_json(fs, f"{folder}/{COMMIT_FILE}")
        if _owner_running(plan, current_run):
            logger.warning(
                "Staging folder %s belongs to run %s, which may still be running (process %s on %s); left alone",
                folder,
                run_id,
                plan.get("pid"),
                plan.get("host"),
            )
        elif commit is not None:
            logger.warning(
                "Run %s completed but was stopped while publishing its outputs; publishing them now from %s",
                run_id,
                folder,
            )
            _publish(outputs, commit["manifest"], commit["manifest_url"], run_id)
            _remove_staging(fs, folder, outputs, run_id)
        else:
            logger.warning(
                "Removing %s: the unpublished outputs of run %s, which %s before it completed",
                folder,
                run_id,
                "failed" if plan.get("status") == "failed" else "was interrupted",
            )
            _remove_staging(fs, folder, outputs, run_id)


def _read_json(fs: Any, path: str) -> dict[str, Any] | None:
    try:
        with fs.open(path, "r") as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.warning("%s is unreadable; ignored", path)
        return None


__all__ = [
    "RunStaging",
    "StagedDataset",
    "StagedOutput",
    "quiet_replacement",
    "recover_leftovers",
    "write_json_atomically",
]
