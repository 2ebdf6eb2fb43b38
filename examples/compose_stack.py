"""Build a three-engine stack in code, check it, render it and print what it serves.

.venv/bin/python examples/compose_stack.py [--write stack.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corral.check import check
from corral.compose import ModelGroup, Stack
from corral.models import served_models
from corral.render import render
from corral.values import dump


def build() -> Stack:
    """Llama on vLLM, Qwen on SGLang and Mistral on TGI, sharing production-minded defaults."""
    stack = Stack(
        defaults={"probes": {"startupTimeoutSeconds": 2400}, "rollout": {"strategy": "surge"}}
    )
    stack.add(
        ModelGroup(
            "hf://meta-llama/Llama-3.1-8B-Instruct",
            name="llama-8b",
            gpus=1,
            gpu_type="h100-80gb",
            aliases=["llama"],
            settings={"maxContextLength": 32768, "prefixCaching": True},
        )
    )
    stack.add(
        ModelGroup(
            "hf://Qwen/Qwen2.5-32B-Instruct",
            engine="sglang",
            name="qwen-32b",
            gpus=2,
            tensor=2,
            gpu_type="a100-80gb",
            aliases=["qwen"],
        )
    )
    stack.add(
        ModelGroup(
            "hf://mistralai/Mistral-7B-Instruct-v0.3",
            engine="tgi",
            name="mistral-7b",
            gpus=1,
            gpu_type="l4-24gb",
            settings={"maxContextLength": 8192},
        )
    )
    return stack


def main() -> int:
    """Check, render and summarise the stack; optionally write its values file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="also write the values to this file")
    args = parser.parse_args()
    values = build().to_values()
    problems = check(values)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    manifests = render(values, namespace="llm")
    print(
        f"rendered {len(manifests)} objects:",
        ", ".join(
            f"{len(manifests.of_kind(k))} {k}"
            for k in ("Deployment", "Service", "PersistentVolumeClaim")
        ),
    )
    for model in served_models(values):
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        print(f"{model.served_name} on {model.engine}{aliases}")
    if args.write:
        args.write.write_text(dump(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
