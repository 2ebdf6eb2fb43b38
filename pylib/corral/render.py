"""Render a stack with the chart and look its manifests up by kind and name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from corral import _helm, _yaml, crds
from corral.errors import ToolError


@dataclass(frozen=True)
class Manifests:
    """The parsed manifests of one render, in Helm's order."""

    docs: list[dict[str, Any]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.docs)

    def __len__(self) -> int:
        return len(self.docs)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every manifest of a kind."""
        return [d for d in self.docs if d.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The manifest of that kind and name; KeyError when there is none."""
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise KeyError(f"{kind}/{name}")


def render_text(
    values: Mapping[str, Any],
    *,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str | None = None,
) -> str:
    """`helm template` the chart with these values: Helm's output, as `helm template` prints it."""
    return _helm.template(values, release=release, namespace=namespace, kube_version=kube_version)


def start_render(
    values: Mapping[str, Any],
    *,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str | None = None,
) -> _helm.Rendering:
    """render_text() in the background: use it in a `with` block and ask its result()."""
    return _helm.start_template(
        values, release=release, namespace=namespace, kube_version=kube_version
    )


def parse(text: str) -> Manifests:
    """The manifests of a render's text."""
    return Manifests([doc for doc in _yaml.load_all(text) if doc])


def render(
    values: Mapping[str, Any],
    *,
    release: str = "llm",
    namespace: str = "default",
    kube_version: str | None = None,
) -> Manifests:
    """`helm template` the chart with these values (the chart stays the only template logic)."""
    return parse(
        render_text(values, release=release, namespace=namespace, kube_version=kube_version)
    )


def validate(manifests: Manifests, kube_version: str) -> list[str]:
    """Strict offline schema problems of each manifest for a Kubernetes version, one per line.

    Built-in kinds are checked with that version's schemas; custom resources with their CRDs.
    """
    import kubernetes_validate

    version = kube_version if kube_version.count(".") == 2 else f"{kube_version}.0"
    problems = []
    for doc in manifests:
        if crds.known(doc):
            name = f"{doc['kind']}/{doc['metadata']['name']}"
            problems += [f"{name}: {line}" for line in crds.problems(doc)]
            continue
        try:
            kubernetes_validate.validate(doc, version.removeprefix("v"), strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError:
            raise ToolError(
                f"--validate: no schema for {doc['apiVersion']} {doc['kind']}; custom resources "
                "are checked against the CRDs `make setup` puts in a checkout's .tools/crds"
            ) from None
    return problems
