"""The chart's alerts and autoscaling queries under the pinned Prometheus and promtool: the
rendered PrometheusRule passes `promtool check rules`, each alert fires and stays quiet as
`promtool test rules` shows over series labelled as the PodMonitors label them, a real
Prometheus scraping a stand-in engine answers the rendered KEDA query, and every KEDA and
dashboard query of every example is valid PromQL.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

import prom
from conftest import EXAMPLES, ROOT, render
from test_toolchain import PINS

AUTOSCALING = ROOT / "examples" / "autoscaling.yaml"
NAMESPACE = "corral"
# What a vLLM engine serves on /metrics while seven requests wait (its own labels included).
VLLM_EXPOSITION = """\
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llama-8b"} 7.0
"""


def metric(engine: str, key: str) -> str:
    """The engine preset's metric name for key (queue, running, ...)."""
    preset = yaml.safe_load((ROOT / "chart" / "presets" / "engines" / f"{engine}.yaml").read_text())
    name: str = preset["metricNames"][key]
    return name


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    """The autoscaling example, rendered."""
    return render([AUTOSCALING])


@pytest.fixture(scope="module")
def rules(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The example's PrometheusRule."""
    return prom.only(docs, "PrometheusRule")


def passed(done: subprocess.CompletedProcess[str]) -> None:
    """Assert a promtool run succeeded; show its output when not."""
    assert done.returncode == 0, done.stdout + done.stderr


def release(number: str) -> str:
    """The Prometheus release of module version v0.3XX.Y: 3.XX.Y."""
    minor, patch = number.removeprefix("v0.").split(".")
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


@pytest.mark.parametrize("binary", [prom.PROMETHEUS, prom.PROMTOOL], ids=lambda p: p.name)
def test_prometheus_is_the_pinned_release(binary: Path) -> None:
    done = subprocess.run(
        [str(prom.require(binary)), "--version"], capture_output=True, text=True, check=True
    )
    assert f"version {release(PINS['PROMETHEUS_VERSION'])} " in done.stdout, done.stdout


# -- promtool check rules ---------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_rendered_rules_pass_promtool_check(example: Path) -> None:
    """Every example's alerts (turned on for those that leave them off) are valid rules."""
    rules = prom.only(render([example], sets=["monitoring.alerts.enabled=true"]), "PrometheusRule")
    done = prom.promtool_check_rules(rules)
    passed(done)
    count = sum(len(g["rules"]) for g in rules["spec"]["groups"])
    assert f"SUCCESS: {count} rules found" in done.stdout


def test_promtool_check_fails_on_a_broken_expression(rules: dict[str, Any]) -> None:
    """What a printf short of an argument in the union template would render."""
    broken = copy.deepcopy(rules)
    backlog = prom.rule(broken, "ModelGroupQueueBacklog")
    backlog["expr"] = backlog["expr"].replace("vllm:num_requests_waiting", "%!s(MISSING)")
    done = prom.promtool_check_rules(broken)
    assert done.returncode == 1, done.stdout
    assert re.search(r'"ModelGroupQueueBacklog": could not parse expression', done.stderr), (
        done.stderr
    )


# -- promtool test rules ----------------------------------------------------------------------
# Series are labelled as they would be scraped: engine metrics with the labels the rendered
# PodMonitors give their pods' targets, kube-state-metrics series with the pod's namespace and
# name (kube-prometheus-stack scrapes it with honorLabels), the gateway's with the labels its
# ServiceMonitor gives (gateway.serviceMonitor.enabled).


def pod_series(
    docs: list[dict[str, Any]], deployment: str, ip: str, pod: str = ""
) -> dict[str, str]:
    """The labels of series scraped from a pod of the Deployment at ip, on its http port."""
    containers = prom.only(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    (port,) = [p["containerPort"] for c in containers for p in c["ports"] if p["name"] == "http"]
    return prom.series_labels(prom.pod_target(docs, deployment, f"{ip}:{port}", pod))


def kube_pod(pod: str, ready: str) -> dict[str, str]:
    """kube-state-metrics series of one pod in the release namespace; ready is its values."""
    ksm = {"namespace": NAMESPACE, "pod": pod, "job": "kube-state-metrics"}
    return {
        prom.selector("kube_pod_info", {**ksm, "node": "gpu-node-1"}): "1x20",
        prom.selector("kube_pod_status_ready", {**ksm, "condition": "true"}): ready,
    }


def alert_annotations(found: dict[str, Any], **expanded: str) -> dict[str, str]:
    """The rule's annotations as an alert carries them: templated ones given expanded."""
    return {**found["annotations"], **expanded}


def test_model_group_down_fires_after_its_minutes_without_a_ready_pod(
    rules: dict[str, Any],
) -> None:
    down = prom.rule(rules, "ModelGroupDown", "llama-8b")
    assert down["for"] == "5m"
    series = kube_pod("llm-corral-llama-8b-6b8f9d7c4d-x7k2p", "0x20")
    fired = {
        "exp_labels": {"severity": "critical", "corral_dev_group": "llama-8b"},
        "exp_annotations": alert_annotations(down),
    }
    alerts: list[dict[str, Any]] = [
        {"eval_time": "4m", "alertname": "ModelGroupDown", "exp_alerts": []},
        {"eval_time": "6m", "alertname": "ModelGroupDown", "exp_alerts": [fired]},
    ]
    passed(prom.promtool_test_rules(rules, series, alerts))


@pytest.mark.parametrize(
    ("pods", "ready"),
    [
        (["llm-corral-llama-8b-6b8f9d7c4d-x7k2p", "llm-corral-llama-8b-6b8f9d7c4d-q9w8e"], "1x20"),
        ([], ""),
        # qwen-7b at zero: only its standby pod runs (its name must not count as the group's).
        (["llm-corral-qwen-7b-standby-7c9d8f6b5-m2n3b"], "0x20"),
    ],
    ids=["ready-pods", "no-pods", "standby-only"],
)
def test_model_group_down_stays_quiet(rules: dict[str, Any], pods: list[str], ready: str) -> None:
    series = {k: v for pod in pods for k, v in kube_pod(pod, ready).items()}
    # A pod of another release in the namespace that is not ready changes nothing.
    series |= kube_pod("other-corral-llama-8b-5f6d7c8b9-z1x2c", "0x20")
    alerts = [{"eval_time": "15m", "alertname": "ModelGroupDown", "exp_alerts": []}]
    passed(prom.promtool_test_rules(rules, series, alerts))


# Each autoscaled group of the example on its engine; qwen-7b also has its standby target up.
BACKLOG_GROUPS = [("llama-8b", "vllm"), ("qwen-7b", "sglang"), ("mistral-7b", "tgi")]


def backlog_series(
    docs: list[dict[str, Any]], group: str, engine: str, queued: list[int]
) -> dict[str, str]:
    """Pods of group, up, each queueing queued[i] requests for 20 minutes; and the group's
    standby target, up, where it has one."""
    series: dict[str, str] = {}
    deployment = f"llm-corral-{group}"
    for i, waiting in enumerate(queued):
        labels = pod_series(docs, deployment, f"10.0.1.{i + 1}", f"{deployment}-6b8f9d7c4d-p{i}x2k")
        series[prom.selector("up", labels)] = "1x20"
        queue = prom.selector(metric(engine, "queue"), {**labels, "model_name": group})
        series[queue] = f"{waiting}x20"
    standby = f"{deployment}-standby"
    if any(d["kind"] == "Deployment" and d["metadata"]["name"] == standby for d in docs):
        series[prom.selector("up", pod_series(docs, standby, "10.0.1.9"))] = "1x20"
    return series


@pytest.mark.parametrize(("group", "engine"), BACKLOG_GROUPS, ids=[g for g, _ in BACKLOG_GROUPS])
def test_queue_backlog_fires_above_the_threshold_per_replica(
    docs: list[dict[str, Any]], rules: dict[str, Any], group: str, engine: str
) -> None:
    backlog = prom.rule(rules, "ModelGroupQueueBacklog")
    assert backlog["for"] == "10m"
    # 30 + 20 queued on two replicas: 25 each, above 20 (qwen-7b's standby, were it counted as
    # a replica, would make it 16.7).
    series = backlog_series(docs, group, engine, [30, 20])
    fired = {
        "exp_labels": {"severity": "warning", "corral_dev_group": group},
        "exp_annotations": alert_annotations(
            backlog, summary=f"Model group {group} has a request backlog."
        ),
    }
    alerts: list[dict[str, Any]] = [
        {"eval_time": "9m", "alertname": "ModelGroupQueueBacklog", "exp_alerts": []},
        {"eval_time": "11m", "alertname": "ModelGroupQueueBacklog", "exp_alerts": [fired]},
    ]
    passed(prom.promtool_test_rules(rules, series, alerts))


@pytest.mark.parametrize(("group", "engine"), BACKLOG_GROUPS, ids=[g for g, _ in BACKLOG_GROUPS])
def test_queue_backlog_stays_quiet_below_the_threshold_per_replica(
    docs: list[dict[str, Any]], rules: dict[str, Any], group: str, engine: str
) -> None:
    # 30 + 5 queued: above 20 in all, 17.5 per replica.
    series = backlog_series(docs, group, engine, [30, 5])
    alerts = [{"eval_time": "15m", "alertname": "ModelGroupQueueBacklog", "exp_alerts": []}]
    passed(prom.promtool_test_rules(rules, series, alerts))


def gateway_series(errors_per_minute: int) -> dict[str, str]:
    """The gateway's response counters for 20 minutes: 100 answers a minute with 200 and
    errors_per_minute with 503, labelled as its ServiceMonitor's target."""
    target = {
        "namespace": NAMESPACE,
        "service": "llm-corral-gateway",
        "job": "llm-corral-gateway",
        "endpoint": "metrics",
        "pod": "llm-corral-gateway-5d7f8c9b6-h4j5k",
        "container": "gateway",
        "instance": "10.0.2.1:29000",
    }
    ok = prom.selector("smg_http_responses_total", {**target, "status_code": "200"})
    failed = prom.selector("smg_http_responses_total", {**target, "status_code": "503"})
    return {ok: "0+100x20", failed: f"0+{errors_per_minute}x20"}


def test_gateway_error_rate_fires_above_its_share_of_5xx(rules: dict[str, Any]) -> None:
    errors = prom.rule(rules, "GatewayErrorRate")
    assert errors["for"] == "5m"
    fired = {"exp_labels": {"severity": "critical"}, "exp_annotations": alert_annotations(errors)}
    alerts: list[dict[str, Any]] = [
        {"eval_time": "5m", "alertname": "GatewayErrorRate", "exp_alerts": []},
        {"eval_time": "7m", "alertname": "GatewayErrorRate", "exp_alerts": [fired]},
    ]
    # 10 of 110 answers a minute are 503: 9 %, above 5 %.
    passed(prom.promtool_test_rules(rules, gateway_series(10), alerts))


def test_gateway_error_rate_stays_quiet_below_its_share_of_5xx(rules: dict[str, Any]) -> None:
    alerts = [{"eval_time": "15m", "alertname": "GatewayErrorRate", "exp_alerts": []}]
    # 3 of 103: 2.9 %.
    passed(prom.promtool_test_rules(rules, gateway_series(3), alerts))


def test_keda_queries_sum_their_own_group_only(
    docs: list[dict[str, Any]], rules: dict[str, Any]
) -> None:
    """Each ScaledObject's query sums its group's pods, not another group's or release's."""
    series: dict[str, str] = {}
    for group, engine, waiting in [("llama-8b", "vllm", 7), ("qwen-7b", "sglang", 3)]:
        deployment = f"llm-corral-{group}"
        for i in range(2):
            labels = pod_series(
                docs, deployment, f"10.0.3.{i + 1}", f"{deployment}-6b8f9d7c4d-k{i}z9q"
            )
            series[prom.selector(metric(engine, "queue"), labels)] = f"{waiting + i}x5"
            # The same group of another release in the namespace.
            other = {
                **labels,
                "app_kubernetes_io_instance": "other",
                "pod": f"other-{labels['pod']}",
            }
            series[prom.selector(metric(engine, "queue"), other)] = "100x5"
    exprs = [
        {
            "expr": prom.keda_query(docs, name),
            "eval_time": "2m",
            "exp_samples": [{"labels": "{}", "value": value}],
        }
        for name, value in [("llm-corral-llama-8b", 7 + 8), ("llm-corral-qwen-7b", 3 + 4)]
    ]
    passed(prom.promtool_test_rules(rules, series, exprs=exprs))


# -- a real Prometheus scraping a stand-in engine ---------------------------------------------


class Exposition(BaseHTTPRequestHandler):
    """Serves VLLM_EXPOSITION at every path, as an engine serves /metrics."""

    def do_GET(self) -> None:
        body = VLLM_EXPOSITION.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def standin() -> Iterator[str]:
    """A stand-in engine's metrics on 127.0.0.1; yields its address, stops it on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Exposition)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_keda_query_reads_the_scraped_engine(docs: list[dict[str, Any]], standin: str) -> None:
    target = prom.pod_target(docs, "llm-corral-llama-8b", standin)
    with prom.prometheus([target]) as url:
        assert prom.query(url, prom.keda_query(docs, "llm-corral-llama-8b")) == [({}, 7.0)]


def test_the_kit_labels_targets_as_prometheus_relabels_them(
    docs: list[dict[str, Any]], standin: str
) -> None:
    """Each rendered pod offered to every PodMonitor's relabel configs: Prometheus keeps the
    same targets, with the same labels, as prom.pod_target gives."""
    pods = [
        d
        for d in docs
        if d["kind"] == "Deployment"
        and "corral.dev/group" in d["spec"]["template"]["metadata"]["labels"]
    ]
    offered = [
        {"targets": [standin], "labels": found}
        for d in pods
        for found in prom.pod_discovery(d, f"{d['metadata']['name']}-{prom.POD_SUFFIX}")
    ]
    jobs = [
        {
            "job_name": monitor["metadata"]["name"],
            "metrics_path": endpoint["path"],
            "static_configs": offered,
            "relabel_configs": prom.relabelings(monitor, endpoint),
        }
        for monitor in docs
        if monitor["kind"] == "PodMonitor"
        for endpoint in monitor["spec"]["podMetricsEndpoints"]
    ]
    with prom.run_prometheus(jobs) as url:
        active = prom.api(url, "/api/v1/targets", state="active")["activeTargets"]
    got = {t["labels"]["pod"]: (t["scrapeUrl"], t["labels"]) for t in active}
    want = {}
    for d in pods:
        target = prom.pod_target(docs, d["metadata"]["name"], standin)
        address, path, labels = target
        want[labels["pod"]] = (f"http://{address}{path}", prom.series_labels(target))
    assert got == want
    assert len(got) == len(pods) == 4


@pytest.fixture(scope="module")
def empty_prometheus() -> Iterator[str]:
    """A Prometheus with no targets, for checking queries."""
    with prom.prometheus([]) as url:
        yield url


def chart_queries(docs: list[dict[str, Any]]) -> list[str]:
    """Every PromQL query a render gives KEDA (ScaledObject triggers) or Grafana (panels)."""
    queries = [
        t["metadata"]["query"]
        for d in docs
        if d["kind"] == "ScaledObject"
        for t in d["spec"]["triggers"]
        if t["type"] == "prometheus"
    ]
    for d in docs:
        if d["kind"] == "ConfigMap" and "corral.json" in d.get("data", {}):
            panels = json.loads(d["data"]["corral.json"])["panels"]
            queries += [t["expr"] for p in panels for t in p["targets"]]
    return queries


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_rendered_query_is_valid_promql(empty_prometheus: str, example: Path) -> None:
    """Prometheus parses and evaluates each query (to an instant vector) without error."""
    queries = chart_queries(render([example], sets=["monitoring.dashboard.enabled=true"]))
    assert queries
    for promql in queries:
        assert prom.query(empty_prometheus, promql) == [], promql
