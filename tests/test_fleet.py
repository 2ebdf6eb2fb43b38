"""corral fleet: the fleet file's contract, placement checks, ApplicationSets valid against Argo CD's
CRDs, promotion and per-cluster diffs.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, corral
from corral import crds, fleet
from corral.errors import ValuesError
from readme import blocks, shell

FLEET = ROOT / "examples" / "fleet" / "fleet.yaml"
VLLM = ROOT / "examples" / "single-vllm.yaml"
AUTOSCALING = ROOT / "examples" / "autoscaling.yaml"


def write_fleet(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FLEET.read_text())
    for env in data["environments"].values():
        for key in ("values", "overlays"):
            env[key] = [str((FLEET.parent / f).resolve()) for f in env.get(key) or []]
    for cluster in data["clusters"]:
        cluster["overlays"] = [str(FLEET.parent / f) for f in cluster.get("overlays") or []]
    return data


def rendered(path: Path = FLEET, *stacks: Path) -> list[dict[str, Any]]:
    done = corral("fleet", "render", str(path), *(str(s) for s in stacks or (VLLM, AUTOSCALING)))
    assert (done.returncode, done.stderr) == (0, "")
    return list(yaml.safe_load_all(done.stdout))


def templates(appset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each generator's Application template by its cluster."""
    found = {}
    for generator in appset["spec"]["generators"]:
        ((_kind, body),) = generator.items()
        found[body["template"]["metadata"]["labels"]["corral.dev/cluster"]] = body["template"]
    return found


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["clusters"][0].pop("selector"),
            "clusters.0: set exactly one of selector or server",
        ),
        (
            lambda d: d["clusters"][1].update(selector={"matchLabels": {}}),
            "clusters.1: set exactly one of selector or server",
        ),
        (
            lambda d: d["clusters"][1].update(replica={"x": 1}),
            "clusters.1: Additional properties are not allowed ('replica' was unexpected)",
        ),
        (
            lambda d: d["clusters"][0].update(name="QA"),
            "clusters.0.name: 'QA' does not match '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'",
        ),
        (
            lambda d: d["environments"]["qa"].pop("targetRevision"),
            "environments.qa: 'targetRevision' is a required property",
        ),
    ],
)
def test_fleet_file_errors_name_the_key(tmp_path: Path, edit: Any, message: str) -> None:
    data = example()
    edit(data)
    path = write_fleet(tmp_path, data)
    with pytest.raises(ValuesError) as err:
        fleet.load_fleet(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("edit", "lines"),
    [
        (
            lambda d: d["clusters"].append(copy.deepcopy(d["clusters"][0])),
            [
                "clusters.3.name: cluster qa-east is listed twice (also clusters.0); give each cluster one entry",
                "clusters.3.selector: the same cluster as clusters.0; give each cluster one entry",
            ],
        ),
        (
            lambda d: d["clusters"][2].update(replicas={"llama-8b": 2}),
            [
                "clusters.2.replicas.llama-8b: the group runs on GPU profile h100-80gb, which clusters.2.gpuProfiles does not list; add the profile or drop the replicas"
            ],
        ),
        (
            lambda d: d["clusters"][0].update(replicas={"llama-70b": 1}),
            [
                "clusters.0.replicas.llama-70b: no group llama-70b in the stacks; use one of: llama-8b, mistral-7b, qwen-7b"
            ],
        ),
        (
            lambda d: d["environments"]["qa"].update(targetRevision="HEAD"),
            [
                "environments.qa.targetRevision: HEAD is not pinned; use a chart version or a Git tag or commit"
            ],
        ),
        (
            lambda d: d["environments"]["prod"].update(targetRevision=">=0.4.0"),
            [
                "environments.prod.targetRevision: >=0.4.0 is not pinned; use a chart version or a Git tag or commit"
            ],
        ),
        (
            lambda d: d["clusters"][1].update(environment="stage"),
            ["clusters.1.environment: unknown environment stage; use one of: prod, qa"],
        ),
    ],
)
def test_check_refuses_each_placement_problem(tmp_path: Path, edit: Any, lines: list[str]) -> None:
    data = example()
    edit(data)
    path = write_fleet(tmp_path, data)
    done = corral("fleet", "check", str(path), str(VLLM), str(AUTOSCALING))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{path}: {line}" for line in lines]


def test_check_runs_the_values_contract_per_cluster(tmp_path: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("gateway: {replicas: -1}\n")
    data = example()
    data["clusters"][2]["overlays"] = [str(overlay)]
    path = write_fleet(tmp_path, data)
    done = corral("fleet", "check", str(path), str(VLLM))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{path}: clusters.2 (prod-edge, single-vllm): gateway.replicas: -1 is less than the minimum of 1"
    ]


