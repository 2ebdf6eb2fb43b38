"""The library API: Helm-style merge, builders, render lookups, upgrade impact, variants."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from corral.check import check
from corral.compose import ModelGroup, Stack, group_name
from corral.diff import impact, impact_of_texts
from corral.errors import ToolError, ValuesError
from corral.render import Manifests, parse, render, render_text, validate
from corral.values import load, merge, overlay
from corral.variants import expand

SINGLE = ROOT / "examples" / "single-vllm.yaml"


def test_merge_is_helms() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": True, "c": {"d": 1}}
    top = {"a": {"y": [3], "z": 2}, "b": False, "c": None}
    assert merge(base, top) == {"a": {"x": 1, "y": [3], "z": 2}, "b": False}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": True, "c": {"d": 1}}  # inputs untouched


def test_overlay_keeps_explicit_false_and_null() -> None:
    assert overlay({"a": True, "b": 1, "m": {"k": 1}}, {"a": False, "b": None, "m": {}}) == {
        "a": False,
        "b": None,
        "m": {"k": 1},
    }


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("hf://Qwen/Qwen2.5-7B-Instruct", "qwen2-5-7b-instruct"),
        ("pvc://weights/models/Mixtral_8x7B/", "mixtral-8x7b"),
        ("/models/7b.gguf", "m-7b"),
    ],
)
def test_group_names_are_dns_labels(model: str, name: str) -> None:
    assert group_name(model) == name


def test_builders_turn_on_multi_node_and_scale_to_zero_in_one_key_each() -> None:
    big = ModelGroup(
        "hf://deepseek-ai/DeepSeek-V3", name="dsv3", nodes=2, gpus=8, gpu_type="h200-141gb"
    )
    sleepy = ModelGroup(
        "hf://Qwen/Qwen2.5-7B-Instruct",
        engine="sglang",
        name="qwen",
        gpus=1,
        autoscaling={"minReplicas": 0, "maxReplicas": 2},
    )
    values = Stack(defaults={"cache": {"accessModes": ["ReadWriteMany"]}}).add(big).add(sleepy)
    plain = values.to_values()
    assert plain["modelGroups"]["dsv3"]["nodes"] == 2
    assert plain["modelGroups"]["qwen"]["autoscaling"] == {
        "enabled": True,
        "minReplicas": 0,
        "maxReplicas": 2,
    }
    assert check(plain) == []
    manifests = render(plain)
    assert (
        manifests.get("LeaderWorkerSet", "llm-corral-dsv3")["spec"]["leaderWorkerTemplate"]["size"]
        == 2
    )
    scaled = manifests.get("ScaledObject", "llm-corral-qwen")
    assert scaled["spec"]["minReplicaCount"] == 0
    assert manifests.get("Deployment", "llm-corral-qwen-standby")


def test_builders_make_plain_values_the_chart_accepts() -> None:
    stack = Stack(defaults={"probes": {"startupTimeoutSeconds": 900}})
    stack.add(ModelGroup("hf://meta-llama/Llama-3.1-8B-Instruct", gpus=1, gpu_type="h100-80gb"))
    stack.add(
        ModelGroup(
            "hf://Qwen/Qwen2.5-32B-Instruct",
            engine="sglang",
            name="qwen",
            gpus=2,
            tensor=2,
            aliases=["q"],
            settings={"prefixCaching": False},
        )
    )
    values = stack.to_values()
    assert values["modelGroups"]["qwen"] == {
        "engine": "sglang",
        "model": "hf://Qwen/Qwen2.5-32B-Instruct",
        "aliases": ["q"],
        "gpus": {"count": 2},
        "parallelism": {"tensor": 2},
        "settings": {"prefixCaching": False},
    }
    assert check(values) == []
    manifests = render(values, namespace="ml")
    deployment = manifests.get("Deployment", "llm-corral-qwen")
    assert deployment["metadata"]["namespace"] == "ml"
    assert (
        "--disable-radix-cache" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert len(manifests.of_kind("Service")) == 3  # two groups and the gateway
    with pytest.raises(KeyError):
        manifests.get("Deployment", "nope")


def test_render_errors_become_tool_errors() -> None:
    with pytest.raises(ToolError, match=r"modelGroups\.a\.cache\.accessModes: a ReadWriteOnce"):
        render({"modelGroups": {"a": {"model": "hf://o/a", "replicas": 2}}})


def test_values_reach_helm_as_written_in_yaml(tmp_path: Path) -> None:
    # Helm gets the values as JSON: a YAML date arrives as the text it was written as.
    text = "modelGroups:\n  a:\n    model: hf://o/a\n    podAnnotations: {released: 2026-01-02}\n"
    (tmp_path / "v.yaml").write_text(text)
    values = load(tmp_path / "v.yaml")
    assert not isinstance(values["modelGroups"]["a"]["podAnnotations"]["released"], str)
    pod = render(values).get("Deployment", "llm-corral-a")["spec"]["template"]
    assert pod["metadata"]["annotations"]["released"] == "2026-01-02"


def test_values_helm_cannot_take_are_refused() -> None:
    with pytest.raises(
        ValuesError, match=r"^values: \.nan and \.inf are not numbers Helm can take$"
    ):
        render(
            {
                "modelGroups": {
                    "a": {"model": "hf://o/a", "settings": {"gpuMemoryFraction": float("nan")}}
                }
            }
        )


def test_validate_reports_unknown_fields_strictly() -> None:
    manifests = render(load(SINGLE), kube_version="1.30.0")
    assert validate(manifests, "1.30") == []
    service = manifests.get("Service", "llm-corral-llama-8b")
    broken = Manifests([{**service, "spec": {"bogus": 1}}])
    assert "'bogus' was unexpected" in validate(broken, "1.30")[0]


def test_validate_checks_keda_trigger_metadata_against_the_scalers() -> None:
    """The CRD leaves trigger metadata free-form; KEDA's own parameter tags check it."""
    manifests = render(load(ROOT / "examples" / "autoscaling.yaml"))
    scaled = manifests.get("ScaledObject", "llm-corral-qwen-7b")
    assert [t["type"] for t in scaled["spec"]["triggers"]] == ["prometheus", "metrics-api"]
    assert validate(Manifests([scaled]), "1.30") == []
    prometheus, standby = (copy.deepcopy(t["metadata"]) for t in scaled["spec"]["triggers"])
    prometheus["treshold"] = prometheus.pop("threshold")
    standby.update(format="jsn", targetValue="eight")
    broken = copy.deepcopy(scaled)
    broken["spec"]["triggers"][0]["metadata"] = prometheus
    broken["spec"]["triggers"][1]["metadata"] = standby
    assert validate(Manifests([broken]), "1.30") == [
        "ScaledObject/llm-corral-qwen-7b: spec.triggers.0.metadata.treshold: not a parameter of KEDA's prometheus scaler",
        "ScaledObject/llm-corral-qwen-7b: spec.triggers.0.metadata.threshold: required by KEDA's prometheus scaler",
        "ScaledObject/llm-corral-qwen-7b: spec.triggers.1.metadata.format: 'jsn' is not one of prometheus, json, xml, yaml",
        "ScaledObject/llm-corral-qwen-7b: spec.triggers.1.metadata.targetValue: 'eight' is not a number",
    ]


