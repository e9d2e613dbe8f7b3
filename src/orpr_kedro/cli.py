"""Project commands added to the ``kedro`` CLI.

``kedro demo-data [--env ENV] [--force]`` writes the generated demo raw data to
the raw datasets of that environment's catalog, where a file is missing. It never
replaces an existing file unless ``--force`` is given, and it writes only in an
environment that opts in: ``conf/base`` (the demo; ``conf/local`` may turn it
off) and an environment whose *own* ``demo_data.yml`` says ``enabled: true``
(``test``, ``staging``). Any other environment holds a client's data: there the
command writes nothing, and when raw files are missing it names them and says how
to provide them (``make run ENV=x`` calls it first, so the run stops there).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import yaml

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


def _own_demo_settings(conf_root: Path, env: str) -> dict[str, Any]:
    """The generator settings an environment states itself (base: conf/base, then conf/local)."""
    folders = ["base", "local"] if env in ("base", "local") else [env]
    values: dict[str, Any] = {}
    for folder in folders:
        for path in sorted((conf_root / folder).glob("demo_data*.yml")):
            values.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return values


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
        own = _own_demo_settings(Path(context.config_loader.conf_source), env)
        if own.get("enabled") is not True:
            files = context.params.get("data_processing", {}).get("raw_files", {})
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
        tables = generate_demo_data(config, seed=seed).as_catalog_entries()
        for name in missing_names:
            catalog.save(name, tables[name])
            click.echo(f"wrote {name}: {len(tables[name]):,} rows")
