"""Bad values are refused with a line naming the key.

Schema cases fail `helm template`, `helm install` and `helm lint`. Cross-field rules
(templates/validate.yaml) fail template and install; `helm lint` runs templates in lint mode, where
Helm logs `fail` instead of failing, so they are not lint errors (by Helm's design).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CHART, HELMS, helm

SCHEMA = {"typo", "nested-typo", "unknown-engine", "missing-model", "bad-model-source"}
CASES = {
    "typo": (
        "modelGroups:\n  llama:\n    model: hf://o/llama\n    replicsa: 2\n",
        "- at '/modelGroups/llama': additional properties 'replicsa' not allowed",
    ),
    "nested-typo": (
        "modelGroups:\n  llama:\n    model: hf://o/llama\n    gpus: {count: 1, tpye: h100-80gb}\n",
        "- at '/modelGroups/llama/gpus': additional properties 'tpye' not allowed",
    ),
    "duplicate-alias": (
        "modelGroups:\n  a: {model: hf://o/a, aliases: [chat]}\n"
        "  b: {model: hf://o/b, aliases: [chat]}\n",
        'modelGroups.b.aliases: "chat" is already served by modelGroups.a; '
        "served names and aliases must be unique",
    ),
    "too-few-gpus": (
        "modelGroups:\n  a: {model: hf://o/a, gpus: {count: 1}, parallelism: {tensor: 4}}\n",
        "modelGroups.a.gpus.count: 1 GPUs is fewer than "
        "parallelism.tensor * parallelism.pipeline = 4; raise gpus.count or lower the parallelism",
    ),
    "unknown-engine": (
        "modelGroups:\n  a: {model: hf://o/a, engine: llamacpp}\n",
        "- at '/modelGroups/a/engine': "
        "value must be one of 'vllm', 'sglang', 'trtllm', 'tgi', 'custom'",
    ),
    "missing-model": (
        "modelGroups:\n  a: {engine: vllm}\n",
        "- at '/modelGroups/a': missing property 'model'",
    ),
    "bad-model-source": (
        "modelGroups:\n  a: {model: 'gs://bucket/model'}\n",
        "- at '/modelGroups/a/model': 'gs://bucket/model' does not match pattern",
    ),
}


COMMANDS = {
    "template": ("template", "llm", str(CHART)),
    "install": ("install", "llm", str(CHART), "--dry-run=client"),
    "lint": ("lint", "--strict", str(CHART)),
}


# Helm 3's install --dry-run=client needs a reachable cluster (see test_examples.py).
RUNS = [
    (helm_name, command, case)
    for helm_name in sorted(HELMS)
    for command in sorted(COMMANDS)
    for case in sorted(CASES)
    if not (command == "lint" and case not in SCHEMA)
    and not (command == "install" and helm_name == "helm3")
]


@pytest.mark.parametrize(("helm_name", "command", "case"), RUNS)
def test_refused_with_the_key(helm_name: str, command: str, case: str, tmp_path: Path) -> None:
    text, line = CASES[case]
    values = tmp_path / "values.yaml"
    values.write_text(text)
    done = helm(HELMS[helm_name], *COMMANDS[command], values=[values])
    assert done.returncode != 0
    assert line in done.stdout + done.stderr
