"""Two gateway replicas as the chart configures them (`gateway.replicas: 2`, mesh on), on loopback:
two SMG processes with the rendered mesh arguments (Kubernetes peer discovery replaced by each
other's mesh address) in front of the same two stand-in engines. A prefix first sent through one
replica reaches the same engine when it comes again through the other; without the mesh, the
second replica routes on its own and the two disagree."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT
from loopback import chat, free_port, gateway, gateway_args, processes, request, wait_for_models
from loopback import worker as stand_in

EXAMPLE = ROOT / "examples" / "single-vllm.yaml"
MODEL = "llama-8b"
# Long shared prefixes, one per conversation, so cache-aware routing keys on them.
PREFIXES = [f"conversation {i}: " + "the same long system prompt " * 20 for i in range(12)]
# The mesh gossips tree deltas and repairs a replica that missed the start within seconds.
SYNC_SECONDS = 8


def loopback_mesh(args: list[str], name: str, port: int, peer: int) -> list[str]:
    """The rendered mesh arguments bound to loopback, the Kubernetes peer discovery
    (--router-selector and its labels) replaced by the other replica's mesh address."""
    out, skip = [], False
    for arg in args:
        if skip and not arg.startswith("--"):
            continue
        skip = arg == "--router-selector"
        if skip:
            continue
        flag = arg.split("=")[0]
        out.append(
            {
                "--mesh-host": "--mesh-host=127.0.0.1",
                "--mesh-advertise-host": "--mesh-advertise-host=127.0.0.1",
                "--mesh-port": f"--mesh-port={port}",
                "--mesh-server-name": f"--mesh-server-name={name}",
            }.get(flag, arg)
        )
    if "--enable-mesh" in out:
        out += ["--mesh-peer-urls", f"127.0.0.1:{peer}"]
    return out


@contextmanager
def replicas(mesh: bool) -> Iterator[tuple[str, str, set[int]]]:
    """Two SMG replicas before two stand-in engines; yields both URLs and the engine ports."""
    engines = [free_port(), free_port()]
    sets = ["gateway.replicas=2", f"gateway.mesh.enabled={str(mesh).lower()}"]
    with processes() as procs:
        procs += [stand_in(p, MODEL) for p in engines]
        for p in engines:  # up before the gateways start, so each registers both at once
            wait_until_up(f"http://127.0.0.1:{p}/health")
        urls, metrics_urls, meshes = [], [], [free_port(), free_port()]
        for i, name in enumerate(("a", "b")):
            port, metrics = free_port(), free_port()
            metrics_urls.append(f"http://127.0.0.1:{metrics}/metrics")
            args = gateway_args(EXAMPLE, sets, port, metrics)
            assert ("--enable-mesh" in args) is mesh
            args = loopback_mesh(args, name, meshes[i], meshes[1 - i])
            procs.append(gateway(args, [f"http://127.0.0.1:{p}" for p in engines]))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_for_models(url, 1)
            wait_for_workers(url, len(engines))
        if mesh:
            # A replica that gets tree deltas before it knows its peer cannot ask for the
            # missing part of the tree, so traffic starts once both have synced with each other.
            wait_for_sync(metrics_urls, ["b", "a"])
        yield urls[0], urls[1], set(engines)


def wait_for_sync(metrics: list[str], peers: list[str]) -> None:
    """Until one replica (metrics[i]) has finished two mesh sync rounds with the other
    (peers[i]), 30 s at most: the replica that opened the sync stream counts them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for url, peer in zip(metrics, peers, strict=True):
            _, text, _ = request(url, timeout=2)
            for family in text_string_to_metric_families(str(text)):
                for sample in family.samples:
                    if (
                        sample.name == "router_mesh_sync_round_duration_seconds_count"
                        and sample.labels.get("peer") == peer
                        and sample.value >= 2
                    ):
                        return
        time.sleep(0.3)
    pytest.fail("the replicas finished no mesh sync rounds within 30 s")


def wait_until_up(url: str) -> None:
    """Until url answers 200 (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if request(url, timeout=1)[0] == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within 10 s")


def wait_for_workers(url: str, count: int) -> None:
    """Until the gateway has registered count workers (60 s at most): a worker that missed its
    first health check joins later, and prefixes sent before it would all go to the other."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body, _ = request(url + "/workers", timeout=2)
        if status == 200 and isinstance(body, dict) and body["total"] == count:
            return
        time.sleep(0.3)
    pytest.fail(f"the gateway did not register {count} workers within 60 s")


def engine_for(url: str, text: str) -> int:
    """The engine port that served a chat request with this text."""
    body = chat(MODEL)
    body["messages"][0]["content"] = text
    status, answer, _ = request(url + "/v1/chat/completions", body)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return int(answer["served"]["worker"])


def route_twice(first: str, second: str) -> tuple[list[int], list[int]]:
    """Each prefix through the first replica, then (after the sync) through the second."""
    before = [engine_for(first, p + "first question") for p in PREFIXES]
    time.sleep(SYNC_SECONDS)
    after = [engine_for(second, p + "second question") for p in PREFIXES]
    return before, after


def test_a_prefix_reaches_the_same_engine_through_either_replica() -> None:
    with replicas(mesh=True) as (a, b, engines):
        before, after = route_twice(a, b)
        assert set(before) == engines  # the prefixes are spread over both engines
        assert after == before, (before, after)


def test_without_the_mesh_the_replicas_route_on_their_own() -> None:
    with replicas(mesh=False) as (a, b, engines):
        before, after = route_twice(a, b)
        assert set(before) == engines
        assert after != before
