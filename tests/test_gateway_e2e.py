"""The gateway as the chart configures it, end to end on loopback: SMG (the pinned package) runs
with the arguments the chart renders for the multi-engine example, with Kubernetes discovery
replaced by the workers' URLs, in front of one stand-in OpenAI engine per group.

(The llm-d inference simulator is not available from this machine's module proxy; the stand-in
in tests/fixtures/openai_worker.py serves the same OpenAI routes.)
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from conftest import ROOT, render
from loopback import (
    chat,
    free_port,
    gateway,
    gateway_args,
    processes,
    smoke,
    wait_for_models,
    worker,
)
from loopback import request as call

EXAMPLE = ROOT / "examples" / "multi-engine.yaml"
KEY = "sk-corral-e2e"
TENANT_KEY = "sk-team-a"


@dataclass
class Stack:
    """The running gateway and its workers."""

    url: str
    metrics: str
    workers: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    ports: dict[str, list[int]] = field(default_factory=dict)


def request(
    stack: Stack,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = KEY,
    timeout: float = 30,
) -> tuple[int, dict[str, Any] | str]:
    """One call to the gateway; (status, parsed JSON or raw text)."""
    status, parsed, _ = call(stack.url + path, body, key, timeout)
    return status, parsed


SETS = [
    f"gateway.apiKey.value={KEY}",
    "gateway.tenants[0].name=team-a",
    "gateway.tenants[0].existingSecret=team-a-key",
    "gateway.healthCheck.intervalSeconds=1",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    groups = yaml.safe_load(EXAMPLE.read_text())["modelGroups"]
    port, metrics = free_port(), free_port()
    running = Stack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics}/metrics")
    with processes() as procs:
        for name, group in groups.items():
            # One stand-in engine per pod the group would run (llama-8b has two replicas).
            for _ in range(group.get("replicas", 1)):
                worker_port = free_port()
                proc = worker(worker_port, group.get("servedName", name))
                running.ports.setdefault(name, []).append(worker_port)
                running.workers.setdefault(name, []).append(proc)
                procs.append(proc)
        args = [
            a.replace("$(SMG_API_KEY)", KEY).replace("$(SMG_TENANT_KEY_0)", TENANT_KEY)
            for a in gateway_args(EXAMPLE, SETS, port, metrics)
        ]
        urls = [f"http://127.0.0.1:{p}" for ports in running.ports.values() for p in ports]
        procs.append(gateway(args, urls))
        wait_for_models(running.url, len(groups), key=KEY)
        yield running


def test_models_lists_every_served_model(stack: Stack) -> None:
    status, body = request(stack, "/v1/models")
    assert status == 200
    assert isinstance(body, dict)
    assert sorted(m["id"] for m in body["data"]) == [
        "llama-70b",
        "llama-8b",
        "mistral-7b",
        "qwen-32b",
        "qwen-tiny",
    ]


@pytest.mark.parametrize(
    ("model", "group"),
    [
        ("llama-8b", "llama-8b"),
        ("llama", "llama-8b"),
        ("qwen", "qwen-32b"),
        ("mistral", "mistral-7b"),
        ("qwen-tiny", "qwen-tiny"),
    ],
)
def test_names_and_aliases_reach_their_group(stack: Stack, model: str, group: str) -> None:
    status, body = request(stack, "/v1/chat/completions", chat(model))
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["served"]["worker"] in stack.ports[group]
    assert body["served"]["model"] == group  # the alias is rewritten to the canonical name


def test_completions_and_embeddings(stack: Stack) -> None:
    status, body = request(stack, "/v1/completions", {"model": "llama", "prompt": "hi"})
    assert status == 200
    assert isinstance(body, dict)
    assert body["served"]["worker"] in stack.ports["llama-8b"]
    status, body = request(stack, "/v1/embeddings", {"model": "qwen", "input": "hi"})
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["data"][0]["embedding"] == [0.1, 0.2, 0.3]


def test_streaming(stack: Stack) -> None:
    status, text = request(stack, "/v1/chat/completions", chat("llama", stream=True))
    assert status == 200
    assert isinstance(text, str)
    events = [
        line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")
    ]
    assert events[-1] == "[DONE]"
    assert (
        "".join(json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1])
        == "hello world"
    )


def test_unknown_model_is_an_openai_404(stack: Stack) -> None:
    status, body = request(stack, "/v1/chat/completions", chat("gpt-9"))
    assert status == 404
    assert isinstance(body, dict)
    assert body["error"]["code"] == "model_not_found"
    assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("key", [None, "wrong"])
def test_missing_or_wrong_key_is_401(stack: Stack, key: str | None) -> None:
    status, body = request(stack, "/v1/chat/completions", chat("llama"), key=key)
    assert status == 401
    assert isinstance(body, dict)
    assert body["error"]["code"] == "invalid_api_key"


def test_a_tenant_key_is_accepted_as_well(stack: Stack) -> None:
    status, body = request(stack, "/v1/chat/completions", chat("llama"), key=TENANT_KEY)
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["served"]["auth"] == f"Bearer {TENANT_KEY}"


def test_the_client_key_reaches_the_engine_unchanged(stack: Stack) -> None:
    _, body = request(stack, "/v1/chat/completions", chat("llama"))
    assert isinstance(body, dict)
    assert body["served"]["auth"] == f"Bearer {KEY}"


def test_gateway_metrics_are_served(stack: Stack) -> None:
    with urllib.request.urlopen(stack.metrics, timeout=5) as resp:
        text = resp.read().decode()
    assert "smg_http_responses_total" in text


# Each line the chart's `helm test` prints for the example, but for the timings.
SMOKE_LINES = [
    "ok   GET /v1/models: lists llama-70b, llama-8b, mistral-7b, qwen-32b, qwen-tiny",
    "ok   chat llama-70b: HTTP 200",
    "ok   chat llama-8b: HTTP 200",
    "ok   chat llama: HTTP 200",
    "ok   chat mistral-7b: HTTP 200",
    "ok   chat mistral: HTTP 200",
    "ok   embedding qwen-32b: HTTP 200",
    "ok   embedding qwen: HTTP 200",
    "ok   chat qwen-tiny: HTTP 200",
    "ok   unknown corral-helm-test-unknown-model: HTTP 404, 404 expected",
    "every check passed",
]


def untimed(output: str) -> list[str]:
    """The script's lines with the request timings cut off."""
    return [line.split(" in ")[0] for line in output.splitlines()]


