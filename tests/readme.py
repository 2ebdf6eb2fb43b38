"""README.md's code blocks, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(language: str) -> list[str]:
    """Every fenced block of this language, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def shell(first_line: str) -> str:
    """The shell block that starts with this line (tests name the blocks they run this way)."""
    (found,) = [b for b in blocks("sh") if b.splitlines()[0] == first_line]
    return found


def after(block: str, language: str) -> str:
    """The block of this language that follows `block` (a command's output, say)."""
    rest = README.split(f"```sh\n{block}```", 1)[1]
    match = re.match(rf"\s*```{language}\n(.*?)```", rest, re.S)
    assert match, f"no {language} block after {block.splitlines()[0]!r}"
    return match.group(1)
