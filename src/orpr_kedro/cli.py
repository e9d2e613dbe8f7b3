"""Project commands added to the ``kedro`` CLI.

``kedro run`` is Kedro's own command with friendlier errors (:func:`friendly_run`):
an unknown pipeline name gets one line with the known names and the closest match,
and a data-contract or parameter error, or a report input no run has written yet,
prints its message without the traceback (``--verbose`` or ``ORPR_TRACEBACK=1`` shows it).

``kedro demo-data [--env ENV] [--force]`` writes the generated demo raw data to
the raw datasets of that environment's catalog, where a file is missing. It never
replaces an existing file unless ``--force`` is given, and it writes only in an
environment that opts in: ``conf/base`` (the demo; ``conf/local`` may turn it
off) and an environment whose *own* ``demo_data.yml`` says ``enabled: true``
(``test``, ``staging``, ``scale``). Where that ``demo_data.yml`` sets
``sku_block_size`` (``scale``), the SKUs are generated block by block and
``raw_sales`` is written as a folder of Parquet part files, one per block
(:mod:`orpr_kedro.parquet_parts`), renamed into place when complete. Any other
environment holds a client's data: there the command writes nothing, and when raw
files are missing it names them and says how to provide them (``make run ENV=x``
calls it first, so the run stops there).
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io.core import get_filepath_str
from kedro.validation import ParameterValidationError

from orpr_kedro.core.data.contract import RAW_CONTRACTS, DataContractError
from orpr_kedro.core.data.demo_data import generate_demo_data, stream_demo_data
from orpr_kedro.core.params import DemoDataConfig, ParameterError, parse_params
from orpr_kedro.demo_settings import own_demo_settings
from orpr_kedro.hooks import MissingRunInputError
from orpr_kedro.parquet_parts import ParquetPartsWriter
from orpr_kedro.pipeline_registry import pipeline_names

logger = logging.getLogger(__name__)


@click.group(name="orpr-kedro")
def cli() -> None:
    """Commands of the orpr-kedro project."""


def _missing_files_message(env: str, missing: dict[str, str]) -> str:
    listed = "\n".join(f"  {name}: {path} ({RAW_CONTRACTS[name].description})" for name, path in missing.items())
    folder = "local" if env in ("base", "local") else env  # the base demo is turned off in conf/local
    return (
        f"Environment '{env}' reads real raw data (the demo generator is off there: conf/{folder}/demo_data.yml "
        f"does not say 'enabled: true'), and {len(missing)} raw file(s) are missing:\n{listed}\n"
        f"Put the files there in the format of docs/data_contract.md, or point raw_files in "
        f"conf/{folder}/globals.yml at where they are (docs/bring_your_own_data.md). Nothing was written. "
        f"To run '{env}' on generated data instead, add 'enabled: true' to conf/{folder}/demo_data.yml."
    )


@cli.command("demo-data")
@click.option("--env", "-e", default="base", show_default=True, help="Kedro environment whose raw files to write.")
@click.option("--force", is_flag=True, help="Replace existing raw files (never needed for a normal run).")
def demo_data(env: str, force: bool) -> None:
    """Generate the demo raw data where the catalog's raw files are missing (demo environments only)."""
    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=None if env == "base" else env) as session:
        context = session.load_context()
        catalog = context.catalog
        own = own_demo_settings(Path(context.config_loader.conf_source), env)
        if own.get("enabled") is not True:
            files = parse_params("data_processing", context.params.get("data_processing")).raw_files
            missing = {name: files.get(name, name) for name in RAW_CONTRACTS if not catalog.exists(name)}
            if missing:
                raise click.ClickException(_missing_files_message(env, missing))
            if force:
                raise click.ClickException(
                    f"Environment '{env}' reads real raw data: --force never replaces it with generated data."
                )
            click.echo(f"Environment '{env}' reads real raw data; all its raw files are present, nothing written.")
            return
        config = DemoDataConfig.model_validate(context.config_loader["demo_data"] or {})
        missing_names = [name for name in RAW_CONTRACTS if force or not catalog.exists(name)]
        if not missing_names:
            click.echo(f"Demo raw data for '{env}' already present; nothing written.")
            return
        seed = int(context.params["seed"])
        if config.sku_block_size is not None:
            _write_in_blocks(catalog, config, seed, missing_names, force)
            return
        tables = generate_demo_data(config, seed=seed).as_catalog_entries()
        for name in missing_names:
            catalog.save(name, tables[name])
            click.echo(f"wrote {name}: {len(tables[name]):,} rows")


