"""What the benchmarks that run the project's own pipelines share: the project folder and its set-up."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from click.testing import CliRunner
from kedro.framework.startup import bootstrap_project

PROJECT = Path(__file__).resolve().parents[1]


def prepare_project(env: str, quiet: tuple[str, ...] = ("kedro",)) -> None:
    """Work in the project folder, write the environment's demo raw data where missing, bootstrap the project.

    The loggers named in ``quiet`` are set to WARNING so the timings are not printed over.

    Raises:
        SystemExit: when ``kedro demo-data`` fails (e.g. a client environment without raw files).
    """
    os.chdir(PROJECT)
    from orpr_kedro.cli import cli  # noqa: PLC0415 - after the chdir, as the CLI resolves paths from it

    result = CliRunner().invoke(cli, ["demo-data", "--env", env])
    if result.exit_code != 0:
        raise SystemExit(result.output)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    bootstrap_project(PROJECT)
