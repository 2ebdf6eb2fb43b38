"""The scale-from-zero standby (chart/files/standby.py) as the chart runs it, on loopback.

SMG runs with the gateway arguments the chart renders for the autoscaling example, and the
standby with the arguments rendered for its scale-to-zero group (qwen-7b), pointed at a port
where the group's Service would be. No engine listens there until a test starts one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, render
from loopback import (
    chart_args,
    chat,
    free_port,
    gateway,
    gateway_args,
    processes,
    request,
    wait_for_models,
    worker,
)

EXAMPLE = ROOT / "examples" / "autoscaling.yaml"
STANDBY = ROOT / "chart" / "files" / "standby.py"
RETRY_AFTER = 7


@dataclass
class Asleep:
    """A gateway whose only worker is the standby of a group at zero."""

    url: str
    standby: str
    backend: int
    procs: list[subprocess.Popen[bytes]]


@pytest.fixture
def asleep(request: pytest.FixtureRequest) -> Iterator[Asleep]:
    wait = request.param
    sets = [
        f"scaleFromZero.waitSeconds={wait}",
        f"scaleFromZero.retryAfterSeconds={RETRY_AFTER}",
        "gateway.healthCheck.intervalSeconds=1",
    ]
    docs = render([EXAMPLE], sets=sets)
    port, metrics, standby, backend = free_port(), free_port(), free_port(), free_port()
    args = [
        f"--backend=127.0.0.1:{backend}" if a.startswith("--backend=") else a
        for a in chart_args(docs, "-qwen-7b-standby")
        if not a.startswith("--port=")
    ]
    with processes() as procs:
        procs.append(
            subprocess.Popen(
                [sys.executable, str(STANDBY), *args, "--host=127.0.0.1", f"--port={standby}"]
            )
        )
        procs.append(
            gateway(gateway_args(EXAMPLE, sets, port, metrics), [f"http://127.0.0.1:{standby}"])
        )
        url = f"http://127.0.0.1:{port}"
        wait_for_models(url, 1)
        yield Asleep(url, f"http://127.0.0.1:{standby}", backend, procs)


@pytest.mark.parametrize("asleep", [2], indirect=True)
def test_a_request_waits_about_wait_seconds_then_gets_an_openai_503(asleep: Asleep) -> None:
    start = time.monotonic()
    status, body, headers = request(asleep.url + "/v1/chat/completions", chat("qwen-7b"))
    elapsed = time.monotonic() - start
    assert status == 503
    assert headers["retry-after"] == str(RETRY_AFTER)
    assert isinstance(body, dict)
    assert body["error"]["type"] == "service_unavailable"
    assert body["error"]["code"] == "model_waking"
    assert "qwen-7b" in body["error"]["message"]
    # waitSeconds is spread over the gateway's four attempts: about 2 s in all, never a hang.
    assert 1.8 <= elapsed < 4, elapsed
    # What KEDA reads: every attempt counts as demand while it is recent.
    status, demand, _ = request(asleep.standby + "/status")
    assert status == 200
    assert demand == {"model": "qwen-7b", "waiting": 0, "recent": 4, "demand": 4}
    assert metrics(asleep) == {
        ("corral_standby_waiting", ""): 0,
        ("corral_standby_requests", "forwarded"): 0,
        ("corral_standby_requests", "refused"): 4,
    }


@pytest.mark.parametrize("asleep", [20], indirect=True)
def test_a_request_held_while_the_group_wakes_is_served_by_it(asleep: Asleep) -> None:
    assert request(asleep.standby + "/ready")[0] == 200
    wake = threading.Timer(1.0, lambda: asleep.procs.append(worker(asleep.backend, "qwen-7b")))
    wake.start()
    start = time.monotonic()
    status, text, _ = request(
        asleep.url + "/v1/chat/completions", chat("qwen-7b", stream=True), timeout=30
    )
    wake.join()
    assert status == 200, text
    assert 1.0 <= time.monotonic() - start < 10
    assert isinstance(text, str)
    events = [ln.removeprefix("data: ") for ln in text.splitlines() if ln.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "hello world"
    assert {c["served"]["worker"] for c in chunks} == {asleep.backend}
    # With the group up, the standby stops being Ready, so discovery drops it from the gateway.
    assert request(asleep.standby + "/ready")[0] == 503


@pytest.mark.parametrize("asleep", [1], indirect=True)
def test_every_answer_while_asleep_is_a_503_with_retry_after(asleep: Asleep) -> None:
    """After circuitBreaker.failureThreshold timed-out attempts SMG stops calling the standby and
    answers for it: still an OpenAI-shaped 503 with Retry-After, without the wait."""
    answers = [request(asleep.url + "/v1/chat/completions", chat("qwen-7b")) for _ in range(5)]
    assert [status for status, _, _ in answers] == [503] * 5
    assert all("retry-after" in headers for _, _, headers in answers)
    assert all(isinstance(body, dict) and "code" in body["error"] for _, body, _ in answers)
    assert answers[0][1]["error"]["code"] == "model_waking"  # type: ignore[index]


@pytest.mark.parametrize("asleep", [40], indirect=True)
def test_concurrent_requests_are_all_held_counted_and_forwarded(asleep: Asleep) -> None:
    answers: list[int] = []

    def call() -> None:
        answers.append(request(asleep.standby + "/v1/chat/completions", chat("qwen-7b"))[0])

    clients = [threading.Thread(target=call) for _ in range(8)]
    for client in clients:
        client.start()
    status = wait_for_status(asleep, lambda s: s["waiting"] == 8)
    assert status == {"model": "qwen-7b", "waiting": 8, "recent": 8, "demand": 8}
    asleep.procs.append(worker(asleep.backend, "qwen-7b"))
    for client in clients:
        client.join(timeout=30)
    assert answers == [200] * 8
    assert metrics(asleep)[("corral_standby_requests", "forwarded")] == 8


@pytest.mark.parametrize("asleep", [2], indirect=True)
def test_only_api_calls_count_as_demand(asleep: Asleep) -> None:
    """SMG's discovery opens an HTTP/2 connection to every worker it finds (`PRI * HTTP/2.0`, to
    see whether it speaks gRPC): the standby closes it, and it wakes nothing."""
    host, port = asleep.standby.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            assert conn.recv(1024) == b""  # closed, nothing answered
    status, demand, _ = request(asleep.standby + "/status")
    assert (status, demand) == (200, {"model": "qwen-7b", "waiting": 0, "recent": 0, "demand": 0})


def metrics(asleep: Asleep) -> dict[tuple[str, str], float]:
    """The standby's /metrics as Prometheus parses them: (family, outcome) -> value."""
    with urllib.request.urlopen(asleep.standby + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            assert sample.labels["model"] == "qwen-7b"
            found[(family.name, sample.labels.get("outcome", ""))] = sample.value
    return found


def wait_for_status(asleep: Asleep, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The standby's /status once check passes (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, status, _ = request(asleep.standby + "/status")
        if isinstance(status, dict) and check(status):
            return status
        time.sleep(0.1)
    pytest.fail("the standby's status never matched")
