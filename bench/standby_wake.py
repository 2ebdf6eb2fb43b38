"""Scale-from-zero standby: what it adds once the group's engine is up, side by side with direct.

Starts the standby (chart/files/standby.py) in front of a port where no engine listens yet, and a
stand-in OpenAI engine (tests/fixtures/openai_worker.py, no model work) that each trial starts
and stops, all on 127.0.0.1. Two figures, each next to the same request sent straight to the
engine:
  wake: a request held while the group is at zero, timed from the moment the engine accepts
        connections to the moment the answer arrives (the standby checks every 0.5 s);
  forward: requests through the standby while the engine is up (the path of requests that
        were held when it woke), against the same requests direct.
Everything it starts is stopped at the end.

    .venv/bin/python bench/standby_wake.py [--trials 10] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.client
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

from gateway_overhead import BODY, ROOT, load, p, wait_ready

from loopback import free_port, processes, worker


def accepting(port: int) -> float:
    """Poll every millisecond until the port accepts; the time it first did."""
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return time.perf_counter()
        time.sleep(0.001)


def chat(port: int) -> float:
    """One chat request on a new connection; the time its answer arrived."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", BODY, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}")
    return time.perf_counter()


def wake_trial(standby: int, engine: int) -> tuple[float, float]:
    """Seconds from engine up to answer: (held by the standby, sent direct at that moment)."""
    done: list[float] = []
    held = threading.Thread(target=lambda: done.append(chat(standby)))
    held.start()
    time.sleep(random.uniform(0.2, 1.2))  # the engine comes up at any point of a check cycle
    proc = worker(engine, "m", delay=0)
    try:
        ready = accepting(engine)
        direct = chat(engine) - ready
        held.join(timeout=60)
        return done[0] - ready, direct
    finally:
        proc.kill()
        proc.wait(timeout=10)


def median_max(seconds: list[float]) -> str:
    """Median and max in milliseconds."""
    return f"{statistics.median(seconds) * 1000:.1f} / {max(seconds) * 1000:.1f}"


def main() -> None:
    """Run the wake trials, then the forward load, and print both side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    standby, engine = free_port(), free_port()
    script = str(ROOT / "chart/files/standby.py")
    backend = f"--backend=127.0.0.1:{engine}"
    cmd = [sys.executable, script, "--model=m", backend, "--host=127.0.0.1", f"--port={standby}"]
    with processes() as procs:
        procs.append(subprocess.Popen([*cmd, "--wait=60"]))
        wait_ready(standby)
        trials = [wake_trial(standby, engine) for _ in range(args.trials)]
        held, direct = [t[0] for t in trials], [t[1] for t in trials]
        print(f"wake ({args.trials} trials): engine up -> answer, median / max ms")
        print(f"  held by the standby: {median_max(held)}")
        print(f"  sent direct:         {median_max(direct)}")
        added = (statistics.median(held) - statistics.median(direct)) * 1000
        print(f"  added by the hold:   {added:.1f} ms (median)")
        procs.append(worker(engine, "m", delay=0))
        wait_ready(engine)
        through, _ = load(standby, args.requests, 1)
        straight, _ = load(engine, args.requests, 1)
        r50, r99 = p(through, 0.5) / p(straight, 0.5), p(through, 0.99) / p(straight, 0.99)
        print(f"forward ({args.requests} requests, engine up): p50 / p99 ms")
        print(f"  through the standby: {p(through, 0.5):.2f} / {p(through, 0.99):.2f}")
        print(f"  direct:              {p(straight, 0.5):.2f} / {p(straight, 0.99):.2f}")
        print(f"  standby / direct:    x{r50:.2f} / x{r99:.2f}")


if __name__ == "__main__":
    main()
