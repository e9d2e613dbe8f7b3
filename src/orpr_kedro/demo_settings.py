"""Which environments run on the demo generator's data.

An environment opts in to generated raw data in its *own* ``demo_data.yml``
(``enabled: true``); the base demo may be turned off in ``conf/local``. Settings an
environment inherits from ``conf/base`` never opt it in: a client environment
without its own ``demo_data.yml`` reads real data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["demo_generator_enabled", "own_demo_settings"]


def own_demo_settings(conf_root: Path, env: str | None) -> dict[str, Any]:
    """The generator settings an environment states itself (base and local: conf/base, then conf/local)."""
    env = env or "local"
    folders = ["base", "local"] if env in ("base", "local") else [env]
    values: dict[str, Any] = {}
    for folder in folders:
        for path in sorted((conf_root / folder).glob("demo_data*.yml")):
            values.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return values


def demo_generator_enabled(conf_root: Path, env: str | None) -> bool:
    """True when the environment's raw data comes from the demo generator (its own ``enabled: true``)."""
    return own_demo_settings(conf_root, env).get("enabled") is True
