"""Pod Security admission in a real API server. Every example but the two that need `privileged`
(below) installs into a namespace that enforces `baseline`, where its engines run; the gateway,
standby and helper pods it runs there are then admitted under `restricted` too, and the engines
are not (their images run as root)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import CHART, EXAMPLES, render
from kube import KUBECTL, get, kubectl, prepare, release, run, wait_for

ENFORCE = "pod-security.kubernetes.io/enforce"
# What only `privileged` allows, by example (below): multi-node groups with RDMA add IPC_LOCK;
# the node cache mounts its root from the node (hostPath), in the agent and the model pods.
PRIVILEGED = {"multinode": "IPC_LOCK", "node-cache": "hostPath volumes"}
BASELINE = [e for e in EXAMPLES if e.stem not in PRIVILEGED]
HELPERS = {"gateway", "standby", "test"}


def enforce(namespace: str, level: str) -> None:
    """Enforce a Pod Security level on namespace (the API server's built-in admission)."""
    kubectl("label", "namespace", namespace, "--overwrite", f"{ENFORCE}={level}")


def dry_run(pod: dict[str, Any]) -> tuple[int, str]:
    """Create pod with a server-side dry run: (exit code, kubectl's stderr)."""
    done = run(KUBECTL, "create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False)
    return done.returncode, done.stderr


def copy(pod: dict[str, Any]) -> dict[str, Any]:
    """A new Pod with a running pod's spec, as its controller would create it again."""
    spec = {k: v for k, v in pod["spec"].items() if k not in ("nodeName", "priority")}
    meta = pod["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name'][:50]}-again",
            "namespace": meta["namespace"],
            "labels": meta["labels"],
        },
        "spec": spec,
    }


def component(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["labels"].get("app.kubernetes.io/component", ""))


@pytest.mark.parametrize("example", BASELINE, ids=lambda p: p.stem)
def test_engines_run_under_baseline_and_helpers_under_restricted(
    example: Path, namespace: str
) -> None:
    enforce(namespace, "baseline")
    prepare(namespace, example)
    done = release("install", namespace, "-f", example, "--wait", "--timeout", "4m")
    assert "STATUS: deployed" in done
    pods = get("pods", "-n", namespace)["items"]
    kinds = {component(p) for p in pods}
    # Every example runs SMG; the autoscaling one has a group at zero, hence a standby.
    assert {"model-server", "gateway"} <= kinds
    assert ("standby" in kinds) == ("minReplicas: 0" in example.read_text())
    # Every Deployment is Ready: each pod it runs was admitted under baseline.
    for deployment in get("deployments", "-n", namespace)["items"]:
        status = deployment["status"]
        name = deployment["metadata"]["name"]
        assert status.get("readyReplicas") == status.get("replicas"), name
    # Pods already running stay; a new pod must meet the new level.
    enforce(namespace, "restricted")
    for pod in pods:
        code, err = dry_run(copy(pod))
        if component(pod) in HELPERS:
            assert code == 0, f"{pod['metadata']['name']}: {err}"
            assert "warning" not in err.lower(), err
        else:
            assert component(pod) == "model-server"
            assert code != 0, pod["metadata"]["name"]
            assert 'violates PodSecurity "restricted:latest"' in err, err
            assert "runAsNonRoot != true" in err, err
    # The `helm test` pod, as rendered (helm test would wait for it to finish).
    hooks = [d for d in render([example]) if d["kind"] == "Pod" and component(d) == "test"]
    assert hooks
    for hook in hooks:
        hook["metadata"]["namespace"] = namespace
        code, err = dry_run(hook)
        assert code == 0, err


def test_the_gateway_and_standby_come_up_in_a_restricted_namespace(namespace: str) -> None:
    """Created by their controllers under restricted: the gateway and a group's standby run,
    while the group's engine pods are refused."""
    enforce(namespace, "restricted")
    release(
        "install",
        namespace,
        "--set",
        "modelGroups.z.model=hf://o/z",
        "--set",
        "modelGroups.z.cache.type=emptyDir",
        "--set",
        "modelGroups.z.autoscaling.enabled=true",
        "--set",
        "modelGroups.z.autoscaling.minReplicas=0",
    )

    def running() -> set[str]:
        pods = get("pods", "-n", namespace)["items"]
        return {component(p) for p in pods if p["status"].get("phase") == "Running"}

    wait_for(lambda: {"gateway", "standby"} <= running(), timeout=90, message="gateway, standby")
    assert "model-server" not in running()
    refused = wait_for(
        lambda: [
            e["message"]
            for e in get("events", "-n", namespace)["items"]
            if e["reason"] == "FailedCreate" and "violates PodSecurity" in e["message"]
        ],
        message="the engine's pod refused",
    )
    assert all('"restricted:latest"' in m for m in refused), refused
    assert any("runAsNonRoot != true" in m for m in refused), refused


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.stem in PRIVILEGED], ids=lambda p: p.stem
)
def test_rdma_and_node_cache_pods_need_privileged(example: Path, namespace: str) -> None:
    """RDMA's IPC_LOCK and the node cache's hostPath are beyond baseline: those pods are refused
    with that reason."""
    enforce(namespace, "baseline")
    prepare(namespace, example)
    release("install", namespace, "-f", example)

    def refusals() -> list[str]:
        return [
            e["message"]
            for e in get("events", "-n", namespace)["items"]
            if e["reason"] == "FailedCreate" and "violates PodSecurity" in e["message"]
        ]

    messages = wait_for(refusals, timeout=90, message="a pod refused by Pod Security")
    assert any('"baseline:latest"' in m and PRIVILEGED[example.stem] in m for m in messages), (
        messages
    )


def test_an_engine_made_non_root_by_values_runs_under_restricted(namespace: str) -> None:
    """An engine image with a non-root user (vLLM's Dockerfile has an opt-in one, UID 2000 in
    group 0) runs in a restricted namespace with the pod and container settings given here."""
    enforce(namespace, "restricted")
    values = CHART.parent / "examples" / "single-vllm.yaml"
    release(
        "install",
        namespace,
        "-f",
        values,
        "--set-json",
        'modelGroupDefaults.podSecurityContext={"runAsNonRoot":true,"runAsUser":2000,'
        '"runAsGroup":0,"fsGroup":0,"seccompProfile":{"type":"RuntimeDefault"}}',
        "--set-json",
        'modelGroupDefaults.securityContext={"allowPrivilegeEscalation":false,'
        '"capabilities":{"drop":["ALL"]}}',
        "--wait",
        "--timeout",
        "3m",
    )
    for deployment in get("deployments", "-n", namespace)["items"]:
        assert deployment["status"].get("readyReplicas") == 1, deployment["metadata"]["name"]
