"""YAML documents checked against the library's own strict JSON Schemas (pylib/corral/schemas/)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from corral import _yaml
from corral.errors import ValuesError


@cache
def schema(name: str) -> dict[str, Any]:
    """schemas/<name>.schema.json."""
    text = resources.files("corral").joinpath("schemas", f"{name}.schema.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def load(path: Path, name: str) -> dict[str, Any]:
    """The YAML file, checked; else ValuesError `<path>: <key.path>: <problem>`."""
    import jsonschema

    data = _yaml.read(path)
    errors = sorted(
        jsonschema.Draft202012Validator(schema(name)).iter_errors(data),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top)"
        raise ValuesError(f"{path}: {where}: {_message(first)}")
    result: dict[str, Any] = data
    return result


def _message(error: Any) -> str:
    """Jsonschema's message; a oneOf of `required` branches says which keys (not the instance)."""
    branches = error.validator_value if error.validator == "oneOf" else None
    if branches and all(list(b) == ["required"] for b in branches):
        keys = " or ".join(k for b in branches for k in b["required"])
        return f"set exactly one of {keys}"
    return str(error.message)
