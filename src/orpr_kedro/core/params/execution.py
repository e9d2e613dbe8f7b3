"""How the lane-blocked stages run: the block size, the executor and where finished blocks are kept."""

from __future__ import annotations

from pydantic import Field

from orpr_kedro.core.params.base import StrictModel
from orpr_kedro.core.params.or_labeling import ExecutorParams


class ExecutionParams(StrictModel):
    """The ``execution`` block: lane blocks and the executor that maps over them.

    Lanes ``[b * lanes_per_block, (b + 1) * lanes_per_block)`` form block ``b``; a
    stage that streams holds one block per worker at a time, so its memory follows
    ``lanes_per_block``, not the number of lanes. Finished blocks go to ``spill_dir``
    until the catalog saves them (renamed into place on the same file system); a Dask
    cluster on several machines needs a folder every worker can write (an fsspec URL,
    e.g. ``s3://bucket/orpr-spill``). The training stages need every lane's arrays at
    once; ``training_lanes`` bounds them to a sample (:mod:`orpr_kedro.core.data.sample`),
    while data_processing and recommend always cover every lane.
    """

    lanes_per_block: int = Field(
        4096, ge=1, description="lanes per block; a multiple of 512 keeps the forecaster's training sample unchanged"
    )
    executor: ExecutorParams = Field(default_factory=ExecutorParams)
    training_lanes: int | None = Field(
        None,
        ge=1,
        description="or_labeling, pretraining, rl_alignment and evaluation work on a sample of this many lanes, "
        "stratified by category (the same sample in each, from the seed); null = every lane",
    )
    spill_dir: str | None = Field(
        None, description="folder (local path or fsspec URL) for finished blocks; null = a temporary folder"
    )
