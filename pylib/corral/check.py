"""Check values against the chart's contract: its JSON Schema, then its cross-field rules."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corral import chart, fit, flags, rules
from corral.groups import enabled
from corral.values import load, merge


def coalesce(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """The values a release sees: chart/values.yaml with the given layers over it."""
    return merge(chart.defaults(), *layers)


def check_files(
    paths: Sequence[Path], release: str = "llm", configs: Mapping[str, Path] | None = None
) -> list[str]:
    """Every problem with the merged values files, one line each naming the key path."""
    return check(merge(*(load(p) for p in paths)), release, configs)


def check(
    values: Mapping[str, Any], release: str = "llm", configs: Mapping[str, Path] | None = None
) -> list[str]:
    """Every problem with user values (before chart defaults), one line each.

    Schema first, then the chart's rules; on values that pass both, engine flags in extraArgs
    (against the engine's catalog) and GPU fit.

    `configs` maps group names to a model config.json (or model/cache directory) for the GPU-fit
    check; groups without one are looked up in the local Hugging Face cache, else not sized.
    """
    full = coalesce(values)
    found = schema_problems(full)
    if found:
        return found
    groups = enabled(full)
    found = rules.problems(full, groups, release)
    return found or flags.problems(groups) + fit.problems(groups, configs or {})


def schema_problems(values: Mapping[str, Any]) -> list[str]:
    """Schema violations as `<key.path>: <problem>` lines, sorted by path.

    jsonschema-rs answers whether there are any (tens of milliseconds at a thousand groups);
    only values it refuses go through jsonschema, whose errors the lines are written from.
    """
    import jsonschema_rs  # here, not above: render and diff start Helm before these imports

    if jsonschema_rs.Draft202012Validator(chart.schema()).is_valid(values):
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(chart.schema())
    lines = []
    for error in validator.iter_errors(values):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed)):
                lines.append(_unknown_key(f"{path}.{key}".lstrip("."), key, allowed))
        elif error.validator == "required":
            lines.append(f"{path}: {error.message}")
        else:
            lines.append(f"{path}: {error.message}".lstrip(": "))
    return sorted(lines)


def _unknown_key(path: str, key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"allowed: {', '.join(allowed)}"
    return f"{path}: unknown key; {hint}"
