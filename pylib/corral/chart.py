"""The chart's own data files, read from the same place the templates read them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from corral import _yaml

CHART_DIR = Path(__file__).resolve().parent.parent.parent / "chart"


@cache
def schema() -> dict[str, Any]:
    """chart/values.schema.json."""
    data: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
    return data


@cache
def defaults() -> dict[str, Any]:
    """chart/values.yaml."""
    data: dict[str, Any] = _yaml.load((CHART_DIR / "values.yaml").read_text())
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
    data: dict[str, dict[str, Any]] = _yaml.load((CHART_DIR / "presets" / "gpus.yaml").read_text())
    return data
