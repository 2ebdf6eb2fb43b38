"""No secret value lands in a ConfigMap, an arg, an env value or an annotation of any example."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, render

TOKEN = "hf_corralSecretSentinel0123456789"


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container and init container of a workload or a Pod."""
    spec = doc.get("spec", {})
    spec = spec if doc["kind"] == "Pod" else spec.get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_token_only_in_its_secret(example: Path) -> None:
    docs = render(
        [example], sets=["huggingface.token.existingSecret=", f"huggingface.token.value={TOKEN}"]
    )
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert [s["data"]["token"] for s in secrets] == [base64.b64encode(TOKEN.encode()).decode()]
    encoded = base64.b64encode(TOKEN.encode()).decode()
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        text = json.dumps(doc)
        assert TOKEN not in text, f"{doc['kind']}/{doc['metadata']['name']}"
        assert encoded not in text, f"{doc['kind']}/{doc['metadata']['name']}"
    for doc in docs:
        if doc["metadata"]["labels"].get("app.kubernetes.io/component") != "model-server":
            continue
        for container in containers(doc):
            env = container.get("env", [])
            token_env = [e for e in env if e["name"] == "HF_TOKEN"]
            # The engine and an hf:// download (telemetry off) get the token by reference; the
            # others (an s3:// fetch, rclone's copy, the cache hold) none at all.
            hub = container["name"] == "engine" or any(
                e["name"] == "HF_HUB_DISABLE_TELEMETRY" for e in env
            )
            assert token_env == (
                [
                    {
                        "name": "HF_TOKEN",
                        "valueFrom": {
                            "secretKeyRef": {"name": "llm-corral-hf-token", "key": "token"}
                        },
                    }
                ]
                if hub
                else []
            ), container["name"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_no_literal_secret_looking_values(example: Path) -> None:
    """Env values, args and ConfigMap data never carry token-shaped or key-named literals."""
    for doc in render([example]):
        if doc["kind"] == "ConfigMap":
            assert not any(k.lower().endswith(("token", "key", "password")) for k in doc["data"])
        for container in containers(doc):
            for env in container.get("env", []):
                if "value" in env:
                    assert not env["name"].upper().endswith(("TOKEN", "API_KEY", "PASSWORD")), env
                    assert not env["value"].startswith("hf_"), env
            # A key reaches an arg only as a $(VAR) from a secretKeyRef env var.
            assert not any(
                arg.startswith("hf_") or ("api-key" in arg and not re.search(r"=\$\(\w+\)$", arg))
                for arg in container.get("args", [])
            )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_gateway_key_only_in_its_secret(example: Path) -> None:
    """The client key the gateway and the `helm test` pod use is read from the Secret alone."""
    key = "sk-corralSecretSentinel0123456789"
    # The value in place of an example's existing Secret (the demo's).
    sets = [f"gateway.apiKey.value={key}", "gateway.apiKey.existingSecret="]
    docs = render([example], sets=sets)
    for doc in docs:
        if doc["kind"] != "Secret":
            assert key not in json.dumps(doc), f"{doc['kind']}/{doc['metadata']['name']}"
    (pod,) = [d for d in docs if d["kind"] == "Pod"]  # every example runs SMG, so `helm test`
    assert [e for e in containers(pod)[0]["env"] if e["name"] == "CORRAL_API_KEY"] == [
        {
            "name": "CORRAL_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "llm-corral-gateway-api-key", "key": "api-key"}},
        }
    ]
