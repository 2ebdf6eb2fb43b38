"""What the autoscalers rely on, in a real API server: the chart never resets a scaled replica
count, and a LeaderWorkerSet target scales through its scale subresource to zero and back, the
way KEDA drives it."""

from __future__ import annotations

from typing import Any

from conftest import ROOT
from kube import get, kubectl, prepare, ready, release, wait_for


def group_pods(namespace: str, group: str, *selector: str) -> list[dict[str, Any]]:
    labels = ",".join(
        ["app.kubernetes.io/component=model-server", f"corral.dev/group={group}", *selector]
    )
    return list(get("pods", "-n", namespace, "-l", labels)["items"])


def test_an_upgrade_keeps_the_replicas_the_scaler_set(namespace: str) -> None:
    example = ROOT / "examples" / "autoscaling.yaml"
    release("install", namespace, "-f", example, "--wait")
    # KEDA raises llama-8b to three replicas under load.
    kubectl("-n", namespace, "scale", "deployment/llm-corral-llama-8b", "--replicas=3")
    wait_for(
        lambda: len([p for p in group_pods(namespace, "llama-8b") if ready(p)]) == 3,
        60,
        "three llama-8b pods",
    )
    # An upgrade that changes the pod template rolls the pods but leaves the count to the scaler.
    release("upgrade", namespace, "-f", example, "--set=commonLabels.team=ml", "--wait")
    deployment = get("deployment", "-n", namespace, "llm-corral-llama-8b")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "ml"
    scaled = get("scaledobject", "-n", namespace, "llm-corral-llama-8b")
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "Deployment"


def test_a_leader_worker_set_scales_to_zero_and_back_through_its_scale_subresource(
    namespace: str,
) -> None:
    example = ROOT / "examples" / "multinode.yaml"
    prepare(namespace, example)
    sets = [
        "modelGroups.kimi-k2.autoscaling.enabled=true",
        "modelGroups.kimi-k2.autoscaling.minReplicas=0",
    ]
    release("install", namespace, "-f", example, *(f"--set={s}" for s in sets), "--wait")
    scaled = get("scaledobject", "-n", namespace, "llm-corral-kimi-k2")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], scaled["spec"]["minReplicaCount"]) == ("LeaderWorkerSet", 0)
    lws = f"leaderworkerset/{target['name']}"

    def leader_and_worker() -> bool:
        pods = [p for p in group_pods(namespace, "kimi-k2") if ready(p)]
        return sorted(p["metadata"]["labels"]["corral.dev/role"] for p in pods) == [
            "leader",
            "worker",
        ]

    wait_for(leader_and_worker, 120, "kimi-k2 up as a leader and a worker")
    # Idle: KEDA takes the group to zero; the standby answers for it meanwhile.
    kubectl("-n", namespace, "scale", lws, "--replicas=0")
    wait_for(lambda: not group_pods(namespace, "kimi-k2"), 120, "kimi-k2 at zero")
    standby = get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=standby")["items"]
    assert [p["metadata"]["labels"]["corral.dev/group"] for p in standby] == ["kimi-k2"]
    # A request arrives: KEDA wakes it, and the whole group comes back.
    kubectl("-n", namespace, "scale", lws, "--replicas=1")
    wait_for(leader_and_worker, 120, "kimi-k2 back as a leader and a worker")
