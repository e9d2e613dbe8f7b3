"""Project datasets.

``TorchModelDataset`` saves and loads model payloads with torch;
``GurobiLicenceDataset`` hands the ``gurobi`` credentials to the OR solver;
``AtomicParquetDataset``, ``AtomicCSVDataset``, ``AtomicPickleDataset``,
``AtomicJSONDataset`` and ``AtomicTextDataset`` are the kedro-datasets types of the
same name without the prefix, with one change: a save writes a temporary file next
to the target and renames it into place. A run killed in the middle of a save
leaves the previous file (or no file), never a truncated one.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Mapping
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
import torch
from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.pickle import PickleDataset
from kedro_datasets.text import TextDataset

from orpr_kedro.core.data.blocks import BLOCK_FILE, LaneBlocks
from orpr_kedro.core.data.sources import ParquetSource
from orpr_kedro.core.optimization import GurobiLicence

__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicParquetDataset",
    "AtomicPickleDataset",
    "AtomicTextDataset",
    "GurobiLicenceDataset",
    "LaneBlockDataset",
    "OptionalDataset",
    "ParquetSourceDataset",
    "TorchModelDataset",
]


class _WriteThenRename:
    """Mixin for a kedro-datasets file dataset: save to a temporary file, then rename it.

    The dataset's own ``save`` writes to whatever ``_get_save_path`` returns; here
    that is a ``.partial-<random>`` file in the target's folder while the save runs,
    and the rename afterwards replaces the target in one step on a local file system
    (``os.rename``). Object stores have no rename: there ``fsspec`` copies, so readers
    still never see a half-written target, but the copy is not atomic.
    """

    _partial_path: PurePosixPath | None = None

    def _get_save_path(self) -> PurePosixPath:
        if self._partial_path is not None:
            return self._partial_path
        return super()._get_save_path()  # type: ignore[misc]

    def save(self, data: Any) -> None:
        target = self._get_save_path()
        partial = target.with_name(f"{target.name}.partial-{uuid.uuid4().hex}")
        fs, protocol = self._fs, self._protocol  # type: ignore[attr-defined]
        inner = super().save  # type: ignore[misc]
        # Kedro wraps this class's save (versioning, error messages); the parent's own
        # wrapper would run a second time around the partial file, so call what it wraps.
        unwrapped = getattr(inner, "__wrapped__", None)
        self._partial_path = partial
        try:
            if unwrapped is not None:
                unwrapped(self, data)
            else:
                inner(data)
            fs.mv(get_filepath_str(partial, protocol), get_filepath_str(target, protocol))
        finally:
            self._partial_path = None
            if fs.exists(get_filepath_str(partial, protocol)):
                fs.rm(get_filepath_str(partial, protocol))
        self._invalidate_cache()  # type: ignore[attr-defined]


class AtomicParquetDataset(_WriteThenRename, ParquetDataset):
    """``pandas.ParquetDataset`` whose saves write a temporary file and rename it.

    Examples:
        ```yaml
        prm_lanes:
          type: orpr_kedro.datasets.AtomicParquetDataset
          filepath: data/03_primary/lanes.parquet
        ```

        >>> import pandas as pd
        >>> from orpr_kedro.datasets import AtomicParquetDataset
        >>> dataset = AtomicParquetDataset(filepath=str(tmp_path / "lanes.parquet"))
        >>> dataset.save(pd.DataFrame({"lane_id": [0, 1]}))
        >>> dataset.load()["lane_id"].tolist()
        [0, 1]
    """


class AtomicCSVDataset(_WriteThenRename, CSVDataset):
    """``pandas.CSVDataset`` whose saves write a temporary file and rename it."""


class AtomicPickleDataset(_WriteThenRename, PickleDataset):
    """``pickle.PickleDataset`` whose saves write a temporary file and rename it."""


class AtomicJSONDataset(_WriteThenRename, JSONDataset):
    """``json.JSONDataset`` whose saves write a temporary file and rename it."""


class AtomicTextDataset(_WriteThenRename, TextDataset):
    """``text.TextDataset`` whose saves write a temporary file and rename it."""


class TorchModelDataset(AbstractVersionedDataset[Mapping[str, Any], dict[str, Any]]):
    """A model payload (weights, configuration, normalisation) in one torch file.

    ``save`` writes a mapping with ``torch.save`` to a temporary file next to the
    target and renames it into place, so an interrupted save never leaves a
    truncated model where a loader would find it; ``load`` reads it back with
    ``torch.load(..., weights_only=True)``, so a file can only hold tensors and plain
    containers (dicts, lists, strings, numbers) and loading never runs pickled code.
    The payload of the foundation model comes from
    ``orpr_kedro.core.learning.policy.FoundationPolicy.to_payload`` and turns back into a
    policy with ``FoundationPolicy.from_payload``.

    Examples:
        Using the YAML API (``conf/base/catalog.yml``):

        ```yaml
        mdl_foundation_model:
          type: orpr_kedro.datasets.TorchModelDataset
          filepath: data/06_models/foundation_model.pt
          versioned: true
          metadata:
            kedro-viz:
              layer: models
        ```

        Using the Python API:

        >>> import torch
        >>> from orpr_kedro.datasets import TorchModelDataset
        >>>
        >>> dataset = TorchModelDataset(filepath=tmp_path / "model.pt")
        >>> dataset.save({"config": {"d_model": 8}, "state_dict": {"w": torch.ones(2)}})
        >>> reloaded = dataset.load()
        >>> assert torch.equal(reloaded["state_dict"]["w"], torch.ones(2))
    """

    DEFAULT_LOAD_ARGS: dict[str, Any] = {"map_location": "cpu"}
    DEFAULT_SAVE_ARGS: dict[str, Any] = {}

    def __init__(
        self,
        *,
        filepath: str | os.PathLike,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create a dataset for one torch payload file.

        Args:
            filepath: Path of the file, optionally with an ``fsspec`` protocol
                (``s3://...``); local paths by default.
            load_args: Extra arguments of ``torch.load`` (``map_location`` defaults
                to ``"cpu"``). ``weights_only`` is always ``True`` and cannot be
                changed.
            save_args: Extra arguments of ``torch.save``.
            version: Kedro version to load / save (``versioned: true`` in YAML).
            credentials: Credentials of the filesystem.
            fs_args: Arguments of the ``fsspec`` filesystem.
            metadata: Free-form metadata (e.g. the kedro-viz layer); ignored by Kedro.

        Raises:
            DatasetError: when ``load_args`` asks for ``weights_only=False``.
        """
        load_args = dict(load_args or {})
        if load_args.pop("weights_only", True) is not True:
            raise DatasetError(
                "TorchModelDataset always loads with weights_only=True; remove 'weights_only' from load_args"
            )
        _fs_args = deepcopy(fs_args) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            _fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **_fs_args)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )
        self._load_args = {**self.DEFAULT_LOAD_ARGS, **load_args}
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "load_args": self._load_args,
            "save_args": self._save_args,
            "version": self._version,
        }

    def load(self) -> dict[str, Any]:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, mode="rb") as stream:
            buffer = io.BytesIO(stream.read())
        try:
            return torch.load(buffer, weights_only=True, **self._load_args)
        except Exception as exc:  # torch raises UnpicklingError (and others) for unsafe content
            raise DatasetError(f"cannot load the model payload {load_path} with weights_only=True: {exc}") from exc

    def save(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise DatasetError(
                f"TorchModelDataset saves a mapping (weights, configuration, normalisation), got {type(data).__name__}"
            )
        buffer = io.BytesIO()
        torch.save(dict(data), buffer, **self._save_args)
        try:  # refuse to write what could not be loaded back safely
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=True, map_location="cpu")
        except Exception as exc:
            raise DatasetError(
                "the payload holds objects that torch.load(weights_only=True) refuses; keep to tensors, "
                f"dicts, lists, strings and numbers ({exc})"
            ) from exc
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        partial = f"{save_path}.partial-{uuid.uuid4().hex}"
        try:
            with self._fs.open(partial, mode="wb") as stream:
                stream.write(buffer.getvalue())
            self._fs.mv(partial, save_path)
        finally:
            if self._fs.exists(partial):
                self._fs.rm(partial)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))


