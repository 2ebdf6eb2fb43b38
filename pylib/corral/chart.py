"""The chart and its own data files, read from the same place the templates read them.

An installed wheel carries the chart as `corral/chart`; in a checkout it is `chart/` beside
`pylib/`, and the checkout's `.tools/` holds the pinned Helm and CRDs from `make setup`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from corral import _yaml
from corral.errors import ToolError

_BUNDLED = resources.files("corral") / "chart"
# The checkout's root, or None when the chart comes with an installed wheel.
CHECKOUT = None if isinstance(_BUNDLED, Path) and _BUNDLED.is_dir() else Path(__file__).parents[2]
CHART_DIR = Path(str(_BUNDLED)) if CHECKOUT is None else CHECKOUT / "chart"


def _read(*parts: str) -> str:
    try:
        return CHART_DIR.joinpath(*parts).read_text()
    except FileNotFoundError:
        raise ToolError(f"chart incomplete: no {'/'.join(parts)} in {CHART_DIR}") from None


@cache
def schema() -> dict[str, Any]:
    """chart/values.schema.json."""
    data: dict[str, Any] = json.loads(_read("values.schema.json"))
    return data


@cache
def defaults() -> dict[str, Any]:
    """chart/values.yaml."""
    data: dict[str, Any] = _yaml.load(_read("values.yaml"))
    return data


@cache
def metadata() -> dict[str, Any]:
    """chart/Chart.yaml (version 0.0.0 in a checkout; the package version once packaged)."""
    data: dict[str, Any] = _yaml.load(_read("Chart.yaml"))
    return data


@cache
def engine_presets() -> dict[str, dict[str, Any]]:
    """Every engine preset by engine name (chart/presets/engines/*.yaml)."""
    return {
        path.stem: _yaml.load(path.read_text())
        for path in sorted((CHART_DIR / "presets" / "engines").glob("*.yaml"))
    }


@cache
def gpu_profiles() -> dict[str, dict[str, Any]]:
    """The chart's GPU profiles (chart/presets/gpus.yaml)."""
    data: dict[str, dict[str, Any]] = _yaml.load(_read("presets", "gpus.yaml"))
    return data


@cache
def credential_patterns() -> dict[str, Any]:
    """What a literal credential looks like (chart/presets/credentials.yaml)."""
    data: dict[str, Any] = _yaml.load(_read("presets", "credentials.yaml"))
    return data
