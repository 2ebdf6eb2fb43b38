"""Gateway overhead: the same chat requests straight to an engine and through SMG, side by side.

Starts one stand-in OpenAI engine (tests/fixtures/openai_worker.py, no model work: this isolates
the gateway's own cost) and the pinned SMG in front of it, both on 127.0.0.1, then runs the same
load at concurrency 1 and 16 against each, alternating, and prints p50/p99 latency, throughput
and the gateway/direct ratios. Everything it starts is stopped at the end.

    .venv/bin/python bench/gateway_overhead.py [--requests 400]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the loopback kit the gateway tests use

from loopback import free_port, processes, worker  # noqa: E402

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


def wait_ready(port: int) -> None:
    """Until /v1/models lists the model, or 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/models")
            if '"m"' in conn.getresponse().read().decode():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"port {port} not ready")


def load(port: int, requests: int, concurrency: int) -> tuple[list[float], float]:
    """Latencies (s) and wall time of `requests` chats over `concurrency` keep-alive clients."""
    latencies: list[float] = []
    per_client = requests // concurrency

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(per_client):
            start = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", BODY, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start


def p(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds."""
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000


def main() -> None:
    """Run both paths at concurrency 1 and 16 and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    engine, gateway, metrics = free_port(), free_port(), free_port()
    with processes() as procs:
        procs.append(worker(engine, "m", delay=0))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "smg.launch_router",
                    "--host=127.0.0.1",
                    f"--port={gateway}",
                    "--prometheus-host=127.0.0.1",
                    f"--prometheus-port={metrics}",
                    "--policy=round_robin",
                    "--disable-tokenizer-autoload",
                    "--worker-urls",
                    f"http://127.0.0.1:{engine}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_ready(engine)
        wait_ready(gateway)
        load(gateway, 64, 4)  # warm up both paths
        print(f"{'concurrency':>11} {'path':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
        ratios = []
        for concurrency in (1, 16):
            row = {}
            for name, port in (("direct", engine), ("gateway", gateway)):
                latencies, wall = load(port, args.requests, concurrency)
                p50, p99, rps = p(latencies, 0.5), p(latencies, 0.99), len(latencies) / wall
                row[name] = (p50, p99, rps)
                print(f"{concurrency:>11} {name:>8} {p50:>8.2f} {p99:>8.2f} {rps:>8.0f}")
            d, g = row["direct"], row["gateway"]
            ratios.append((concurrency, g[0] / d[0], g[1] / d[1], g[2] / d[2]))
        print("\ngateway / direct:")
        for concurrency, r50, r99, rrps in ratios:
            line = f"p50 x{r50:.2f}, p99 x{r99:.2f}, throughput x{rrps:.2f}"
            print(f"  concurrency {concurrency:>2}: {line}")


if __name__ == "__main__":
    main()
