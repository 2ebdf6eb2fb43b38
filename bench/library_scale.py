"""How `corral check` and `corral render` scale with the number of model groups.

Times both on stacks of 10 and 100 groups in one run (same machine, same moment) and prints
the per-group cost and the 100/10 ratio; linear scaling shows as a ratio near 10.

    .venv/bin/python bench/library_scale.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from corral.check import check
from corral.compose import ModelGroup, Stack
from corral.render import render

ENGINES = ("vllm", "sglang", "tgi")


def stack(groups: int) -> dict[str, Any]:
    """A stack of `groups` single-GPU groups across three engines."""
    built = Stack()
    for i in range(groups):
        built.add(
            ModelGroup(
                f"hf://org/model-{i}",
                engine=ENGINES[i % 3],
                name=f"m{i}",
                gpus=1,
                gpu_type="h100-80gb",
                aliases=[f"alias-{i}"],
            )
        )
    return built.to_values()


def best(func: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    small, large = stack(10), stack(100)
    print(f"{'operation':<10} {'10 groups':>10} {'100 groups':>11} {'per group':>10} {'ratio':>6}")
    for name, func in (("check", check), ("render", render)):
        t10 = best(lambda f=func, v=small: f(v), args.repeat)  # type: ignore[misc]
        t100 = best(lambda f=func, v=large: f(v), args.repeat)  # type: ignore[misc]
        print(
            f"{name:<10} {t10:>9.2f}s {t100:>10.2f}s {t100 / 100 * 1000:>8.1f}ms {t100 / t10:>6.1f}"
        )


if __name__ == "__main__":
    main()
