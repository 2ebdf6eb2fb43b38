"""Every example renders under Helm 4 and Helm 3 and installs as a client-side dry run.

Helm 3's `install --dry-run=client` still contacts a cluster (it checks reachability and validates
against the server's OpenAPI, pkg/action/install.go), so under Helm 3 the same render path is
exercised with `helm template`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import CHART, EXAMPLES, HELMS, ROOT, helm, render


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_install_dry_run_helm4(example: Path) -> None:
    done = helm(
        HELMS["helm4"],
        "install",
        "llm",
        str(CHART),
        "--namespace",
        "corral",
        "--dry-run=client",
        values=[example],
    )
    assert done.returncode == 0, done.stderr
    assert "STATUS: pending-install" in done.stdout
    assert "Model groups (each serves the OpenAI API on its own Service):" in done.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_helm3_renders_what_helm4_renders(example: Path) -> None:
    assert render([example], binary=HELMS["helm3"]) == render([example], binary=HELMS["helm4"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_group_has_a_deployment_and_service(example: Path) -> None:
    groups = yaml.safe_load(example.read_text())["modelGroups"]
    docs = render([example])
    model = [
        d for d in docs if d["metadata"]["labels"]["app.kubernetes.io/component"] == "model-server"
    ]
    workloads = {
        d["metadata"]["name"] for d in model if d["kind"] in ("Deployment", "LeaderWorkerSet")
    }
    services = {d["metadata"]["name"] for d in model if d["kind"] == "Service"}
    assert workloads == services == {f"llm-corral-{g}" for g in groups}


def test_multi_engine_covers_all_five_engines() -> None:
    docs = render([Path(CHART.parent / "examples" / "multi-engine.yaml")])
    engines = {
        d["spec"]["template"]["metadata"]["labels"]["corral.dev/engine"]
        for d in docs
        if d["kind"] == "Deployment" and "corral.dev/engine" in d["metadata"]["labels"]
    }
    assert engines == {"vllm", "sglang", "trtllm", "tgi", "custom"}


def test_compose_stack_example_runs() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "examples" / "compose_stack.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "rendered 16 objects: 4 Deployment, 4 Service, 3 PersistentVolumeClaim",
        "llama-8b on vllm (aliases: llama)",
        "mistral-7b on tgi",
        "qwen-32b on sglang (aliases: qwen)",
    ]
