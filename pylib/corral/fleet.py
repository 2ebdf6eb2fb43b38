"""A fleet of clusters in one file: check it, render Argo CD ApplicationSets, promote, diff.

A fleet file (schemas/fleet.schema.json) names the chart's source, per environment its pinned
revision, the values under test (which promotion carries on) and its own overlays (which it
does not), and per cluster how Argo CD finds it (a cluster-generator selector or an
explicit server), its environment, GPU profiles, replicas per group and overlays. A cluster's
values are the stack, its environment's overlays and values, its own overlays, then placement:
a group whose GPU profile the cluster lacks is disabled there, and `replicas` sets (0 disables)
a group.
Each stack becomes one ApplicationSet; its release is the stack file's stem.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import _strict, rules
from corral.check import check, coalesce
from corral.diff import Impact
from corral.errors import ValuesError
from corral.groups import enabled
from corral.values import load, merge

DEFAULT_NAMESPACE = "llm"
# Revisions that move: Argo CD would deploy whatever they point at next.
FLOATING = {"HEAD", "main", "master", "latest"}


@dataclass(frozen=True)
class Fleet:
    """A loaded fleet file and the folder its overlay paths are relative to."""

    path: Path
    data: dict[str, Any]

    @property
    def clusters(self) -> list[dict[str, Any]]:
        """The clusters, as written."""
        return list(self.data["clusters"])

    @property
    def namespace(self) -> str:
        """The release namespace on every cluster."""
        return str(self.data.get("namespace") or DEFAULT_NAMESPACE)

    def overlays(self, cluster: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The environment's overlays, the values under test, then the cluster's overlays."""
        env = self.data["environments"].get(cluster["environment"]) or {}
        files = [*env.get("overlays", []), *env.get("values", []), *cluster.get("overlays", [])]
        return [load(self.path.parent / f) for f in files]


def load_fleet(path: Path) -> Fleet:
    """The fleet file, checked against its schema (ValuesError naming the key)."""
    return Fleet(path, _strict.load(path, "fleet"))


def _gpu_type(group_values: Mapping[str, Any]) -> str:
    return str((group_values.get("gpus") or {}).get("type") or "")


def _needs_profile(full: Mapping[str, Any], profile: str) -> bool:
    """Whether the group's profile is a GPU one a cluster must list."""
    from corral.groups import profiles

    known = profiles(full).get(profile) or {}
    return bool(profile) and bool(known.get("resourceName", "nvidia.com/gpu"))


def cluster_values(
    fleet: Fleet, cluster: Mapping[str, Any], stack: Mapping[str, Any]
) -> dict[str, Any]:
    """The values one cluster's release of the stack gets."""
    layered = merge(stack, *fleet.overlays(cluster))
    full = coalesce(layered)
    have = set(cluster["gpuProfiles"])
    replicas = cluster.get("replicas") or {}
    placement: dict[str, Any] = {}
    for group in enabled(full):
        profile = _gpu_type(group.values)
        if _needs_profile(full, profile) and profile not in have:
            placement[group.name] = {"enabled": False}
        elif group.name in replicas:
            count = int(replicas[group.name])
            placement[group.name] = {"replicas": count} if count else {"enabled": False}
    return merge(layered, {"modelGroups": placement}) if placement else layered


