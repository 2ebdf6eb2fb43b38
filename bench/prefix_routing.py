"""Prefix-aware routing in front of three real vLLM CPU replicas, side by side.

SMG's cache_aware against round_robin (what a Kubernetes Service gives) and prefix_hash.

The replicas run the chart's rendered command for one group of examples/vllm-pair.yaml, with a KV
cache too small for one replica to hold every shared prefix (`--num-gpu-blocks-override`, through
extraArgs), so a policy that spreads a prefix over every replica evicts it. Load comes from vLLM's
own benchmark client (`vllm bench serve`, prefix_repetition dataset: an odd number of long shared
prefixes, each with short distinct suffixes, shuffled). Before each policy every replica's prefix
cache is emptied, so each policy sees the same cold start. The prefix-cache hit rate is vLLM's
own: the change in prefix_cache_hits_total over prefix_cache_queries_total across the replicas.

Then the gateway's own cost with a real engine: one replica direct, and through SMG.

    .venv/bin/python bench/prefix_routing.py [--prompts 60] [--prefixes 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from corral.render import Manifests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the engine tier's kit
from conftest import ROOT, render
from engines import BIN, MODEL, Served, serve
from loopback import free_port, gateway, gateway_args, processes, wait_for_models

PAIR = ROOT / "examples" / "vllm-pair.yaml"
GROUP = "llama-8b"
POLICIES = ("round_robin", "cache_aware", "prefix_hash")


def counters(engines: list[Served]) -> tuple[float, float]:
    """Prefix-cache hits and queries (tokens), summed over the replicas."""
    hits = queries = 0.0
    for served in engines:
        with urllib.request.urlopen(served.engine.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "vllm:prefix_cache_hits_total":
                    hits += sample.value
                elif sample.name == "vllm:prefix_cache_queries_total":
                    queries += sample.value
    return hits, queries


def reset_caches(engines: list[Served]) -> None:
    """Empty every replica's prefix cache (vLLM's dev-mode endpoint)."""
    for served in engines:
        req = urllib.request.Request(served.engine.url + "/reset_prefix_cache", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200


def bench(url: str, out: Path, extra: list[str]) -> dict[str, Any]:
    """One `vllm bench serve` run against url; its result JSON."""
    argv = [
        str(BIN / "vllm"),
        *("bench", "serve", "--backend", "openai", "--base-url", url, "--model", GROUP),
        *("--tokenizer", str(MODEL), "--percentile-metrics", "ttft,itl,e2el"),
        *("--metric-percentiles", "50,99", "--save-result", "--result-dir", str(out.parent)),
        *("--result-filename", out.name, "--seed", "1"),
        *extra,
    ]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def smg(engines: list[Served], policy: str) -> tuple[subprocess.Popen[bytes], str]:
    """SMG with the chart's gateway arguments for this policy, in front of the engines."""
    port = free_port()
    sets = [f"gateway.policy={policy}", "modelGroups.qwen-7b.enabled=false"]
    proc = gateway(gateway_args(PAIR, sets, port, free_port()), [s.engine.url for s in engines])
    url = f"http://127.0.0.1:{port}"
    wait_for_models(url, 1)
    return proc, url


def row(label: str, result: dict[str, Any], extra: str = "") -> str:
    """A table row of one `vllm bench serve` result."""
    return (
        f"| {label} | {result['mean_ttft_ms']:.0f} | {result['p99_ttft_ms']:.0f} "
        f"| {result['request_throughput']:.2f} | {result['output_throughput']:.1f} |{extra}"
    )


def main() -> None:
    """Run every policy, then direct against through the gateway, and print two tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--prefixes", type=int, default=5)
    parser.add_argument("--prefix-len", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=300, help="KV blocks (16 tokens) a replica")
    args = parser.parse_args()
    sets = [
        "modelGroups.qwen-7b.enabled=false",
        f"modelGroups.{GROUP}.replicas=3",
        f"modelGroups.{GROUP}.extraArgs={{--num-gpu-blocks-override={args.blocks}}}",
    ]
    docs = Manifests(render([PAIR], sets=sets))
    load = [
        *("--dataset-name", "prefix_repetition", "--num-prompts", str(args.prompts)),
        *("--prefix-repetition-prefix-len", str(args.prefix_len)),
        *("--prefix-repetition-suffix-len", "64", "--prefix-repetition-output-len", "16"),
        *("--prefix-repetition-num-prefixes", str(args.prefixes), "--max-concurrency", "4"),
    ]
    results: dict[str, tuple[dict[str, Any], float]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(docs, [GROUP] * 3, env={"VLLM_SERVER_DEV_MODE": "1"}) as engines,
    ):
        for policy in POLICIES:
            reset_caches(engines)
            before = counters(engines)
            with processes() as procs:
                proc, url = smg(engines, policy)
                procs.append(proc)
                result = bench(url, Path(tmp) / f"{policy}.json", load)
            after = counters(engines)
            hit_rate = (after[0] - before[0]) / max(after[1] - before[1], 1)
            results[policy] = (result, hit_rate)

        short = ["--dataset-name", "random", "--random-input-len", "256"]
        short += ["--random-output-len", "32", "--num-prompts", "40"]
        overhead: dict[str, dict[str, Any]] = {}
        for concurrency in (1, 4):
            load = [*short, "--max-concurrency", str(concurrency)]
            direct = bench(engines[0].engine.url, Path(tmp) / f"direct{concurrency}.json", load)
            with processes() as procs:
                proc, url = smg(engines[:1], "round_robin")
                procs.append(proc)
                routed = bench(url, Path(tmp) / f"smg{concurrency}.json", load)
            overhead[f"direct, concurrency {concurrency}"] = direct
            overhead[f"through SMG, concurrency {concurrency}"] = routed

    base, _ = results["round_robin"]
    print(
        f"Prefix-aware routing: 3 replicas, {args.prefixes} prefixes of {args.prefix_len} tokens,"
    )
    print(f"{args.prompts} requests, concurrency 4, {args.blocks} KV blocks a replica")
    columns = ["policy", "mean TTFT ms", "p99 TTFT ms", "req/s", "out tok/s", "prefix hit rate"]
    print(f"| {' | '.join(columns)} | TTFT vs round_robin |")
    print("|---|---|---|---|---|---|---|")
    for policy, (result, hit_rate) in results.items():
        ratio = result["mean_ttft_ms"] / base["mean_ttft_ms"]
        print(row(policy, result, f" {hit_rate:.0%} | {ratio:.2f} |"))
    print()
    print("Gateway overhead against a real engine (random 256-token prompts, 32 out)")
    print("| path | mean TTFT ms | p99 TTFT ms | req/s | out tok/s | mean ITL ms |")
    print("|---|---|---|---|---|---|")
    for label, result in overhead.items():
        print(row(label, result, f" {result['mean_itl_ms']:.1f} |"))


if __name__ == "__main__":
    main()
