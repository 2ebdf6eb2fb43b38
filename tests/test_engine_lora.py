"""A LoRA adapter with the real engine: vLLM's CPU build serves the command the chart renders for
a group with one adapter (the random rank-8 adapter ci/gen_test_lora.py makes with peft for the
test model), and SMG, with the chart's gateway arguments, reaches it by the adapter's name
through the adapter's relay (chart/files/standby.py with its rendered arguments)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, render
from corral import local
from corral.flags import known_flags
from corral.render import Manifests
from engines import LORA, MODEL, STATE, Served, serve
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
from test_engine_args import parse

ADAPTER = LORA / "sql"
STANDBY = ROOT / "chart" / "files" / "standby.py"
VALUES = {
    "modelGroups": {
        "tiny": {
            "model": "/models/tiny",
            "adapters": [{"name": "sql", "source": "/adapters/sql"}],
            "lora": {"maxRank": 8, "maxLoras": 1},
            "settings": {"maxContextLength": 2048},
        }
    }
}


def rendered(tmp: Path) -> tuple[Path, Manifests]:
    values = tmp / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    return values, Manifests(render([values]))


def engine_args(docs: Manifests) -> list[str]:
    return [str(a) for a in chart_args(docs.docs, "-tiny")]


def test_the_rendered_lora_flags_parse_with_vllm_032_and_are_in_the_033_catalog(
    tmp_path: Path,
) -> None:
    args = engine_args(rendered(tmp_path)[1])
    assert args[args.index("--enable-lora") :] == [
        "--enable-lora",
        "--lora-modules",
        "sql=/adapters/sql",
        "--max-lora-rank=8",
        "--max-loras=1",
    ]
    (result,) = parse([args])
    assert result["ok"], result["error"]
    assert result["parsed"]["enable_lora"] == "True"
    assert result["parsed"]["max_lora_rank"] == "8"
    assert "sql" in result["parsed"]["lora_modules"]
    assert {a.split("=")[0] for a in args if a.startswith("--")} <= known_flags("vllm-0.33.0")


def test_the_adapter_path_is_the_only_adapter_replacement(tmp_path: Path) -> None:
    docs = rendered(tmp_path)[1]
    engine = local.command(
        docs, "tiny", model_dir=MODEL, state_dir=STATE, adapter_dirs={"sql": ADAPTER}
    )
    assert f"sql={ADAPTER}" in engine.argv
    assert f"adapter sql /adapters/sql: the pod's cache; {ADAPTER}" in engine.replaced


@dataclass
class Stack:
    """vLLM with the adapter, its relay and SMG in front of both."""

    served: Served
    url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (ADAPTER / "adapter_config.json").exists():
        pytest.fail("the test adapter is missing: run `make setup` (ci/gen_test_lora.py)")
    values, docs = rendered(tmp_path_factory.mktemp("lora"))
    with serve(docs, ["tiny"], adapter_dirs={"sql": ADAPTER}) as (served,):
        backend = f"{served.engine.host}:{served.engine.port}"
        relay, port, metrics = free_port(), free_port(), free_port()
        args = [
            f"--backend={backend}" if a.startswith("--backend=") else a
            for a in chart_args(docs.docs, "-tiny-sql")
            if not a.startswith("--port=")
        ]
        with processes() as procs:
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(STANDBY), *args, "--host=127.0.0.1", f"--port={relay}"]
                )
            )
            urls = [served.engine.url, f"http://127.0.0.1:{relay}"]
            procs.append(gateway(gateway_args(values, [], port, metrics), urls))
            url = f"http://127.0.0.1:{port}"
            wait_for_models(url, 2)
            yield Stack(served, url)


def completion(url: str, model: str) -> str:
    body = {"model": model, "prompt": "the gateway serves", "max_tokens": 8, "temperature": 0}
    status, answer, _ = request(url + "/v1/completions", body, timeout=120)
    assert status == 200, answer
    assert isinstance(answer, dict)
    assert answer["model"] == model
    return str(answer["choices"][0]["text"])


def test_vllm_lists_the_adapter_with_its_base(stack: Stack) -> None:
    status, body, _ = request(stack.served.engine.url + "/v1/models")
    assert status == 200
    assert isinstance(body, dict)
    models = {m["id"]: m for m in body["data"]}
    assert sorted(models) == ["sql", "tiny"]
    assert models["sql"]["parent"] == "tiny"


def test_the_gateway_lists_and_routes_the_adapter_by_name(stack: Stack) -> None:
    status, body, _ = request(stack.url + "/v1/models")
    assert status == 200
    assert isinstance(body, dict)
    assert sorted(m["id"] for m in body["data"]) == ["sql", "tiny"]
    status, answer, _ = request(stack.url + "/v1/chat/completions", chat("sql"), timeout=120)
    assert status == 200, answer
    assert isinstance(answer, dict)
    assert answer["model"] == "sql"


def test_the_adapter_changes_what_the_model_says(stack: Stack) -> None:
    """Greedy decoding through the gateway: the adapter's random weights change the output."""
    assert completion(stack.url, "sql") != completion(stack.url, "tiny")
