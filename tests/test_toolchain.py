"""The toolchain `make setup` builds is the pinned one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import HELMS, ROOT, helm

PINS = dict(
    line.split("=", 1)
    for line in (ROOT / "ci" / "versions.env").read_text().splitlines()
    if re.match(r"^[A-Z0-9_]+=", line)
)


@pytest.mark.parametrize(("name", "pin"), [("helm4", "HELM4_VERSION"), ("helm3", "HELM3_VERSION")])
def test_helm_reports_its_pinned_version(name: str, pin: str) -> None:
    done = helm(HELMS[name], "version", "--short")
    assert done.stdout.strip().split("+")[0] == PINS[pin]


@pytest.mark.parametrize("name", sorted(HELMS))
def test_helm_assumes_a_current_kubernetes(name: str, tmp_path: Path) -> None:
    """Unstamped Helm 3 assumes Kubernetes 1.20; ours must say 1.37 like Helm 4."""
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.0.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "kind: ConfigMap\nversion: {{ .Capabilities.KubeVersion.Version }}\n"
    )
    done = helm(HELMS[name], "template", str(chart))
    expected = f"v{PINS['HELM3_KUBE_MAJOR']}.{PINS['HELM3_KUBE_MINOR']}."
    assert f"version: {expected}" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(HELMS))
def test_unittest_plugin_is_installed(name: str) -> None:
    done = subprocess.run(
        [str(HELMS[name]), "plugin", "list"], capture_output=True, text=True, check=True
    )
    assert re.search(r"^unittest\s+1\.1\.2\b", done.stdout, re.M), done.stdout


@pytest.mark.parametrize(
    ("tool", "pin", "prints"),
    [
        ("helm-docs", "HELM_DOCS_VERSION", "helm-docs version {}"),
        ("registry", "DISTRIBUTION_VERSION", "{tool} github.com/distribution/distribution/v3 {}"),
    ],
)
def test_go_tools_report_their_pinned_version(tool: str, pin: str, prints: str) -> None:
    binary = str(ROOT / ".tools" / "bin" / tool)
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == prints.format(PINS[pin], tool=binary)