def _write_in_blocks(catalog: Any, config: DemoDataConfig, seed: int, missing_names: list[str], force: bool) -> None:
    """Generate block by block: the sales as a folder of part files, one per block, then the other tables."""
    dataset = catalog.get("raw_sales")
    folder = get_filepath_str(dataset._filepath, dataset._protocol)
    with ParquetPartsWriter(folder) as writer:
        sink = writer.write if "raw_sales" in missing_names else (lambda _sales: None)
        tables = stream_demo_data(config, seed, sink).as_catalog_entries()
        if "raw_sales" in missing_names:
            writer.commit(replace=force)
            click.echo(f"wrote raw_sales: {writer.rows:,} rows in {writer.parts} part files ({folder})")
    for name in missing_names:
        if name != "raw_sales":
            catalog.save(name, tables[name])
            click.echo(f"wrote {name}: {len(tables[name]):,} rows")


# --------------------------------------------------------------------------- kedro run, friendlier
TRACEBACK_VARIABLE = "ORPR_TRACEBACK"
# Errors whose message already says what is wrong and how to fix it: the traceback adds nothing.
# Kedro's own ParameterValidationError reaches here only if no hook translated it into a ParameterError.
EXPLAINED_ERRORS = (DataContractError, ParameterError, ParameterValidationError, MissingRunInputError)


def unknown_pipeline_message(requested: list[str], known: list[str]) -> str | None:
    """One line naming the unknown pipelines, the closest known name and all known names; None if all are known."""
    unknown = [name for name in requested if name not in known]
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return f"unknown pipeline {', '.join(parts)}; known pipelines: {', '.join(known)}"


def _show_tracebacks(verbose: bool) -> bool:
    return verbose or os.environ.get(TRACEBACK_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def friendly_run(command: click.Command) -> click.Command:
    """Kedro's ``run`` command with a ``--verbose`` flag and errors a planner can read.

    Before the session starts, the requested pipeline names (``--pipelines`` or the
    deprecated ``--pipeline``) are checked against :func:`pipeline_names`. During the
    run, a :class:`DataContractError`, :class:`ParameterError` or
    :class:`~orpr_kedro.hooks.MissingRunInputError` becomes a one-message
    ``click`` error (exit code 1) unless ``--verbose`` or ``ORPR_TRACEBACK=1`` asks for
    the traceback. Every other error keeps Kedro's behaviour.
    """
    kedro_callback = command.callback

    def run(verbose: bool, **options: Any) -> Any:
        requested = list(options.get("pipelines") or ([options["pipeline"]] if options.get("pipeline") else []))
        message = unknown_pipeline_message(requested, pipeline_names())
        if message:
            raise click.ClickException(message)
        try:
            return kedro_callback(**options)
        except EXPLAINED_ERRORS as error:
            if _show_tracebacks(verbose):
                raise
            raise click.ClickException(
                f"{type(error).__name__}: {error}\n(run with --verbose or {TRACEBACK_VARIABLE}=1 for the traceback)"
            ) from None

    verbose = click.Option(
        ["--verbose"],
        is_flag=True,
        help=f"Show the traceback of data and parameter errors (or {TRACEBACK_VARIABLE}=1).",
    )
    return click.Command(
        name=command.name,
        params=[*command.params, verbose],
        callback=run,
        help=command.help,
        short_help=command.short_help,
        context_settings=command.context_settings,
    )


# `kedro run` in the project, and what a packaged install runs: `python -m orpr_kedro` /
# `orpr-kedro` look up `run` in this module (kedro.framework.cli.utils.find_run_command).
run = friendly_run(kedro_run)
cli.add_command(run)
