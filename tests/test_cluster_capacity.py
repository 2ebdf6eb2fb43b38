"""corral plan against the live test cluster names exactly the groups the real scheduler leaves Pending."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import Any

from conftest import ROOT
from conftest import corral as run_corral
from kube import ENV, STATE, get, release, wait_for

STACK = ROOT / "tests" / "fixtures" / "capacity" / "overcommit.yaml"


def plan(namespace: str) -> tuple[int, dict[str, Any]]:
    done: subprocess.CompletedProcess[str] = run_corral(
        "plan",
        str(STACK),
        "-n",
        namespace,
        "--kubeconfig",
        str(STATE / "kubeconfig"),
        "-o",
        "json",
        env=ENV,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def others_bound(namespace: str) -> bool:
    """Whether pods of earlier tests' namespaces still hold node resources."""
    pods = get("pods", "-A")["items"]
    return any(
        p["metadata"]["namespace"].startswith("t-")
        and p["metadata"]["namespace"] != namespace
        and p["spec"].get("nodeName")
        for p in pods
    )


def settled(namespace: str) -> list[dict[str, Any]]:
    """The model pods once each is bound to a node or marked Unschedulable by the scheduler."""
    pods = get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=model-server")["items"]

    def decided(pod: dict[str, Any]) -> bool:
        if pod["spec"].get("nodeName"):
            return True
        conditions = pod["status"].get("conditions") or []
        return any(
            c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions
        )

    return pods if len(pods) == 3 + 3 + 2 and all(decided(p) for p in pods) else []


def test_plan_names_exactly_the_groups_the_scheduler_leaves_pending(namespace: str) -> None:
    wait_for(lambda: not others_bound(namespace), timeout=180, message="earlier tests' pods gone")
    code, before = plan(namespace)
    assert code == 1
    assert before["pending"] == ["big"]

    release("install", namespace, "-f", STACK)
    pods = wait_for(lambda: settled(namespace), timeout=120, message="every pod scheduled or not")
    bound = Counter(
        p["metadata"]["labels"]["corral.dev/group"] for p in pods if p["spec"].get("nodeName")
    )
    pending = sorted(
        {p["metadata"]["labels"]["corral.dev/group"] for p in pods if not p["spec"].get("nodeName")}
    )
    assert pending == ["big"]
    assert bound == {"big": 2, "mid": 3, "small": 2}

    # Planned again with the release installed: its own pods are not counted against it.
    code, after = plan(namespace)
    assert code == 1
    assert after["pending"] == pending
    placed = {g["group"]: g["placed"] for g in after["groups"] if g["group"] != "gateway"}
    assert placed == dict(bound)
    big = next(g for g in after["groups"] if g["group"] == "big")
    assert big["reason"] == (
        "needs 8 nvidia.com/gpu per pod; at most 0 free on the 2 node(s) with "
        "nvidia.com/gpu.product=NVIDIA-H200"
    )
    assert after["free_gpus"]["h200-141gb"] == 0
    assert after["free_gpus"]["h100-80gb"] == 16 - 12
    assert after["free_gpus"]["l4-24gb"] == 4 - 2