def test_helm_test_passes_for_every_served_name_and_alias(stack: Stack) -> None:
    docs = render([EXAMPLE], sets=[*SETS, "tests.tasks.qwen-32b=embedding"])
    done = smoke(docs, stack.url, key=KEY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert untimed(done.stdout) == SMOKE_LINES


def test_helm_test_fails_naming_a_name_the_gateway_does_not_serve(stack: Stack) -> None:
    models = {"llama-8b": {"task": "completion", "aliases": ["llama", "gone"]}}
    done = smoke(
        render([EXAMPLE], sets=SETS),
        stack.url,
        key=KEY,
        replace={"--models": json.dumps(models), "--wait": "1"},
    )
    assert done.returncode == 1
    assert untimed(done.stdout) == [
        "ok   GET /v1/models: lists llama-8b",
        "ok   completion llama-8b: HTTP 200",
        "ok   completion llama: HTTP 200",
        "FAIL completion gone: HTTP 404",
        "ok   unknown corral-helm-test-unknown-model: HTTP 404, 404 expected",
        "1 of the checks failed",
    ]


def test_helm_test_fails_without_the_key_and_when_a_group_is_not_listed(stack: Stack) -> None:
    models = {"llama-8b": {"task": "chat", "aliases": []}, "phi-3": {"task": "chat"}}
    replace = {"--models": json.dumps(models), "--wait": "1"}
    done = smoke(render([EXAMPLE], sets=SETS), stack.url, key=KEY, replace=replace)
    assert done.returncode == 1
    lines = untimed(done.stdout)
    assert lines[0] == "FAIL GET /v1/models: phi-3 not listed after 1 s"
    assert "FAIL chat phi-3: HTTP 404" in lines
    # SMG lists its models to anyone, but serves them only with the key.
    replace["--models"] = json.dumps({"llama-8b": {"task": "chat"}})
    done = smoke(render([EXAMPLE], sets=SETS), stack.url, replace=replace)
    assert done.returncode == 1
    assert untimed(done.stdout)[:2] == [
        "ok   GET /v1/models: lists llama-8b",
        "FAIL chat llama-8b: HTTP 401",
    ]


def test_killing_one_replica_loses_only_its_in_flight_requests(stack: Stack) -> None:
    """Four clients keep llama busy while one of its two engines is killed."""
    results: list[tuple[float, int, Any]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            status, body = request(stack, "/v1/chat/completions", chat("llama"), timeout=20)
            results.append((time.monotonic(), status, body))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    killed_at = time.monotonic()
    victim, survivor = stack.workers["llama-8b"][0], stack.ports["llama-8b"][1]
    victim.kill()
    victim.wait(timeout=10)
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    failed = [(t, s, b) for t, s, b in results if s != 200]
    # At most the requests in flight on the killed engine (one per client) fail, each with an
    # OpenAI-shaped error; everything else, before and after, succeeds.
    assert len(failed) <= 4, failed
    for _, _, body in failed:
        assert set(body["error"]) >= {"type", "code", "message"}
    after = [b for t, s, b in results if t > killed_at + 2]
    assert after
    assert all(b["served"]["worker"] == survivor for b in after)
    assert len(results) > 20


def test_a_group_with_no_ready_pod_fails_fast(stack: Stack) -> None:
    """Killed last: the other tests need every worker."""
    for proc in stack.workers["mistral-7b"]:
        proc.kill()
        proc.wait(timeout=10)
    statuses = []
    for _ in range(6):
        start = time.monotonic()
        status, body = request(stack, "/v1/chat/completions", chat("mistral"), timeout=20)
        statuses.append(status)
        assert time.monotonic() - start < 5, "no hang"
        assert isinstance(body, dict)
        assert set(body["error"]) >= {"type", "code", "message"}
        time.sleep(0.5)
    assert all(s in (500, 502, 503) for s in statuses), statuses
    # Other groups are unaffected.
    assert request(stack, "/v1/chat/completions", chat("llama"))[0] == 200
