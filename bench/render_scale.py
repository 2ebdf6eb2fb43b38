"""`helm template` and the corral verbs at 10, 100 and 1,000 model groups, against a plain chart.

The values hold N groups over four engines, each with an alias, 2 replicas, an H100 profile and
an RWX cache. For each N, in one run: bench/plain-chart (one template, a Deployment, Service and
PVC per group straight from values) and the Corral chart under Helm 4 and Helm 3, then `corral
render`, `corral diff` (the new values change one group's replicas) and `corral check`, each as
the CLI in a child process, so start-up counts. CPU is user+system of the child and all it ran.
`x plain` is CPU over the plain chart's under the same Helm (Helm 4 for the corral verbs);
`x helm` is wall time over the Corral chart's `helm template` under Helm 4.

    .venv/bin/python bench/render_scale.py [--groups 10 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELMS = {"Helm 4": ROOT / ".tools" / "bin" / "helm", "Helm 3": ROOT / ".tools" / "bin" / "helm3"}
PLAIN = ROOT / "bench" / "plain-chart"
CORRAL = Path(sys.executable).parent / "corral"
ENGINES = ("vllm", "sglang", "trtllm", "tgi")


def values(groups: int, replicas: int = 2) -> dict[str, Any]:
    """N groups of mixed engines, each with an alias, replicas, an H100 and an RWX cache."""
    return {
        "modelGroups": {
            f"m{i}": {
                "engine": ENGINES[i % len(ENGINES)],
                "model": f"hf://org/model-{i}",
                "aliases": [f"alias-{i}"],
                "replicas": replicas,
                "gpus": {"count": 1, "type": "h100-80gb"},
                "cache": {"accessModes": ["ReadWriteMany"], "storageClass": "shared-rwx"},
            }
            for i in range(groups)
        }
    }


def measure(argv: list[str], repeat: int) -> tuple[float, float]:
    """Median CPU seconds (user+system of the child and its children) and wall seconds."""
    cpu, wall = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def template(helm: Path, chart: Path, path: Path) -> list[str]:
    """The argv of `helm template` of a chart with a values file."""
    return [str(helm), "template", "bench", str(chart), "--namespace", "bench", "-f", str(path)]


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    head = f"{'groups':>6}  {'what':<24}{'CPU':>9}{'per group':>11}{'wall':>9}"
    print(f"{head}{'x plain':>9}{'x helm':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.groups:
            old, new = Path(tmp) / "old.yaml", Path(tmp) / "new.yaml"
            old.write_text(yaml.safe_dump(values(n)))
            changed = values(n)
            changed["modelGroups"]["m0"]["replicas"] = 3
            new.write_text(yaml.safe_dump(changed))
            rows = []
            for name, helm in HELMS.items():
                rows.append((f"plain chart, {name}", name, template(helm, PLAIN, old)))
                rows.append((f"helm template, {name}", name, template(helm, ROOT / "chart", old)))
            rows += [
                ("corral render", "Helm 4", [str(CORRAL), "render", str(old)]),
                ("corral diff", "Helm 4", [str(CORRAL), "diff", str(old), str(new)]),
                ("corral check", "Helm 4", [str(CORRAL), "check", str(old)]),
            ]
            plain: dict[str, float] = {}
            helm_wall = 0.0
            for what, helm_name, argv in rows:
                cpu, wall = measure(argv, args.repeat)
                if what.startswith("plain"):
                    plain[helm_name] = cpu
                if what == "helm template, Helm 4":
                    helm_wall = wall
                ratio = f"{wall / helm_wall:>8.2f}" if what.startswith("corral") else ""
                print(
                    f"{n:>6}  {what:<24}{cpu:>8.2f}s{cpu / n * 1000:>9.2f}ms{wall:>8.2f}s"
                    f"{cpu / plain[helm_name]:>9.1f}{ratio}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
