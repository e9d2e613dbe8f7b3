"""kedro-viz served for real: its API (stages collapsed, layers in order), and the page in headless Chromium.

The server runs in its own process group (kedro viz leaves a child server behind
when only its parent is killed), once for the module, and the whole group is stopped
at the end. The API test needs no browser; the page is rendered by Debian's Chromium,
and without it that test is skipped on a workstation and fails in CI, where
`.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PIPELINES = {"data_processing", "or_labeling", "pretraining", "rl_alignment", "evaluation", "recommend", "__default__"}
LAYERS = ["raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"]
# one node of each pipeline
NODES = (
    "validate_raw_data",
    "create_or_labels",
    "train_foundation_model",
    "train_aligned_policy",
    "evaluate_policies",
    "recommend_orders",
)
# every stage collapses to one box (node namespaces, see pipeline_registry.py)
STAGES = {"data_processing", "or_labeling", "pretraining", "rl_alignment", "evaluation", "report", "recommend"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def require_chromium() -> None:
    """Skip a browser test where Chromium is missing; on CI (where .ci/run installs it) fail instead."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    """A free loopback port below 49152: kedro viz refuses ports in the ephemeral range."""
    for port in range(41_000 + os.getpid() % 4_000, 49_000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 41000 and 49000")


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 180.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kedro viz exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
                return response.read()
        except OSError:
            time.sleep(1.0)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture(scope="module")
def viz_server(tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    log = open(tmp_path_factory.mktemp("viz") / "viz.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("kedro")),
            "viz",
            "run",
            "--no-browser",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        _stop_group(process)
        log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left after 15 s."""
    pgid = process.pid
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _group_alive(pgid) and time.monotonic() < deadline:
        process.poll()
        time.sleep(0.2)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.5)
    process.wait(timeout=10)
    assert not _group_alive(pgid), "a kedro-viz process outlived its group"


def test_kedro_viz_collapses_the_stages_and_orders_the_layers(viz_server):
    url, process = viz_server
    main = json.loads(_wait_for(f"{url}/api/main", process))
    assert PIPELINES <= {pipeline["id"] for pipeline in main["pipelines"]}
    assert [layer for layer in main["layers"] if layer in LAYERS] == LAYERS
    assert set(NODES) <= {node["name"] for node in main["nodes"]}
    assert set(main["modular_pipelines"]) == {"__root__", *STAGES}
    root = {
        child["id"] for child in main["modular_pipelines"]["__root__"]["children"] if child["type"] == "modularPipeline"
    }
    assert root == STAGES  # collapsed: the top level shows the stages, not their nodes


@pytest.mark.browser
def test_kedro_viz_shows_pipelines_and_layers(viz_server, tmp_path):
    require_chromium()
    url, process = viz_server
    _wait_for(f"{url}/api/main", process)

    screenshot = tmp_path / "kedro-viz.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1600,1000",
            "--virtual-time-budget=20000",
            f"--screenshot={screenshot}",
            url,
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert screenshot.stat().st_size > 10_000
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    # layer bands and the stages are rendered into the page
    for layer in LAYERS:
        if layer != "intermediate":  # its tables live inside the collapsed data_processing box
            assert f">{layer}<" in dom, f"layer {layer!r} not rendered"
    for stage in STAGES:
        assert f">{stage}<" in dom, f"stage {stage!r} not rendered"
    shutil.copy(screenshot, PROJECT_ROOT / "data" / "08_reporting" / "kedro-viz.png")
