"""Real vLLM serves what the chart renders: examples/vllm-pair.yaml (two groups, two replicas
each, aliases, prefix caching) run as four vLLM CPU processes with the rendered commands (see
corral.local for the few replacements), with SMG in front started from the chart's own gateway
arguments, used through the official openai client.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

import prom
from conftest import ROOT, render
from corral import local
from corral.errors import CorralError
from corral.render import Manifests
from engines import MODEL, STATE, Served, serve
from loopback import free_port, gateway, gateway_args, processes, smoke, wait_for_models
from loopback import request as call

PAIR = ROOT / "examples" / "vllm-pair.yaml"
KEY = "sk-corral-engine"
# The render the metric checks read: the pair with everything that queries engine metrics on.
OBSERVED = [
    "monitoring.podMonitor.enabled=true",
    "monitoring.dashboard.enabled=true",
    "monitoring.alerts.enabled=true",
    "modelGroups.llama-8b.autoscaling.enabled=true",
    "modelGroups.llama-8b.autoscaling.metric=running",
    "modelGroups.qwen-7b.autoscaling.enabled=true",
    "modelGroups.qwen-7b.autoscaling.kind=hpa",
]


@dataclass
class Stack:
    """The running engines, and the gateway in front of them."""

    engines: list[Served]
    url: str


@pytest.fixture(scope="module")
def docs() -> Manifests:
    return Manifests(render([PAIR]))


@pytest.fixture(scope="module")
def stack(docs: Manifests) -> Iterator[Stack]:
    with serve(docs, ["llama-8b", "llama-8b", "qwen-7b", "qwen-7b"]) as engines:
        port = free_port()
        args = [
            a.replace("$(SMG_API_KEY)", KEY)
            for a in gateway_args(PAIR, [f"gateway.apiKey.value={KEY}"], port, free_port())
        ]
        with processes() as procs:
            procs.append(gateway(args, [s.engine.url for s in engines]))
            url = f"http://127.0.0.1:{port}"
            wait_for_models(url, 2, key=KEY)
            yield Stack(engines, url)


# The other examples' single-node vLLM groups (multinode.yaml's span two nodes: corral.local
# refuses them, see below).
EXAMPLE_GROUPS = [
    ("single-vllm", "llama-8b", ["llama-8b", "llama", "meta-llama/Llama-3.1-8B-Instruct"]),
    ("multi-engine", "llama-8b", ["llama-8b", "llama"]),
    ("autoscaling", "llama-8b", ["llama-8b", "llama"]),
]


def test_every_example_vllm_group_serves_its_rendered_names() -> None:
    renders = [Manifests(render([ROOT / "examples" / f"{ex}.yaml"])) for ex, _, _ in EXAMPLE_GROUPS]
    groups = [group for _, group, _ in EXAMPLE_GROUPS]
    with serve(renders, groups) as engines:
        for served, (example, _, names) in zip(engines, EXAMPLE_GROUPS, strict=True):
            assert served.ready_after < served.engine.startup.budget, example
            for probe in served.engine.probes.values():
                url = f"http://{served.engine.host}:{probe.port}{probe.path}"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert resp.status == 200, f"{example}: {url}"
            status, body, _ = call(served.engine.url + "/v1/models")
            assert status == 200
            assert isinstance(body, dict)
            assert [m["id"] for m in body["data"]] == names, example


def test_a_multi_node_group_is_refused_for_one_machine() -> None:
    docs = Manifests(render([ROOT / "examples" / "multinode.yaml"]))
    with pytest.raises(CorralError) as caught:
        local.command(docs, "deepseek-v3", model_dir=MODEL, state_dir=STATE)
    assert str(caught.value) == (
        "modelGroups.deepseek-v3.nodes: a multi-node group cannot run on one machine; "
        "run a copy with nodes: 1"
    )


def test_probes_answer_within_the_startup_budget(stack: Stack) -> None:
    for served in stack.engines:
        probes = served.engine.probes
        assert set(probes) == {"startup", "readiness", "liveness"}
        assert served.ready_after < probes["startup"].budget
        for probe in probes.values():
            url = f"http://{served.engine.host}:{probe.port}{probe.path}"
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200, url


def test_models_lists_exactly_the_rendered_served_names(stack: Stack) -> None:
    rendered = {"llama-8b": ["llama-8b", "llama", "chat"], "qwen-7b": ["qwen-7b", "qwen"]}
    for served in stack.engines:
        assert served.engine.served_names == rendered[served.engine.group]
        status, body, _ = call(served.engine.url + "/v1/models")
        assert status == 200
        assert isinstance(body, dict)
        assert [m["id"] for m in body["data"]] == rendered[served.engine.group]


@pytest.mark.parametrize(
    ("name", "group"),
    [("llama-8b", "llama-8b"), ("llama", "llama-8b"), ("chat", "llama-8b"), ("qwen", "qwen-7b")],
)
def test_the_openai_client_reaches_each_name_through_the_gateway(
    stack: Stack, name: str, group: str
) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=KEY, max_retries=0, timeout=120)
    chat = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "the model serves"}], max_tokens=4
    )
    assert chat.choices[0].message.content is not None
    assert chat.usage is not None
    assert chat.usage.completion_tokens == 4
    completion = client.completions.create(model=name, prompt="tokens flow back", max_tokens=4)
    assert completion.choices[0].text
    chunks, finished = 0, None
    with client.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": "a stream"}],
        max_tokens=4,
        stream=True,
    ) as stream:
        for chunk in stream:
            assert chunk.model in {name, group}
            for choice in chunk.choices:
                chunks += 1
                finished = choice.finish_reason or finished
    # Token by token, not one buffered answer (a random model's byte-level tokens may decode to
    # nothing until a character is whole, so count chunks, not text).
    assert chunks >= 4
    assert finished == "length"


def test_an_unknown_model_gets_404(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert caught.value.status_code == 404


def test_helm_test_passes_against_the_real_engines(stack: Stack) -> None:
    """The chart's `helm test` script, with the rendered Pod's arguments, through real vLLM."""
    done = smoke(render([PAIR], sets=[f"gateway.apiKey.value={KEY}"]), stack.url, key=KEY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split(" in ")[0] for line in done.stdout.splitlines()] == [
        "ok   GET /v1/models: lists llama-8b, qwen-7b",
        "ok   chat llama-8b: HTTP 200",
        "ok   chat llama: HTTP 200",
        "ok   chat chat: HTTP 200",
        "ok   chat qwen-7b: HTTP 200",
        "ok   chat qwen: HTTP 200",
        "ok   unknown corral-helm-test-unknown-model: HTTP 404, 404 expected",
        "every check passed",
    ]


# Labels the chart's PodMonitor puts on each target (not the engine's own).
TARGET_LABELS = {"namespace", "pod", "app_kubernetes_io_instance", "corral_dev_group"}
SELECTOR = re.compile(r"(vllm:[a-z_:]+)(\{[^}]*\})?")


def chart_queries() -> dict[str, set[str]]:
    """Every vLLM metric the rendered ScaledObject, HPA, dashboard and rules read, with the
    labels their selectors and groupings use."""
    docs = render([PAIR], sets=OBSERVED)
    text = "\n".join(
        str(d)
        for d in docs
        if d["kind"] in {"ScaledObject", "HorizontalPodAutoscaler", "ConfigMap", "PrometheusRule"}
    )
    used: dict[str, set[str]] = {}
    for name, selector in SELECTOR.findall(text):
        labels = set(re.findall(r"([a-zA-Z_]+)\s*(?:=~|!=|!~|=)", selector or ""))
        used.setdefault(name, set()).update(labels - TARGET_LABELS)
    return used


def test_every_metric_the_chart_queries_is_in_the_real_metrics(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=KEY, max_retries=0)
    client.completions.create(model="llama", prompt="warm the histograms", max_tokens=2)
    served = stack.engines[0]
    with urllib.request.urlopen(served.engine.url + "/metrics", timeout=10) as resp:
        exposition = resp.read().decode()
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            for name in (family.name, sample.name):
                samples.setdefault(name, set()).update(sample.labels)
    used = chart_queries()
    assert {"vllm:num_requests_waiting", "vllm:num_requests_running"} <= set(used)
    for name, labels in used.items():
        assert name in samples, f"{name} is not in vLLM's /metrics"
        assert labels <= samples[name], f"{name}: {labels - samples[name]} not on its samples"


@pytest.fixture(scope="module")
def observed() -> list[dict[str, Any]]:
    return render([PAIR], sets=OBSERVED)


def targets(stack: Stack, observed: list[dict[str, Any]]) -> list[prom.Target]:
    """Each running engine as the chart's PodMonitor makes it a target (a pod name apiece)."""
    return [
        prom.pod_target(
            observed,
            f"llm-corral-{s.engine.group}",
            f"{s.engine.host}:{s.engine.port}",
            f"llm-corral-{s.engine.group}-6b8f9d7c4d-p{i}x2k",
        )
        for i, s in enumerate(stack.engines)
    ]


