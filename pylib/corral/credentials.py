"""Literal credentials in env values and arguments, refused as the chart refuses them.

The chart's side is chart/templates/_credentials.tpl; both read chart/presets/credentials.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from corral import chart

ENV_FIX = "put it in a Secret and use valueFrom.secretKeyRef"
ARG_FIX = "put it in a Secret, add it to env with valueFrom.secretKeyRef and pass $(NAME) here"


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], tuple[tuple[str, re.Pattern[str]], ...]]:
    data = chart.credential_patterns()
    shapes = tuple((s["kind"], re.compile(s["pattern"])) for s in data["shapes"])
    return re.compile(data["names"]), re.compile(data["reference"]), shapes


def shape(text: str) -> str:
    """The kind of the first token shape text matches, else ""."""
    return next((kind for kind, pattern in _patterns()[2] if pattern.search(text)), "")


def in_env(path: str, env: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    """One line per env entry whose literal value is a credential (by its name or shape)."""
    names, reference, _ = _patterns()
    for i, entry in enumerate(env):
        value = _text(entry.get("value"))
        if not value or reference.search(value):
            continue
        at = f"{path}[{i}].value"
        kind = shape(value)
        if names.search(str(entry["name"])):
            yield f"{at}: {entry['name']} is a credential written literally; {ENV_FIX}"
        elif kind:
            yield f"{at}: looks like {kind} written literally; {ENV_FIX}"


def in_args(path: str, args: Sequence[Any]) -> Iterator[str]:
    """One line per argument carrying a literal credential.

    That is the value of a credential-named flag (`--api-key=...` or `--api-key ...`), or an
    argument with a token's shape.
    """
    names, reference, _ = _patterns()
    pending = ""
    for i, arg in enumerate(args):
        text, at, flagged = _text(arg), f"{path}[{i}]", False
        if pending and not text.startswith("-") and text and not reference.search(text):
            yield f"{at}: {pending} takes a credential, written here literally; {ARG_FIX}"
            flagged = True
        pending = ""
        if not flagged and text.startswith("-"):
            flag, equals, value = text.partition("=")
            if names.search(flag.strip("-").replace("-", "_")):
                if not equals:
                    pending = flag
                elif value and not reference.search(value):
                    yield f"{at}: {flag} takes a credential, written here literally; {ARG_FIX}"
                    flagged = True
        if not flagged and (kind := shape(text)):
            yield f"{at}: looks like {kind} written literally; {ARG_FIX}"


def _text(value: Any) -> str:
    """A value as the chart reads it: `value | default ""`, then toString."""
    if not value:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)
