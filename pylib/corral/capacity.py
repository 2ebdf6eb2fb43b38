"""Will a stack fit? Bin-pack its rendered pods onto nodes the way the scheduler filters them.

Pods come from the render (Deployments and LeaderWorkerSets: replicas x pods per replica, with
each pod's requests, nodeSelector, required node affinity and tolerations), so the plan sees
what the scheduler will see. Nodes come from an inventory file (inventory.schema.json) or from a
live cluster (allocatable minus what pods of other releases already hold). Steady pods are placed
first, biggest GPU demand first, each on the feasible node it leaves fullest (best fit); then the
extra pod a `surge` rollout needs. Pod (anti-)affinity and topology spread are not simulated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from corral import _strict
from corral.errors import ValuesError

WORKLOADS = ("Deployment", "LeaderWorkerSet")
CORE = ("cpu", "memory", "pods", "ephemeral-storage")
# A pod also takes one of its node's pod slots.
POD_SLOT = {"pods": Decimal(1)}


def quantity(value: object) -> Decimal:
    """A Kubernetes quantity ("500m", "512Gi", 8) as a number."""
    from kubernetes.utils.quantity import parse_quantity

    return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]


@dataclass
class Node:
    """A node's labels, scheduling taints and what is still free on it."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    free: dict[str, Decimal]
    # Live nodes count every resource (an undeclared one is 0, as for the scheduler); an
    # inventory node leaves cpu, memory, pods and ephemeral-storage uncounted unless it lists them.
    strict: bool = True

    def room(self, resource: str) -> Decimal | None:
        """What is free of a resource; None when it is not counted."""
        if resource in self.free:
            return self.free[resource]
        return None if not self.strict and resource in CORE else Decimal(0)


@dataclass(frozen=True)
class Pod:
    """One pod a workload wants, as the scheduler filters it."""

    group: str
    requests: dict[str, Decimal]
    node_selector: dict[str, str]
    terms: list[dict[str, Any]]
    tolerations: list[dict[str, Any]]
    surge: bool = False


@dataclass
class GroupFit:
    """How one group's pods fared."""

    group: str
    pods: int
    placed: int = 0
    gpus_per_pod: int = 0
    gpu_resource: str = ""
    surge_pods: int = 0
    surge_placed: int = 0
    reason: str = ""

    @property
    def status(self) -> str:
        """fits, pending (some steady pods find no node) or no-surge-room."""
        if self.placed < self.pods:
            return "pending"
        return "no-surge-room" if self.surge_placed < self.surge_pods else "fits"


@dataclass
class ClusterPlan:
    """The plan of one stack on one cluster."""

    cluster: str
    groups: list[GroupFit] = field(default_factory=list)
    free_gpus: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> list[str]:
        """Groups some of whose steady pods would stay Pending."""
        return [g.group for g in self.groups if g.status == "pending"]


# --- nodes ---------------------------------------------------------------------------------------


def load_inventory(path: Path, profiles: Mapping[str, Mapping[str, Any]]) -> list[Node]:
    """The nodes an inventory file describes; ValuesError naming the key when it is wrong."""
    data = _strict.load(path, "inventory")
    nodes = []
    for i, entry in enumerate(data["nodes"]):
        labels = dict(entry.get("labels") or {})
        free = {k: quantity(v) for k, v in (entry.get("allocatable") or {}).items()}
        if "profile" in entry:
            name = entry["profile"]
            if name not in profiles:
                known = ", ".join(sorted(profiles))
                raise ValuesError(
                    f"{path}: nodes.{i}.profile: unknown profile {name}; use one of: {known}"
                )
            profile = profiles[name]
            if profile.get("product"):
                labels["nvidia.com/gpu.product"] = str(profile["product"])
            labels.update(profile.get("nodeSelector") or {})
            if profile.get("resourceName"):
                free[str(profile["resourceName"])] = Decimal(entry.get("gpus", 0))
        count = int(entry.get("count", 1))
        for n in range(count):
            node_name = f"{entry['name']}-{n}" if count > 1 else entry["name"]
            nodes.append(
                Node(node_name, dict(labels), list(entry.get("taints") or []), dict(free), False)
            )
    return nodes


def node_from_object(node: Mapping[str, Any]) -> Node:
    """A Node from a v1 Node object (as the API returns it, in plain JSON form)."""
    meta, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    return Node(
        meta["name"],
        dict(meta.get("labels") or {}),
        list(spec.get("taints") or []),
        {k: quantity(v) for k, v in (status.get("allocatable") or {}).items()},
    )


