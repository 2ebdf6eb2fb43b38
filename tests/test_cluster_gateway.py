"""The gateway's Kubernetes discovery against a real API server, routing to real sockets.

The test cluster gives pods loopback addresses (127.1.0.0/16, ci/cluster/kwokctl.yaml). After a
chart install, a stand-in engine binds each serving pod's address and the port its
smg.ai/worker-ports annotation names, and SMG (the pinned package) runs here with the arguments
of the installed gateway Deployment, discovery included: it watches the API server, finds the
pods by the chart's labels and routes to them.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import openai

from conftest import ROOT
from corral import pods
from corral.pods import address, container_args
from corral.render import Manifests
from engines import serve
from kube import ENV, get, kubectl, prepare, ready, release, wait_for
from loopback import chat, free_port, processes, request, worker

KEY = "sk-corral-cluster"


def install(namespace: str, example: str, *sets: str) -> None:
    """Install an example with the gateway key set, and wait for it."""
    path = ROOT / "examples" / example
    prepare(namespace, path)
    args = [f"gateway.apiKey.value={KEY}", "gateway.healthCheck.intervalSeconds=1", *sets]
    release("install", namespace, "-f", path, *(f"--set={s}" for s in args), "--wait")


def serving_pods(namespace: str, *selector: str) -> list[dict[str, Any]]:
    """Ready pods the gateway's selector matches (and any further selector)."""
    labels = pods.serving_selector("llm", *selector)
    return [p for p in get("pods", "-n", namespace, "-l", labels)["items"] if ready(p)]


def deployed_args(namespace: str, name: str) -> list[str]:
    return container_args(get("deployment", "-n", namespace, name))


def gateway(namespace: str, procs: list[subprocess.Popen[bytes]]) -> str:
    """SMG with the installed gateway's arguments, on loopback, watching the test cluster; its URL."""
    port = free_port()
    args = deployed_args(namespace, "llm-corral-gateway")
    assert "--service-discovery" in args
    command = pods.gateway_command(
        args, port=port, metrics_port=free_port(), env={"SMG_API_KEY": KEY}
    )
    out = subprocess.DEVNULL
    procs.append(subprocess.Popen(command, env=ENV, stdout=out, stderr=out))
    return f"http://127.0.0.1:{port}"


def stand_in(pods: list[dict[str, Any]], procs: list[subprocess.Popen[bytes]]) -> dict[str, str]:
    """A stand-in engine on each pod's address and port; the group of each address."""
    for pod in pods:
        host, port = address(pod)
        procs.append(worker(port, pod["metadata"]["labels"]["corral.dev/model"], host=host))
    return {address(p)[0]: p["metadata"]["labels"]["corral.dev/group"] for p in pods}


def served_by(url: str, model: str) -> str:
    """The address of the engine that answered a chat for the model through the gateway."""
    status, body, _ = request(url + "/v1/chat/completions", chat(model), key=KEY)
    assert status == 200, body
    assert isinstance(body, dict)
    return str(body["served"]["host"])


def models(url: str) -> set[str]:
    try:
        status, body, _ = request(url + "/v1/models", key=KEY, timeout=2)
    except OSError:
        return set()
    return {m["id"] for m in body["data"]} if status == 200 and isinstance(body, dict) else set()


def test_the_gateway_discovers_serving_pods_and_follows_them(namespace: str) -> None:
    install(namespace, "multi-engine.yaml")
    pods = serving_pods(namespace)
    assert len(pods) == 6  # llama-8b has two replicas
    with processes() as procs:
        group_of = stand_in(pods, procs)
        assert len(group_of) == 6  # one address per pod
        url = gateway(namespace, procs)
        expected = {"llama-8b", "llama-70b", "qwen-32b", "mistral-7b", "qwen-tiny"}
        wait_for(lambda: models(url) == expected, 60, "every served model listed")
        for model, group in [
            ("llama", "llama-8b"),
            ("qwen", "qwen-32b"),
            ("mistral", "mistral-7b"),
        ]:
            assert group_of[served_by(url, model)] == group
        # KEDA or a user scales llama-8b down: the gateway stops sending to the deleted pod (its
        # stand-in still listens, so only discovery can tell).
        kubectl("-n", namespace, "scale", "deployment/llm-corral-llama-8b", "--replicas=1")
        (kept,) = wait_for(
            lambda: (
                (p := serving_pods(namespace, "corral.dev/group=llama-8b")) and len(p) == 1 and p
            ),
            60,
            "one llama-8b pod",
        )

        def only_kept() -> bool:
            return {served_by(url, "llama-8b") for _ in range(6)} == {address(kept)[0]}

        wait_for(only_kept, 60, "every llama-8b request on the remaining pod")


