"""corral plan: rendered pods bin-packed onto an inventory's nodes, as the scheduler filters them."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, corral
from corral import capacity, chart
from corral.errors import ValuesError
from readme import after, shell

STACK = ROOT / "tests" / "fixtures" / "capacity" / "overcommit.yaml"
PROFILES = chart.gpu_profiles()
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def inventory(tmp_path: Path, nodes: list[dict[str, Any]]) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"nodes": nodes}))
    return path


def nodes_of(tmp_path: Path, nodes: list[dict[str, Any]]) -> list[capacity.Node]:
    return capacity.load_inventory(inventory(tmp_path, nodes), PROFILES)


def group(values: dict[str, Any]) -> dict[str, Any]:
    return {"engine": "vllm", "model": "hf://org/m", "cache": {"type": "none"}, **values}


def stack(**groups: dict[str, Any]) -> dict[str, Any]:
    return {"modelGroups": {name: group(v) for name, v in groups.items()}}


def by_group(plan: capacity.ClusterPlan) -> dict[str, capacity.GroupFit]:
    return {g.group: g for g in plan.groups}


def test_inventory_expands_count_and_profile(tmp_path: Path) -> None:
    nodes = nodes_of(
        tmp_path,
        [{"name": "h100", "count": 2, "profile": "h100-80gb", "gpus": 8, "taints": [TAINT]}],
    )
    assert [n.name for n in nodes] == ["h100-0", "h100-1"]
    assert nodes[0].labels == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert nodes[0].free == {"nvidia.com/gpu": Decimal(8)}
    assert nodes[0].taints == [TAINT]
    # cpu, memory and pod slots are not counted unless listed; an unlisted extended resource is 0.
    assert nodes[0].room("cpu") is None
    assert nodes[0].room("rdma/ib") == 0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "a", "gpu": 8},
            "nodes.0: Additional properties are not allowed ('gpu' was unexpected)",
        ),
        ({"name": "a", "gpus": 8}, "nodes.0: 'profile' is a dependency of 'gpus'"),
        ({"name": "a", "count": 0}, "nodes.0.count: 0 is less than the minimum of 1"),
        (
            {"name": "a", "allocatable": {"cpu": "lots"}},
            "nodes.0.allocatable.cpu: 'lots' does not match '^[0-9]+(\\\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$'",
        ),
        (
            {"name": "a", "profile": "h100"},
            "nodes.0.profile: unknown profile h100; use one of: a100-40gb, a100-40gb-mig, a100-80gb, a10g-24gb, b200-192gb, cpu, h100-10gb-mig, h100-20gb-mig, h100-40gb-mig, h100-80gb, h100-nvl-94gb, h200-141gb, l4-24gb, l40s-48gb, none, t4-16gb",
        ),
    ],
)
def test_inventory_errors_name_the_key(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    path = inventory(tmp_path, [entry])
    with pytest.raises(ValuesError) as err:
        capacity.load_inventory(path, PROFILES)
    assert str(err.value) == f"{path}: {message}"


def test_pods_wait_where_the_profile_runs_out(tmp_path: Path) -> None:
    nodes = nodes_of(
        tmp_path,
        [
            {"name": "h200", "count": 2, "profile": "h200-141gb", "gpus": 8, "taints": [TAINT]},
            {"name": "h100", "count": 2, "profile": "h100-80gb", "gpus": 8, "taints": [TAINT]},
            {"name": "l4", "profile": "l4-24gb", "gpus": 4, "taints": [TAINT]},
            {"name": "cpu"},
        ],
    )
    plan = capacity.plan(yaml.safe_load(STACK.read_text()), nodes, cluster="test")
    fits = by_group(plan)
    assert plan.pending == ["big"]
    assert (fits["big"].placed, fits["big"].pods, fits["big"].gpus_per_pod) == (2, 3, 8)
    assert fits["big"].reason == (
        "needs 8 nvidia.com/gpu per pod; at most 0 free on the 2 node(s) with "
        "nvidia.com/gpu.product=NVIDIA-H200"
    )
    assert (fits["mid"].status, fits["mid"].placed) == ("fits", 3)
    assert (fits["small"].status, fits["small"].placed) == ("fits", 2)
    assert plan.free_gpus == {"h100-80gb": 4, "h200-141gb": 0, "l4-24gb": 2}


def test_a_taint_without_toleration_and_a_missing_profile_are_reasons(tmp_path: Path) -> None:
    nodes = nodes_of(
        tmp_path,
        [
            {"name": "h100", "profile": "h100-80gb", "gpus": 8, "taints": [TAINT]},
            {
                "name": "cpu",
                "taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}],
            },
        ],
    )
    values = stack(b200={"gpus": {"count": 8, "type": "b200-192gb"}, "parallelism": {"tensor": 8}})
    fits = by_group(capacity.plan(values, nodes, cluster="test"))
    assert fits["b200"].reason == (
        "no node matches nvidia.com/gpu.product=NVIDIA-B200 and tolerates its taints"
    )
    # The gateway tolerates nothing: the infra node's taint keeps it off, the GPU node's too.
    assert fits["gateway"].status == "pending"
    assert fits["gateway"].reason == "no node matches its affinity and tolerates its taints"


def test_best_fit_keeps_a_whole_node_for_the_big_pod(tmp_path: Path) -> None:
    nodes = nodes_of(
        tmp_path,
        [{"name": "h100", "count": 2, "profile": "h100-80gb", "gpus": 8, "taints": [TAINT]}],
    )
    # Biggest pods first: the 8-GPU pod takes a node, the 4-GPU pods share the other.
    values = stack(
        whole={"gpus": {"count": 8, "type": "h100-80gb"}, "parallelism": {"tensor": 8}},
        halves={
            "replicas": 2,
            "gpus": {"count": 4, "type": "h100-80gb"},
            "parallelism": {"tensor": 4},
        },
    )
    plan = capacity.plan(values, nodes, cluster="test")
    assert plan.pending == ["gateway"]  # no untainted node in this inventory
    assert plan.free_gpus == {"h100-80gb": 0}


def test_surge_needs_room_for_one_more_pod(tmp_path: Path) -> None:
    nodes = nodes_of(tmp_path, [{"name": "l4", "profile": "l4-24gb", "gpus": 2}])
    values = stack(
        one={
            "replicas": 2,
            "gpus": {"count": 1, "type": "l4-24gb"},
            "rollout": {"strategy": "surge"},
        }
    )
    fits = by_group(capacity.plan(values, nodes, cluster="test"))
    assert fits["one"].status == "no-surge-room"
    assert (fits["one"].placed, fits["one"].surge_pods, fits["one"].surge_placed) == (2, 1, 0)
    assert fits["one"].reason == (
        "surge pod: needs 1 nvidia.com/gpu per pod; at most 0 free on the 1 node(s) with "
        "nvidia.com/gpu.product=NVIDIA-L4"
    )


def test_a_multi_node_group_wants_every_pod_of_every_replica(tmp_path: Path) -> None:
    nodes = nodes_of(
        tmp_path,
        [
            {
                "name": "h100",
                "count": 3,
                "profile": "h100-80gb",
                "gpus": 8,
                "taints": [TAINT],
                "allocatable": {"rdma/ib": 4},
            }
        ],
    )
    values = stack(
        wide={
            "replicas": 2,
            "nodes": 2,
            "gpus": {"count": 8, "type": "h100-80gb"},
            "parallelism": {"tensor": 8, "pipeline": 2},
            "multiNode": {"rdma": {"enabled": True, "resourceName": "rdma/ib", "count": 1}},
        }
    )
    fits = by_group(capacity.plan(values, nodes, cluster="test"))
    assert (fits["wide"].pods, fits["wide"].placed) == (4, 3)


def test_an_autoscaled_group_is_planned_at_its_maximum(tmp_path: Path) -> None:
    nodes = nodes_of(tmp_path, [{"name": "l4", "profile": "l4-24gb", "gpus": 4}])
    values = stack(
        auto={
            "gpus": {"count": 1, "type": "l4-24gb"},
            "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 6},
        }
    )
    fits = by_group(capacity.plan(values, nodes, cluster="test"))
    assert (fits["auto"].pods, fits["auto"].placed) == (6, 4)


def test_live_nodes_count_requests_as_the_api_server_defaults_them() -> None:
    spec = {
        "initContainers": [{"resources": {"requests": {"cpu": "4"}}}],
        "containers": [
            {
                "resources": {
                    "limits": {"nvidia.com/gpu": 2, "memory": "1Gi"},
                    "requests": {"cpu": "500m"},
                }
            },
            {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
        ],
    }
    assert capacity.pod_requests(spec) == {
        "pods": 1,
        "nvidia.com/gpu": 2,
        "cpu": 4,
        "memory": 2 * 1024**3,
    }
    node = capacity.node_from_object(
        {"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "64", "pods": "110"}}}
    )
    assert node.room("nvidia.com/gpu") == 0
    assert node.room("cpu") == 64


def test_cli_plan_json_and_exit_code(tmp_path: Path) -> None:
    path = inventory(
        tmp_path,
        [
            {"name": "h200", "profile": "h200-141gb", "gpus": 24, "taints": [TAINT]},
            {"name": "h100", "profile": "h100-80gb", "gpus": 12, "taints": [TAINT]},
            {"name": "l4", "profile": "l4-24gb", "gpus": 2, "taints": [TAINT]},
            {"name": "cpu"},
        ],
    )
    done = corral("plan", str(STACK), "--inventory", str(path), "-o", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["cluster"] == "inventory"
    assert result["pending"] == []
    assert [g["status"] for g in result["groups"]] == ["fits"] * 4
    assert result["free_gpus"] == {"h100-80gb": 0, "h200-141gb": 0, "l4-24gb": 0}

    short = inventory(tmp_path, [{"name": "cpu"}])
    text = corral("plan", str(STACK), "--inventory", str(short))
    assert text.returncode == 1
    assert text.stdout.splitlines()[0] == "cluster inventory:"
    assert text.stdout.splitlines()[1] == (
        "  big: pending (0/3 pods x 8 nvidia.com/gpu): no node matches "
        "nvidia.com/gpu.product=NVIDIA-H200 and tolerates its taints"
    )
    assert text.stdout.splitlines()[-1] == "  free GPUs after: none"


def test_the_readme_plan_prints_what_the_readme_shows() -> None:
    command = shell(
        "corral plan tests/fixtures/capacity/overcommit.yaml --inventory tests/fixtures/capacity/inventory.yaml || test $? -eq 1"
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == after(command, "text")


def test_plan_refuses_mixed_inventory_flags(tmp_path: Path) -> None:
    path = inventory(tmp_path, [{"name": "cpu"}])
    fleet = ROOT / "examples" / "fleet" / "fleet.yaml"
    mixed = corral("plan", str(STACK), "--fleet", str(fleet), "--inventory", str(path))
    assert (mixed.returncode, mixed.stderr) == (
        2,
        "corral: error: --inventory plans one cluster; with --fleet use --inventory-dir\n",
    )
    alone = corral("plan", str(STACK), "--inventory-dir", str(tmp_path))
    assert (alone.returncode, alone.stderr) == (2, "corral: error: --inventory-dir needs --fleet\n")