def problems(fleet: Fleet, stacks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every problem with the fleet and these stacks (by release name), one line each."""
    found: list[str] = []
    names: dict[str, int] = {}
    servers: dict[str, int] = {}
    envs = sorted(fleet.data["environments"])
    for env, entry in sorted(fleet.data["environments"].items()):
        revision = str(entry["targetRevision"])
        if revision in FLOATING or any(c in revision for c in "*^~<>= "):
            found.append(
                f"environments.{env}.targetRevision: {revision} is not pinned; use a chart "
                "version or a Git tag or commit"
            )
    groups: dict[str, dict[str, Any]] = {}
    for stack in stacks.values():
        full = coalesce(stack)
        groups.update({g.name: full for g in enabled(full)})
    for i, cluster in enumerate(fleet.clusters):
        where = f"clusters.{i}"
        if cluster["name"] in names:
            found.append(
                f"{where}.name: cluster {cluster['name']} is listed twice (also "
                f"clusters.{names[cluster['name']]}); give each cluster one entry"
            )
        names.setdefault(cluster["name"], i)
        target = cluster.get("server") or repr(sorted(cluster.get("selector", {}).items()))
        key = "server" if "server" in cluster else "selector"
        if target in servers:
            found.append(
                f"{where}.{key}: the same cluster as clusters.{servers[target]}; "
                "give each cluster one entry"
            )
        servers.setdefault(target, i)
        if cluster["environment"] not in envs:
            found.append(
                f"{where}.environment: unknown environment {cluster['environment']}; "
                f"use one of: {', '.join(envs)}"
            )
            continue
        for name, count in sorted((cluster.get("replicas") or {}).items()):
            if name not in groups:
                found.append(
                    f"{where}.replicas.{name}: no group {name} in the stacks; "
                    f"use one of: {', '.join(sorted(groups))}"
                )
                continue
            full = groups[name]
            profile = _gpu_type(overlay_group(full, name))
            if count and _needs_profile(full, profile) and profile not in cluster["gpuProfiles"]:
                found.append(
                    f"{where}.replicas.{name}: the group runs on GPU profile {profile}, which "
                    f"{where}.gpuProfiles does not list; add the profile or drop the replicas"
                )
    if found:
        return found
    for i, cluster in enumerate(fleet.clusters):
        for release, stack in stacks.items():
            values = cluster_values(fleet, cluster, stack)
            found += [
                f"clusters.{i} ({cluster['name']}, {release}): {line}"
                for line in check(values, release)
            ]
    return found


def overlay_group(full: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A group's values with the group defaults under them."""
    from corral.values import overlay

    return overlay(full["modelGroupDefaults"], full["modelGroups"][name] or {})


def _source(fleet: Fleet, revision: str, release: str, values: dict[str, Any]) -> dict[str, Any]:
    chart = fleet.data["chart"]
    source: dict[str, Any] = {"repoURL": chart["repoURL"], "targetRevision": revision}
    source.update({k: chart[k] for k in ("path", "chart") if k in chart})
    source["helm"] = {"releaseName": release, "valuesObject": values}
    return source


def _ignore_replicas(values: Mapping[str, Any], release: str) -> list[dict[str, Any]]:
    """IgnoreDifferences on the replicas of autoscaled groups' Deployments."""
    full = coalesce(values)
    base = rules.fullname(full, release)
    return [
        {
            "group": "apps",
            "kind": "Deployment",
            "name": f"{base}-{g.name}",
            "jsonPointers": ["/spec/replicas"],
        }
        for g in enabled(full)
        if g.values["autoscaling"]["enabled"] and int(g.values.get("nodes") or 1) <= 1
    ]


def application_set(fleet: Fleet, release: str, stack: Mapping[str, Any]) -> dict[str, Any]:
    """One ApplicationSet: a generator per cluster, each with that cluster's whole template."""
    project = str(fleet.data.get("project") or "default")
    destination = {"server": "{{server}}", "namespace": fleet.namespace}
    sync = {
        # Never prune: a model cache (or anything else) leaves only when a person deletes it.
        "automated": {"prune": False, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }
    generators = []
    for cluster in fleet.clusters:
        env = fleet.data["environments"][cluster["environment"]]
        values = cluster_values(fleet, cluster, stack)
        spec: dict[str, Any] = {
            "project": project,
            "source": _source(fleet, env["targetRevision"], release, values),
            "destination": destination,
            "syncPolicy": sync,
        }
        ignore = _ignore_replicas(values, release)
        if ignore:
            spec["ignoreDifferences"] = ignore
        labels = {
            "app.kubernetes.io/part-of": "corral",
            "app.kubernetes.io/instance": release,
            "corral.dev/cluster": cluster["name"],
            "corral.dev/environment": cluster["environment"],
        }
        template = {
            "metadata": {"name": f"{release}-{cluster['name']}", "labels": labels},
            "spec": spec,
        }
        if "server" in cluster:
            element = {"name": cluster["name"], "server": cluster["server"]}
            generators.append({"list": {"elements": [element], "template": template}})
        else:
            generators.append({"clusters": {"selector": cluster["selector"], "template": template}})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {
            "name": release,
            "namespace": str(fleet.data.get("argocdNamespace") or "argocd"),
            "labels": {
                "app.kubernetes.io/part-of": "corral",
                "app.kubernetes.io/instance": release,
            },
        },
        "spec": {
            "generators": generators,
            # Each generator carries its cluster's whole template; this one is only the shape.
            "template": {
                "metadata": {"name": f"{release}-{{{{name}}}}"},
                "spec": {"project": project, "destination": destination, "syncPolicy": sync},
            },
            # Deleting the ApplicationSet leaves the releases (and their caches) running.
            "syncPolicy": {"preserveResourcesOnDeletion": True},
        },
    }


def stacks_of(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Stack values files by release name (the file's stem); ValuesError on a repeated stem."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        if path.stem in found:
            raise ValuesError(f"{path}: a second stack named {path.stem}; rename one file")
        found[path.stem] = load(path)
    return found


def promote(path: Path, source: str, target: str) -> list[str]:
    """Give environment `target` the revision and values of `source`, in the file; what changed.

    Each environment keeps its own overlays (and its clusters their replicas and placement).

    The file's comments and layout are kept (ruamel.yaml's round trip).
    """
    from ruamel.yaml import YAML

    fleet = load_fleet(path)
    envs = ", ".join(sorted(fleet.data["environments"]))
    for flag, name in (("--from", source), ("--to", target)):
        if name not in fleet.data["environments"]:
            message = f"no environment {name} in {path}; use one of: {envs}"
            raise ValuesError(f"{flag} {name}: {message}")
    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(path.read_text())
    src, dst = doc["environments"][source], doc["environments"][target]
    changed = []
    for key in ("targetRevision", "values"):
        old, new = dst.get(key), src.get(key)
        if old != new:
            changed.append(f"environments.{target}.{key}: {_shown(old)} -> {_shown(new)}")
            if new is None:
                del dst[key]
            else:
                dst[key] = copy.deepcopy(new)
    out = io.StringIO()
    yaml.dump(doc, out)
    path.write_text(out.getvalue())
    return changed


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return "(none)" if value is None else str(value)


@dataclass(frozen=True)
class ClusterChange:
    """What an edit of the fleet changes on one cluster for one stack."""

    cluster: str
    release: str
    revision: str  # "old -> new", or "" when unchanged
    impact: Impact | None  # None when the cluster is new or gone
    note: str = ""


def changes(old: Fleet, new: Fleet, stacks: Mapping[str, Mapping[str, Any]]) -> list[ClusterChange]:
    """Per cluster (by name) and stack: the chart revision change and `corral diff`'s impact."""
    from contextlib import ExitStack

    from corral.diff import impact_of_texts
    from corral.render import start_render

    before = {c["name"]: c for c in old.clusters}
    after = {c["name"]: c for c in new.clusters}
    found = []
    for name in sorted(set(before) | set(after)):
        if name not in after or name not in before:
            note = "removed" if name not in after else "added"
            found += [ClusterChange(name, release, "", None, note) for release in stacks]
            continue
        revs = [
            f.data["environments"][c["environment"]]["targetRevision"]
            for f, c in ((old, before[name]), (new, after[name]))
        ]
        for release, stack in stacks.items():
            pair = [
                cluster_values(old, before[name], stack),
                cluster_values(new, after[name], stack),
            ]
            with ExitStack() as running:
                renders = [
                    running.enter_context(start_render(v, release=release, namespace=new.namespace))
                    for v in pair
                ]
                texts = [r.result() for r in renders]
            revision = f"{revs[0]} -> {revs[1]}" if revs[0] != revs[1] else ""
            found.append(ClusterChange(name, release, revision, impact_of_texts(*texts)))
    return found
