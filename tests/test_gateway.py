"""The gateway arguments the chart renders are accepted by the pinned SMG's own argument parser,
so an SMG upgrade that renames or drops a flag fails here, not in a cluster."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import CHART, EXAMPLES, render

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def gateway_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-gateway")
    ]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def parse(args: list[str]) -> Any:
    """Parse with SMG's parser, as `python3 -m smg.launch_router` does, and build its RouterArgs."""
    from smg.router_args import RouterArgs

    parser = argparse.ArgumentParser(exit_on_error=False)
    RouterArgs.add_cli_args(parser)
    namespace, unknown = parser.parse_known_args(args)
    if unknown:
        raise ValueError(f"unrecognized arguments: {' '.join(unknown)}")
    return RouterArgs.from_cli_args(namespace)


def test_image_tag_matches_the_pinned_package() -> None:
    pinned = re.search(r'"smg==([^"]+)"', (CHART.parent / "pyproject.toml").read_text())
    assert pinned
    assert VALUES["gateway"]["image"]["tag"] == pinned.group(1)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_rendered_arguments_parse_with_smg(example: Path) -> None:
    container = gateway_container(render([example], sets=["gateway.apiKey.value=k"]))
    assert container["command"] == ["python3", "-m", "smg.launch_router"]
    args = [a.replace("$(SMG_API_KEY)", "k") for a in container["args"]]
    parsed = parse(args)
    assert (parsed.host, parsed.port, parsed.prometheus_host, parsed.prometheus_port) == (
        "0.0.0.0",
        30000,
        "0.0.0.0",
        29000,
    )
    assert parsed.service_discovery is True
    assert parsed.selector == {"app.kubernetes.io/instance": "llm", "corral.dev/serving": "true"}
    assert parsed.service_discovery_namespace == "corral"
    assert parsed.model_id_from == "label:corral.dev/model"
    assert parsed.api_key == "k"
    groups = yaml.safe_load(example.read_text())["modelGroups"]
    expected = {
        alias: group.get("servedName", name)
        for name, group in groups.items()
        for alias in group.get("aliases", [])
    }
    assert parsed.model_aliases == expected


def test_a_policy_smg_does_not_know_is_refused() -> None:
    docs = render(sets=["modelGroups.m.model=hf://o/m", "gateway.extraArgs={--policy=fastest}"])
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'fastest'"):
        parse(gateway_container(docs)["args"])


def test_tuning_reaches_smg() -> None:
    docs = render(
        sets=[
            "modelGroups.m.model=hf://o/m",
            "gateway.policy=round_robin",
            "gateway.retries.maxRetries=0",
            "gateway.circuitBreaker.enabled=false",
            "gateway.healthCheck.intervalSeconds=3",
            "gateway.requestTimeoutSeconds=600",
        ]
    )
    parsed = parse(gateway_container(docs)["args"])
    assert (parsed.policy, parsed.disable_retries, parsed.disable_circuit_breaker) == (
        "round_robin",
        True,
        True,
    )
    assert (parsed.health_check_interval_secs, parsed.request_timeout_secs) == (3, 600)
    assert parsed.api_key is None


def test_retries_and_tenant_keys_reach_smg() -> None:
    """SMG's --retry-max-retries counts every attempt: maxRetries 2 is three attempts."""
    docs = render(
        sets=[
            "modelGroups.m.model=hf://o/m",
            "gateway.retries.maxRetries=2",
            "gateway.tenants[0].name=team-a",
            "gateway.tenants[0].existingSecret=team-a-key",
            "gateway.tenants[1].name=team-b",
            "gateway.tenants[1].existingSecret=team-b-key",
        ]
    )
    args = [
        a.replace("$(SMG_TENANT_KEY_0)", "ka").replace("$(SMG_TENANT_KEY_1)", "kb")
        for a in gateway_container(docs)["args"]
    ]
    parsed = parse(args)
    assert (parsed.retry_max_retries, parsed.disable_retries) == (3, False)
    assert parsed.tenant_api_keys == [("team-a", "ka"), ("team-b", "kb")]


def test_a_misspelled_extra_arg_is_refused_by_smg() -> None:
    docs = render(sets=["modelGroups.m.model=hf://o/m", "gateway.extraArgs={--polcy=random}"])
    with pytest.raises(ValueError, match="unrecognized arguments: --polcy=random"):
        parse(gateway_container(docs)["args"])


def test_serving_pods_carry_the_labels_and_port_the_gateway_discovers() -> None:
    docs = render([CHART.parent / "examples" / "multi-engine.yaml"])
    for d in docs:
        if d["kind"] == "Deployment" and not d["metadata"]["name"].endswith("-gateway"):
            meta = d["spec"]["template"]["metadata"]
            port = d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
            assert meta["labels"]["corral.dev/serving"] == "true"
            assert meta["annotations"]["smg.ai/worker-ports"] == str(port)


def test_no_gateway_objects_with_kind_none() -> None:
    docs = render(sets=["modelGroups.m.model=hf://o/m", "gateway.kind=none"])
    assert not [d for d in docs if "-gateway" in d["metadata"]["name"]]


def test_admission_and_mesh_reach_smg() -> None:
    docs = render(
        sets=[
            "modelGroups.m.model=hf://o/m",
            "gateway.replicas=2",
            "gateway.admission.maxConcurrentRequests=64",
            "gateway.admission.queueSize=16",
            "gateway.admission.queueTimeoutSeconds=5",
            "gateway.admission.ratePerSecond=10",
        ]
    )
    args = [
        a.replace("$(POD_IP)", "10.0.0.7").replace("$(POD_NAME)", "gw-0")
        for a in gateway_container(docs)["args"]
    ]
    parsed = parse(args)
    assert (parsed.max_concurrent_requests, parsed.queue_size, parsed.queue_timeout_secs) == (
        64,
        16,
        5,
    )
    assert parsed.rate_limit_tokens_per_second == 10
    assert (parsed.enable_mesh, parsed.mesh_host, parsed.mesh_port) == (True, "0.0.0.0", 39527)
    assert (parsed.mesh_advertise_host, parsed.mesh_server_name) == ("10.0.0.7", "gw-0")
    assert parsed.router_selector == {
        "app.kubernetes.io/instance": "llm",
        "app.kubernetes.io/component": "gateway",
    }


def test_defaults_admit_1024_and_run_no_mesh_for_one_replica() -> None:
    parsed = parse(gateway_container(render(sets=["modelGroups.m.model=hf://o/m"]))["args"])
    assert (parsed.max_concurrent_requests, parsed.queue_size, parsed.queue_timeout_secs) == (
        1024,
        256,
        30,
    )
    assert parsed.rate_limit_tokens_per_second is None
    assert parsed.enable_mesh is False
