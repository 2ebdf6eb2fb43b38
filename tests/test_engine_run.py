"""`corral run`: a group's rendered engine command started here, with the real vLLM CPU build,
reported, and stopped with nothing left behind on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, corral
from engines import ENGINE_DIR, MODEL, require_engine
from loopback import request

SINGLE = ROOT / "examples" / "single-vllm.yaml"
HOST = "127.0.3.1"


def leftovers(state: Path) -> list[int]:
    """Processes whose environment points into the run's state folder."""
    marker = f"TMPDIR={state / 'tmp'}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture
def run() -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`corral run` of the single-vLLM example on the test model; killed if a test fails.

    Its state folder is kept between runs (in .engine/, git-ignored), so the compile cache is."""
    require_engine()
    state = ENGINE_DIR / "run"
    argv = [
        str(ROOT / ".venv" / "bin" / "corral"),
        *("run", str(SINGLE), "--model-dir", str(MODEL), "--host", HOST),
        *("--kv-cache-gib", "1", "--state-dir", str(state)),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc, state
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        for pid in leftovers(state):
            subprocess.run(["kill", "-9", str(pid)], check=False)


def read_until(proc: subprocess.Popen[str], prefix: str, timeout: float) -> list[str]:
    """Lines of output up to and including the first that starts with prefix."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    pytest.fail(f"no {prefix!r} line within {timeout} s: {lines}")


def nothing_listens(host: str, port: int) -> bool:
    """Whether a connection to host:port is refused."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_run_serves_the_rendered_command_and_stops_on_ctrl_c(
    run: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, state = run
    lines = read_until(proc, "served names:", 600)
    assert any(ln.startswith("replaced: --gpu-memory-utilization: GPU-only") for ln in lines)
    (ready,) = [ln for ln in lines if ln.startswith("ready after")]
    url = ready.split(": ", 1)[1]
    assert url == f"http://{HOST}:8000/v1"
    assert lines[-1] == "served names: llama-8b, llama, meta-llama/Llama-3.1-8B-Instruct"
    status, body, _ = request(url + "/models")
    assert status == 200
    assert isinstance(body, dict)
    assert [m["id"] for m in body["data"]] == [
        "llama-8b",
        "llama",
        "meta-llama/Llama-3.1-8B-Instruct",
    ]
    assert leftovers(state)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert proc.stdout is not None
    assert "stopping vllm" in proc.stdout.read()
    assert leftovers(state) == []
    assert nothing_listens(HOST, 8000)


def test_sigterm_while_starting_stops_everything(run: tuple[subprocess.Popen[str], Path]) -> None:
    proc, state = run
    read_until(proc, "starting vllm", 60)
    deadline = time.monotonic() + 60
    while not leftovers(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(state), "the engine did not start"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert leftovers(state) == []


@pytest.mark.parametrize(
    ("example", "line"),
    [
        (
            "single-sglang.yaml",
            "corral: error: modelGroups.qwen-32b.engine: sglang needs NVIDIA GPUs; "
            'pip install "sglang[all]" on a machine with NVIDIA GPUs (SGLang has no CPU build here)',
        ),
        (
            "single-tgi.yaml",
            "corral: error: modelGroups.mistral-7b.engine: tgi needs NVIDIA GPUs; "
            "text-generation-launcher from a TGI source build (TGI publishes no pip package)",
        ),
    ],
)
def test_an_engine_without_a_local_install_gets_one_line(example: str, line: str) -> None:
    done = corral("run", f"examples/{example}", "--model-dir", str(MODEL), "--device", "cpu")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [line]


def test_an_engine_missing_from_the_path_is_named(tmp_path: Path) -> None:
    done = corral(
        "run", "examples/multi-engine.yaml", "--group", "qwen-tiny", "--model-dir", str(MODEL)
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "corral: error: modelGroups.qwen-tiny.engine: custom is not installed here "
        "(no `/app/llama-server`); the group's own command on the PATH"
    ]


def test_a_state_folder_too_long_for_the_engines_sockets_is_refused(tmp_path: Path) -> None:
    state = tmp_path / ("x" * 60)
    done = corral(
        "run", "examples/single-vllm.yaml", "--model-dir", str(MODEL), "--state-dir", str(state)
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"corral: error: --state-dir: {state} is too long for the engine's sockets"
    )
    assert line.endswith("characters; at most 70); use a shorter folder")


def test_several_groups_need_group() -> None:
    done = corral("run", "examples/multi-engine.yaml", "--model-dir", str(MODEL))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "corral: error: --group: the values have several groups; pick one of: "
        "llama-70b, llama-8b, mistral-7b, qwen-32b, qwen-tiny"
    ]
