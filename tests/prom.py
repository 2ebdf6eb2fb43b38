"""Prometheus and promtool (built by `make setup`, ci/setup-prometheus.sh) for the chart's rules
and queries: a Prometheus on 127.0.0.1 scraping given targets, instant queries, and promtool's
rule checks and rule unit tests.

Targets carry the labels prometheus-operator gives a rendered PodMonitor's targets:
`relabelings` writes the relabel configs the operator (PROMETHEUS_OPERATOR_VERSION, its
pkg/prometheus/promcfg.go) generates for one endpoint, and `relabel` applies them to the
discovery labels Kubernetes SD gives a pod's container port, as Prometheus does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from loopback import free_port

PROMETHEUS = ROOT / ".tools" / "bin" / "prometheus"
PROMTOOL = ROOT / ".tools" / "bin" / "promtool"
# Scrape address, metrics path, target labels.
Target = tuple[str, str, dict[str, str]]
# A pod-template-hash and suffix of the kind a Deployment's pods get.
POD_SUFFIX = "6b8f9d7c4d-x7k2p"


def require(binary: Path) -> Path:
    """The binary; fail (not skip) when `make setup` has not built it."""
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"{binary.relative_to(ROOT)} is missing: run `make setup` (ci/setup-prometheus.sh)"
        )
    return binary


def sanitize(name: str) -> str:
    """A Kubernetes label name as a Prometheus label name (the operator's sanitizeLabelName)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def relabelings(monitor: dict[str, Any], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The relabel configs the operator writes for one endpoint of a PodMonitor.

    Left out, as they change no label of a running, unsharded pod's target: the running-phase
    filter, the temporary job-name label and the sharding rules.
    """
    spec, meta = monitor["spec"], monitor["metadata"]
    label = "__meta_kubernetes_pod_label_"
    present = "__meta_kubernetes_pod_labelpresent_"
    rules: list[dict[str, Any]] = []
    for key, value in sorted(spec["selector"].get("matchLabels", {}).items()):
        rules.append(
            {
                "action": "keep",
                "source_labels": [label + sanitize(key), present + sanitize(key)],
                "regex": f"({value});true",
            }
        )
    for expr in spec["selector"].get("matchExpressions", []):
        key, op = sanitize(expr["key"]), expr["operator"]
        assert op in ("In", "NotIn"), f"matchExpressions {op}: only In and NotIn are modelled"
        rules.append(
            {
                "action": "keep" if op == "In" else "drop",
                "source_labels": [label + key, present + key],
                "regex": f"({'|'.join(expr['values'])});true",
            }
        )
    rules.append(
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": endpoint["port"],
        }
    )
    for source, target in [
        ("namespace", "namespace"),
        ("pod_container_name", "container"),
        ("pod_name", "pod"),
    ]:
        rules.append({"source_labels": [f"__meta_kubernetes_{source}"], "target_label": target})
    for name in spec.get("podTargetLabels", []):
        rules.append(
            {
                "source_labels": [label + sanitize(name)],
                "target_label": sanitize(name),
                "regex": "(.+)",
                "replacement": "${1}",
            }
        )
    rules.append({"target_label": "job", "replacement": f"{meta['namespace']}/{meta['name']}"})
    rules.append({"target_label": "endpoint", "replacement": endpoint["port"]})
    for extra in endpoint.get("relabelings", []):  # the endpoint's own, after the operator's
        rule = {
            "source_labels": extra.get("sourceLabels", []),
            "target_label": extra["targetLabel"],
        }
        rules.append(rule | {k: extra[k] for k in ("regex", "replacement", "action") if k in extra})
    return rules


def discovery_labels(
    namespace: str, pod: str, labels: Mapping[str, str], container: str, port: str, node: str = ""
) -> dict[str, str]:
    """The labels Kubernetes SD (role pod) gives one named container port of a pod."""
    found = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": pod,
        "__meta_kubernetes_pod_node_name": node,
        "__meta_kubernetes_pod_container_name": container,
        "__meta_kubernetes_pod_container_port_name": port,
    }
    for key, value in labels.items():
        found[f"__meta_kubernetes_pod_label_{sanitize(key)}"] = value
        found[f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"] = "true"
    return found


def relabel(labels: Mapping[str, str], rules: Sequence[Mapping[str, Any]]) -> dict[str, str] | None:
    """Prometheus's relabeling (replace, keep, drop) of one target: its labels without the
    `__` ones, or None when a rule drops it."""
    out = dict(labels)
    for rule in rules:
        value = ";".join(out.get(s, "") for s in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        assert action in ("replace", "keep", "drop"), f"relabel action {action}: not modelled"
        if action in ("keep", "drop"):
            if (action == "keep") != bool(match):
                return None
        elif match:
            # Prometheus writes groups as $1 or ${1}; an empty result removes the label.
            template = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            result = match.expand(template)
            if result:
                out[rule["target_label"]] = result
            else:
                out.pop(rule["target_label"], None)
    return {k: v for k, v in out.items() if not k.startswith("__")}


def pod_discovery(deployment: Mapping[str, Any], pod: str, node: str = "") -> list[dict[str, str]]:
    """The discovery labels of each named container port of a pod (named pod, on node) of a
    rendered Deployment (or DaemonSet)."""
    template = deployment["spec"]["template"]
    return [
        discovery_labels(
            deployment["metadata"]["namespace"],
            pod,
            template["metadata"]["labels"],
            container["name"],
            port["name"],
            node,
        )
        for container in template["spec"]["containers"]
        for port in container.get("ports", [])
    ]


def pod_target(
    docs: list[dict[str, Any]],
    deployment: str,
    address: str,
    pod: str = "",
    kind: str = "Deployment",
    node: str = "",
) -> Target:
    """The one target the rendered PodMonitors make of a pod of the rendered Deployment (or
    another kind of workload), named `<deployment>-POD_SUFFIX` unless pod is given, on node,
    scraped at address."""
    (workload,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == deployment]
    ports = pod_discovery(workload, pod or f"{deployment}-{POD_SUFFIX}", node)
    targets: list[Target] = []
    for monitor in (d for d in docs if d["kind"] == "PodMonitor"):
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            rules = relabelings(monitor, endpoint)
            for found in ports:
                labels = relabel(found, rules)
                if labels is not None:
                    targets.append((address, endpoint.get("path", "/metrics"), labels))
    assert len(targets) == 1, f"{deployment}: {len(targets)} PodMonitor targets, not one"
    return targets[0]


def series_labels(target: Target) -> dict[str, str]:
    """The labels every series scraped from the target carries: its own and `instance`."""
    address, _, labels = target
    return {**labels, "instance": address}


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """A series selector, `metric{k="v",...}` (as promtool's input_series takes)."""
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def scrape_job(targets: Sequence[Target]) -> dict[str, Any]:
    """A scrape job over the targets, each on its own metrics path."""
    return {
        "job_name": "corral",
        "static_configs": [
            {"targets": [address], "labels": {**labels, "__metrics_path__": path}}
            for address, path, labels in targets
        ],
    }


def api(url: str, path: str, **params: str) -> Any:
    """GET a Prometheus HTTP API path; its `data`, or fail with Prometheus's error."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    try:
        with urllib.request.urlopen(f"{url}{path}{query}", timeout=10) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as err:
        body = json.load(err)
    assert body["status"] == "success", f"{path} {params}: {body.get('error')}"
    return body["data"]


def query(url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    """An instant query: (labels, value) of each result (one with no labels for a scalar)."""
    data = api(url, "/api/v1/query", query=promql)
    if data["resultType"] == "scalar":
        return [({}, float(data["result"][1]))]
    assert data["resultType"] == "vector", data
    return [(r["metric"], float(r["value"][1])) for r in data["result"]]


@contextmanager
def run_prometheus(jobs: Sequence[Mapping[str, Any]], timeout: float = 60) -> Iterator[str]:
    """Prometheus on 127.0.0.1 running the scrape jobs (static targets only) every second, its
    TSDB in a temporary directory; yields its URL once it has taken in every target and scraped
    each one it keeps, and kills it on exit."""
    require(PROMETHEUS)
    offered = sum(len(group["targets"]) for job in jobs for group in job["static_configs"])
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [dict(job) for job in jobs],
    }
    with tempfile.TemporaryDirectory(prefix="corral-prom-") as tmp:
        work = Path(tmp)
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        url = f"http://127.0.0.1:{free_port()}"
        log = work / "prometheus.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'data'}",
                    f"--web.listen-address={url.removeprefix('http://')}",
                    # Take in the targets at once, not after the default 5 s (a hidden flag).
                    "--scrape.discovery-reload-interval=100ms",
                ],
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + timeout
            while not _scraped(url, offered):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Prometheus not ready within {timeout:.0f} s:\n{log.read_text()}")
                time.sleep(0.2)
            yield url
        finally:
            proc.kill()
            proc.wait(timeout=10)


def _scraped(url: str, offered: int) -> bool:
    """Whether Prometheus is ready, has kept or dropped all offered targets, and has stored a
    first scrape of each kept one (its `up` sample is committed with the scraped samples)."""
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
            if resp.status != 200:
                return False
        targets = api(url, "/api/v1/targets", state="any")
        active, dropped = targets["activeTargets"], targets["droppedTargets"]
        return len(active) + len(dropped) == offered and len(query(url, "up")) == len(active)
    except OSError:
        return False


@contextmanager
def prometheus(targets: Sequence[Target], timeout: float = 60) -> Iterator[str]:
    """`run_prometheus` scraping the given targets every second; yields its URL."""
    with run_prometheus([scrape_job(targets)], timeout) as url:
        yield url


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """promtool in cwd; never raises on its exit code."""
    return subprocess.run(
        [str(require(PROMTOOL)), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def promtool_check_rules(rule: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on a rendered PrometheusRule (its spec is a rules file)."""
    with tempfile.TemporaryDirectory(prefix="corral-rules-") as tmp:
        (Path(tmp) / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
        return _promtool("check", "rules", "rules.yaml", cwd=Path(tmp))


def rule_test(
    series: Mapping[str, str],
    alerts: Sequence[Mapping[str, Any]] = (),
    exprs: Sequence[Mapping[str, Any]] = (),
    interval: str = "1m",
) -> dict[str, Any]:
    """A promtool test file over rules.yaml: input series `{selector: values}` (promtool's
    expanding notation, e.g. `0+1x10`, one value per interval), alert_rule_test and
    promql_expr_test cases as promtool takes them."""
    return {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": interval,
        "tests": [
            {
                "interval": interval,
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "alert_rule_test": list(alerts),
                "promql_expr_test": list(exprs),
            }
        ],
    }


def promtool_test_rules(
    rule: Mapping[str, Any],
    series: Mapping[str, str],
    alerts: Sequence[Mapping[str, Any]] = (),
    exprs: Sequence[Mapping[str, Any]] = (),
    interval: str = "1m",
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of a rendered PrometheusRule over the given series and cases."""
    with tempfile.TemporaryDirectory(prefix="corral-rules-") as tmp:
        work = Path(tmp)
        (work / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
        test = rule_test(series, alerts, exprs, interval)
        (work / "test.yaml").write_text(yaml.safe_dump(test))
        return _promtool("test", "rules", "test.yaml", cwd=work)


def only(docs: Sequence[Mapping[str, Any]], kind: str, name: str = "") -> dict[str, Any]:
    """The one rendered object of kind (and name, when given)."""
    (doc,) = [d for d in docs if d["kind"] == kind and name in ("", d["metadata"]["name"])]
    return dict(doc)


def rule(rules: Mapping[str, Any], alert: str, group: str = "") -> dict[str, Any]:
    """The alerting rule of a rendered PrometheusRule (for a ModelGroupDown, the one of group)."""
    found: dict[str, Any]
    (found,) = [
        r
        for g in rules["spec"]["groups"]
        for r in g["rules"]
        if r["alert"] == alert and group in ("", r["labels"].get("corral_dev_group"))
    ]
    return found


def keda_query(docs: Sequence[Mapping[str, Any]], scaled_object: str) -> str:
    """The Prometheus query of a rendered ScaledObject's prometheus trigger."""
    triggers = only(docs, "ScaledObject", scaled_object)["spec"]["triggers"]
    (trigger,) = [t for t in triggers if t["type"] == "prometheus"]
    query: str = trigger["metadata"]["query"]
    return query
