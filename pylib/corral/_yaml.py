"""YAML through libyaml when PyYAML has it (several times faster), else PyYAML's Python code.

Both are PyYAML's safe loader, so what is read is the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """The one document of a YAML text."""
    return yaml.load(text, Loader=LOADER)


def load_all(text: str) -> Iterator[Any]:
    """Every document of a YAML text."""
    return yaml.load_all(text, Loader=LOADER)
