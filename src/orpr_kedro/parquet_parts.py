"""A folder of Parquet part files, written part by part and published whole.

``kedro demo-data`` writes the sales of a streamed environment (``sku_block_size``
set in its ``demo_data.yml``) one block of SKUs at a time: ``part-00000.parquet``,
``part-00001.parquet``, ... in the folder the ``raw_sales`` catalog entry names.
``pandas.read_parquet(folder)`` (what ``pandas.ParquetDataset`` does) reads the
folder as one table, the parts in name order.

The parts go to a ``<folder>.partial-<random>`` sibling while they are written, and
that folder is renamed into place when the last part is complete: a generation that
fails or is killed leaves no half-written sales folder, and an existing one is
replaced only when asked (``--force``).
"""

from __future__ import annotations

import uuid
from types import TracebackType

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ParquetPartsWriter"]


class ParquetPartsWriter:
    """Writes ``part-NNNNN.parquet`` files into a temporary folder; :meth:`commit` renames it into place.

    Every part has the schema of the first (a later part is cast to it), and the
    pandas index is not stored, so the parts read back as one table with a fresh
    index. Use it as a context manager: leaving the block by an exception removes
    the temporary folder.

    Examples:
        ```python
        with ParquetPartsWriter("data/scale/01_raw/sales") as writer:
            for block in blocks:
                writer.write(block)
            writer.commit(replace=False)
        ```
    """

    def __init__(self, url: str) -> None:
        """Write the folder ``url`` (a local path or an fsspec URL)."""
        self._fs, self.target = fsspec.core.url_to_fs(url)
        self.target = self.target.rstrip("/")
        self._partial = f"{self.target}.partial-{uuid.uuid4().hex}"
        self._schema: pa.Schema | None = None
        self.parts = 0
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Write ``frame`` as the next part file."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            self._fs.makedirs(self._partial, exist_ok=True)
        else:
            table = table.cast(self._schema)
        with self._fs.open(f"{self._partial}/part-{self.parts:05d}.parquet", "wb") as file:
            pq.write_table(table, file)
        self.parts += 1
        self.rows += len(frame)

    def commit(self, replace: bool = False) -> None:
        """Rename the written folder into place.

        Args:
            replace: replace an existing file or folder at the target (else refuse).

        Raises:
            FileExistsError: the target exists and ``replace`` is false; nothing changes.
            ValueError: no part was written.
        """
        if self._schema is None:
            raise ValueError(f"no part written for {self.target}")
        old = None
        if self._fs.exists(self.target):
            if not replace:
                raise FileExistsError(f"{self.target} exists; not replaced")
            old = f"{self.target}.replaced-{uuid.uuid4().hex}"
            self._fs.mv(self.target, old, recursive=True)
        self._fs.mv(self._partial, self.target, recursive=True)
        if old is not None:
            self._fs.rm(old, recursive=True)

    def abort(self) -> None:
        """Remove the temporary folder, if any."""
        if self._fs.exists(self._partial):
            self._fs.rm(self._partial, recursive=True)

    def __enter__(self) -> ParquetPartsWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.abort()
