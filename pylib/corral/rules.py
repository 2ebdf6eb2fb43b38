"""The chart's cross-field rules (chart/templates/validate.yaml), with the same messages.

tests/test_parity.py feeds every case to both and asserts they agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from corral import chart, credentials
from corral.groups import Group

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SETTINGS = ("maxContextLength", "gpuMemoryFraction", "dtype", "quantization", "trustRemoteCode")


def fullname(values: Mapping[str, Any], release: str) -> str:
    """The chart's corral.names.fullname."""
    if values.get("fullnameOverride"):
        return str(values["fullnameOverride"])[:63].rstrip("-")
    name = str(values.get("nameOverride") or "corral")[:63].rstrip("-")
    return release[:63].rstrip("-") if name in release else f"{release}-{name}"[:63].rstrip("-")


def problems(values: Mapping[str, Any], groups: Iterable[Group], release: str = "llm") -> list[str]:
    """Every rule violation of a full values map and its enabled groups, in the chart's order."""
    found: list[str] = []
    token = values["huggingface"]["token"]
    if token.get("existingSecret") and token.get("value"):
        found.append("huggingface.token: both existingSecret and value are set; keep one")
    gateway = values["gateway"]
    if gateway["kind"] == "gatewayAPI" and not gateway["gatewayAPI"].get("parentRefs"):
        found.append(
            "gateway.gatewayAPI.parentRefs: gateway.kind gatewayAPI needs the Gateway its routes "
            "attach to; add a parentRef"
        )
    node_cache = values["nodeCache"]
    if node_cache.get("preload") and not node_cache["agent"]["enabled"]:
        found.append(
            "nodeCache.preload: only the cache agent preloads; "
            "set nodeCache.agent.enabled true or remove the preload"
        )
    if node_cache.get("preloadGroups") and not node_cache["agent"]["enabled"]:
        found.append(
            "nodeCache.preloadGroups: only the cache agent preloads; "
            "set nodeCache.agent.enabled true or preloadGroups false"
        )
    tenants: set[str] = set()
    for tenant in gateway.get("tenants") or []:
        if tenant["name"] in tenants:
            found.append(
                f'gateway.tenants: tenant "{tenant["name"]}" is listed twice; '
                "give each tenant one entry"
            )
        tenants.add(tenant["name"])
    found.extend(credentials.in_args("gateway.extraArgs", gateway.get("extraArgs") or []))
    served: dict[str, str] = {}
    for group in groups:
        found.extend(_group_problems(group, values, release, served))
    return found


def _group_problems(
    group: Group, values: Mapping[str, Any], release: str, served: dict[str, str]
) -> Iterator[str]:
    path, v, preset = group.path, group.values, group.preset
    if not DNS_LABEL.match(group.name):
        yield (
            f"{path}: group name is not a DNS label; use lower-case letters, digits and '-', "
            "starting with a letter"
        )
        return
    base = f"{fullname(values, release)}-{group.name}"
    objects = [base]
    if v["cache"]["type"] == "pvc":
        objects.append(f"{base}-cache")
    if preset and preset.get("configFile"):
        objects.append(f"{base}-engine")
    wake = wake_source(group, values)
    if wake == "standby":
        objects.append(f"{base}-standby")
    if values["gateway"]["kind"] == "smg" and group.adapters:
        objects += [f"{base}-relay"] + [f"{base}-{a['name']}" for a in group.adapters]
    for name in objects:
        if len(name) > 63:
            yield (
                f'{path}: object name "{name}" is {len(name)} characters, over the limit of 63; '
                "shorten the group name, the release name or fullnameOverride"
            )
    if preset is None:
        engines = ", ".join(sorted(chart.engine_presets()))
        yield f'{path}.engine: unknown engine "{group.engine}"; use one of: {engines}'
    else:
        yield from _engine_problems(group, preset)
    yield from _gpu_problems(group)
    yield from _autoscaling_problems(group, wake, values["gateway"]["kind"])
    yield from _cache_problems(group)
    yield from _resource_problems(group)
    yield from credentials.in_env(f"{path}.env", v.get("env") or [])
    yield from credentials.in_args(f"{path}.extraArgs", v.get("extraArgs") or [])
    if v.get("revision") and group.model_source != "hf":
        yield f"{path}.revision: only hf:// models have revisions; remove it"
    yield from _adapter_problems(group)
    names = [("servedName", group.served_name)] + [("aliases", a) for a in group.aliases]
    names += [("adapters", str(a["name"])) for a in group.adapters]
    for key, name in names:
        if name in served:
            yield (
                f'{path}.{key}: "{name}" is already served by {served[name]}; '
                "served names and aliases must be unique"
            )
        else:
            served[name] = path


