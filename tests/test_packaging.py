"""Packaging metadata and the pinned environments (no build: `make package` does that)."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

import orpr_kedro

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _pins(name: str) -> dict[str, str]:
    """``{normalised name: version}`` of a pip constraints file."""
    pins = {}
    for line in (PROJECT_ROOT / name).read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    """The runtime requirements of pyproject.toml and those of ``extras`` (self-references expanded)."""
    project = PYPROJECT["project"]
    found = [Requirement(text) for text in project["dependencies"]]
    for extra in extras:
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if requirement.name == project["name"]:
                found += _requirements(*requirement.extras)
            else:
                found.append(requirement)
    return found


def _unsatisfied(requirements: list[Requirement], pins: dict[str, str]) -> list[str]:
    problems = []
    for requirement in requirements:
        version = pins.get(re.sub(r"[-_.]+", "-", requirement.name).lower())
        if version is None:
            problems.append(f"{requirement}: not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: pinned to {version}")
    return problems


def test_the_wheel_metadata_names_the_package_and_its_command():
    project, kedro = PYPROJECT["project"], PYPROJECT["tool"]["kedro"]
    assert project["name"] == kedro["package_name"] == "orpr_kedro" == orpr_kedro.__name__
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "orpr_kedro.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", orpr_kedro.__version__)
    assert project["dynamic"] == ["version"]  # dependencies are declared, not read from a file
    assert project["scripts"]["orpr-kedro"] == "orpr_kedro.__main__:main"
    assert kedro["source_dir"] == "src" and (PROJECT_ROOT / "src" / "orpr_kedro" / "__main__.py").exists()


def test_the_packaged_entry_point_finds_kedros_run_command():
    from kedro.framework.cli.utils import find_run_command

    run = find_run_command("orpr_kedro")  # what `python -m orpr_kedro` calls
    assert run.name == "run" and {"env", "pipeline", "conf_source", "params"} <= {p.name for p in run.params}


def test_the_default_pins_satisfy_the_requirements_and_leave_tracking_out():
    pins = _pins("constraints.txt")
    assert not _unsatisfied(_requirements("dev"), pins)
    assert "kedro-mlflow" not in pins and "mlflow" not in pins  # make run / make test stay without it


def test_the_tracking_pins_satisfy_the_extra_without_another_torch():
    tracking = _pins("constraints-tracking.txt")
    extra = [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"]["tracking"]]
    assert {requirement.name for requirement in extra} >= {"kedro-mlflow"}
    assert not _unsatisfied(_requirements() + extra, tracking)
    default = _pins("constraints.txt")
    for name in ("torch", "kedro", "numpy", "pandas", "gurobipy", "highspy", "dask", "distributed"):
        assert tracking[name] == default[name], name
    assert not [name for name in tracking if name.startswith(("nvidia-", "triton"))]  # no CUDA


def test_the_runtime_dependencies_carry_no_test_docs_viz_or_cluster_stack():
    runtime = {requirement.name.lower() for requirement in _requirements()}
    development = {requirement.name.lower() for requirement in _requirements("dev")}
    tooling = {"pytest", "mkdocs", "kedro-viz", "statsmodels", "dask", "nbclient", "ipykernel", "ruff", "mypy"}
    assert not runtime & tooling
    assert tooling <= development  # `make test` installs the dev extra, which brings all of them
    optional = PYPROJECT["project"]["optional-dependencies"]
    assert {"dev", "docs", "viz", "distributed", "tracking"} <= set(optional)


def test_the_git_hooks_are_local_and_run_pinned_tools():
    config = yaml.safe_load((PROJECT_ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]  # pre-commit fetches nothing
    hooks = {hook["id"]: hook for hook in config["repos"][0]["hooks"]}
    assert {"ruff-check", "ruff-format", "end-of-file-fixer", "trailing-whitespace", "nbstripout"} <= set(hooks)
    assert hooks["nbstripout"]["files"] == r"^notebooks/exploration\.ipynb$"
    dev = {requirement.name.lower().replace("_", "-") for requirement in _requirements("dev")}
    assert {"ruff", "pre-commit", "pre-commit-hooks", "nbstripout"} <= dev
    for hook in hooks.values():  # each entry is a command of the dev environment
        assert hook["language"] == "system"
        assert Path(sys.executable).with_name(hook["entry"].split()[0]).exists(), hook["entry"]
    pre_commit = Path(sys.executable).with_name("pre-commit")
    validated = subprocess.run(
        [str(pre_commit), "validate-config", ".pre-commit-config.yaml"], cwd=PROJECT_ROOT, check=False
    )
    assert validated.returncode == 0


@pytest.mark.parametrize(
    "path", ["dist/orpr_kedro-0.1.0-py3-none-any.whl", "dist/conf-orpr_kedro.tar.gz", "build/package/pyproject.toml"]
)
def test_build_outputs_stay_out_of_git(path):
    assert subprocess.run(["git", "check-ignore", "-q", path], cwd=PROJECT_ROOT, check=False).returncode == 0


def test_ci_lints_before_it_tests_and_checks_the_wheel_after():
    steps = [line for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert steps == ["make lint", "make test", "make check-wheel"]
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check src tests bench" in recipe and "ruff format --check src tests bench" in recipe
    assert "$(BIN)/mypy\n" in recipe + "\n"  # the files and strictness live in pyproject.toml
    assert (
        PYPROJECT["tool"]["mypy"]["files"] == ["src/orpr_kedro/core"]
        and PYPROJECT["tool"]["mypy"]["check_untyped_defs"]
    )
