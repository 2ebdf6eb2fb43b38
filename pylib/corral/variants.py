"""Expand one base stack and a multi-document overrides file into checked variants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from corral import _yaml
from corral.check import check
from corral.errors import ValuesError
from corral.values import merge

NAME_KEY = "variant"


@dataclass(frozen=True)
class Variant:
    """One variant: its name, merged values and the problems `check` finds in them."""

    name: str
    values: dict[str, Any]
    problems: list[str]


def load_overrides(path: Path) -> list[dict[str, Any]]:
    """Every document of an overrides file (each a map; empty documents skipped)."""
    try:
        docs = [d for d in _yaml.load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as err:
        raise ValuesError(f"{path}: cannot read overrides: {err}".splitlines()[0]) from None
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise ValuesError(f"{path}: document {index + 1} is not a map")
    return docs


def expand(base: Mapping[str, Any], overrides: list[dict[str, Any]], stem: str) -> list[Variant]:
    """Merge each override over the base; a document's top-level `variant` key names it."""
    variants = []
    for index, doc in enumerate(overrides, start=1):
        layer = dict(doc)
        name = str(layer.pop(NAME_KEY, f"{stem}-{index}"))
        values = merge(base, layer)
        variants.append(Variant(name, values, check(values)))
    names = [v.name for v in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValuesError(f"variant names repeat: {', '.join(duplicates)}")
    return variants
