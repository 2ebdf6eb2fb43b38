"""Admission control as the chart configures it, on loopback: SMG (the pinned package) with the
rendered `gateway.admission` arguments in front of one slow stand-in engine. An overload burst
is answered at once with OpenAI-shaped 429s, a request that waits past the queue timeout gets a
503, every admitted request is served in full, and the gateway stays up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from conftest import ROOT
from loopback import chat, free_port, gateway, gateway_args, processes, request, wait_for_models
from loopback import worker as stand_in

EXAMPLE = ROOT / "examples" / "single-vllm.yaml"
MODEL = "llama-8b"
PERMITS, QUEUE, BURST = 4, 4, 40


@contextmanager
def limited(sets: list[str], delay: float) -> Iterator[str]:
    """SMG with the chart's arguments for the example plus sets, before one stand-in engine that
    takes delay seconds per request; yields the gateway's URL."""
    port, metrics, engine = free_port(), free_port(), free_port()
    with processes() as procs:
        procs.append(stand_in(engine, MODEL, delay=delay))
        procs.append(
            gateway(gateway_args(EXAMPLE, sets, port, metrics), [f"http://127.0.0.1:{engine}"])
        )
        url = f"http://127.0.0.1:{port}"
        wait_for_models(url, 1)
        yield url


def timed_chat(url: str) -> tuple[int, float, dict[str, Any] | str]:
    """One chat request: (status, seconds, body)."""
    start = time.monotonic()
    status, body, _ = request(url + "/v1/chat/completions", chat(MODEL), timeout=60)
    return status, time.monotonic() - start, body


def burst(url: str, count: int) -> list[tuple[int, float, dict[str, Any] | str]]:
    """count chat requests sent at once."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: timed_chat(url), range(count)))


def admission(permits: int, queue: int, timeout: int, rate: int = 0) -> list[str]:
    return [
        f"gateway.admission.maxConcurrentRequests={permits}",
        f"gateway.admission.queueSize={queue}",
        f"gateway.admission.queueTimeoutSeconds={timeout}",
        f"gateway.admission.ratePerSecond={rate}",
    ]


def test_a_burst_beyond_permits_and_queue_is_refused_at_once_and_the_admitted_are_served() -> None:
    with limited(admission(PERMITS, QUEUE, 30), delay=1.0) as url:
        answers = burst(url, BURST)
        served = [a for a in answers if a[0] == 200]
        refused = [a for a in answers if a[0] == 429]
        # Every request is either served or refused: nothing admitted is dropped or errors.
        assert len(served) + len(refused) == BURST, [a[:2] for a in answers]
        assert len(served) == PERMITS + QUEUE
        for _, _, body in served:
            assert isinstance(body, dict)
            assert body["choices"][0]["message"]["content"] == "ok"
            assert body["served"]["model"] == MODEL
        for _, seconds, body in refused:
            assert seconds < 1.0  # refused before any engine answered
            assert isinstance(body, dict)
            assert body["error"]["type"] == "rate_limit_error"
            assert body["error"]["code"] == "admission_queue_full"
        # The queued ones waited for a permit: with one engine delay (1 s) each, the first
        # PERMITS take at least 1 s and the QUEUE after them at least 2 s (a loaded machine
        # only adds to both; were they not queued, all would be served in about 1 s).
        times = sorted(s for _, s, _ in served)
        assert min(times) >= 0.95
        assert min(times[PERMITS:]) >= 1.9, times
        print(
            f"burst {BURST}: {len(served)} served (max {max(s for _, s, _ in served):.2f} s), "
            f"{len(refused)} refused with 429 (max {max(s for _, s, _ in refused):.3f} s)"
        )
        # The gateway is still up and serves the next request.
        status, _, _ = timed_chat(url)
        assert status == 200
        assert request(url + "/health")[0] == 200


def test_a_request_that_waits_past_the_queue_timeout_gets_a_503() -> None:
    with limited(admission(PERMITS, QUEUE, 1), delay=2.0) as url:
        answers = burst(url, PERMITS + QUEUE)
        statuses = sorted(a[0] for a in answers)
        assert statuses == [200] * PERMITS + [503] * QUEUE
        for status, seconds, body in answers:
            if status == 503:
                assert 0.9 < seconds < 1.9  # the queue timeout, not the engine's delay
                assert isinstance(body, dict)
                assert body["error"]["code"] == "admission_queue_timeout"


def test_the_rate_limit_refuses_requests_beyond_the_sustained_rate() -> None:
    """Requests one after another never exceed the permits, so only the rate refuses them."""
    for rate, expect_refusals in ((0, False), (1, True)):
        with limited(admission(PERMITS, 0, 30, rate=rate), delay=0.01) as url:
            statuses = [timed_chat(url)[0] for _ in range(3 * PERMITS)]
            assert set(statuses) <= {200, 429}
            assert (429 in statuses) is expect_refusals, statuses
            assert statuses.count(200) >= PERMITS  # the bucket holds a burst of PERMITS
