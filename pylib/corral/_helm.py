"""The one place that runs Helm, over the pinned binary, its errors turned into ours.

`helm template` runs as a plain child process; releases go through pyhelm3, which only the
verbs that talk to a cluster import (importing it takes about half a second).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from corral.chart import CHART_DIR, CHECKOUT
from corral.errors import ToolError, ValuesError

if TYPE_CHECKING:
    from pyhelm3 import Client

T = TypeVar("T")
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
    import asyncio

    from pyhelm3.errors import Error as PyhelmError

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


class Rendering:
    """`helm template` running in the background while the caller works.

    The values go in on stdin as JSON (which is YAML to Helm, and written many times faster than
    YAML), dates as the text YAML gives them; the output is spooled to files, so Helm never waits
    on a pipe. Leaving the `with` block before result() stops Helm.
    """

    def __init__(self, argv: list[str], values: Mapping[str, Any]) -> None:
        # Closed by __exit__: they outlive this call while Helm runs.
        self._files = [tempfile.TemporaryFile("w+", encoding="utf-8") for _ in range(3)]  # noqa: SIM115
        stdin, self._out, self._err = self._files
        try:
            json.dump(values, stdin, default=str, allow_nan=False)
        except ValueError:
            for file in self._files:
                file.close()
            raise ValuesError("values: .nan and .inf are not numbers Helm can take") from None
        stdin.seek(0)
        self._process = subprocess.Popen(argv, stdin=stdin, stdout=self._out, stderr=self._err)

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for file in self._files:
            file.close()

    def result(self) -> str:
        """Wait for Helm; its output, or ToolError with its error."""
        code = self._process.wait()
        self._out.seek(0)
        self._err.seek(0)
        if code:
            raise ToolError(f"helm: {_first_error(self._err.read())}")
        return self._out.read()


def start_template(
    values: Mapping[str, Any],
    *,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str | None = None,
) -> Rendering:
    """Start `helm template` of the chart with these values."""
    argv = [executable(), "template", release, str(CHART_DIR), "--namespace", namespace]
    argv += ["--values", "-"]
    if kube_version:
        argv += ["--kube-version", kube_version]
    return Rendering(argv, values)


def template(
    values: Mapping[str, Any],
    *,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str | None = None,
) -> str:
    """`helm template` with the values on stdin; Helm's output."""
    with start_template(
        values, release=release, namespace=namespace, kube_version=kube_version
    ) as rendering:
        return rendering.result()


def client(kubeconfig: Path | None, context: str | None, timeout: str) -> Client:
    """A pyhelm3 client on the pinned Helm for a cluster."""
    from pyhelm3 import Client

    # pyhelm3 logs each failed command; we report the failure once, as an error, instead.
    logging.getLogger("pyhelm3").addHandler(logging.NullHandler())
    logging.getLogger("pyhelm3").propagate = False
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
