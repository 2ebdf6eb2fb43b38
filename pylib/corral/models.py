"""The names a stack serves: each group's canonical served name, aliases and LoRA adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from corral.check import coalesce
from corral.groups import enabled


@dataclass(frozen=True)
class ServedModel:
    """One model group as clients see it."""

    group: str
    engine: str
    served_name: str
    aliases: tuple[str, ...]
    adapters: tuple[str, ...] = ()


def served_models(values: Mapping[str, Any]) -> list[ServedModel]:
    """Served names, aliases and adapter names of every enabled group, in group-name order."""
    return [
        ServedModel(
            g.name,
            g.engine,
            g.served_name,
            tuple(g.aliases),
            tuple(str(a["name"]) for a in g.adapters),
        )
        for g in enabled(coalesce(values))
    ]
