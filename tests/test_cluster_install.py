"""Every example installs into a real API server and its pods land on the right simulated GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import CHART, EXAMPLES
from corral.check import coalesce
from corral.groups import enabled
from corral.values import load
from kube import get, kubectl, prepare, ready, release, wait_for


def pods(namespace: str) -> list[dict[str, Any]]:
    """The model-server pods (not the gateway's)."""
    return list(
        get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=model-server")["items"]
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_installs_and_every_pod_is_ready_on_its_gpus(example: Path, namespace: str) -> None:
    prepare(namespace, example)
    done = release("install", namespace, "-f", example, "--wait", "--timeout", "4m")
    assert "STATUS: deployed" in done
    # Each group as the chart resolves it: modelGroupDefaults with the group's own keys over it.
    for resolved in enabled(coalesce(load(example))):
        name, group = resolved.name, resolved.values
        # Deployments are Ready when helm --wait returns; a LeaderWorkerSet's leader and worker
        # pods come from its controller, so wait for replicas x nodes of them.
        # (An autoscaled group's count is its scaler's: at least one pod.)
        scaled = group["autoscaling"]["enabled"]
        expected = 0 if scaled else group["replicas"] * group["nodes"]

        def group_ready(group_name: str = name, count: int = expected) -> list[dict[str, Any]]:
            found = [
                p
                for p in pods(namespace)
                if p["metadata"]["labels"].get("corral.dev/group") == group_name
            ]
            complete = len(found) == count if count else len(found) >= 1
            return found if complete and all(ready(p) for p in found) else []

        group_pods = wait_for(
            group_ready, timeout=120, message=f"{expected or 'some'} ready pods of {name}"
        )
        if group["nodes"] > 1:
            roles = sorted(p["metadata"]["labels"]["corral.dev/role"] for p in group_pods)
            assert roles == ["leader"] + ["worker"] * (group["nodes"] - 1)
        assert group_pods, name
        for pod in group_pods:
            assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
            assert ready(pod), pod["metadata"]["name"]
            gpu_type = group["gpus"]["type"]
            node = get("node", pod["spec"]["nodeName"])
            product = resolved.profiles[gpu_type].get("product") if gpu_type else ""
            if product:
                assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == product
            else:
                assert "nvidia.com/gpu.product" not in node["metadata"]["labels"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_helm3_server_checks_every_example(example: Path, namespace: str) -> None:
    """Helm 3's install --dry-run needs a cluster: here it has one, and the server validates."""
    for mode in ("client", "server"):
        done = release(
            "install",
            namespace,
            "-f",
            example,
            f"--dry-run={mode}",
            binary="helm3",
        )
        assert "STATUS: pending-install" in done, mode


def test_helm3_installs_and_waits(namespace: str) -> None:
    example = CHART.parent / "examples" / "single-tgi.yaml"
    release(
        "install",
        namespace,
        "-f",
        example,
        "--wait",
        "--timeout",
        "3m",
        binary="helm3",
    )
    (pod,) = pods(namespace)
    assert ready(pod)
    assert (
        get("node", pod["spec"]["nodeName"])["metadata"]["labels"]["nvidia.com/gpu.product"]
        == "NVIDIA-L4"
    )


def test_a_group_larger_than_any_node_stays_pending_and_says_why(namespace: str) -> None:
    release(
        "install",
        namespace,
        "--set",
        "modelGroups.huge.model=hf://o/huge",
        "--set",
        "modelGroups.huge.gpus.count=16",
        "--set",
        "modelGroups.huge.gpus.type=h100-80gb",
        "--set",
        "modelGroups.huge.parallelism.tensor=16",
    )
    (pod,) = wait_for(lambda: pods(namespace), message="the pod")
    events = wait_for(
        lambda: [
            e for e in get("events", "-n", namespace)["items"] if e["reason"] == "FailedScheduling"
        ],
        message="a FailedScheduling event",
    )
    assert pod["status"]["phase"] == "Pending"
    assert "Insufficient nvidia.com/gpu" in events[0]["message"]


def test_gateway_may_read_pods_in_its_namespace_and_nothing_more(namespace: str) -> None:
    release("install", namespace, "-f", CHART.parent / "examples" / "single-vllm.yaml", "--wait")
    sa = f"system:serviceaccount:{namespace}:llm-corral-gateway"

    def can(*args: str) -> str:
        return kubectl("auth", "can-i", *args, "--as", sa, check=False).strip()

    for verb in ("get", "list", "watch"):
        assert can(verb, "pods", "-n", namespace) == "yes", verb
    assert can("list", "pods", "-n", "default") == "no"
    assert can("get", "secrets", "-n", namespace) == "no"
    assert can("create", "pods", "-n", namespace) == "no"
    assert can("delete", "pods", "-n", namespace) == "no"
    assert can("list", "services", "-n", namespace) == "no"
    gateway = get("deployment", "llm-corral-gateway", "-n", namespace)
    assert gateway["status"]["readyReplicas"] == 1


@pytest.mark.parametrize(
    ("sets", "node", "resource"),
    [
        (["modelGroups.m.gpus.type=h100-40gb-mig"], "gpu-h100-mig-0", "nvidia.com/mig-3g.40gb"),
        (
            ["migStrategy=single", "modelGroups.m.gpus.type=a100-40gb-mig"],
            "gpu-a100-mig-0",
            "nvidia.com/gpu",
        ),
        (["modelGroups.m.gpus.type=cpu"], "cpu-0", ""),
    ],
    ids=["mig-mixed", "mig-single", "cpu"],
)
def test_mig_slices_and_cpu_groups_land_on_their_nodes(
    sets: list[str], node: str, resource: str, namespace: str
) -> None:
    args = [f"--set={s}" for s in ["modelGroups.m.model=hf://o/m", *sets]]
    release("install", namespace, *args, "--wait", "--timeout", "2m")
    (pod,) = pods(namespace)
    assert ready(pod)
    assert pod["spec"]["nodeName"] == node
    limits = pod["spec"]["containers"][0].get("resources", {}).get("limits", {})
    assert limits == ({resource: "1"} if resource else {})