def long_streams(served: Served, count: int) -> list[Any]:
    """count streamed completions of 2,000 tokens each held open on one engine."""
    client = openai.OpenAI(base_url=served.engine.url + "/v1", api_key="none", max_retries=0)
    streams = []
    for n in range(count):
        stream = client.completions.create(
            model=served.engine.served_names[0],
            prompt=f"request {n}",
            max_tokens=2000,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        next(iter(stream))  # admitted and running
        streams.append(stream)
    return streams


def test_the_autoscaling_query_counts_real_running_requests(
    stack: Stack, observed: list[dict[str, Any]]
) -> None:
    query = prom.keda_query(observed, "llm-corral-llama-8b")
    assert query.startswith("sum(vllm:num_requests_running{")
    llama = [s for s in stack.engines if s.engine.group == "llama-8b"]
    with prom.prometheus(targets(stack, observed)) as url:
        assert prom.query(url, query) == [({}, 0.0)]
        streams = long_streams(llama[0], 2) + long_streams(llama[1], 1)
        try:
            deadline = time.monotonic() + 30
            while prom.query(url, query) != [({}, 3.0)] and time.monotonic() < deadline:
                time.sleep(0.5)
            assert prom.query(url, query) == [({}, 3.0)]
            # The qwen-7b group's own query does not see llama-8b's load.
            qwen = query.replace('corral_dev_group="llama-8b"', 'corral_dev_group="qwen-7b"')
            assert prom.query(url, qwen) == [({}, 0.0)]
        finally:
            for stream in streams:
                stream.close()


def test_the_backlog_alert_over_series_recorded_from_the_real_engines(
    stack: Stack, observed: list[dict[str, Any]]
) -> None:
    """promtool over the label sets Prometheus stored from the real engines: quiet with their
    recorded queue values, firing once those same series hold a backlog."""
    (rules,) = [d for d in observed if d["kind"] == "PrometheusRule"]
    with prom.prometheus(targets(stack, observed)) as url:
        waiting = prom.query(url, 'vllm:num_requests_waiting{corral_dev_group="llama-8b"}')
        up = prom.query(url, 'up{corral_dev_group="llama-8b"}')
    assert len(waiting) == len(up) == 2
    assert {labels["model_name"] for labels, _ in waiting} == {"llama-8b"}
    recorded = {prom.selector(labels.pop("__name__"), labels): value for labels, value in waiting}
    ups = {prom.selector(labels.pop("__name__"), labels): f"{v:g}x20" for labels, v in up}
    quiet = {s: f"{v:g}x20" for s, v in recorded.items()}
    backlog = {s: "30x20" for s in recorded}
    alert = "ModelGroupQueueBacklog"
    rule = prom.rule(rules, alert)
    none = [{"eval_time": "15m", "alertname": alert, "exp_alerts": []}]
    fired = [
        {
            "eval_time": "15m",
            "alertname": alert,
            "exp_alerts": [
                {
                    "exp_labels": {"severity": "warning", "corral_dev_group": "llama-8b"},
                    "exp_annotations": {
                        **rule["annotations"],
                        "summary": "Model group llama-8b has a request backlog.",
                    },
                }
            ],
        }
    ]
    for series, cases in ((quiet, none), (backlog, fired)):
        done = prom.promtool_test_rules(rules, {**series, **ups}, cases)
        assert done.returncode == 0, done.stdout + done.stderr
