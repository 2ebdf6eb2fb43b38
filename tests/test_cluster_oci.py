"""The chart as an OCI artifact: `make publish` pushes it to a real registry on 127.0.0.1, and
Helm 4, Helm 3 and `corral install --chart oci://...` install it from there into the cluster."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from kube import ENV, HELM, STATE, get
from shipping import VERSION, Registry, make

EXAMPLE = ROOT / "examples" / "single-tgi.yaml"


def run(*argv: str | Path, registry: Registry) -> subprocess.CompletedProcess[str]:
    """A command against the test cluster that trusts and uses the test registry."""
    return subprocess.run(
        [str(a) for a in argv],
        env={**ENV, **registry.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def published(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """`make publish` to the registry; the chart's oci:// reference."""
    dist = tmp_path_factory.mktemp("published")
    make(
        "publish",
        f"REGISTRY=oci://{registry.host}/charts",
        f"DIST={dist}",
        env={**os.environ, **registry.env},
    )
    return f"oci://{registry.host}/charts/corral"


def release(namespace: str, registry: Registry) -> dict[str, str]:
    (found,) = json.loads(
        run(HELM["helm4"], "list", "-n", namespace, "-o", "json", registry=registry).stdout
    )
    return {k: found[k] for k in ("name", "chart", "app_version", "status")}


@pytest.mark.parametrize("binary", ["helm4", "helm3"])
def test_helm_installs_the_published_chart(
    binary: str, published: str, registry: Registry, namespace: str
) -> None:
    done = run(
        HELM[binary], "install", "llm", published, "--version", VERSION, "-n", namespace,
        "-f", EXAMPLE, "--wait", "--timeout", "3m", registry=registry,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert release(namespace, registry) == {
        "name": "llm",
        "chart": f"corral-{VERSION}",
        "app_version": VERSION,
        "status": "deployed",
    }
    deployment = get("deployment", "llm-corral-mistral-7b", "-n", namespace)
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION
    assert deployment["status"]["readyReplicas"] == 1


def test_corral_installs_the_published_chart(
    published: str, registry: Registry, namespace: str
) -> None:
    corral = ROOT / ".venv" / "bin" / "corral"
    common = ["-n", namespace, "--kubeconfig", str(STATE / "kubeconfig"), "--chart", published]
    missing = run(
        corral, "install", "llm", EXAMPLE, *common, "--chart-version", "9.9.9", registry=registry
    )
    assert (missing.returncode, missing.stderr) == (
        2,
        'corral: error: helm: failed to perform "FetchReference" on source: '
        f"{registry.host}/charts/corral:9.9.9: not found\n",
    )
    done = run(
        corral, "install", "llm", EXAMPLE, *common, "--chart-version", VERSION,
        "--wait", "--timeout", "3m", registry=registry,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "llm revision 1: deployed\n"), done.stderr
    assert release(namespace, registry)["chart"] == f"corral-{VERSION}"
