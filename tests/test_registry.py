"""With a private registry and pull secret set, every example renders no image outside that
registry and no pod without the secret. The walk is generic: any mapping with `containers` is a
pod spec and any string under an `image` key is an image, whatever object holds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, render

REGISTRY = "mirror.example.com:5000"
SECRET = "mirror-pull"
SETS = [f"global.imageRegistry={REGISTRY}", f"global.imagePullSecrets[0].name={SECRET}"]
# Pods the examples leave off by default: the standby (scale to zero) and the helm test pod.
EXTRA = {
    "standby": [
        "modelGroups.standby.model=hf://o/standby",
        "modelGroups.standby.cache.type=emptyDir",
        "modelGroups.standby.autoscaling.enabled=true",
        "modelGroups.standby.autoscaling.minReplicas=0",
    ]
}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) below node."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def pod_specs(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every pod spec in a manifest (a Pod's, a workload's template, a LeaderWorkerSet's two)."""
    return [
        (path, node)
        for path, node in walk(doc)
        if isinstance(node, dict) and isinstance(node.get("containers"), list)
    ]


def images(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Every string under a key named `image`."""
    return [
        (path, node)
        for path, node in walk(doc)
        if path.endswith(".image") and isinstance(node, str)
    ]


def named(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("extra", [[], *EXTRA.values()], ids=["as-is", *EXTRA])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_image_is_mirrored_and_every_pod_has_the_pull_secret(
    example: Path, extra: list[str]
) -> None:
    plain = render([example], sets=extra)
    mirrored = render([example], sets=[*SETS, *extra])
    assert [named(d) for d in plain] == [named(d) for d in mirrored]
    specs = [(named(d), path, spec) for d in mirrored for path, spec in pod_specs(d)]
    assert specs, "no pod spec rendered"
    without = [
        f"{name}{path}"
        for name, path, spec in specs
        if SECRET not in [s["name"] for s in spec.get("imagePullSecrets", [])]
    ]
    assert without == []
    pairs = [
        (named(doc), path, before, after)
        for old, doc in zip(plain, mirrored, strict=True)
        for (path, before), (_, after) in zip(images(old), images(doc), strict=True)
    ]
    assert pairs, "no image rendered"
    for name, path, before, after in pairs:
        assert after.startswith(f"{REGISTRY}/"), f"{name}{path}: {after}"
        # The image keeps its own path and tag under the mirror (only a registry host goes).
        assert before.endswith(after.removeprefix(f"{REGISTRY}/")), f"{name}{path}"
    # Each pod spec's containers all carry images (none escapes the walk by another key).
    for name, path, spec in specs:
        for kind in ("initContainers", "containers"):
            for container in spec.get(kind, []):
                assert container["image"].startswith(f"{REGISTRY}/"), f"{name}{path}.{kind}"


def test_the_extra_pods_are_rendered() -> None:
    """The standby variant does add a standby and the test pod (so the walk above sees them)."""
    (example,) = [e for e in EXAMPLES if e.stem == "single-vllm"]
    kinds = {
        d["metadata"]["labels"].get("app.kubernetes.io/component")
        for d in render([example], sets=[*SETS, *EXTRA["standby"]])
        if pod_specs(d)
    }
    assert {"model-server", "gateway", "standby", "test"} <= kinds
