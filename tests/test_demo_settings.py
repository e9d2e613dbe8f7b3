"""Which environments say their data is the demo generator's (params:data_is_demo, the report's banner)."""

from pathlib import Path

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.demo_settings import demo_generator_enabled
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, True),
        ("test", True),
        ("staging", True),
        ("scale", True),
        ("demo_seed2", True),
        ("test-byof", True),
        ("prod", False),
    ],
)
def test_data_is_demo_follows_the_environments_own_demo_data_yml(env, expected):
    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, env=env) as session:
        assert session.load_context().params["data_is_demo"] is expected


def test_a_value_given_with_params_wins():
    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, env="test", runtime_params={"data_is_demo": False}) as session:
        assert session.load_context().params["data_is_demo"] is False


def _conf(root: Path, files: dict[str, dict]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(yaml.safe_dump(content), encoding="utf-8")
    return root


def test_a_client_environment_inheriting_the_demo_is_not_demo_data(tmp_path):
    conf = _conf(
        tmp_path,
        {
            "base/demo_data.yml": {"enabled": True, "n_skus": 100},
            "client/globals.yml": {"data_root": "data/client"},
            "off/demo_data.yml": {"enabled": False},
            "local/demo_data.yml": {"enabled": False},
        },
    )
    assert demo_generator_enabled(conf, "client") is False  # no demo_data.yml of its own
    assert demo_generator_enabled(conf, "off") is False
    assert demo_generator_enabled(conf, "base") is False  # conf/local turned the base demo off
    assert demo_generator_enabled(conf, None) is False
    (conf / "local/demo_data.yml").unlink()
    assert demo_generator_enabled(conf, None) is True
    assert demo_generator_enabled(conf, "client") is False


def test_a_client_environment_of_the_project_gets_no_banner(project_copy):
    """A client environment as docs/bring_your_own_data.md sets it up: globals only, no demo_data.yml."""
    (project_copy / "conf" / "client").mkdir()
    (project_copy / "conf" / "client" / "globals.yml").write_text(yaml.safe_dump({"data_root": "data/client"}))
    bootstrap_project(project_copy)
    try:
        with KedroSession.create(project_path=project_copy, env="client") as session:
            assert session.load_context().params["data_is_demo"] is False
    finally:
        bootstrap_project(PROJECT_ROOT)
