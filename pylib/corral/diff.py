"""Upgrade impact: what a values change does to each model group's pods."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from corral import _yaml
from corral.render import Manifests

T = TypeVar("T")

WORKLOADS = ("Deployment", "LeaderWorkerSet")
GROUP_LABEL = "corral.dev/group"
COMPONENT_LABEL = "app.kubernetes.io/component"
# Helm prints each manifest after a `---` line; in a manifest, its top-level `kind:` line and
# the `metadata:` key with every line indented under it.
DOCUMENT = re.compile(r"^---[ \t]*\n", re.MULTILINE)
HEAD = re.compile(r"^kind:.*\n|^metadata:.*\n(?:(?:[ \t#].*)?\n)*", re.MULTILINE)


@dataclass(frozen=True)
class GroupChange:
    """One group's fate: added, removed, restart, scale, objects (non-pod changes) or unchanged."""

    group: str
    impact: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Impact:
    """Every group's change, and the changed objects that belong to no group."""

    groups: list[GroupChange]
    other: list[str]


def _key(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _group(doc: dict[str, Any]) -> str:
    group: str = doc["metadata"].get("labels", {}).get(GROUP_LABEL, "")
    return group


def _by_group(manifests: Manifests) -> dict[str, dict[str, dict[str, Any]]]:
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in manifests:
        groups.setdefault(_group(doc), {})[_key(doc)] = doc
    return groups


def _named(items: Any) -> dict[str, Any] | None:
    """A list of named objects (containers, volumes, env) as a map by name, else None."""
    if isinstance(items, list) and all(isinstance(i, dict) and "name" in i for i in items):
        return {str(i["name"]): i for i in items}
    return None


def _changed_fields(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Paths of the leaves that differ; named lists are compared item by item."""
    paths = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        named_a, named_b = _named(a), _named(b)
        if named_a is not None and named_b is not None:
            for name in sorted(set(named_a) | set(named_b)):
                item = f"{prefix}{key}[{name}]"
                x, y = named_a.get(name), named_b.get(name)
                if x is None or y is None:
                    paths.append(item)
                elif x != y:
                    paths += _changed_fields(x, y, f"{item}.")
        elif isinstance(a, dict) and isinstance(b, dict):
            paths += _changed_fields(a, b, f"{prefix}{key}.")
        else:
            paths.append(f"{prefix}{key}")
    return paths


def _workload(docs: dict[str, Any]) -> dict[str, Any]:
    """The group's engine workload (its standby and adapter relays carry its label too)."""
    for doc in docs.values():
        labels = doc["metadata"].get("labels", {})
        if doc["kind"] in WORKLOADS and labels.get(COMPONENT_LABEL) == "model-server":
            found: dict[str, Any] = doc
            return found
    return {}


def _group_change(group: str, old: dict[str, Any], new: dict[str, Any]) -> GroupChange:
    if not old:
        return GroupChange(group, "added")
    if not new:
        return GroupChange(group, "removed")
    old_work, new_work = _workload(old), _workload(new)
    old_spec, new_spec = old_work.get("spec", {}), new_work.get("spec", {})
    if old_work.get("kind") != new_work.get("kind"):
        return GroupChange(
            group, "restart", [f"workload {old_work.get('kind')} -> {new_work.get('kind')}"]
        )
    pod = _changed_fields(
        {"template": old_spec.get("template", old_spec.get("leaderWorkerTemplate", {}))},
        {"template": new_spec.get("template", new_spec.get("leaderWorkerTemplate", {}))},
    )
    if pod:
        return GroupChange(group, "restart", pod)
    workload = _key(new_work)
    others = [k for k in sorted(set(old) | set(new)) if k != workload and old.get(k) != new.get(k)]
    if old_spec.get("replicas") != new_spec.get("replicas"):
        replicas = f"replicas {old_spec.get('replicas')} -> {new_spec.get('replicas')}"
        return GroupChange(group, "scale", [replicas, *others])
    return GroupChange(group, "objects", others) if others else GroupChange(group, "unchanged")


def impact(old: Manifests, new: Manifests) -> Impact:
    """Compare two renders of the chart group by group."""
    return _impact(_by_group(old), _by_group(new), lambda doc: doc)


def impact_of_texts(old: str, new: str) -> Impact:
    """impact() of two renders as Helm prints them, parsing whole only the documents that differ.

    Each document is placed by its kind and metadata, read alone, once for both renders; equal
    texts are equal manifests.
    """
    before, after = _documents(old), _documents(new)
    heads = _heads(before + after)
    return _impact(_place(before, heads), _place(after, heads), _yaml.load)


def _impact(
    before: dict[str, dict[str, T]], after: dict[str, dict[str, T]], load: Callable[[T], Any]
) -> Impact:
    groups = []
    for group in sorted((set(before) | set(after)) - {""}):
        old, new = before.get(group, {}), after.get(group, {})
        if old == new:
            groups.append(GroupChange(group, "unchanged"))
            continue
        parsed_old = {key: load(doc) for key, doc in old.items()}
        parsed_new = {key: load(doc) for key, doc in new.items()}
        groups.append(_group_change(group, parsed_old, parsed_new))
    loose_old, loose_new = before.get("", {}), after.get("", {})
    other = [
        key
        for key in sorted(set(loose_old) | set(loose_new))
        if loose_old.get(key) != loose_new.get(key)
        and _loaded(loose_old.get(key), load) != _loaded(loose_new.get(key), load)
    ]
    return Impact(groups, other)


def _loaded(doc: T | None, load: Callable[[T], Any]) -> Any:
    return None if doc is None else load(doc)


def _documents(text: str) -> list[str]:
    return [doc if doc.endswith("\n") else f"{doc}\n" for doc in DOCUMENT.split(text)]


def _heads(docs: list[str]) -> dict[str, Any]:
    """Each document's kind and metadata, parsed in one pass over the distinct heads."""
    heads = {doc: "".join(HEAD.findall(doc)) for doc in docs}
    unique = list(dict.fromkeys(heads.values()))
    parsed = dict(zip(unique, _yaml.load_all("".join(f"---\n{h}" for h in unique)), strict=True))
    return {doc: parsed[head] for doc, head in heads.items()}


def _place(docs: list[str], heads: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each document's text under its group and key, as _by_group places parsed ones."""
    groups: dict[str, dict[str, str]] = {}
    for doc in docs:
        head = heads[doc]
        if not head or "kind" not in head or "metadata" not in head:
            head = _yaml.load(doc)
            if not head:
                continue
        groups.setdefault(_group(head), {})[_key(head)] = doc
    return groups
