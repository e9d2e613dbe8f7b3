"""Documentation stays in step with the code, and the site builds."""

import re
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


def test_no_documented_command_uses_kedros_deprecated_pipeline_option():
    """`kedro run --pipeline` warns that it is deprecated: the docs, the Makefile and the code's own texts say `--pipelines`."""
    root = DOCS.parent
    files = [root / "README.md", root / "Makefile", *DOCS.rglob("*.md"), *(root / "src").rglob("*.py")]
    files += [*(root / "notebooks").glob("*.ipynb"), *(root / "conf").rglob("*.yml")]
    found = []
    for path in files:
        # a command may wrap onto the next line: `kedro run` and its options are read as one text
        text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))
        for command in re.findall(r"kedro run[^`\"\n]*", text):
            if re.search(r"--pipeline(?![s\w-])", command):
                found.append(f"{path.relative_to(root)}: {command[:80]}")
    assert found == []


def test_the_planner_page_explains_every_reason_code_and_the_pipelines_page_every_order_column():
    from orpr_kedro.core.order_list import REASON_CODES
    from orpr_kedro.core.recommend.columns import ORDER_COLUMNS, RECOMMENDATION_COLUMNS

    planner = (DOCS / "planner.md").read_text()
    assert [code for code in REASON_CODES if f"| `{code}` |" not in planner] == []
    pipelines = (DOCS / "pipelines.md").read_text()
    assert [column for column in (*RECOMMENDATION_COLUMNS, *ORDER_COLUMNS) if f"`{column}`" not in pipelines] == []


def test_the_bring_your_own_data_guide_names_every_cost_default_as_conf_base_has_it():
    import yaml

    costs = yaml.safe_load((DOCS.parent / "conf/base/parameters_data_processing.yml").read_text())["data_processing"][
        "costs"
    ]
    guide = (DOCS / "bring_your_own_data.md").read_text()
    rows = dict(re.findall(r"^\| `costs\.(\w+)` \| `([^`]*)` \|", guide, flags=re.MULTILINE))
    assert set(rows) == set(costs)
    assert {name: yaml.safe_load(value) for name, value in rows.items()} == costs
