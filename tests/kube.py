"""The real-cluster test kit: a real API server with simulated GPU nodes for the session
(ci/cluster.sh up/down), helpers to drive kubectl and helm against it, and per-test namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from corral.pods import ready as ready  # the tests import it from here

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".tools" / "cluster" / "state"
KUBECTL = ROOT / ".tools" / "cluster" / "bin" / "kubectl"
HELM = {"helm4": ROOT / ".tools" / "bin" / "helm", "helm3": ROOT / ".tools" / "bin" / "helm3"}
ENV = {
    **os.environ,
    "KUBECONFIG": str(STATE / "kubeconfig"),
    "KUBECACHEDIR": str(STATE / "kubecache"),
}
PV_POOL = 40


def run(
    *argv: str | Path, stdin: str | None = None, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command against the test cluster; on failure show its output."""
    done = subprocess.run(
        [str(a) for a in argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode:
        raise AssertionError(f"{' '.join(str(a) for a in argv)}\n{done.stdout}\n{done.stderr}")
    return done


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """kubectl against the test cluster; its stdout."""
    return run(KUBECTL, *args, stdin=stdin, check=check).stdout


def get(*args: str) -> Any:
    """kubectl get ... -o json, parsed."""
    return json.loads(kubectl("get", *args, "-o", "json"))


def helm(
    *args: str | Path, binary: str = "helm4", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The pinned Helm against the test cluster."""
    return run(HELM[binary], *args, check=check)


def release(action: str, namespace: str, *args: str | Path, binary: str = "helm4") -> str:
    """`helm install|upgrade llm <chart> -n NAMESPACE ...` against the test cluster; its stdout."""
    return helm(action, "llm", ROOT / "chart", "-n", namespace, *args, binary=binary).stdout


def wait_for(predicate: Any, timeout: float = 60, message: str = "condition") -> Any:
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def persistent_volumes(count: int, storage_class: str = "") -> str:
    """Static PVs for claims to bind to (the simulated cluster has no provisioner)."""
    docs = []
    for i in range(count):
        name = f"pv-{storage_class or 'default'}-{i}"
        docs.append(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": name},
                    "spec": {
                        "capacity": {"storage": "4Ti"},
                        "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": storage_class,
                        "hostPath": {"path": f"/srv/corral-test/{name}"},
                    },
                }
            )
        )
    return "\n---\n".join(docs)


@pytest.fixture(scope="session")
def cluster() -> Iterator[None]:
    """Start the cluster once, add a pool of volumes, and always tear it down."""
    subprocess.run(["bash", str(ROOT / "ci" / "cluster.sh"), "up"], check=True, timeout=600)
    try:
        kubectl(
            "apply",
            "-f",
            "-",
            stdin=persistent_volumes(PV_POOL) + "\n---\n" + persistent_volumes(8, "shared-rwx"),
        )
        yield
    finally:
        subprocess.run(["bash", str(ROOT / "ci" / "cluster.sh"), "down"], check=False, timeout=120)


@pytest.fixture
def namespace(cluster: None) -> Iterator[str]:
    """A fresh namespace with the hf-token Secret the examples name; deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    kubectl("-n", name, "create", "secret", "generic", "hf-token", "--from-literal=token=unused")
    try:
        yield name
    finally:
        for release in json.loads(helm("list", "-n", name, "-o", "json").stdout or "[]"):
            helm("uninstall", release["name"], "-n", name, "--wait", check=False)
        kubectl("delete", "pvc", "--all", "-n", name, "--wait=false", check=False)
        kubectl("delete", "namespace", name, "--wait=false", check=False)
        # Free the volumes those claims held, so later tests can bind them again.
        for pv in get("pv")["items"]:
            ref = pv["spec"].get("claimRef") or {}
            if ref.get("namespace") == name:
                kubectl(
                    "patch",
                    "pv",
                    pv["metadata"]["name"],
                    "--type=json",
                    "-p",
                    '[{"op":"remove","path":"/spec/claimRef"}]',
                    check=False,
                )


def prepare(namespace: str, example: Path) -> None:
    """Objects an example expects to exist already (the GGUF claim of the multi-engine stack)."""
    if "pvc://gguf-models" in example.read_text():
        kubectl(
            "-n",
            namespace,
            "apply",
            "-f",
            "-",
            stdin=yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "gguf-models"},
                    "spec": {
                        "accessModes": ["ReadWriteMany"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ),
        )
