"""README.md's shell blocks that need a cluster, run as written against the test cluster.

Each runs in bash with kubectl, the pinned Helm and (for the wheel) the fresh venv on the PATH,
and a kubeconfig whose context namespace is the test's own, as a user's current namespace would
be. The shipping blocks run in a copy of the checkout, with the README's registry host replaced
by the test registry on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT
from kube import KUBECTL, STATE, get, kubectl, prepare
from readme import shell
from shipping import BASE_PATH, TOOLS, VERSION, Registry, checkout_copy


def kubeconfig(namespace: str, folder: Path) -> Path:
    """A copy of the test cluster's kubeconfig whose current namespace is `namespace`."""
    path = folder / "kubeconfig"
    shutil.copy(STATE / "kubeconfig", path)
    subprocess.run(
        [KUBECTL, "config", "set-context", "--current", f"--namespace={namespace}"],
        env={**os.environ, "KUBECONFIG": str(path)},
        check=True,
        capture_output=True,
    )
    return path


def bash(
    script: str, cwd: Path, config: Path, path: str, **env: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": path, "KUBECONFIG": str(config), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done


def test_serve_models(namespace: str, tmp_path: Path) -> None:
    kubectl("-n", namespace, "delete", "secret", "hf-token")  # the block creates it
    prepare(namespace, ROOT / "examples" / "multi-engine.yaml")
    block = shell("kubectl create secret generic hf-token --from-literal=token=hf_...")
    path = f"{KUBECTL.parent}:{TOOLS}:{BASE_PATH}"
    done = bash(block, ROOT, kubeconfig(namespace, tmp_path), path)
    assert f"is installed as release llm in namespace {namespace}." in done.stdout
    assert get("secret", "hf-token", "-n", namespace)["data"]["token"]
    assert "  llama-8b  engine=vllm" in done.stdout  # `helm get notes` lists each group


def test_ship_the_chart_and_the_library(
    namespace: str, registry: Registry, venv: Path, tmp_path: Path
) -> None:
    script = shell("make package") + shell("pip install dist/corral-*-py3-none-any.whl")
    script = script.replace("registry.example.com", registry.host)
    path = f"{venv / 'bin'}:{KUBECTL.parent}:{TOOLS}:{BASE_PATH}"
    done = bash(
        script, checkout_copy(tmp_path), kubeconfig(namespace, tmp_path), path, **registry.env
    )
    assert f"corral {VERSION}\nchart {VERSION} (" in done.stdout
    assert done.stdout.rstrip().endswith("llm revision 2: deployed")
    (found,) = json.loads(
        subprocess.run(
            [TOOLS / "helm", "list", "-n", namespace, "-o", "json"],
            env={**os.environ, "KUBECONFIG": str(STATE / "kubeconfig")},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert (found["chart"], found["revision"]) == (f"corral-{VERSION}", "2")
    deployment = get("deployment", "llm-corral-llama-3-1-8b-instruct", "-n", namespace)
    assert deployment["status"]["readyReplicas"] == 1
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--max-model-len=27648" in args  # the context `corral new --config` chose
