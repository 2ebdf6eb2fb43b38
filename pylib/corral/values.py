"""Values files: load, dump and merge them the way Helm does."""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from corral import _yaml
from corral.errors import ValuesError


def load(path: Path) -> dict[str, Any]:
    """Read one values file; an empty file is an empty map."""
    data = _yaml.read(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError(f"{path}: a values file must hold a map, not {type(data).__name__}")
    return data


def dump(values: Mapping[str, Any]) -> str:
    """YAML text of values, keys in their given order."""
    return yaml.safe_dump(dict(values), sort_keys=False, default_flow_style=False)


def add_group(text: str, name: str, group: Mapping[str, Any], comment: str = "") -> str:
    """Values file text with one more model group (and a comment above it, when given).

    The file's own comments, order and layout are kept (ruamel.yaml's round trip).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    rt = YAML()
    doc = rt.load(text) or CommentedMap()
    if doc.get("modelGroups") is None:
        doc["modelGroups"] = CommentedMap()
    groups = doc["modelGroups"]
    groups.fa.set_block_style()
    groups[name] = copy.deepcopy(dict(group))
    if comment:
        groups.yaml_set_comment_before_after_key(name, before=comment, indent=2)
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge values as Helm merges several -f files; later layers win.

    Maps merge, lists and scalars replace, and a null deletes the key. Inputs are not modified.
    """
    result: dict[str, Any] = {}
    for layer in layers:
        result = _merge_two(result, layer)
    return result


def overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Lay `top` over `base` as the chart applies modelGroupDefaults (sprig mergeOverwrite).

    Maps merge, everything else in `top` replaces, an explicit false or 0 wins, and a null stays
    as null (unset).
    """
    result = {key: None if key in top else _copy(value) for key, value in base.items()}
    for key, value in top.items():
        below = base.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            result[key] = overlay(below, value)
        else:
            result[key] = _copy(value)
    return result


def _merge_two(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    result = {key: None if key in top else _copy(value) for key, value in base.items()}
    for key, value in top.items():
        below = base.get(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(below, Mapping):
            result[key] = _merge_two(below, value)
        else:
            result[key] = _copy(value)
    return result


def _copy(value: Any) -> Any:
    """A deep copy of parsed YAML: maps and lists are copied, scalars shared."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