def _engine_problems(group: Group, preset: Mapping[str, Any]) -> Iterator[str]:
    path, v, engine = group.path, group.values, preset["engine"]
    if engine == "custom":
        if not v["image"].get("repository"):
            yield f"{path}.image.repository: required for engine custom; name the server image"
        if not v.get("command"):
            yield f"{path}.command: required for engine custom; give the serve command"
        if not v.get("port"):
            yield f"{path}.port: required for engine custom; give the port the server listens on"
    if not group.image_tag:
        yield f"{path}.image.tag: empty; pin a version"
    elif group.image_tag == "latest":
        yield f'{path}.image.tag: "latest" is not allowed; pin a version'
    flags = preset["flags"]
    for setting in SETTINGS:
        value = v["settings"].get(setting)
        if value is not None and value is not False and not flags.get(setting):
            yield (
                f"{path}.settings.{setting}: engine {engine} has no flag for it; remove it, "
                "or pass the engine's own option in extraArgs"
            )
    if v["settings"].get("prefixCaching") is not None and not preset.get("prefixCaching"):
        yield (
            f"{path}.settings.prefixCaching: engine {engine} has no switch for it; remove it, "
            "or pass the engine's own option in extraArgs"
        )
    if v.get("engineConfig") and not preset.get("configFile"):
        yield (
            f"{path}.engineConfig: engine {engine} takes no options file; remove it, "
            "or pass flags in extraArgs"
        )
    pinned_by_engine = v.get("revision") and group.model_source == "hf" and not group.downloads
    if pinned_by_engine and not flags.get("revision"):
        yield (
            f"{path}.revision: engine {engine} cannot pin a revision itself; "
            "keep download.enabled true with a cache"
        )
    for axis in ("tensor", "pipeline"):
        if int(v["parallelism"][axis]) > 1 and not flags.get(axis):
            yield (
                f"{path}.parallelism.{axis}: engine {engine} has no {axis} parallelism; set it to 1"
            )
    if group.adapters and not (preset.get("lora") or {}).get("enable"):
        yield (
            f"{path}.adapters: engine {engine} has no LoRA support in the chart; remove the "
            "adapters, or serve them on a vllm or sglang group"
        )
    if engine == "custom" and group.downloads and not v["download"]["image"].get("repository"):
        yield (
            f"{path}.download.image.repository: engine custom has no known download tool; "
            "set an image with the hf CLI, or download.enabled: false"
        )


def _adapter_problems(group: Group) -> Iterator[str]:
    model = str(group.values.get("model", ""))
    for i, adapter in enumerate(group.adapters):
        path = f"{group.path}.adapters[{i}]"
        if str(adapter["source"]).startswith("hf://"):
            if not adapter.get("revision"):
                yield (
                    f"{path}.revision: an hf:// adapter needs a pinned revision; "
                    "set the commit to serve"
                )
            if not group.caches_downloads:
                yield (
                    f"{path}.source: hf:// adapters are downloaded into the cache; keep "
                    "download.enabled true and a cache.type other than none"
                )
        elif adapter.get("revision"):
            yield f"{path}.revision: only hf:// adapters have revisions; remove it"
        base = adapter.get("baseModel")
        if base and base != model:
            yield (
                f"{path}.baseModel: the adapter was trained on {base} but the group serves "
                f"{model}; serve it on a group of that model"
            )


def _gpu_problems(group: Group) -> Iterator[str]:
    path, gpus, v = group.path, group.values["gpus"], group.values
    resource = "nvidia.com/gpu"
    if gpus.get("type"):
        if gpus["type"] not in group.profiles:
            known = ", ".join(sorted(group.profiles))
            yield (
                f'{path}.gpus.type: unknown GPU profile "{gpus["type"]}"; use one of: {known}, '
                "or add it under gpuProfiles"
            )
        else:
            profile = group.profiles[gpus["type"]]
            resource = profile.get("resourceName", "")
            if resource and int(gpus["count"]) == 0:
                yield (
                    f'{path}.gpus.count: 0 GPUs with GPU profile "{gpus["type"]}"; set gpus.count '
                    "to 1 or more, or gpus.type cpu for a CPU-only group"
                )
            if profile.get("mig") and int(gpus["count"]) > 1:
                yield (
                    f"{path}.gpus.count: {int(gpus['count'])} slices of MIG profile "
                    f'"{gpus["type"]}"; a CUDA process can use one MIG device only, so set '
                    "gpus.count to 1 or pick a whole-GPU profile"
                )
    needed = int(v["parallelism"]["tensor"]) * int(v["parallelism"]["pipeline"])
    count, nodes = int(gpus["count"]), int(v["nodes"])
    total = count * nodes
    if resource and (total > 0 or needed > 1) and total < needed:
        if nodes > 1:
            yield (
                f"{path}.gpus.count: {count} GPUs x {nodes} nodes = {total} is fewer than "
                f"parallelism.tensor * parallelism.pipeline = {needed}; raise gpus.count or nodes, "
                "or lower the parallelism"
            )
        else:
            yield (
                f"{path}.gpus.count: {count} GPUs is fewer than parallelism.tensor * "
                f"parallelism.pipeline = {needed}; raise gpus.count or lower the parallelism"
            )
    preset = group.preset
    if nodes > 1 and preset and not preset.get("multiNode"):
        if preset["engine"] == "tgi":
            yield (
                f"{path}.nodes: engine tgi runs on one node only; set nodes: 1 and shard within "
                "the node with parallelism.tensor"
            )
        else:
            yield f"{path}.nodes: engine {preset['engine']} has no multi-node launch; set nodes: 1"
    over_ssh = nodes > 1 and preset and (preset.get("multiNode") or {}).get("sshPort")
    if over_ssh and preset and not v["multiNode"].get("sshSecret"):
        yield (
            f"{path}.multiNode.sshSecret: engine {preset['engine']} runs multi-node over MPI "
            "and SSH; name a Secret with ssh-privatekey and authorized_keys"
        )


