"""Documentation stays in step with the code, and the site builds."""

import subprocess
import sys
from pathlib import Path

from orpr_kedro.core.data.contract import RAW_CONTRACTS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_data_contract_doc_lists_every_column():
    text = (DOCS / "data_contract.md").read_text()
    for name, contract in RAW_CONTRACTS.items():
        assert f"### `{name}`" in text
        for column in contract.columns:
            assert f"| `{column.name}` | {column.kind} |" in text, f"{name}.{column.name}"


def test_documentation_site_builds(tmp_path):
    """`make docs` (mkdocs --strict) fails on broken links and pages missing from the nav."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=DOCS.parent,
        capture_output=True,
        text=True,
        check=False,  # the assertion shows mkdocs' own message
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "data_contract" / "index.html").exists()
