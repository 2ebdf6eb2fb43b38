"""Golden renders: `write` renders every example into tests/golden/, `check` fails on drift.

The renders are whole-output checks (the llm-d-modelservice pattern): any change to what an
example produces shows up as a diff to review and commit with `make golden`.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELM = ROOT / ".tools" / "bin" / "helm"
RELEASE, NAMESPACE = "llm", "corral"


def render(example: Path) -> str:
    """Render one example with the pinned Helm 4."""
    argv = [
        str(HELM),
        "template",
        RELEASE,
        str(ROOT / "chart"),
        "--namespace",
        NAMESPACE,
        "--values",
        str(example),
    ]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def main(mode: str) -> int:
    """Write or check the golden render of every example; return the exit code."""
    golden_dir = ROOT / "tests" / "golden"
    drift = 0
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        golden = golden_dir / example.name
        rendered = render(example)
        if mode == "write":
            golden.write_text(rendered)
            continue
        expected = golden.read_text() if golden.exists() else ""
        if rendered != expected:
            drift += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    rendered.splitlines(keepends=True),
                    f"tests/golden/{example.name}",
                    f"render of examples/{example.name}",
                )
            )
    if drift:
        print(f"golden: {drift} render(s) differ from tests/golden; review, then run `make golden`")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("write", "check"):
        sys.exit("usage: golden.py write|check")
    sys.exit(main(sys.argv[1]))
