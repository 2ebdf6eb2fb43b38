"""YAML through libyaml when PyYAML has it (several times faster), else PyYAML's Python code.

Both are PyYAML's safe loader, so what is read is the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from corral.errors import ValuesError

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """The one document of a YAML text."""
    return yaml.load(text, Loader=LOADER)


def load_all(text: str) -> Iterator[Any]:
    """Every document of a YAML text."""
    return yaml.load_all(text, Loader=LOADER)


def read(path: Path) -> Any:
    """The one document of a YAML file; else ValuesError naming the file and what is wrong."""
    try:
        return load(path.read_text())
    except OSError as err:
        raise ValuesError(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ValuesError(f"{path}: not valid YAML: {err}".splitlines()[0]) from None
