"""The `helm test` pod passes the restricted Pod Security Standard in a real API server's
admission, and a pod that breaks the standard is refused there (so the check bites)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import EXAMPLES, render
from kube import KUBECTL, kubectl, run

SETS = ["gateway.apiKey.value=sk-corral-admission"]


def hook_pod(namespace: str) -> dict[str, Any]:
    """The rendered `helm test` Pod of the multi-engine example, in namespace."""
    (example,) = [e for e in EXAMPLES if e.stem == "multi-engine"]
    (pod,) = [d for d in render([example], sets=SETS) if d["kind"] == "Pod"]
    pod["metadata"]["namespace"] = namespace
    return pod


def restricted(namespace: str) -> None:
    """Enforce the restricted Pod Security Standard on namespace."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")


def dry_run(pod: dict[str, Any]) -> tuple[int, str]:
    """Create pod with a server-side dry run: (exit code, kubectl's stderr)."""
    done = run(KUBECTL, "create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False)
    return done.returncode, done.stderr


def test_the_test_pod_is_admitted_under_restricted(namespace: str) -> None:
    restricted(namespace)
    code, err = dry_run(hook_pod(namespace))
    assert code == 0, err
    assert "warning" not in err.lower(), err


# Each breach: where (the pod's or the container's securityContext), the key, its new value
# (None takes it out), and what the refusal names.
BREACHES = {
    "privilege-escalation": (
        "container",
        "allowPrivilegeEscalation",
        True,
        "allowPrivilegeEscalation",
    ),
    "capabilities": ("container", "capabilities", None, "unrestricted capabilities"),
    "seccomp": ("pod", "seccompProfile", None, "seccompProfile"),
    "root": ("pod", "runAsNonRoot", False, "runAsNonRoot"),
}


@pytest.mark.parametrize("breach", sorted(BREACHES))
def test_a_pod_breaking_restricted_is_refused(namespace: str, breach: str) -> None:
    where, key, value, refusal = BREACHES[breach]
    restricted(namespace)
    pod = hook_pod(namespace)
    spec = pod["spec"] if where == "pod" else pod["spec"]["containers"][0]
    if value is None:
        del spec["securityContext"][key]
    else:
        spec["securityContext"][key] = value
    code, err = dry_run(pod)
    assert code != 0
    assert 'violates PodSecurity "restricted:' in err, err
    assert refusal in err, err
