"""The chart's values reference, chart/README.md, written by helm-docs from values.yaml."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from conftest import CHART
from shipping import checkout_copy


def reference() -> dict[str, str]:
    """Each row of the values table: key -> description."""
    rows = {}
    for line in (CHART / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 4 and cells[0] not in ("Key", "-----|------|---------|-------------"):
            rows[cells[0]] = cells[3]
    return rows


def leaves(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path


def test_every_value_has_a_row_with_a_description() -> None:
    rows = reference()
    assert len(rows) > 150
    undocumented = [key for key, description in rows.items() if not description]
    assert undocumented == []
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    # helm-docs gives a map documented as a whole (e.g. resources) one row, others a row a leaf.
    missing = [
        p for p in leaves(defaults) if not any(p == k or p.startswith(f"{k}.") for k in rows)
    ]
    assert missing == []


def test_docs_check_fails_while_the_reference_is_stale(tmp_path: Path) -> None:
    copy = checkout_copy(tmp_path)
    values = copy / "chart" / "values.yaml"
    values.write_text(values.read_text().replace("# -- Gateway replicas.", "# -- Gateway pods."))
    stale = subprocess.run(
        ["make", "docs-check"], cwd=copy, capture_output=True, text=True, timeout=120
    )
    assert stale.returncode == 2
    assert stale.stderr.splitlines()[0] == "docs: chart/README.md is stale; run `make docs`"
    assert "+| gateway.replicas | int | `1` | Gateway pods." in stale.stdout
    subprocess.run(["make", "docs"], cwd=copy, capture_output=True, check=True, timeout=120)
    fresh = subprocess.run(
        ["make", "docs-check"], cwd=copy, capture_output=True, text=True, timeout=120
    )
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
