"""`corral demo` without a cluster: its one-line refusals, and the pieces it shares with the
cluster tests (the gateway and standby commands from installed args, the Service relay).
The demo itself runs end to end in tests/test_cluster_demo.py.
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, corral, render
from corral import pods
from corral.relay import Relay
from loopback import chart_args

DEMO = ROOT / "examples" / "demo.yaml"


def test_a_folder_that_is_no_checkout_is_named() -> None:
    done = corral("demo", "--root", "/")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "corral: error: --root: / is not a Corral checkout (no ci/cluster.sh); "
        "pass the checkout where `make setup` ran\n"
    )


def test_the_first_missing_setup_piece_is_named(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    shutil.copy(ROOT / "ci" / "cluster.sh", tmp_path / "ci")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    done = corral("demo", "--root", str(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "corral: error: .tools/cluster/bin/kwokctl: missing; run `make setup` "
        "(ci/setup-cluster-tools.sh builds it) (and 11 more)\n"
    )


def test_a_busy_port_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = corral("demo", "--port", str(port))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"corral: error: --port: 127.0.0.1:{port} is in use; pick another "
        "(make demo DEMO_ARGS=--port=8081)\n"
    )


def test_down_without_a_demo_says_so(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    done = corral("demo", "--down", "--root", str(tmp_path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "demo: not running\ndemo: down\n", "")


def test_the_gateway_runs_with_the_installed_args_on_loopback() -> None:
    args = chart_args(render([DEMO]), "-gateway")
    command = pods.gateway_command(args, port=8080, metrics_port=29001, env={"SMG_API_KEY": "k"})
    assert command[:3] == [sys.executable, "-m", "smg.launch_router"]
    listen = {
        "--host": "127.0.0.1",
        "--port": "8080",
        "--prometheus-host": "127.0.0.1",
        "--prometheus-port": "29001",
    }
    expected = [
        f"{a.split('=')[0]}={listen[a.split('=')[0]]}" if a.split("=")[0] in listen else a
        for a in args
    ]
    assert command[3:] == [a.replace("$(SMG_API_KEY)", "k") for a in expected]
    assert "--api-key=k" in command
    assert "--service-discovery" in command


def test_the_standby_dials_the_local_service_address() -> None:
    (deployment,) = [
        d
        for d in render([DEMO])
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-standby")
    ]
    args = pods.container_args(deployment)
    assert pods.backend(args) == ("llm-corral-batch.corral.svc", 8000)
    command = pods.standby_command(args, host="127.4.0.9", backend="127.5.0.1:8000")
    assert command[:2] == [sys.executable, str(ROOT / "chart" / "files" / "standby.py")]
    assert command[2:] == [
        "--backend=127.5.0.1:8000" if a.startswith("--backend=") else a for a in args
    ] + ["--host=127.4.0.9"]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data.upper())


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_relay_carries_both_ways_and_frees_its_address(echo: int) -> None:
    listen = ("127.5.0.200", pods.free_port("127.5.0.200"))
    relay = Relay(listen, ("127.0.0.1", echo))
    with socket.create_connection(listen, timeout=5) as conn:
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1024) == b"HELLO"
    relay.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(listen, timeout=5)
