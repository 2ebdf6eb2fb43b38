"""The gateway as the chart configures it, end to end on loopback: SMG (the pinned package) runs
with the arguments the chart renders for the multi-engine example, with Kubernetes discovery
replaced by the workers' URLs, in front of one stand-in OpenAI engine per group.

(The llm-d inference simulator is not available from this machine's module proxy; the stand-in
in tests/fixtures/openai_worker.py serves the same OpenAI routes.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from conftest import ROOT, render

EXAMPLE = ROOT / "examples" / "multi-engine.yaml"
KEY = "sk-corral-e2e"
DISCOVERY = (
    "--service-discovery",
    "--selector",
    "--service-discovery-namespace",
    "--model-id-from",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """The running gateway and its workers."""

    url: str
    metrics: str
    workers: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    ports: dict[str, list[int]] = field(default_factory=dict)


def gateway_args() -> list[str]:
    """The chart's gateway arguments for the example, discovery taken out, bound to loopback."""
    docs = render(
        [EXAMPLE], sets=[f"gateway.apiKey.value={KEY}", "gateway.healthCheck.intervalSeconds=1"]
    )
    (gateway,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-gateway")
    ]
    args, skip = [], False
    for arg in gateway["spec"]["template"]["spec"]["containers"][0]["args"]:
        if skip and not arg.startswith("--"):
            continue
        skip = arg.split("=")[0] in DISCOVERY
        if not skip:
            args.append(arg.replace("$(SMG_API_KEY)", KEY))
    return args


def request(
    stack: Stack,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = KEY,
    timeout: float = 30,
) -> tuple[int, dict[str, Any] | str]:
    """One call to the gateway; (status, parsed JSON or raw text)."""
    req = urllib.request.Request(stack.url + path, data=json.dumps(body).encode() if body else None)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def chat(model: str, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    groups = yaml.safe_load(EXAMPLE.read_text())["modelGroups"]
    port, metrics = free_port(), free_port()
    running = Stack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics}/metrics")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, group in groups.items():
            # One stand-in engine per pod the group would run (llama-8b has two replicas).
            for _ in range(group.get("replicas", 1)):
                worker_port = free_port()
                worker = subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "tests" / "fixtures" / "openai_worker.py"),
                        "--port",
                        str(worker_port),
                        "--model",
                        group.get("servedName", name),
                        "--delay",
                        "0.05",
                    ]
                )
                running.ports.setdefault(name, []).append(worker_port)
                running.workers.setdefault(name, []).append(worker)
                procs.append(worker)
        args = [
            a.replace("--host=0.0.0.0", "--host=127.0.0.1").replace(
                "--prometheus-host=0.0.0.0", "--prometheus-host=127.0.0.1"
            )
            for a in gateway_args()
        ]
        args = [a if not a.startswith("--port=") else f"--port={port}" for a in args]
        args = [
            a if not a.startswith("--prometheus-port=") else f"--prometheus-port={metrics}"
            for a in args
        ]
        urls = [f"http://127.0.0.1:{p}" for ports in running.ports.values() for p in ports]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "smg.launch_router", *args, "--worker-urls", *urls],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, body = request(running, "/v1/models", timeout=2)
                if status == 200 and isinstance(body, dict) and len(body["data"]) == len(groups):
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("the gateway did not list every model within 60 s")
        yield running
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


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


def test_the_client_key_reaches_the_engine_unchanged(stack: Stack) -> None:
    _, body = request(stack, "/v1/chat/completions", chat("llama"))
    assert isinstance(body, dict)
    assert body["served"]["auth"] == f"Bearer {KEY}"


def test_gateway_metrics_are_served(stack: Stack) -> None:
    with urllib.request.urlopen(stack.metrics, timeout=5) as resp:
        text = resp.read().decode()
    assert "smg_http_responses_total" in text


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
    for worker in stack.workers["mistral-7b"]:
        worker.kill()
        worker.wait(timeout=10)
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