def test_the_example_checks_clean() -> None:
    done = corral("fleet", "check", str(FLEET), str(VLLM), str(AUTOSCALING))
    assert (done.returncode, done.stdout) == (0, f"ok: {FLEET} (3 clusters, 2 stacks)\n")


def test_each_applicationset_validates_against_argo_cds_crd() -> None:
    appsets = rendered()
    assert [a["metadata"]["name"] for a in appsets] == ["single-vllm", "autoscaling"]
    for appset in appsets:
        assert crds.known(appset)
        assert crds.problems(appset) == []
        # Each generator's template is a whole Application spec: valid as one, too.
        for cluster, template in templates(appset).items():
            app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **template}
            app["spec"]["destination"]["server"] = f"https://{cluster}.example.com"
            assert crds.problems(app) == [], cluster
    # The CRD's schema is strict: a misspelt field is refused (so the check above can fail).
    broken = copy.deepcopy(appsets[0])
    broken["spec"]["generators"][0]["clusters"]["selectr"] = {}
    assert crds.problems(broken) == [
        "spec.generators.0.clusters: Additional properties are not allowed ('selectr' was unexpected)"
    ]


def test_every_cluster_gets_its_replicas_overlays_and_profiles() -> None:
    vllm, autoscaling = rendered()
    by_cluster = templates(vllm)
    assert list(by_cluster) == ["qa-east", "prod-west", "prod-edge"]
    values = {c: t["spec"]["source"]["helm"]["valuesObject"] for c, t in by_cluster.items()}
    assert values["qa-east"]["modelGroups"]["llama-8b"]["replicas"] == 1
    assert values["qa-east"]["modelGroupDefaults"]["cache"] == {
        "type": "emptyDir"
    }  # values/dev.yaml
    assert values["prod-west"]["modelGroups"]["llama-8b"]["replicas"] == 4
    assert values["prod-west"]["gateway"]["replicas"] == 3  # prod-west.yaml over production.yaml
    assert values["prod-west"]["modelGroupDefaults"]["rollout"] == {"strategy": "surge"}
    # prod-edge has only L4s: the H100 group is off there.
    assert values["prod-edge"]["modelGroups"]["llama-8b"]["enabled"] is False
    assert values["prod-edge"]["gateway"]["replicas"] == 2

    qa = by_cluster["qa-east"]["spec"]
    assert qa["source"] == {
        "repoURL": "registry.example.com/charts",
        "targetRevision": "0.5.0",
        "chart": "corral",
        "helm": {"releaseName": "single-vllm", "valuesObject": values["qa-east"]},
    }
    assert by_cluster["prod-west"]["spec"]["source"]["targetRevision"] == "0.4.0"
    assert qa["destination"] == {"server": "{{server}}", "namespace": "llm"}
    assert qa["syncPolicy"] == {
        "automated": {"prune": False, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }
    assert "ignoreDifferences" not in qa
    assert vllm["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True}
    generators = vllm["spec"]["generators"]
    assert generators[0]["clusters"]["selector"] == {
        "matchLabels": {"corral.dev/cluster": "qa-east"}
    }
    assert generators[1]["list"]["elements"] == [
        {"name": "prod-west", "server": "https://prod-west.example.com:6443"}
    ]

    # Autoscaled groups: Argo CD leaves their replicas to the autoscaler, per cluster.
    ignored = {
        c: [d["name"] for d in t["spec"].get("ignoreDifferences", [])]
        for c, t in templates(autoscaling).items()
    }
    assert ignored == {
        "qa-east": [
            "autoscaling-corral-llama-8b",
            "autoscaling-corral-mistral-7b",
            "autoscaling-corral-qwen-7b",
        ],
        "prod-west": ["autoscaling-corral-llama-8b", "autoscaling-corral-qwen-7b"],
        "prod-edge": ["autoscaling-corral-mistral-7b"],
    }
    assert templates(autoscaling)["qa-east"]["spec"]["ignoreDifferences"][0] == {
        "group": "apps",
        "kind": "Deployment",
        "name": "autoscaling-corral-llama-8b",
        "jsonPointers": ["/spec/replicas"],
    }


def test_promote_takes_qa_to_prod_and_diff_shows_it_per_cluster(tmp_path: Path) -> None:
    shutil.copytree(FLEET.parent, tmp_path / "examples" / "fleet")
    shutil.copytree(ROOT / "values", tmp_path / "values")
    path = tmp_path / "examples" / "fleet" / "fleet.yaml"
    before = tmp_path / "examples" / "fleet" / "before.yaml"
    shutil.copy(path, before)

    done = corral("fleet", "promote", str(path), "--from", "qa", "--to", "prod")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "environments.prod.targetRevision: 0.4.0 -> 0.5.0",
        "environments.prod.values: (none) -> next.yaml",
    ]
    text = path.read_text()
    assert text.startswith(FLEET.read_text().split("namespace:")[0])  # comments kept
    assert yaml.safe_load(text)["environments"]["prod"] == {
        "targetRevision": "0.5.0",
        "overlays": ["../../values/production.yaml"],  # production's own overlays stay
        "values": ["next.yaml"],
    }
    again = corral("fleet", "promote", str(path), "--from", "qa", "--to", "prod")
    assert again.stdout == "environments.prod: already as qa\n"

    diff = corral("fleet", "diff", str(before), str(path), str(VLLM))
    assert (diff.returncode, diff.stderr) == (0, "")
    # QA is unchanged; prod-edge runs no group of this stack (no H100), so only its chart moves.
    assert diff.stdout.splitlines() == [
        "prod-edge/single-vllm: chart 0.4.0 -> 0.5.0",
        "prod-west/single-vllm: chart 0.4.0 -> 0.5.0",
        "prod-west/single-vllm: llama-8b: restart (template.spec.containers[engine].args)",
    ]


def test_promote_names_an_unknown_environment() -> None:
    done = corral("fleet", "promote", str(FLEET), "--from", "qa", "--to", "stage")
    assert done.returncode == 2
    assert done.stderr == (
        f"corral: error: --to stage: no environment stage in {FLEET}; use one of: prod, qa\n"
    )


def test_plan_with_a_fleet_plans_every_cluster_with_its_own_values(tmp_path: Path) -> None:
    taint = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    inventories = {
        "qa-east": [{"name": "h100", "profile": "h100-80gb", "gpus": 8, "taints": taint}],
        "prod-west": [{"name": "h100", "profile": "h100-80gb", "gpus": 4, "taints": taint}],
        "prod-edge": [{"name": "l4", "profile": "l4-24gb", "gpus": 4, "taints": taint}],
    }
    for name, nodes in inventories.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"nodes": [*nodes, {"name": "cpu"}]}))
    done = corral(
        "plan", str(VLLM), "--fleet", str(FLEET), "--inventory-dir", str(tmp_path), "-o", "json"
    )
    assert done.returncode == 1, done.stderr
    plans = {p["cluster"]: p for p in json.loads(done.stdout)}
    groups = {c: {g["group"]: g for g in p["groups"]} for c, p in plans.items()}
    # qa-east: one replica (the fleet's), dev rollouts: fits with 7 H100s left.
    assert groups["qa-east"]["single-vllm/llama-8b"]["placed"] == 1
    assert plans["qa-east"]["free_gpus"] == {"h100-80gb": 7}
    # prod-west: four replicas fit its four H100s, but production's surge pod finds no GPU.
    west = groups["prod-west"]["single-vllm/llama-8b"]
    assert (west["placed"], west["surge_pods"], west["surge_placed"]) == (4, 1, 0)
    assert west["status"] == "no-surge-room"
    # prod-edge has no H100: the group is off there, so only the gateway is planned.
    assert list(groups["prod-edge"]) == ["single-vllm/gateway"]


