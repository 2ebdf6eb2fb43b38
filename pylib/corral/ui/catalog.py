"""The operator's model catalog: a YAML file of models a user may pick, each with its config.json.

models:
  - name: Qwen3 30B-A3B FP8
    source: hf://Qwen/Qwen3-30B-A3B-FP8
    revision: 0123abcd            # optional
    config: configs/qwen3.json    # a path (relative to the catalog), or the config inline
    notes: MoE, 3B active parameters; FP8 weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.errors import ValuesError
from corral.values import load

KEYS = {"name", "source", "revision", "config", "notes"}


@dataclass(frozen=True)
class Entry:
    """One catalog model and its config.json."""

    name: str
    source: str
    revision: str | None
    config: dict[str, Any]
    notes: str


def load_catalog(path: Path) -> list[Entry]:
    """The catalog's models; ValuesError naming the entry and key for anything malformed."""
    data = load(path)
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise ValuesError(f"{path}: models: a list of models is required")
    entries = []
    for index, item in enumerate(models):
        where = f"{path}: models[{index}]"
        if not isinstance(item, dict):
            raise ValuesError(f"{where}: a map is required")
        unknown = sorted(set(item) - KEYS)
        if unknown:
            raise ValuesError(
                f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(KEYS))}"
            )
        for key in ("name", "source", "config"):
            if not item.get(key):
                raise ValuesError(f"{where}.{key}: required")
        entries.append(
            Entry(
                str(item["name"]),
                str(item["source"]),
                str(item["revision"]) if item.get("revision") else None,
                _config(item["config"], path.parent, f"{where}.config"),
                str(item.get("notes") or ""),
            )
        )
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValuesError(f"{path}: models: {twice[0]} is listed twice; give each a unique name")
    return entries


def _config(value: Any, base: Path, where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    target = base / str(value)
    target = target / "config.json" if target.is_dir() else target
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError) as err:
        raise ValuesError(f"{where}: {target} is not a readable config.json: {err}") from None
    if not isinstance(data, dict):
        raise ValuesError(f"{where}: {target} must hold a JSON object")
    return data
