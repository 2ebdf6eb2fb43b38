"""YAML through libyaml when PyYAML has it (several times faster), else PyYAML's Python code.

Both are PyYAML's safe loader and dumper, so what is read and written is the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load(text: str) -> Any:
    """The one document of a YAML text."""
    return yaml.load(text, Loader=LOADER)


def load_all(text: str) -> Iterator[Any]:
    """Every document of a YAML text."""
    return yaml.load_all(text, Loader=LOADER)


def dump(data: Any) -> str:
    """YAML text of plain data, keys sorted, block style."""
    return yaml.dump(data, Dumper=DUMPER)
