"""An installed stack's pods brought to life here: what `corral demo` and the cluster tests share.

The local cluster of ci/cluster.sh gives pods loopback addresses. A pod's process binds the pod's
own address and port, so the gateway, which finds pods through the API server, reaches it there.
The gateway and the standby run with their installed Deployments' arguments; only the listen
addresses, the key's `$(VAR)` and the standby's Service address change.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from typing import Any

from corral import chart, local

SERVING = "corral.dev/serving=true"
STANDBY = chart.CHART_DIR / "files" / "standby.py"
# The gateway's listeners: every interface in a pod, one loopback address here.
_GATEWAY_LISTEN = ("--host", "--port", "--prometheus-host", "--prometheus-port")


def serving_selector(release: str, *more: str) -> str:
    """The label selector of the pods the release's gateway routes to (and any further labels)."""
    return ",".join([f"app.kubernetes.io/instance={release}", SERVING, *more])


def ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod reports Ready."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def address(pod: Mapping[str, Any]) -> tuple[str, int]:
    """The pod's IP and the port the gateway dials (its smg.ai/worker-ports annotation)."""
    return pod["status"]["podIP"], int(pod["metadata"]["annotations"]["smg.ai/worker-ports"])


def container_args(deployment: Mapping[str, Any]) -> list[str]:
    """The args of a Deployment's first container."""
    return [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on yet at host."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def gateway_command(
    args: list[str], *, port: int, metrics_port: int, env: Mapping[str, str]
) -> list[str]:
    """SMG (this Python's `smg` package) with the installed gateway's args, on loopback.

    It listens on 127.0.0.1 at port and metrics_port; `$(VAR)` is filled from env as the kubelet
    fills it.
    """
    values = ("127.0.0.1", str(port), "127.0.0.1", str(metrics_port))
    listen = dict(zip(_GATEWAY_LISTEN, values, strict=True))
    out = []
    for arg in args:
        name = arg.split("=")[0]
        out.append(f"{name}={listen[name]}" if name in listen else local.expand(arg, env))
    return [sys.executable, "-m", "smg.launch_router", *out]


def standby_command(args: list[str], *, host: str, backend: str) -> list[str]:
    """The chart's standby script with its installed args, bound to host.

    backend (HOST:PORT) is where the group's Service answers here, in place of its cluster name.
    """
    out = [f"--backend={backend}" if a.startswith("--backend=") else a for a in args]
    return [sys.executable, str(STANDBY), *out, f"--host={host}"]


def backend(args: list[str]) -> tuple[str, int]:
    """The Service address (host, port) a standby's args name."""
    (value,) = [a.split("=", 1)[1] for a in args if a.startswith("--backend=")]
    host, _, port = value.rpartition(":")
    return host, int(port)
