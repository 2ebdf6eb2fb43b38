"""`make demo` end to end, run as README's first block shows it and used as a newcomer would:
the printed commands are copied from its output and run in bash; the sleeping group is woken by
its printed request; Ctrl-C stops it, and then none of its processes runs and nothing it listened
on is bound. The README's ready block is this output (numbers and the key aside).

Heavy: a local cluster and two vLLM starts (1.5-5 minutes each on a loaded 2-core machine).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import ROOT
from corral.demo import cluster_of, port_free
from corral.localcluster import LocalSetup
from loopback import free_port
from readme import after, shell

READY_TIMEOUT = 15 * 60  # cluster, install, one vLLM start
WAKE_TIMEOUT = 12 * 60  # scale-up, a second vLLM start, the held request answered
STOP_TIMEOUT = 4 * 60
RECORD = ROOT / ".engine" / "logs" / "demo" / "make-demo.out"


class Output:
    """The demo's output lines as they arrive."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.proc = proc
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, prefix: str, timeout: float) -> str:
        """The first line starting with prefix (after a progress line's time), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                line
                for line in self.lines
                if line.startswith(prefix) or line.partition("] ")[2].startswith(prefix)
            ]
            if found:
                return found[0]
            assert self.proc.poll() is None, "the demo exited:\n" + "\n".join(self.lines[-30:])
            time.sleep(0.5)
        raise AssertionError(f"no {prefix!r} within {timeout:.0f} s:\n" + "\n".join(self.lines))


def bash(command: str, timeout: float = 300) -> str:
    """A printed command, pasted into bash; its stdout."""
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=timeout, check=True
    )
    return done.stdout


def tree(root: int) -> set[int]:
    """root and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening() -> dict[int, tuple[str, int]]:
    """Every listening TCP socket of this machine (IPv4): its inode and address."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] != "0A":
            continue
        ip, port = fields[1].split(":")
        address = ".".join(str(int(ip[i : i + 2], 16)) for i in (6, 4, 2, 0))
        found[int(fields[9])] = (address, int(port, 16))
    return found


def listeners_of(pids: set[int]) -> set[tuple[str, int]]:
    """The addresses these processes listen on."""
    sockets = listening()
    found = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*") if alive(pid) else []:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if match := re.fullmatch(r"socket:\[(\d+)\]", target):
                inode = int(match.group(1))
                if inode in sockets:
                    found.add(sockets[inode])
    return found


def masked(lines: list[str]) -> list[str]:
    """Lines with the key and every number replaced, so two runs compare equal."""
    return [re.sub(r"\d+", "N", re.sub(r"sk-demo-[0-9a-f]+", "KEY", line)) for line in lines]


def ready_block(lines: list[str]) -> list[str]:
    """From the ready line to the Ctrl-C line."""
    start = next(i for i, line in enumerate(lines) if line.startswith("Corral demo: ready"))
    end = next(i for i, line in enumerate(lines) if line.startswith("Ctrl-C here"))
    return lines[start : end + 1]


# A user's shell: not inside `make test`'s make, whose variables would make `make demo` a sub-make
# (with "Entering directory" lines in its output).
SHELL_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def start(command: str, port: int) -> tuple[subprocess.Popen[str], Output]:
    """`make demo` as its own terminal session would run it, its output read as it comes."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=ROOT,
        # As typed, unless the default port is taken.
        env={**SHELL_ENV, **({} if port == 8080 else {"DEMO_ARGS": f"--port={port}"})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return proc, Output(proc)


def test_make_demo_down_stops_a_demo_while_its_engine_loads() -> None:
    proc, out = start(shell("make demo"), free_port())
    cluster = cluster_of(LocalSetup(ROOT))
    try:
        out.wait("chat: its log is", 10 * 60)
        time.sleep(5)
        started = tree(proc.pid) | set(cluster.pids())
        bound = listeners_of(started)
        assert len(bound) > 2  # the API server, etcd, the controllers
        assert any("vllm" in Path(f"/proc/{p}/cmdline").read_text() for p in started if alive(p))
        down = subprocess.run(
            ["make", "-s", "demo-down"],
            cwd=ROOT,
            env=SHELL_ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=STOP_TIMEOUT)
    assert (down.returncode, down.stderr) == (0, "")
    first, *rest = down.stdout.splitlines()
    assert int(first.removeprefix("demo: stopping process ")) in started
    assert rest == ["demo: down"]
    assert out.lines[-1].endswith("] demo: stopped; nothing it started is running")
    assert proc.returncode == 0
    assert [p for p in started if alive(p)] == []
    assert bound & set(listening().values()) == set()
    assert not cluster.state.exists()


def test_make_demo_answers_wakes_the_sleeping_group_and_leaves_nothing() -> None:
    # The default port, as README shows it, unless something else has it.
    port = 8080 if port_free(8080) else free_port()
    command = shell("make demo")
    proc, out = start(command, port)
    cluster = cluster_of(LocalSetup(ROOT))
    try:
        out.wait("Ctrl-C here", READY_TIMEOUT)
        url = out.wait("  gateway ", 1).split()[1]
        assert url == f"http://127.0.0.1:{port}"
        models, chat, stream, wake = [c.strip() for c in out.lines if c.startswith("  curl ")]

        listed = json.loads(bash(models))
        assert {m["id"] for m in listed["data"]} == {"chat", "batch"}
        reply = json.loads(bash(chat))
        assert '"model": "assistant"' in chat  # by alias
        assert reply["model"] == "chat"
        assert reply["system_fingerprint"].startswith("vllm-0.32.0")
        assert reply["choices"][0]["message"]["role"] == "assistant"
        events = [e for e in bash(stream).splitlines() if e.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
        assert len(chunks) > 1
        assert {c["model"] for c in chunks} == {"chat"}
        # Without the key the gateway serves nothing (it lists its models to anyone).
        key = out.wait("  key ", 1).split()[1]
        keyless = chat.replace(f"-H 'Authorization: Bearer {key}' ", "")
        assert keyless != chat
        assert bash(keyless + " -o /dev/null -w '%{http_code}'") == "401"

        # The sleeping group: its printed request is held while the demo wakes the group.
        assert '"model": "nightly"' in wake
        deadline = time.monotonic() + WAKE_TIMEOUT
        woken = json.loads(bash(wake, timeout=WAKE_TIMEOUT))
        out.wait("batch: scaling deployment/llm-corral-batch to 1", 1)
        while "error" in woken and woken["error"]["code"] == "model_waking":
            # Waiting longer than scaleFromZero.waitSeconds: a 503, retried as Retry-After says.
            assert time.monotonic() < deadline, woken
            time.sleep(15)
            woken = json.loads(bash(wake, timeout=WAKE_TIMEOUT))
        assert woken["model"] == "batch", woken
        assert woken["system_fingerprint"].startswith("vllm-0.32.0")
        out.wait("batch: ready after", 1)
        # Its standby turns unready; the group answers on its own.
        out.wait("batch: its standby's /ready now fails", 30)
        again = json.loads(bash(wake))
        assert again["model"] == "batch", again

        started = tree(proc.pid) | set(cluster.pids())
        bound = listeners_of(started)
        # What the check below covers: the gateway, both engines' pod addresses, the API server.
        assert ("127.0.0.1", port) in bound
        assert len({a for a in bound if a[0].startswith("127.4.") and a[1] == 8000}) == 2
        assert len(started) > 10
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the demo's terminal
        proc.wait(timeout=STOP_TIMEOUT)
        out.thread.join(timeout=10)
        RECORD.write_text("\n".join(out.lines) + "\n")
    # make reports the interrupt after corral's last line, as make does on Ctrl-C.
    own = [line for line in out.lines if not line.startswith("make")]
    assert own[-1].endswith("] demo: stopped; nothing it started is running"), out.lines[-5:]
    assert proc.returncode in (0, 130, -signal.SIGINT)
    assert [p for p in started if alive(p)] == []
    assert bound & set(listening().values()) == set()
    assert not cluster.state.exists()
    # README shows this run's ready block.
    shown = after(command, "text").splitlines()
    assert masked(ready_block(shown)) == masked(ready_block(out.lines))