def _impact(new: dict[str, object], base_path: Path = SINGLE) -> list[tuple[str, str, list[str]]]:
    """The impact of laying `new` over an example, which the text path must report alike."""
    base = load(base_path)
    old_text, new_text = render_text(base), render_text(merge(base, new))
    result = impact(parse(old_text), parse(new_text))
    assert impact_of_texts(old_text, new_text) == result
    return [(g.group, g.impact, g.details) for g in result.groups]


def test_impact_restart_scale_objects_unchanged() -> None:
    assert _impact({}) == [("llama-8b", "unchanged", [])]
    restart = _impact({"modelGroups": {"llama-8b": {"settings": {"maxContextLength": 8192}}}})
    assert restart == [("llama-8b", "restart", ["template.spec.containers[engine].args"])]
    rwx = {"replicas": 3, "cache": {"accessModes": ["ReadWriteMany"]}}
    assert _impact({"modelGroups": {"llama-8b": rwx}}) == [
        (
            "llama-8b",
            "scale",
            [
                "replicas 1 -> 3",
                "PersistentVolumeClaim/llm-corral-llama-8b-cache",
                "PodDisruptionBudget/llm-corral-llama-8b",
            ],
        )
    ]
    service = {"service": {"port": 9000}}
    assert _impact({"modelGroups": {"llama-8b": service}}) == [
        ("llama-8b", "objects", ["Service/llm-corral-llama-8b"])
    ]
    only_scale = _impact({"modelGroups": {"llama-8b": {"replicas": 0}}})
    assert only_scale == [("llama-8b", "scale", ["replicas 1 -> 0"])]
    added = _impact({"modelGroups": {"extra": {"model": "hf://o/x"}}})
    assert ("extra", "added", []) in added


def test_impact_reads_the_engine_workload_not_an_adapter_relay(tmp_path: Path) -> None:
    base = tmp_path / "lora.yaml"
    adapters = [{"name": "sql", "source": "/adapters/sql"}]
    base.write_text(
        yaml.safe_dump(merge(load(SINGLE), {"modelGroups": {"llama-8b": {"adapters": adapters}}}))
    )
    assert _impact({"modelGroups": {"llama-8b": {"replicas": 0}}}, base) == [
        ("llama-8b", "scale", ["replicas 1 -> 0"])
    ]


def test_impact_of_texts_parses_only_what_differs() -> None:
    multi = ROOT / "examples" / "multi-engine.yaml"
    changes: dict[str, object] = {
        "qwen-tiny": None,
        "llama-8b": {"replicas": 3},
        "mistral-7b": {"aliases": []},
    }
    assert _impact({"modelGroups": changes}, multi) == [
        ("llama-70b", "unchanged", []),
        ("llama-8b", "scale", ["replicas 2 -> 3"]),
        ("mistral-7b", "unchanged", []),
        ("qwen-32b", "unchanged", []),
        ("qwen-tiny", "removed", []),
    ]
    base = load(multi)
    gateway = render_text(merge(base, {"gateway": {"replicas": 2}}))
    assert impact_of_texts(render_text(base), gateway).other == [
        "Deployment/llm-corral-gateway",
        "PodDisruptionBudget/llm-corral-gateway",
    ]


def test_variants_name_check_and_refuse_repeats() -> None:
    base = load(SINGLE)
    found = expand(
        base,
        [
            {"variant": "h200", "modelGroups": {"llama-8b": {"gpus": {"type": "h200-141gb"}}}},
            {"modelGroups": {"llama-8b": {"gpus": {"type": "tpu"}}}},
        ],
        "single",
    )
    assert [(v.name, bool(v.problems)) for v in found] == [("h200", False), ("single-2", True)]
    assert found[0].values["modelGroups"]["llama-8b"]["gpus"] == {"count": 1, "type": "h200-141gb"}
    with pytest.raises(ValuesError, match="variant names repeat: a"):
        expand(base, [{"variant": "a"}, {"variant": "a"}], "single")


def test_load_refuses_non_maps(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("[1, 2]\n")
    with pytest.raises(ValuesError, match="must hold a map, not list"):
        load(path)