def test_the_readme_gitops_flow_runs(tmp_path: Path) -> None:
    command = shell(
        "corral new --engine vllm --model hf://meta-llama/Llama-3.1-8B-Instruct --gpu h100-80gb --name llama-8b -f stack.yaml"
    )
    shutil.copytree(FLEET.parent, tmp_path / "examples" / "fleet")
    shutil.copytree(ROOT / "values", tmp_path / "values")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    (shown,) = [b for b in blocks("text") if b.startswith("prod-edge/stack:")]
    assert done.stdout.splitlines() == [
        "stack.yaml: modelGroups.llama-8b (vllm, hf://meta-llama/Llama-3.1-8B-Instruct)",
        "ok: stack.yaml",
        "ok: examples/fleet/fleet.yaml (3 clusters, 1 stacks)",
        "gitops/stack.applicationset.yaml: 3 clusters",
        "environments.prod.targetRevision: 0.4.0 -> 0.5.0",
        "environments.prod.values: (none) -> next.yaml",
        *shown.splitlines(),
        "gitops/stack.applicationset.yaml: 3 clusters",
    ]
    appset = yaml.safe_load((tmp_path / "gitops" / "stack.applicationset.yaml").read_text())
    assert crds.problems(appset) == []
    revisions = {c: t["spec"]["source"]["targetRevision"] for c, t in templates(appset).items()}
    assert revisions == {"qa-east": "0.5.0", "prod-west": "0.5.0", "prod-edge": "0.5.0"}
