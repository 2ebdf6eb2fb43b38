"""What `make setup` builds to run a stack on one machine, and the local cluster it runs.

The pieces are found in a checkout; the cluster is ci/cluster.sh's (a real API server with kwok's
simulated GPU nodes, loopback only). Each missing piece is one line: what, and the step that
builds it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from corral import chart
from corral.errors import ToolError

CLUSTER_BINARIES = (
    "kwokctl",
    "kwok",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
    "kubectl",
    "lws-controller",
)


@dataclass(frozen=True)
class LocalSetup:
    """A checkout's local toolchain (.tools), engine tier (.engine) and cluster script (ci/)."""

    root: Path

    @property
    def engine_bin(self) -> Path:
        """Where the vLLM CPU build's commands are."""
        return self.root / ".engine" / "venv" / "bin"

    @property
    def model(self) -> Path:
        """The generated test model."""
        return self.root / ".engine" / "model"

    @property
    def engine_state(self) -> Path:
        """Engine caches (compiled graphs survive between runs) and temporary files."""
        return self.root / ".engine" / "state"

    @property
    def helm(self) -> Path:
        """The pinned Helm 4."""
        return self.root / ".tools" / "bin" / "helm"

    @property
    def logs(self) -> Path:
        """Where the demo's processes write their output."""
        return self.root / ".engine" / "logs" / "demo"

    def shown(self, path: Path) -> Path:
        """A path as the demo prints it: relative to the checkout, when inside it."""
        try:
            return path.relative_to(self.root)
        except ValueError:
            return path

    def missing(self) -> list[str]:
        """One line per piece that is not there: `<path>: <problem>; <fix>`."""
        if not (self.root / "ci" / "cluster.sh").is_file():
            return [
                f"--root: {self.root} is not a Corral checkout (no ci/cluster.sh); "
                "pass the checkout where `make setup` ran"
            ]
        problems = []
        checks = [
            (Path(".tools/cluster/bin") / b, "ci/setup-cluster-tools.sh") for b in CLUSTER_BINARIES
        ]
        checks += [
            (Path(".tools/bin/helm"), "ci/setup-tools.sh"),
            (Path(".tools/crds"), "ci/setup-crds.sh"),
            (Path(".engine/venv/bin/vllm"), "ci/setup-engine.sh"),
            (Path(".engine/model/config.json"), "ci/setup-engine.sh"),
        ]
        for path, script in checks:
            if not (self.root / path).exists():
                problems.append(f"{path}: missing; run `make setup` ({script} builds it)")
        if importlib.util.find_spec("smg") is None:
            tag = chart.defaults()["gateway"]["image"]["tag"]
            problems.append(
                f"smg: the gateway's package is not installed for {sys.executable}; "
                f"pip install smg=={tag}"
            )
        return problems


@dataclass(frozen=True)
class LocalCluster:
    """One named cluster of ci/cluster.sh, its state folder and its pods' address range."""

    setup: LocalSetup
    name: str
    state: Path
    cidr: str

    @property
    def kubeconfig(self) -> Path:
        """The cluster's kubeconfig (loopback API server)."""
        return self.state / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process that talks to this cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.state / "kubecache"),
        }

    def _script(self, action: str, timeout: float) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "CLUSTER_NAME": self.name,
            "CLUSTER_STATE": str(self.state),
            "CLUSTER_CIDR": self.cidr,
        }
        try:
            return subprocess.run(
                ["bash", str(self.setup.root / "ci" / "cluster.sh"), action],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"cluster: ci/cluster.sh {action} took over {timeout:.0f} s") from None

    def up(self) -> str:
        """Start it (a stale one of the same name goes first); its one-line summary."""
        done = self._script("up", 600)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ToolError(f"cluster: ci/cluster.sh up failed ({last}); see {self.state}")
        return done.stdout.strip().splitlines()[-1]

    def down(self) -> None:
        """Stop every process of it and remove its state."""
        self._script("down", 120)

    def pids(self) -> list[int]:
        """The cluster's processes, from their pid files."""
        files = [self.state / "lws.pid", *self.state.glob(f"kwok/clusters/{self.name}/pids/*.pid")]
        return [int(f.read_text()) for f in files if f.is_file()]
