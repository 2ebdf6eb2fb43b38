"""corral install, upgrade and uninstall drive the pinned Helm through pyhelm3 against a cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import corral as run_corral
from kube import ENV, STATE, get


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return run_corral(*args, env=ENV)


def test_install_upgrade_uninstall(namespace: str) -> None:
    kubeconfig = str(STATE / "kubeconfig")
    installed = corral(
        "install",
        "llm",
        "examples/single-tgi.yaml",
        "-n",
        namespace,
        "--kubeconfig",
        kubeconfig,
        "--wait",
        "--timeout",
        "3m",
    )
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.strip() == "llm revision 1: deployed"
    deployment = get("deployment", "llm-corral-mistral-7b", "-n", namespace)
    assert deployment["status"]["readyReplicas"] == 1

    upgraded = corral(
        "upgrade",
        "llm",
        "examples/single-tgi.yaml",
        "examples/single-vllm.yaml",
        "-n",
        namespace,
        "--kubeconfig",
        kubeconfig,
        "--wait",
        "--timeout",
        "3m",
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == "llm revision 2: deployed"
    assert get("deployment", "llm-corral-llama-8b", "-n", namespace)["status"]["readyReplicas"] == 1

    refused = corral(
        "upgrade",
        "llm",
        "examples/single-vllm.yaml",
        "-n",
        namespace,
        "--kubeconfig",
        kubeconfig,
        "--set-nothing",
    )
    assert refused.returncode == 2
    assert refused.stderr == "corral: error: No such option '--set-nothing'.\n"

    removed = corral("uninstall", "llm", "-n", namespace, "--kubeconfig", kubeconfig, "--wait")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "llm uninstalled (model caches kept)"
    claims = {c["metadata"]["name"] for c in get("pvc", "-n", namespace)["items"]}
    assert claims == {"llm-corral-mistral-7b-cache", "llm-corral-llama-8b-cache"}


def test_wait_shows_progress_and_a_timeout_is_one_line(namespace: str, tmp_path: Path) -> None:
    values = tmp_path / "huge.yaml"
    values.write_text(
        "modelGroups:\n  huge: {model: hf://o/huge, gpus: {count: 16, type: h100-80gb}, "
        "parallelism: {tensor: 16}, cache: {type: emptyDir}}\n"
    )
    done = corral(
        "install",
        "llm",
        str(values),
        "-n",
        namespace,
        "--kubeconfig",
        str(STATE / "kubeconfig"),
        "--wait",
        "--timeout",
        "12s",
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    progress = [line for line in lines if line.startswith("  ")]
    assert progress, done.stderr
    assert progress[-1].startswith("  1/2 pods ready; llm-corral-huge-")  # the gateway is ready
    assert "unschedulable: 0/12 nodes are available" in progress[-1]
    assert "Insufficient nvidia.com/gpu" in progress[-1]
    assert lines[-1].startswith("corral: error: helm: ")
    assert "Traceback" not in done.stderr