def wake_source(group: Group, values: Mapping[str, Any]) -> str:
    """The chart's corral.groups.wakeSource: what sees requests for a group scaled to zero."""
    scaling = group.values["autoscaling"]
    if not (scaling["enabled"] and scaling["kind"] == "keda" and int(scaling["minReplicas"]) == 0):
        return ""
    kind = values["gateway"]["kind"]
    if kind == "smg" and values["scaleFromZero"]["enabled"]:
        return "standby"
    return "epp" if kind == "gatewayAPI" else ""


def _autoscaling_problems(group: Group, wake: str, gateway: str) -> Iterator[str]:
    path, scaling = group.path, group.values["autoscaling"]
    if not scaling["enabled"]:
        return
    low, high = int(scaling["minReplicas"]), int(scaling["maxReplicas"])
    if low > high:
        yield (
            f"{path}.autoscaling.minReplicas: {low} is above autoscaling.maxReplicas {high}; "
            "lower it or raise maxReplicas"
        )
    if low == 0 and scaling["kind"] != "keda":
        yield (
            f"{path}.autoscaling.minReplicas: 0 needs autoscaling.kind keda (an HPA cannot scale "
            "to zero); use kind: keda or minReplicas of 1 or more"
        )
    if low == 0 and scaling["kind"] == "keda" and not scaling.get("query") and not wake:
        yield (
            f"{path}.autoscaling.query: scaling to zero with gateway.kind {gateway} and no "
            "standby needs a query that sees requests while no pod runs (the engine's own metric "
            "vanishes at zero); give one, or use gateway.kind smg with scaleFromZero.enabled"
        )
    metric = ((group.preset or {}).get("metricNames") or {}).get(scaling["metric"])
    if scaling["kind"] == "keda" and not scaling.get("query") and not metric:
        yield (
            f"{path}.autoscaling.query: engine {group.engine} has no known load metric; "
            "give a PromQL query"
        )
    if scaling["kind"] == "hpa" and not scaling.get("hpaMetricName") and not metric:
        yield (
            f"{path}.autoscaling.hpaMetricName: engine {group.engine} has no known load metric; "
            "name your adapter's external metric"
        )


def pods(group: Group) -> int:
    """Most pods the group can run at once: replicas (or maxReplicas) times nodes."""
    scaling = group.values["autoscaling"]
    replicas = int(scaling["maxReplicas"] if scaling["enabled"] else group.values["replicas"])
    return replicas * int(group.values["nodes"])


GPU_RESOURCE = re.compile(r"^nvidia\.com/(gpu|mig-.+)$")


def _resource_problems(group: Group) -> Iterator[str]:
    """GPU resources written into `resources`, which the chart sets from `gpus`."""
    known = {p["resourceName"] for p in group.profiles.values() if p.get("resourceName")}
    resources = group.values.get("resources") or {}
    for section in ("limits", "requests"):
        for name in sorted(resources.get(section) or {}):
            if name in known or GPU_RESOURCE.match(name):
                yield (
                    f'{group.path}.resources.{section}: "{name}" is set by the chart from '
                    "gpus.count and gpus.type; remove it and set gpus instead"
                )


def _cache_problems(group: Group) -> Iterator[str]:
    path, cache, count = group.path, group.values["cache"], pods(group)
    if cache["type"] == "pvc" and count > 1 and "ReadWriteMany" not in cache["accessModes"]:
        yield (
            f"{path}.cache.accessModes: a ReadWriteOnce claim cannot be shared by {count} "
            "pods; use [ReadWriteMany], an RWX existingClaim, hostPath or emptyDir"
        )
    if cache["type"] == "existingClaim" and not cache.get("existingClaim"):
        yield f"{path}.cache.existingClaim: required with cache.type existingClaim; name the claim"
    if cache["type"] == "hostPath" and not cache.get("hostPath"):
        yield f"{path}.cache.hostPath: required with cache.type hostPath; name the node directory"
    source, download = group.model_source, group.values["download"]["enabled"]
    if source == "s3" and cache["type"] == "none":
        yield (
            f"{path}.model: s3:// models are downloaded into the cache; "
            "set cache.type (node, pvc, existingClaim, hostPath or emptyDir)"
        )
    if source == "s3" and not download:
        yield f"{path}.download.enabled: engines do not read s3:// stores; keep it true"
    if group.values.get("pins") and source != "s3":
        yield f"{path}.pins: only s3:// models take pins; remove it"
    if cache["type"] == "node" and not group.downloads:
        yield (
            f"{path}.cache.type: node holds only models the chart downloads; "
            "use an hf:// or s3:// model with download.enabled true"
        )
