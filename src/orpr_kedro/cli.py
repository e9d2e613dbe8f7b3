"""Project commands added to the ``kedro`` CLI.

``kedro demo-data [--env ENV] [--force]`` writes the generated demo raw data to
the raw datasets of that environment's catalog. It never replaces an existing
file unless ``--force`` is given, and it refuses to run in an environment whose
``demo_data.yml`` says ``enabled: false`` (``prod``, where the raw data belongs
to the client).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

# A packaged install runs `python -m orpr_kedro` / `orpr-kedro`, which looks up `run`
# in this module (kedro.framework.cli.utils.find_run_command): Kedro's own `kedro run`.
from kedro.framework.cli.project import run  # noqa: F401
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.core.data.contract import RAW_CONTRACTS
from orpr_kedro.core.data.demo_data import generate_demo_data
from orpr_kedro.core.params import DemoDataConfig

logger = logging.getLogger(__name__)


@click.group(name="orpr-kedro")
def cli() -> None:
    """Commands of the orpr-kedro project."""


@cli.command("demo-data")
@click.option("--env", "-e", default="base", show_default=True, help="Kedro environment whose raw files to write.")
@click.option("--force", is_flag=True, help="Replace existing raw files (never needed for a normal run).")
def demo_data(env: str, force: bool) -> None:
    """Generate the demo raw data where the catalog's raw files are missing."""
    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=None if env == "base" else env) as session:
        context = session.load_context()
        config = DemoDataConfig.model_validate(context.config_loader["demo_data"] or {})
        if not config.enabled:
            raise click.ClickException(
                f"Environment '{env}' disables the demo data generator: its raw data is real "
                "and is never generated. Point its catalog at the client's files (docs/data_contract.md)."
            )
        catalog = context.catalog
        missing = [name for name in RAW_CONTRACTS if force or not catalog.exists(name)]
        if not missing:
            click.echo(f"Demo raw data for '{env}' already present; nothing written.")
            return
        seed = int(context.params["seed"])
        tables = generate_demo_data(config, seed=seed).as_catalog_entries()
        for name in missing:
            catalog.save(name, tables[name])
            click.echo(f"wrote {name}: {len(tables[name]):,} rows")
