"""The one place that runs Helm: pyhelm3 over the pinned binary, its errors turned into ours."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pyhelm3 import Client
from pyhelm3.command import Command
from pyhelm3.errors import Error as PyhelmError

from corral.chart import CHART_DIR, CHECKOUT
from corral.errors import ToolError

T = TypeVar("T")
# pyhelm3 logs each failed command; we report the failure once, as an error, instead.
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())
logging.getLogger("pyhelm3").propagate = False
PINNED = CHECKOUT / ".tools" / "bin" / "helm" if CHECKOUT else None


def executable() -> str:
    """CORRAL_HELM, else a checkout's pinned Helm from `make setup`, else helm on the PATH."""
    if os.environ.get("CORRAL_HELM"):
        chosen = os.environ["CORRAL_HELM"]
        if not shutil.which(chosen):
            raise ToolError(f"CORRAL_HELM: {chosen} is not an executable file")
        return chosen
    if PINNED and PINNED.exists():
        return str(PINNED)
    found = shutil.which("helm")
    if not found:
        raise ToolError("helm not found on the PATH; install Helm 3 or 4, or set CORRAL_HELM")
    return found


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except PyhelmError as err:
        raise ToolError(f"helm: {_first_error(err.stderr.decode())}") from None


def _first_error(stderr: str) -> str:
    """Helm's own error line, without its debug hints (multi-line problems joined by '; ')."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Use --debug")]
    message = "; ".join(lines).removeprefix("Error: ")
    return message or "failed with no message"


def template(
    values: Mapping[str, Any],
    *,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str | None = None,
    chart: Path = CHART_DIR,
) -> list[dict[str, Any]]:
    """`helm template` with the values on stdin; the parsed manifests."""
    argv: list[Any] = ["template", release, chart, "--namespace", namespace, "--values", "-"]
    if kube_version:
        argv += ["--kube-version", kube_version]
    command = Command(executable=executable())
    out = _run(command.run(argv, yaml.safe_dump(dict(values)).encode()))
    return [doc for doc in yaml.safe_load_all(out) if doc]


def client(kubeconfig: Path | None, context: str | None, timeout: str) -> Client:
    """A pyhelm3 client on the pinned Helm for a cluster."""
    return Client(
        executable=executable(), kubeconfig=kubeconfig, kubecontext=context, default_timeout=timeout
    )


def install_or_upgrade(
    helm: Client,
    release: str,
    values: Mapping[str, Any],
    namespace: str,
    *,
    wait: bool,
    chart_ref: str | None = None,
    version: str | None = None,
) -> str:
    """Install or upgrade a chart (by default corral's own); the new revision's status."""

    async def go() -> str:
        chart = await helm.get_chart(chart_ref or CHART_DIR, version=version)
        revision = await helm.install_or_upgrade_release(
            release, chart, dict(values), namespace=namespace, wait=wait, atomic=False
        )
        return f"{release} revision {revision.revision}: {revision.status.value}"

    return _run(go())


def uninstall(helm: Client, release: str, namespace: str, *, wait: bool) -> None:
    """Uninstall a release (model caches are kept by their resource policy)."""

    async def go() -> None:
        await helm.uninstall_release(release, namespace=namespace, wait=wait)

    _run(go())


def unittest(extra: Iterable[str] = ()) -> int:
    """Run the chart's helm-unittest suites; the exit code."""
    argv = [executable(), "unittest", "--strict", "--file", "tests/**/*_test.yaml", *extra]
    return subprocess.run([*argv, str(CHART_DIR)], check=False).returncode
