"""Raw tables read in record batches, so a stage can stream a table that does not fit in memory.

A :class:`ParquetSource` names one Parquet file or a folder of Parquet files (local
paths or fsspec URLs); it is small and picklable, and reads nothing until asked.
:meth:`ParquetSource.batches` yields the table's rows in order, as pyarrow record
batches of at most ``batch_rows`` rows; :meth:`ParquetSource.read` returns the whole
table as :func:`pandas.read_parquet` would.

The files of a folder are read in the order of their names (``part-00000.parquet``,
``part-00001.parquet``, ...); names starting with ``.`` or ``_`` are skipped, as
pyarrow does.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds


@dataclass(frozen=True)
class ParquetSource:
    """A Parquet file or a folder of Parquet files, read lazily.

    >>> import pandas as pd
    >>> path = str(tmp_path / "sales.parquet")
    >>> pd.DataFrame({"units": [1, 2, 3]}).to_parquet(path, index=False)
    >>> source = ParquetSource(path, batch_rows=2)
    >>> source.num_rows(), [batch.num_rows for batch in source.batches()]
    (3, [2, 1])
    >>> source.read()["units"].tolist()
    [1, 2, 3]
    """

    path: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    batch_rows: int = 500_000

    def _fs(self) -> tuple[Any, str]:
        return fsspec.core.url_to_fs(self.path, **self.storage_options)

    def files(self) -> list[str]:
        """The Parquet files, in order (one for a file, the folder's files by name for a folder)."""
        fs, path = self._fs()
        if not fs.isdir(path):
            return [path]
        found = [
            name
            for name in fs.find(path)
            if not any(part.startswith((".", "_")) for part in posixpath.relpath(name, path).split("/"))
        ]
        return sorted(found)

    def dataset(self) -> ds.Dataset:
        """The files as one pyarrow dataset (the first file's schema)."""
        fs, _ = self._fs()
        return ds.dataset(self.files(), format="parquet", filesystem=fs)

    @property
    def schema(self) -> pa.Schema:
        """Column names and Arrow types."""
        return self.dataset().schema

    def num_rows(self) -> int:
        """Rows in all files (from the Parquet footers)."""
        return int(self.dataset().count_rows())

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows in order, in record batches of at most ``batch_rows`` rows."""
        scanner = self.dataset().scanner(
            columns=list(columns) if columns is not None else None,
            batch_size=self.batch_rows,
            batch_readahead=1,
            fragment_readahead=1,
            use_threads=True,
        )
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole table in one frame (what :func:`pandas.read_parquet` gives)."""
        return self.dataset().to_table(columns=list(columns) if columns is not None else None).to_pandas()

    def empty_frame(self) -> pd.DataFrame:
        """No rows, the table's columns and dtypes."""
        return self.schema.empty_table().to_pandas()
