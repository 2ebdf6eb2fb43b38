"""The engine tier's kit: real vLLM processes (the CPU build `make setup` installs into
.engine/venv) serving the chart's rendered engine commands on loopback, on the generated test
model (.engine/model). The replacements made to the rendered command live in corral.local, once.

Each server binds its own loopback address on the rendered port, is bounded by the rendered
startup budget, and is stopped with its whole process group even when a test fails.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT
from corral import local
from corral.errors import ToolError
from corral.render import Manifests

ENGINE_DIR = ROOT / ".engine"
MODEL = ENGINE_DIR / "model"
LORA = ENGINE_DIR / "lora"  # ci/gen_test_lora.py: random LoRA adapters for MODEL
STATE = ENGINE_DIR / "state"
LOGS = ENGINE_DIR / "logs"
BIN = ENGINE_DIR / "venv" / "bin"
# Addresses handed to servers in turn: 127.0.2.1, 127.0.2.2, ... (kwok pods use 127.1.0.0/16).
_HOSTS = (f"127.0.2.{n}" for n in itertools.count(1))


def require_engine() -> None:
    """Fail (not skip) when `make setup` has not built the engine tier."""
    if not (BIN / "vllm").exists() or not (MODEL / "config.json").exists():
        pytest.fail("the engine tier is missing: run `make setup` (ci/setup-engine.sh)")


@dataclass
class Served:
    """One running engine and what it was started from."""

    engine: local.Engine
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    ready_after: float = 0.0  # seconds from start until the startup probe answered


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a server's log, for failure messages."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def serve(
    docs: Manifests | list[Manifests],
    groups: list[str],
    *,
    hosts: list[str] | None = None,
    kv_cache_gib: int = 1,
    env: dict[str, str] | None = None,
    model_dir: Path = MODEL,
    adapter_dirs: dict[str, Path] | None = None,
) -> Iterator[list[Served]]:
    """Start one engine per entry of groups (a name twice: two replicas), from docs (one render
    for all, or one per group), on the given addresses (default: fresh loopback ones), with env
    added, loading model_dir with adapters pointed at adapter_dirs; wait until every one answers
    its startup probe, yield them, stop them all on exit."""
    require_engine()
    LOGS.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    renders = docs if isinstance(docs, list) else [docs] * len(groups)
    running: list[Served] = []
    try:
        for i, (group, host) in enumerate(zip(groups, hosts or _HOSTS, strict=False)):
            engine = local.command(
                renders[i],
                group,
                model_dir=model_dir,
                state_dir=STATE,
                host=host,
                kv_cache_gib=kv_cache_gib,
                cpus=str(i % cores),
                adapter_dirs=adapter_dirs,
            )
            if env:
                engine = dataclasses.replace(engine, env={**engine.env, **env})
            log = LOGS / f"{group}-{engine.host}.log"
            log.write_text("")
            proc = local.start(engine, [BIN], log)
            running.append(Served(engine, proc, log, time.monotonic()))
        for served in running:
            try:
                local.wait_ready(served.engine, served.proc)
            except ToolError as err:
                pytest.fail(f"{err}\n{log_tail(served.log)}")
            served.ready_after = time.monotonic() - served.started
        yield running
    finally:
        for served in running:
            local.stop(served.proc)
