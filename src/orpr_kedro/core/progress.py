"""Progress bars that show on a terminal and stay out of logs, files and notebooks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **options: Any) -> tqdm:
    """A tqdm bar, drawn only when ``enabled`` and its stream (stderr) is a terminal.

    tqdm's ``disable=None`` turns a bar off on a stream that is not a TTY, so a run
    whose output goes to a log file, a CI job or a notebook gets no bar and no escape
    codes; ``enabled=False`` turns it off everywhere. ``options`` go to ``tqdm``.
    """
    return tqdm(iterable, disable=None if enabled else True, **options)
