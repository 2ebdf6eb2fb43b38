"""Run the chart's gateway (the pinned SMG package) and stand-in engines on 127.0.0.1.

The gateway gets the arguments the chart renders, with Kubernetes discovery taken out (workers
are given by URL instead), bound to loopback on free ports. Every process is killed on exit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, render

WORKER = ROOT / "tests" / "fixtures" / "openai_worker.py"
SMOKE = ROOT / "chart" / "files" / "smoke.py"
DISCOVERY = (
    "--service-discovery",
    "--selector",
    "--service-discovery-namespace",
    "--model-id-from",
)


def free_port() -> int:
    """A port nothing listens on yet."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chart_args(docs: list[dict[str, Any]], suffix: str) -> list[str]:
    """The container args of the rendered Deployment whose name ends with suffix."""
    (deployment,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith(suffix)
    ]
    return [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]


def gateway_args(example: Path, sets: list[str], port: int, metrics: int) -> list[str]:
    """The chart's gateway arguments for an example, discovery taken out, on loopback ports."""
    args, skip = [], False
    for arg in chart_args(render([example], sets=sets), "-gateway"):
        if skip and not arg.startswith("--"):
            continue
        skip = arg.split("=")[0] in DISCOVERY
        if skip:
            continue
        name = arg.split("=")[0]
        replaced = {
            "--host": "--host=127.0.0.1",
            "--prometheus-host": "--prometheus-host=127.0.0.1",
            "--port": f"--port={port}",
            "--prometheus-port": f"--prometheus-port={metrics}",
        }
        args.append(replaced.get(name, arg))
    return args


def request(
    url: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
    """One HTTP call: (status, parsed JSON or raw text, lower-cased headers)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text, headers = resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as err:
        status, text, headers = err.code, err.read().decode(), err.headers
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        return status, json.loads(text), lowered
    except ValueError:
        return status, text, lowered


def chat(model: str, stream: bool = False) -> dict[str, Any]:
    """A minimal chat completion request."""
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


def worker(
    port: int, model: str, delay: float = 0.05, host: str = "127.0.0.1"
) -> subprocess.Popen[bytes]:
    """A stand-in OpenAI engine serving one model."""
    args = [f"--host={host}", f"--port={port}", f"--model={model}", f"--delay={delay}"]
    return subprocess.Popen([sys.executable, str(WORKER), *args])


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put started processes in; every one is killed on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def gateway(args: list[str], urls: list[str]) -> subprocess.Popen[bytes]:
    """SMG with the given arguments in front of the given workers."""
    return subprocess.Popen(
        [sys.executable, "-m", "smg.launch_router", *args, "--worker-urls", *urls],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_models(url: str, count: int, key: str | None = None) -> None:
    """Until the gateway at url lists count models (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body, _ = request(url + "/v1/models", key=key, timeout=2)
            if status == 200 and isinstance(body, dict) and len(body["data"]) == count:
                return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"the gateway did not list {count} models within 60 s")


def smoke(
    docs: list[dict[str, Any]],
    url: str,
    key: str | None = None,
    replace: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The chart's `helm test` script run with the rendered test Pod's arguments against url
    (a rendered argument named in replace takes that value instead)."""
    (pod,) = [d for d in docs if d["kind"] == "Pod" and d["metadata"]["name"].endswith("-test")]
    args = {a.split("=")[0]: a for a in pod["spec"]["containers"][0]["args"]}
    args |= {"--url": f"--url={url}", **{k: f"{k}={v}" for k, v in (replace or {}).items()}}
    env = {"PATH": os.environ["PATH"], **({"CORRAL_API_KEY": key} if key else {})}
    return subprocess.run(
        [sys.executable, str(SMOKE), *args.values()],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