def live_nodes(
    releases: Collection[str], namespace: str, kubeconfig: Path | None, context: str | None
) -> list[Node]:
    """The cluster's schedulable nodes, less what bound pods (not these releases') hold."""
    from kubernetes import client, config

    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )
    api = client.CoreV1Api()
    api_client = client.ApiClient()

    def plain(obj: object) -> dict[str, Any]:
        data: dict[str, Any] = api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return data

    nodes = {
        n["metadata"]["name"]: node_from_object(n)
        for n in (plain(item) for item in api.list_node().items)
        if not (n.get("spec") or {}).get("unschedulable")
    }
    for pod in (plain(item) for item in api.list_pod_for_all_namespaces().items):
        meta, spec = pod["metadata"], pod["spec"]
        own = (
            meta.get("namespace") == namespace
            and (meta.get("labels") or {}).get("app.kubernetes.io/instance") in releases
        )
        phase = (pod.get("status") or {}).get("phase")
        host = nodes.get(spec.get("nodeName") or "")
        if own or host is None or phase in ("Succeeded", "Failed"):
            continue
        for resource, amount in pod_requests(spec).items():
            host.free[resource] = host.free.get(resource, Decimal(0)) - amount
    return sorted(nodes.values(), key=lambda n: n.name)


# --- pods ----------------------------------------------------------------------------------------


def pod_requests(spec: Mapping[str, Any]) -> dict[str, Decimal]:
    """What a pod spec requests: the containers' sum or the largest init container, per resource.

    A container's limit stands in for a request it does not set, as the API server defaults it.
    """

    def of(container: Mapping[str, Any]) -> dict[str, Decimal]:
        res = container.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return {k: quantity(v) for k, v in merged.items()}

    total: dict[str, Decimal] = dict(POD_SLOT)
    for container in spec.get("containers") or []:
        for k, v in of(container).items():
            total[k] = total.get(k, Decimal(0)) + v
    for init in spec.get("initContainers") or []:
        for k, v in of(init).items():
            total[k] = max(total.get(k, Decimal(0)), v)
    return total


def _pod(group: str, spec: Mapping[str, Any], surge: bool = False) -> Pod:
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return Pod(
        group,
        pod_requests(spec),
        dict(spec.get("nodeSelector") or {}),
        list(required.get("nodeSelectorTerms") or []),
        list(spec.get("tolerations") or []),
        surge,
    )


def _max_replicas(docs: list[dict[str, Any]], kind: str, name: str) -> int:
    """An autoscaled workload's most replicas, from its HPA or ScaledObject."""
    for doc in docs:
        spec = doc.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        if target.get("name") != name or target.get("kind", kind) != kind:
            continue
        if doc.get("kind") == "HorizontalPodAutoscaler":
            return int(spec["maxReplicas"])
        if doc.get("kind") == "ScaledObject":
            return int(spec.get("maxReplicaCount", 100))
    return 1


def workload_pods(docs: list[dict[str, Any]]) -> list[Pod]:
    """Every pod the rendered workloads want, then the extra pods their surge rollouts add.

    An autoscaled workload (no replicas field) is planned at its autoscaler's maximum.
    """
    pods: list[Pod] = []
    for doc in docs:
        kind, meta, spec = doc.get("kind"), doc["metadata"], doc.get("spec") or {}
        if kind not in WORKLOADS:
            continue
        labels = meta.get("labels") or {}
        component = labels.get("app.kubernetes.io/component") or ""
        group = labels.get("corral.dev/group") or component
        if group != component and component != "model-server":
            group = f"{group}/{component}"  # a group's other pods: its standby
        replicas = (
            int(spec["replicas"]) if "replicas" in spec else _max_replicas(docs, kind, meta["name"])
        )
        if kind == "Deployment":
            template = [spec["template"]["spec"]]
            rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        else:
            lwt = spec["leaderWorkerTemplate"]
            workers = lwt["workerTemplate"]["spec"]
            leader = (lwt.get("leaderTemplate") or lwt["workerTemplate"])["spec"]
            template = [leader] + [workers] * (int(lwt.get("size", 1)) - 1)
            rolling = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
        surge = int(rolling.get("maxSurge") or 0) if replicas else 0
        pods += [_pod(group, s) for _ in range(replicas) for s in template]
        pods += [_pod(group, s, surge=True) for _ in range(surge) for s in template]
    return pods


# --- filtering and packing -----------------------------------------------------------------------


def _matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels:
        have, want = int(labels[key]), int(values[0])
        return have > want if op == "Gt" else have < want
    return False