def test_multi_node_groups_are_reached_through_their_leaders(namespace: str) -> None:
    install(namespace, "multinode.yaml")

    def leaders_and_workers() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        workers = get("pods", "-n", namespace, "-l", "corral.dev/role=worker")["items"]
        found = serving_pods(namespace), [w for w in workers if ready(w)]
        return found if len(found[0]) == len(found[1]) == 3 else None

    # Helm waits for the LeaderWorkerSets, not for the pods their controller then creates.
    leaders, _ = wait_for(leaders_and_workers, 120, "three leaders and three workers Ready")
    assert {p["metadata"]["labels"]["corral.dev/role"] for p in leaders} == {"leader"}
    with processes() as procs:
        group_of = stand_in(leaders, procs)
        url = gateway(namespace, procs)
        expected = {"deepseek-v3", "deepseek-r1-fp4", "kimi-k2"}
        wait_for(lambda: models(url) == expected, 60, "every multi-node model listed")
        for model in sorted(expected):
            assert group_of[served_by(url, model)] == model


def test_a_group_at_zero_is_answered_by_its_standby(namespace: str) -> None:
    install(
        namespace,
        "autoscaling.yaml",
        "scaleFromZero.waitSeconds=2",
        "scaleFromZero.retryAfterSeconds=7",
    )
    # What KEDA does once qwen-7b has been idle for its cooldown period.
    kubectl("-n", namespace, "scale", "deployment/llm-corral-qwen-7b", "--replicas=0")
    wait_for(
        lambda: (
            not get(
                "pods",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/component=model-server,corral.dev/group=qwen-7b",
            )["items"]
        ),
        60,
        "qwen-7b at zero",
    )
    (standby,) = serving_pods(namespace, "corral.dev/group=qwen-7b")
    assert standby["metadata"]["labels"]["corral.dev/role"] == "standby"
    host, port = address(standby)
    # The group's Service address, as the standby would dial it (no kube-proxy here).
    service_host, service_port = "127.2.0.1", free_port()
    args = deployed_args(namespace, "llm-corral-qwen-7b-standby")
    with processes() as procs:
        backend = f"{service_host}:{service_port}"
        procs.append(subprocess.Popen(pods.standby_command(args, host=host, backend=backend)))
        assert f"--port={port}" in args
        url = gateway(namespace, procs)
        wait_for(lambda: "qwen-7b" in models(url), 60, "qwen-7b listed through its standby")
        start = time.monotonic()
        status, body, headers = request(url + "/v1/chat/completions", chat("qwen-7b"), key=KEY)
        assert status == 503, body
        assert 1.8 <= time.monotonic() - start < 5
        assert headers["retry-after"] == "7"
        assert isinstance(body, dict)
        assert body["error"]["code"] == "model_waking"
        # The group comes up behind its Service: the standby forwards what it holds.
        procs.append(worker(service_port, "qwen-7b", host=service_host))
        status, body, _ = wait_for(
            lambda: (
                (r := request(url + "/v1/chat/completions", chat("qwen-7b"), key=KEY))[0] == 200
                and r
            ),
            30,
            "a request served once the group is up",
        )
        assert isinstance(body, dict)
        assert body["served"]["host"] == service_host


def test_real_vllm_pods_are_found_and_served_through_discovery(namespace: str) -> None:
    install(namespace, "vllm-pair.yaml")
    llama = serving_pods(namespace, "corral.dev/group=llama-8b")
    assert len(llama) == 2
    # The installed Deployment is what the engines run: its command, args, env, ports and probes.
    deployment = Manifests([get("deployment", "-n", namespace, "llm-corral-llama-8b")])
    hosts = [address(p)[0] for p in llama]
    assert {address(p)[1] for p in llama} == {8000}
    with serve(deployment, ["llama-8b", "llama-8b"], hosts=hosts) as engines, processes() as procs:
        stand_in(serving_pods(namespace, "corral.dev/group=qwen-7b"), procs)
        url = gateway(namespace, procs)
        wait_for(lambda: models(url) == {"llama-8b", "qwen-7b"}, 60, "both groups listed")
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=120)
        seen = set()
        for n in range(4):
            reply = client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"hi {n}"}], max_tokens=2
            )
            assert reply.model == "llama-8b"
            assert (reply.system_fingerprint or "").startswith("vllm-0.32.0")
            seen.add(reply.id)
        assert len(seen) == 4
        assert {e.engine.host for e in engines} == set(hosts)
