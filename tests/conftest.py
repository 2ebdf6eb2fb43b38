"""Shared fixtures: the repository layout and the pinned Helm binaries built by `make setup`."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "chart"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
# Fixtures for the real-cluster tests and the release artifacts (made only when a test asks).
pytest_plugins = ["kube", "shipping", "objectstore"]

HELMS = {"helm4": ROOT / ".tools" / "bin" / "helm", "helm3": ROOT / ".tools" / "bin" / "helm3"}


def helm(
    binary: Path, *args: str, values: Sequence[Path] = (), sets: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run a Helm command on the chart; never raises on a non-zero exit."""
    argv = [str(binary), *args]
    for path in values:
        argv += ["--values", str(path)]
    for item in sets:
        argv += ["--set", item]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def corral(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `corral` CLI, run from the repository root; never raises on its exit code."""
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "corral"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def render(
    values: Sequence[Path] = (), sets: Sequence[str] = (), binary: Path = HELMS["helm4"]
) -> list[dict[str, Any]]:
    """`helm template` the chart and return its manifests; fail the test on a render error."""
    done = helm(
        binary, "template", "llm", str(CHART), "--namespace", "corral", values=values, sets=sets
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(params=sorted(HELMS), ids=sorted(HELMS))
def helm_binary(request: pytest.FixtureRequest) -> Path:
    """Each pinned Helm in turn."""
    path: Path = HELMS[request.param]
    return path
