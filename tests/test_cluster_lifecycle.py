"""Upgrades, rollouts and uninstalls against a real API server with full and spare GPU nodes."""

from __future__ import annotations

import threading
import time
from typing import Any

from conftest import CHART
from kube import get, helm, release, wait_for

BASE = [
    "--set",
    "modelGroups.m.model=hf://o/m",
    "--set",
    "modelGroups.m.replicas=2",
    "--set",
    "modelGroups.m.cache.type=emptyDir",
]


def deployment(namespace: str) -> dict[str, Any]:
    return dict(get("deployment", "llm-corral-m", "-n", namespace))


def pod_uids(namespace: str) -> set[str]:
    return {
        p["metadata"]["uid"]
        for p in get("pods", "-n", namespace, "-l", "corral.dev/group=m")["items"]
    }


def watch_ready(namespace: str, stop: threading.Event, seen: list[int]) -> None:
    """Record the Deployment's ready replicas, about ten times a second, until stopped."""
    while not stop.is_set():
        seen.append(deployment(namespace)["status"].get("readyReplicas", 0))
        time.sleep(0.1)


def test_upgrade_of_engine_args_rolls_pods_and_keeps_one_ready(namespace: str) -> None:
    release(
        "install",
        namespace,
        *BASE,
        "--set",
        "modelGroups.m.gpus.type=h100-80gb",
        "--wait",
    )
    before = pod_uids(namespace)
    stop, seen = threading.Event(), list[int]()
    watcher = threading.Thread(target=watch_ready, args=(namespace, stop, seen))
    watcher.start()
    try:
        release(
            "upgrade",
            namespace,
            *BASE,
            "--set",
            "modelGroups.m.gpus.type=h100-80gb",
            "--set",
            "modelGroups.m.extraArgs={--max-num-seqs=64}",
            "--wait",
        )
        wait_for(
            lambda: not pod_uids(namespace) & before and len(pod_uids(namespace)) == 2,
            message="every pod replaced",
        )
    finally:
        stop.set()
        watcher.join()
    assert min(seen) >= 1, seen
    assert deployment(namespace)["status"]["readyReplicas"] == 2


def test_alias_only_change_keeps_engine_pods_where_the_engine_does_not_serve_aliases(
    namespace: str,
) -> None:
    sglang = [
        *BASE,
        "--set",
        "modelGroups.m.engine=sglang",
        "--set",
        "modelGroups.m.gpus.type=a100-80gb",
    ]
    release(
        "install",
        namespace,
        *sglang,
        "--set",
        "modelGroups.m.aliases={a}",
        "--wait",
    )
    before = pod_uids(namespace)
    release(
        "upgrade",
        namespace,
        *sglang,
        "--set",
        "modelGroups.m.aliases={a,b}",
        "--wait",
    )
    time.sleep(2)
    assert pod_uids(namespace) == before
    assert deployment(namespace)["metadata"]["generation"] == 1


def test_surge_waits_for_a_spare_gpu_and_in_place_does_not(namespace: str) -> None:
    # Two replicas of two GPUs fill the only L4 node (4 GPUs).
    l4 = [*BASE, "--set", "modelGroups.m.gpus.type=l4-24gb", "--set", "modelGroups.m.gpus.count=2"]
    release("install", namespace, *l4, "--wait")
    old = pod_uids(namespace)
    release(
        "upgrade",
        namespace,
        *l4,
        "--set",
        "modelGroups.m.rollout.strategy=surge",
        "--set",
        "modelGroups.m.extraArgs={--enforce-eager}",
    )
    pending = wait_for(
        lambda: [
            p
            for p in get("pods", "-n", namespace, "-l", "corral.dev/group=m")["items"]
            if p["status"]["phase"] == "Pending"
        ],
        message="the surge pod",
    )
    time.sleep(3)
    assert len(pending) == 1
    assert old <= pod_uids(namespace)  # both old pods keep serving while the new one waits
    assert deployment(namespace)["status"]["readyReplicas"] == 2
    # inPlace needs no spare GPU: it replaces one pod at a time and finishes.
    release(
        "upgrade",
        namespace,
        *l4,
        "--set",
        "modelGroups.m.rollout.strategy=inPlace",
        "--set",
        "modelGroups.m.extraArgs={--enforce-eager}",
        "--wait",
        "--timeout",
        "2m",
    )
    wait_for(
        lambda: (
            not pod_uids(namespace) & old
            and deployment(namespace)["status"].get("readyReplicas") == 2
        ),
        message="the in-place rollout",
    )


def test_uninstall_keeps_the_model_cache_and_a_reinstall_reuses_it(namespace: str) -> None:
    example = CHART.parent / "examples" / "single-vllm.yaml"
    release("install", namespace, "-f", example, "--wait")
    claim = get("pvc", "llm-corral-llama-8b-cache", "-n", namespace)
    assert claim["status"]["phase"] == "Bound"
    helm("uninstall", "llm", "-n", namespace, "--wait")
    kept = get("pvc", "llm-corral-llama-8b-cache", "-n", namespace)
    assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
    release("install", namespace, "-f", example, "--wait")
    again = get("pvc", "llm-corral-llama-8b-cache", "-n", namespace)
    assert again["metadata"]["uid"] == claim["metadata"]["uid"]
    assert again["spec"]["volumeName"] == claim["spec"]["volumeName"]
