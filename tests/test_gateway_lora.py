"""A LoRA adapter behind the gateway as the chart runs it, on loopback: SMG with the rendered
gateway arguments, one stand-in engine for the group and the adapter's relay (chart/files/
standby.py with the rendered relay arguments, pointed at the engine where the group's Service
would be). SMG 1.13 knows one model per worker and rewrites an alias to its canonical name
before forwarding, so an alias could never select an adapter; the relay is how the gateway lists
the adapter and routes its name, unchanged, to the group."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

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
)
from loopback import worker as stand_in

STANDBY = ROOT / "chart" / "files" / "standby.py"
VALUES = {
    "modelGroups": {
        "llama": {
            "model": "/models/llama",
            "aliases": ["llama-chat"],
            "adapters": [{"name": "sql", "source": "/adapters/sql"}],
        }
    }
}


@dataclass
class Stack:
    """The gateway, the group's engine port and the relay's URL."""

    url: str
    engine: int
    relay: str
    procs: list[subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    values: Path = tmp_path_factory.mktemp("lora") / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    port, metrics, engine, relay = free_port(), free_port(), free_port(), free_port()
    args = [
        f"--backend=127.0.0.1:{engine}" if a.startswith("--backend=") else a
        for a in chart_args(render([values]), "-llama-sql")
        if not a.startswith("--port=")
    ]
    assert args[:2] == ["--relay", "--model=sql"]
    with processes() as procs:
        procs.append(stand_in(engine, "llama"))
        procs.append(
            subprocess.Popen(
                [sys.executable, str(STANDBY), *args, "--host=127.0.0.1", f"--port={relay}"]
            )
        )
        urls = [f"http://127.0.0.1:{engine}", f"http://127.0.0.1:{relay}"]
        procs.append(gateway(gateway_args(values, [], port, metrics), urls))
        url = f"http://127.0.0.1:{port}"
        wait_for_models(url, 2)
        yield Stack(url, engine, f"http://127.0.0.1:{relay}", procs)


def test_models_lists_the_adapter_beside_its_group(stack: Stack) -> None:
    status, body, _ = request(stack.url + "/v1/models")
    assert status == 200
    assert isinstance(body, dict)
    assert sorted(m["id"] for m in body["data"]) == ["llama", "sql"]


def test_the_adapter_name_reaches_the_group_unchanged(stack: Stack) -> None:
    status, body, _ = request(stack.url + "/v1/chat/completions", chat("sql"))
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["served"] == {
        "model": "sql",
        "worker": stack.engine,
        "host": "127.0.0.1",
        "auth": None,
    }


def test_an_alias_is_rewritten_to_the_canonical_name(stack: Stack) -> None:
    """Why adapters are not aliases: SMG would hand the engine the base model's name."""
    status, body, _ = request(stack.url + "/v1/chat/completions", chat("llama-chat"))
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["served"]["model"] == "llama"


def test_the_relay_is_ready_only_while_the_group_answers(stack: Stack) -> None:
    assert request(stack.relay + "/ready")[0] == 200
    engine = stack.procs[0]
    engine.kill()
    engine.wait(timeout=10)
    status, body, _ = request(stack.relay + "/ready")
    assert status == 503
    assert body == {"standing_in": True, "relay": True}
