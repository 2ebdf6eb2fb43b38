"""Real vLLM serves what the chart renders: examples/vllm-pair.yaml (two groups, two replicas
each, aliases, prefix caching) run as four vLLM CPU processes with the rendered commands (see
corral.local for the few replacements), with SMG in front started from the chart's own gateway
arguments, used through the official openai client.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, render
from engines import Served, serve
from loopback import free_port, gateway, gateway_args, processes, wait_for_models
from loopback import request as call

from corral.render import Manifests

PAIR = ROOT / "examples" / "vllm-pair.yaml"
KEY = "sk-corral-engine"
# The render the metric checks read: the pair with everything that queries engine metrics on.
OBSERVED = [
    "monitoring.podMonitor.enabled=true",
    "monitoring.dashboard.enabled=true",
    "monitoring.alerts.enabled=true",
    "modelGroups.llama-8b.autoscaling.enabled=true",
    "modelGroups.qwen-7b.autoscaling.enabled=true",
    "modelGroups.qwen-7b.autoscaling.kind=hpa",
    "modelGroups.qwen-7b.autoscaling.metric=running",
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


def rendered_names(docs: Manifests, group: str) -> list[str]:
    """The served names in the group's rendered args: every value after --served-model-name."""
    deployment = docs.get("Deployment", f"llm-corral-{group}")
    args = [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]
    start = args.index("--served-model-name") + 1
    names = []
    for arg in args[start:]:
        if arg.startswith("-"):
            break
        names.append(arg)
    return names


def test_probes_answer_within_the_startup_budget(stack: Stack) -> None:
    for served in stack.engines:
        probes = served.engine.probes
        assert set(probes) == {"startup", "readiness", "liveness"}
        assert served.ready_after < probes["startup"].budget
        for probe in probes.values():
            url = f"http://{served.engine.host}:{probe.port}{probe.path}"
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200, url


def test_models_lists_exactly_the_rendered_served_names(stack: Stack, docs: Manifests) -> None:
    assert rendered_names(docs, "llama-8b") == ["llama-8b", "llama", "chat"]
    assert rendered_names(docs, "qwen-7b") == ["qwen-7b", "qwen"]
    for served in stack.engines:
        status, body, _ = call(served.engine.url + "/v1/models")
        assert status == 200
        assert isinstance(body, dict)
        assert [m["id"] for m in body["data"]] == rendered_names(docs, served.engine.group)


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
    deltas = []
    with client.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": "a stream"}],
        max_tokens=4,
        stream=True,
    ) as stream:
        for chunk in stream:
            deltas += [c.delta.content for c in chunk.choices if c.delta.content]
            assert chunk.model in {name, group}
    assert len(deltas) >= 2  # token by token, not one buffered answer


def test_an_unknown_model_gets_404(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert caught.value.status_code == 404


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