def _tolerated(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint["key"]:
                return True
        elif tol.get("key") == taint["key"] and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def selects(pod: Pod, node: Node) -> bool:
    """Whether the pod may land on the node at all: selector, required affinity, taints."""
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    if pod.terms and not any(
        all(_matches(e, node.labels) for e in term.get("matchExpressions") or [])
        for term in pod.terms
    ):
        return False
    return all(
        _tolerated(t, pod.tolerations)
        for t in node.taints
        if t.get("effect") in ("NoSchedule", "NoExecute")
    )


def _short(pod: Pod, node: Node) -> str | None:
    """The first resource the node has too little of for the pod, else None."""
    for resource, amount in sorted(pod.requests.items()):
        room = node.room(resource)
        if room is not None and room < amount:
            return resource
    return None


def _gpu(pod: Pod) -> tuple[str, int]:
    extended = [(k, int(v)) for k, v in pod.requests.items() if k.endswith("/gpu")]
    return extended[0] if extended else ("", 0)


def _why(pod: Pod, nodes: list[Node]) -> str:
    wanted = [f"{k}={v}" for k, v in sorted(pod.node_selector.items())]
    eligible = [n for n in nodes if selects(pod, n)]
    if not eligible:
        return f"no node matches {', '.join(wanted) or 'its affinity'} and tolerates its taints"
    short = sorted({r for n in eligible if (r := _short(pod, n))})
    resource = short[0]
    most = max(n.room(resource) or Decimal(0) for n in eligible)
    where = f" on the {len(eligible)} node(s) with {', '.join(wanted)}" if wanted else ""
    return f"needs {pod.requests[resource]} {resource} per pod; at most {most} free{where}"


def pack(
    cluster: str, pods: list[Pod], nodes: list[Node], products: Mapping[str, str]
) -> ClusterPlan:
    """Place the pods on the nodes (mutating their free resources); the plan.

    `products` maps a node's nvidia.com/gpu.product label to the profile name the plan reports.
    """
    fits: dict[str, GroupFit] = {}
    for pod in pods:
        fit = fits.setdefault(pod.group, GroupFit(pod.group, 0))
        resource, gpus = _gpu(pod)
        if gpus > fit.gpus_per_pod:
            fit.gpu_resource, fit.gpus_per_pod = resource, gpus
        if pod.surge:
            fit.surge_pods += 1
        else:
            fit.pods += 1
    order = sorted(pods, key=lambda p: (p.surge, -_gpu(p)[1], p.group))
    for pod in order:
        fit = fits[pod.group]
        resource, _ = _gpu(pod)
        feasible = [n for n in nodes if selects(pod, n) and _short(pod, n) is None]
        if not feasible:
            if not fit.reason:
                fit.reason = ("surge pod: " if pod.surge else "") + _why(pod, nodes)
            continue
        best = min(feasible, key=lambda n: (n.room(resource) or Decimal(0), n.name))
        for k, v in pod.requests.items():
            if k in best.free:
                best.free[k] -= v
        if pod.surge:
            fit.surge_placed += 1
        else:
            fit.placed += 1
    free: dict[str, int] = {}
    for node in nodes:
        product = node.labels.get("nvidia.com/gpu.product")
        gpus = sum(int(v) for k, v in node.free.items() if k.endswith("/gpu"))
        if product:
            name = products.get(product, product)
            free[name] = free.get(name, 0) + max(gpus, 0)
    return ClusterPlan(
        cluster, sorted(fits.values(), key=lambda f: f.group), dict(sorted(free.items()))
    )


def products(profiles: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """GPU product label to the name of its whole-GPU profile (MIG slices share the label)."""
    return {
        str(p["product"]): name
        for name, p in profiles.items()
        if p.get("product") and not p.get("mig")
    }


def format_plan(plan: ClusterPlan) -> str:
    """The plan as text: one line per group, then the free GPUs per profile."""
    lines = [f"cluster {plan.cluster}:"]
    for g in plan.groups:
        gpus = f" x {g.gpus_per_pod} {g.gpu_resource}" if g.gpus_per_pod else ""
        head = f"  {g.group}: {g.status} ({g.placed}/{g.pods} pods{gpus}"
        surge = f", surge {g.surge_placed}/{g.surge_pods}" if g.surge_pods else ""
        lines.append(head + surge + ")" + (f": {g.reason}" if g.reason else ""))
    free = ", ".join(f"{name} {count}" for name, count in plan.free_gpus.items()) or "none"
    lines.append(f"  free GPUs after: {free}")
    return "\n".join(lines)


def plan(
    values: Mapping[str, Any],
    nodes: list[Node],
    *,
    cluster: str,
    release: str = "llm",
    namespace: str = "default",
) -> ClusterPlan:
    """Render the stack (user values) and pack its pods onto the nodes."""
    from corral.check import coalesce
    from corral.groups import profiles
    from corral.render import parse, render_text

    docs = parse(render_text(values, release=release, namespace=namespace)).docs
    return pack(cluster, workload_pods(docs), nodes, products(profiles(coalesce(values))))


def plan_stacks(
    stacks: Mapping[str, Mapping[str, Any]], nodes: list[Node], *, cluster: str, namespace: str
) -> ClusterPlan:
    """Several stacks (by release) on one cluster's nodes; groups are named `release/group`."""
    from corral.check import coalesce
    from corral.groups import profiles
    from corral.render import parse, render_text

    pods: list[Pod] = []
    names: dict[str, str] = {}
    for release, values in stacks.items():
        docs = parse(render_text(values, release=release, namespace=namespace)).docs
        pods += [replace(p, group=f"{release}/{p.group}") for p in workload_pods(docs)]
        names.update(products(profiles(coalesce(values))))
    return pack(cluster, pods, nodes, names)
