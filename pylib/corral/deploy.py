"""Install, upgrade and uninstall a stack in a cluster, with pod progress while Helm waits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from corral import _helm

POLL_SECONDS = 5.0


def context_namespace(kubeconfig: Path | None, context: str | None) -> str:
    """The kubeconfig context's namespace, as Helm and kubectl take it; else `default`."""
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None
        )
    except config.ConfigException:
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    return str((chosen or {}).get("context", {}).get("namespace") or "default")


def pod_progress(release: str, namespace: str, kubeconfig: Path | None, context: str | None) -> str:
    """One line: how many of the release's model pods are ready, and why the others are not."""
    from kubernetes import client, config

    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )
    pods = client.CoreV1Api().list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/instance={release}"
    )
    ready, waiting = 0, []
    for pod in pods.items:
        status, name = pod.status, pod.metadata.name if pod.metadata else "?"
        conditions = {c.type: c for c in (status.conditions if status else None) or []}
        if conditions.get("Ready") and conditions["Ready"].status == "True":
            ready += 1
            continue
        scheduled = conditions.get("PodScheduled")
        reason = status.phase if status else "Unknown"
        if scheduled and scheduled.status == "False":
            reason = f"unschedulable: {scheduled.message}"
        waiting.append(f"{name} {reason}")
    return f"{ready}/{len(pods.items)} pods ready" + (f"; {'; '.join(waiting)}" if waiting else "")


def apply(
    release: str,
    values: Mapping[str, Any],
    *,
    namespace: str | None,
    kubeconfig: Path | None,
    context: str | None,
    wait: bool,
    timeout: str,
    report: Callable[[str], None],
    chart: str | None = None,
    chart_version: str | None = None,
) -> str:
    """Install or upgrade; with wait, report pod progress every few seconds until Helm returns.

    `chart` is a chart directory, archive or `oci://` reference (default: corral's own chart);
    no `namespace` means the kubeconfig context's.
    """
    namespace = namespace or context_namespace(kubeconfig, context)
    helm = _helm.client(kubeconfig, context, timeout)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(POLL_SECONDS):
            try:
                report(pod_progress(release, namespace, kubeconfig, context))
            except Exception as err:  # progress is best effort; Helm reports the real outcome
                report(f"progress unavailable: {type(err).__name__}")

    watcher = threading.Thread(target=watch, daemon=True)
    if wait:
        watcher.start()
    try:
        return _helm.install_or_upgrade(
            helm,
            release,
            values,
            namespace,
            wait=wait,
            chart_ref=chart,
            version=chart_version,
        )
    finally:
        done.set()


def remove(
    release: str, *, namespace: str | None, kubeconfig: Path | None, context: str | None, wait: bool
) -> None:
    """Uninstall the release; cache PVCs stay (helm.sh/resource-policy: keep)."""
    namespace = namespace or context_namespace(kubeconfig, context)
    _helm.uninstall(_helm.client(kubeconfig, context, "10m"), release, namespace, wait=wait)
