"""The ready overlays in values/ combine with every example and keep their promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, ROOT, render
from corral.render import Manifests, validate

OVERLAYS = sorted((ROOT / "values").glob("*.yaml"))
MULTI = ROOT / "examples" / "multi-engine.yaml"


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployments by group name."""
    return {
        d["metadata"]["labels"]["corral.dev/group"]: d
        for d in docs
        if d["kind"] == "Deployment" and "corral.dev/group" in d["metadata"]["labels"]
    }


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.stem)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_overlay_renders_valid_manifests(example: Path, overlay: Path) -> None:
    assert validate(Manifests(render([example, overlay])), "1.37") == []


def test_production_keeps_a_ready_replica_through_rollouts_and_drains() -> None:
    docs = render([ROOT / "examples" / "single-vllm.yaml", ROOT / "values" / "production.yaml"])
    deployment = deployments(docs)["llama-8b"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pdbs = {
        d["metadata"]["name"]: d["spec"]["minAvailable"]
        for d in docs
        if d["kind"] == "PodDisruptionBudget"
    }
    assert pdbs == {"llm-corral-llama-8b": 1, "llm-corral-gateway": 1}
    policies = {d["metadata"]["name"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies == {"llm-corral-llama-8b", "llm-corral-gateway"}
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_production_leaves_explicit_group_choices_alone() -> None:
    """A group's own keys beat the overlay's modelGroupDefaults."""
    groups = deployments(render([MULTI, ROOT / "values" / "production.yaml"]))
    assert groups["llama-8b"]["spec"]["replicas"] == 2
    assert groups["qwen-tiny"]["spec"]["template"]["spec"]["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {
            "name": "model-source",
            "persistentVolumeClaim": {"claimName": "gguf-models", "readOnly": True},
        },
    ]


def test_dev_caches_in_emptydir_and_makes_no_pvc() -> None:
    docs = render([ROOT / "examples" / "single-vllm.yaml", ROOT / "values" / "dev.yaml"])
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    volumes = deployments(docs)["llama-8b"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "cache", "emptyDir": {}} in volumes


def test_gke_overlay_selects_gke_accelerator_labels() -> None:
    groups = deployments(render([MULTI, ROOT / "values" / "gke-gpus.yaml"]))
    assert groups["llama-8b"]["spec"]["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-h100-80gb"
    }
    assert groups["mistral-7b"]["spec"]["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-l4"
    }