class GurobiLicenceDataset(AbstractDataset[None, GurobiLicence]):
    """The Gurobi licence of the OR solver, from credentials; read-only.

    Kedro hands credentials to datasets, not to nodes: this dataset turns the
    ``gurobi`` credentials into a :class:`~orpr_kedro.core.optimization.licence.GurobiLicence`
    that the ``create_or_labels`` node passes to every ``gurobipy.Env``. Empty
    credentials (the default in ``conf/base/credential_defaults.yml``) give the
    size-limited pip licence; models over its size go to HiGHS.

    The secret values never leave the licence object: ``repr``, ``describe`` and the
    solver log show the kind (``pip``, ``wls``, ``file``, ...) and parameter names only.

    Examples:
        Using the YAML API (``conf/base/catalog.yml``), with the licence in
        ``conf/local/credentials.yml``:

        ```yaml
        gurobi_licence:
          type: orpr_kedro.datasets.GurobiLicenceDataset
          credentials: gurobi
          metadata:
            kedro-viz:
              layer: raw
        ```

        ```yaml
        # conf/local/credentials.yml (git-ignored)
        gurobi:
          WLSACCESSID: ...
          WLSSECRET: ...
          LICENSEID: 123456
        ```

        Using the Python API:

        >>> from orpr_kedro.datasets import GurobiLicenceDataset
        >>>
        >>> dataset = GurobiLicenceDataset(credentials={"LicenseFile": "/opt/gurobi/gurobi.lic"})
        >>> dataset.load().kind
        'file'
        >>> GurobiLicenceDataset().load().kind
        'pip'
    """

    def __init__(
        self,
        *,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Check the licence parameters.

        Args:
            credentials: Gurobi licence parameters (``WLSACCESSID``, ``WLSSECRET``,
                ``LICENSEID``; or ``LicenseFile``; names are case-insensitive);
                ``None`` or empty for the pip licence.
            metadata: Free-form metadata (e.g. the kedro-viz layer); ignored by Kedro.

        Raises:
            DatasetError: naming the problem (unknown parameter, empty value,
                incomplete WLS triple), never a value.
        """
        try:
            self._licence = GurobiLicence(credentials or {})
        except ValueError as exc:
            raise DatasetError(f"GurobiLicenceDataset: {exc}") from None
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"licence": self._licence.kind, "parameters": sorted(self._licence.parameters)}

    def load(self) -> GurobiLicence:
        return self._licence

    def save(self, data: GurobiLicence) -> None:
        raise DatasetError(
            "GurobiLicenceDataset is read-only: the licence comes from the 'gurobi' credentials "
            "(conf/local/credentials.yml)"
        )

    def _exists(self) -> bool:
        return True


class OptionalDataset(AbstractDataset[None, Any]):
    """A read-only input that is optional: ``None`` when its file does not exist.

    Wraps any dataset definition (``dataset: {type: pandas.CSVDataset, filepath: ...}``);
    with the file present it loads what that dataset loads. The bring-your-own-forecast
    table (``raw_forecast``) uses it: dropping the file in place switches the forecaster.
    """

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        """Build the wrapped dataset from its catalog definition."""
        from kedro.io.core import parse_dataset_definition

        dataset_class, config = parse_dataset_definition(deepcopy(dict(dataset)))
        self._dataset = dataset_class(**config)
        self.metadata = metadata

    @property
    def _filepath(self) -> Any:
        return getattr(self._dataset, "_filepath", None)

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe(), "optional": True}

    def load(self) -> Any:
        """The wrapped dataset's data, or None when its file does not exist."""
        return self._dataset.load() if self._dataset.exists() else None

    def save(self, data: None) -> None:
        """Refuse: an optional input is read only."""
        raise DatasetError("OptionalDataset is read only: it wraps an input that no pipeline writes")

    def _exists(self) -> bool:
        return True


class LaneBlockDataset(AbstractDataset[Any, LaneBlocks]):
    """A table stored in lane blocks: a folder of ``block-00000.parquet``, ... and ``_blocks.json``.

    ``load`` returns a file-backed :class:`~orpr_kedro.core.data.blocks.LaneBlocks`
    (nothing is read until a block is asked for); ``save`` takes one (or a frame with
    a ``lane_id`` column, kept as one block unless ``lanes_per_block`` is given). The
    blocks are written into ``<folder>.partial-<random>`` and the finished folder is
    renamed onto the target, so a save that is killed leaves the previous table.
    Blocks that a stage wrote to the spill folder are moved (renamed on the same file
    system), not copied; blocks of another stored table (a table passed on unchanged)
    are hard-linked on a local disk. Parquet files are never written in place, so a
    link cannot see a later change of its source.

    Examples:
        ```yaml
        ftr_demand_forecast:
          type: orpr_kedro.datasets.LaneBlockDataset
          filepath: data/04_feature/demand_forecast
        ```

        >>> import pandas as pd
        >>> from orpr_kedro.core.data.blocks import LaneBlocks
        >>> from orpr_kedro.datasets import LaneBlockDataset
        >>> dataset = LaneBlockDataset(filepath=str(tmp_path / "table"))
        >>> dataset.save(LaneBlocks.from_frame(pd.DataFrame({"lane_id": [0, 1, 2]}), lanes_per_block=2))
        >>> table = dataset.load()
        >>> table.n_blocks, table.load(1)["lane_id"].tolist()
        (2, [2])
    """

    META_FILE = "_blocks.json"

    def __init__(
        self,
        *,
        filepath: str,
        lanes_per_block: int | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A lane-blocked table in the folder ``filepath`` (local path or fsspec URL)."""
        protocol, path = get_protocol_and_path(filepath)
        self._storage_options = {**(credentials or {}), **(fs_args or {})}
        self._fs = fsspec.filesystem(protocol, **self._storage_options)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._lanes_per_block = lanes_per_block
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "lanes_per_block": self._lanes_per_block}

    def _url(self, path: PurePosixPath | str) -> str:
        return get_filepath_str(PurePosixPath(path), self._protocol)

    def load(self) -> LaneBlocks:
        """The stored table, file-backed."""
        folder = self._url(self._filepath)
        with self._fs.open(f"{folder}/{self.META_FILE}") as handle:
            meta = json.load(handle)
        parts: dict[int, pd.DataFrame | str] = {
            block: f"{folder}/{BLOCK_FILE.format(block)}" for block in range(int(meta["n_blocks"]))
        }
        if self._protocol not in ("file", ""):
            parts = {block: f"{self._protocol}://{url}" for block, url in parts.items()}
        return LaneBlocks(
            lanes_per_block=int(meta["lanes_per_block"]), parts=parts, storage_options=dict(self._storage_options)
        )

    def save(self, data: LaneBlocks | pd.DataFrame) -> None:
        """Write every block into a partial folder, then rename it onto the target."""
        if isinstance(data, pd.DataFrame):
            size = self._lanes_per_block or (int(data["lane_id"].max()) + 1 if len(data) else 1)
            data = LaneBlocks.from_frame(data, size)
        if not isinstance(data, LaneBlocks):
            raise DatasetError(f"LaneBlockDataset saves LaneBlocks or a DataFrame, not {type(data).__name__}")
        target = self._url(self._filepath)
        partial = f"{target}.partial-{uuid.uuid4().hex}"
        self._fs.makedirs(partial, exist_ok=True)
        try:
            for block in data.block_ids():
                destination = f"{partial}/{BLOCK_FILE.format(block)}"
                part = data.parts[block]
                if isinstance(part, str) and data.spilled and _same_file_system(part, self._protocol):
                    self._fs.mv(fsspec.core.url_to_fs(part)[1], destination)
                elif isinstance(part, str) and _link(part, destination, self._protocol):
                    pass  # a stored block of another table, unchanged: a hard link on the local disk
                else:
                    frame = data.load(block)
                    with self._fs.open(destination, "wb") as handle:
                        frame.to_parquet(handle, index=False)
            with self._fs.open(f"{partial}/{self.META_FILE}", "w") as handle:
                json.dump({"lanes_per_block": data.lanes_per_block, "n_blocks": data.n_blocks}, handle)
            if self._fs.exists(target):
                self._fs.rm(target, recursive=True)
            self._fs.mv(partial, target, recursive=True)
        finally:
            if self._fs.exists(partial):
                self._fs.rm(partial, recursive=True)

    def _exists(self) -> bool:
        return self._fs.exists(f"{self._url(self._filepath)}/{self.META_FILE}")


def _link(source: str, destination: str, protocol: str) -> bool:
    """Hard-link a local file (no copy); False where that is not possible (object store, other disk)."""
    if protocol not in ("file", "") or not _same_file_system(source, protocol):
        return False
    try:
        os.link(fsspec.core.url_to_fs(source)[1], destination)
    except OSError:
        return False
    return True


def _same_file_system(url: str, protocol: str) -> bool:
    part_protocol, _ = get_protocol_and_path(url)
    return part_protocol == protocol


class ParquetSourceDataset(AbstractDataset[None, ParquetSource]):
    """A raw Parquet table that is streamed, not loaded: ``load`` returns a :class:`ParquetSource`.

    ``filepath`` is one Parquet file or a folder of them (``.../01_raw/sales/part-*.parquet``,
    read in the order of their names), a local path or an fsspec URL. The node that
    reads it streams record batches of at most ``batch_rows`` rows
    (:meth:`ParquetSource.batches`) or reads it whole (:meth:`ParquetSource.read`).
    ``save`` writes a frame as one Parquet file (``kedro demo-data`` does, for a
    missing raw file), into a temporary file that is renamed into place.

    Examples:
        ```yaml
        raw_sales:
          type: orpr_kedro.datasets.ParquetSourceDataset
          filepath: data/01_raw/sales.parquet   # or a folder: data/01_raw/sales
        ```

        >>> import pandas as pd
        >>> from orpr_kedro.datasets import ParquetSourceDataset
        >>> pd.DataFrame({"units": [1, 2]}).to_parquet(tmp_path / "sales.parquet", index=False)
        >>> source = ParquetSourceDataset(filepath=str(tmp_path / "sales.parquet")).load()
        >>> source.read()["units"].tolist()
        [1, 2]
    """

    def __init__(
        self,
        *,
        filepath: str,
        batch_rows: int = 500_000,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A Parquet file or folder at ``filepath``, read in batches of ``batch_rows`` rows."""
        protocol, path = get_protocol_and_path(filepath)
        self._storage_options = {**(credentials or {}), **(fs_args or {})}
        self._fs = fsspec.filesystem(protocol, **self._storage_options)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._batch_rows = int(batch_rows)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "batch_rows": self._batch_rows}

    def _url(self) -> str:
        path = get_filepath_str(self._filepath, self._protocol)
        return path if self._protocol in ("file", "") else f"{self._protocol}://{path}"

    def load(self) -> ParquetSource:
        """The source handle (nothing is read yet).

        Raises:
            DatasetError: when there is no file or folder at ``filepath``.
        """
        if not self._exists():
            raise DatasetError(f"no Parquet file or folder at {self._url()}")
        return ParquetSource(self._url(), dict(self._storage_options), self._batch_rows)

    def save(self, data: pd.DataFrame) -> None:
        """Write a frame as one Parquet file at ``filepath`` (without its index)."""
        if not isinstance(data, pd.DataFrame):
            raise DatasetError(f"ParquetSourceDataset saves a DataFrame, not {type(data).__name__}")
        target = get_filepath_str(self._filepath, self._protocol)
        partial = f"{target}.partial-{uuid.uuid4().hex}"
        self._fs.makedirs(str(self._filepath.parent), exist_ok=True)
        try:
            with self._fs.open(partial, "wb") as handle:
                data.to_parquet(handle, index=False)
            self._fs.mv(partial, target)
        finally:
            if self._fs.exists(partial):
                self._fs.rm(partial)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))
