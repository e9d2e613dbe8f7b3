"""Documentation stays in step with the code."""

from pathlib import Path

from orpr_kedro.core.contract import RAW_CONTRACTS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_data_contract_doc_lists_every_column():
    text = (DOCS / "data_contract.md").read_text()
    for name, contract in RAW_CONTRACTS.items():
        assert f"### `{name}`" in text
        for column in contract.columns:
            assert f"| `{column.name}` | {column.kind} |" in text, f"{name}.{column.name}"
