"""One contract: every bad-values case is refused by `helm template` and by `corral check`, and
both name the same key with the same line; every example passes both."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import CHART, EXAMPLES, HELMS, ROOT, helm, render
from corral.check import check, check_files
from corral.values import load, merge

CUSTOM = {"engine": "custom", "image": {"repository": "r", "tag": "1"}, "command": ["s"]}
# Token-shaped test strings, built here so no realistic token sits in the source.
HF = "hf_" + "0" * 34
SK = "sk-" + "a" * 40
GHP = "ghp_" + "b" * 36
AKIA = "AKIA" + "C" * 16


def group(**keys: Any) -> dict[str, Any]:
    """Values with one vLLM group `a` and these keys on it."""
    return {"modelGroups": {"a": {"model": "hf://o/a", **keys}}}


LORA = {"name": "l", "source": "/loras/l"}


RULES: dict[str, tuple[dict[str, Any], str]] = {
    "duplicate-alias": (
        {
            "modelGroups": {
                "a": {"model": "hf://o/a", "aliases": ["x"]},
                "b": {"model": "hf://o/b", "aliases": ["x"]},
            }
        },
        'modelGroups.b.aliases: "x" is already served by modelGroups.a',
    ),
    "too-few-gpus": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "gpus": {"count": 2},
                    "parallelism": {"tensor": 2, "pipeline": 2},
                }
            }
        },
        "modelGroups.a.gpus.count: 2 GPUs is fewer than parallelism.tensor * parallelism.pipeline",
    ),
    "not-dns": ({"modelGroups": {"Bad_Name": {"model": "hf://o/a"}}}, "modelGroups.Bad_Name: "),
    "long-name": (
        {"modelGroups": {"g" * 60: {"model": "hf://o/a", "cache": {"type": "emptyDir"}}}},
        f"modelGroups.{'g' * 60}: object name",
    ),
    "rwo-shared": (
        {"modelGroups": {"a": {"model": "hf://o/a", "replicas": 2}}},
        "modelGroups.a.cache.accessModes: a ReadWriteOnce claim cannot be shared by 2 pods",
    ),
    "custom-incomplete": (
        {"modelGroups": {"c": {"model": "/m", "engine": "custom", "gpus": {"count": 0}}}},
        "modelGroups.c.image.repository: required for engine custom",
    ),
    "unknown-gpu": (
        {"modelGroups": {"a": {"model": "hf://o/a", "gpus": {"type": "h100"}}}},
        'modelGroups.a.gpus.type: unknown GPU profile "h100"',
    ),
    "latest": (
        {"modelGroups": {"a": {"model": "hf://o/a", "image": {"tag": "latest"}}}},
        'modelGroups.a.image.tag: "latest" is not allowed',
    ),
    "setting-without-flag": (
        {
            "modelGroups": {
                "a": {"model": "hf://o/a", "engine": "trtllm", "settings": {"dtype": "bfloat16"}}
            }
        },
        "modelGroups.a.settings.dtype: engine trtllm has no flag for it",
    ),
    "prefix-without-switch": (
        {
            "modelGroups": {
                "c": {
                    **CUSTOM,
                    "model": "/m",
                    "port": 80,
                    "gpus": {"count": 0},
                    "settings": {"prefixCaching": True},
                }
            }
        },
        "modelGroups.c.settings.prefixCaching: engine custom has no switch for it",
    ),
    "tgi-pipeline": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "engine": "tgi",
                    "gpus": {"count": 2},
                    "parallelism": {"pipeline": 2},
                }
            }
        },
        "modelGroups.a.parallelism.pipeline: engine tgi has no pipeline parallelism",
    ),
    "engine-config": (
        {"modelGroups": {"a": {"model": "hf://o/a", "engineConfig": {"x": 1}}}},
        "modelGroups.a.engineConfig: engine vllm takes no options file",
    ),
    "revision-unpinnable": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "engine": "trtllm",
                    "revision": "abc",
                    "download": {"enabled": False},
                }
            }
        },
        "modelGroups.a.revision: engine trtllm cannot pin a revision itself",
    ),
    "revision-not-hf": (
        {"modelGroups": {"a": {"model": "pvc://w/l", "revision": "abc"}}},
        "modelGroups.a.revision: only hf:// models have revisions",
    ),
    "custom-download": (
        {"modelGroups": {"c": {**CUSTOM, "model": "hf://o/c", "port": 80, "gpus": {"count": 0}}}},
        "modelGroups.c.download.image.repository: engine custom has no known download tool",
    ),
    "existing-claim": (
        {"modelGroups": {"a": {"model": "hf://o/a", "cache": {"type": "existingClaim"}}}},
        "modelGroups.a.cache.existingClaim: required with cache.type existingClaim",
    ),
    "host-path": (
        {"modelGroups": {"a": {"model": "hf://o/a", "cache": {"type": "hostPath"}}}},
        "modelGroups.a.cache.hostPath: required with cache.type hostPath",
    ),
    "preload-no-agent": (
        {"nodeCache": {"preload": [{"model": "s3://bkt/m"}], "agent": {"enabled": False}}},
        "nodeCache.preload: only the cache agent preloads; set nodeCache.agent.enabled true",
    ),
    "preload-groups-no-agent": (
        {"nodeCache": {"preloadGroups": True, "agent": {"enabled": False}}},
        "nodeCache.preloadGroups: only the cache agent preloads; set nodeCache.agent.enabled true",
    ),
    "s3-no-cache": (
        {"modelGroups": {"a": {"model": "s3://bkt/m", "cache": {"type": "none"}}}},
        "modelGroups.a.model: s3:// models are downloaded into the cache; set cache.type",
    ),
    "s3-no-download": (
        {"modelGroups": {"a": {"model": "s3://bkt/m", "download": {"enabled": False}}}},
        "modelGroups.a.download.enabled: engines do not read s3:// stores; keep it true",
    ),
    "pins-not-s3": (
        {"modelGroups": {"a": {"model": "hf://o/a", "pins": {"c.json": "0" * 32}}}},
        "modelGroups.a.pins: only s3:// models take pins; remove it",
    ),
    "node-not-downloaded": (
        {"modelGroups": {"a": {"model": "pvc://claim/m", "cache": {"type": "node"}}}},
        "modelGroups.a.cache.type: node holds only models the chart downloads",
    ),
    "multinode-tgi": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "engine": "tgi",
                    "nodes": 2,
                    "cache": {"type": "emptyDir"},
                }
            }
        },
        "modelGroups.a.nodes: engine tgi runs on one node only",
    ),
    "gpus-times-nodes": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "nodes": 2,
                    "gpus": {"count": 4},
                    "parallelism": {"tensor": 8, "pipeline": 2},
                    "cache": {"type": "emptyDir"},
                }
            }
        },
        "modelGroups.a.gpus.count: 4 GPUs x 2 nodes = 8 is fewer than",
    ),
    "trtllm-ssh": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "engine": "trtllm",
                    "nodes": 2,
                    "gpus": {"count": 8},
                    "parallelism": {"tensor": 16},
                    "cache": {"type": "emptyDir"},
                }
            }
        },
        "modelGroups.a.multiNode.sshSecret: engine trtllm runs multi-node over MPI and SSH",
    ),
    "min-above-max": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "cache": {"type": "emptyDir"},
                    "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2},
                }
            }
        },
        "modelGroups.a.autoscaling.minReplicas: 5 is above autoscaling.maxReplicas 2",
    ),
    "zero-without-keda": (
        {
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "cache": {"type": "emptyDir"},
                    "autoscaling": {"enabled": True, "kind": "hpa", "minReplicas": 0},
                }
            }
        },
        "modelGroups.a.autoscaling.minReplicas: 0 needs autoscaling.kind keda",
    ),
    "tenant-twice": (
        {
            "gateway": {
                "tenants": [
                    {"name": "team-a", "existingSecret": "a"},
                    {"name": "team-a", "existingSecret": "b"},
                ]
            }
        },
        'gateway.tenants: tenant "team-a" is listed twice',
    ),
    "zero-with-no-wake": (
        {
            "gateway": {"kind": "none"},
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "cache": {"type": "emptyDir"},
                    "autoscaling": {"enabled": True, "minReplicas": 0},
                }
            },
        },
        "modelGroups.a.autoscaling.query: scaling to zero with gateway.kind none and no standby",
    ),
    "zero-standby-off": (
        {
            "scaleFromZero": {"enabled": False},
            "modelGroups": {
                "a": {
                    "model": "hf://o/a",
                    "cache": {"type": "emptyDir"},
                    "autoscaling": {"enabled": True, "minReplicas": 0},
                }
            },
        },
        "modelGroups.a.autoscaling.query: scaling to zero with gateway.kind smg and no standby",
    ),
    "standby-name-length": (
        {
            "modelGroups": {
                "a-group-name-long-enough-to-pass-alone-but-not-wi": {
                    "model": "hf://o/a",
                    "cache": {"type": "emptyDir"},
                    "autoscaling": {"enabled": True, "minReplicas": 0},
                }
            }
        },
        "modelGroups.a-group-name-long-enough-to-pass-alone-but-not-wi: object name",
    ),
    "no-load-metric": (
        {
            "modelGroups": {
                "c": {
                    **CUSTOM,
                    "model": "/m",
                    "port": 80,
                    "gpus": {"count": 0},
                    "cache": {"type": "none"},
                    "autoscaling": {"enabled": True},
                }
            }
        },
        "modelGroups.c.autoscaling.query: engine custom has no known load metric",
    ),
    "rwo-autoscaled": (
        {
            "modelGroups": {
                "a": {"model": "hf://o/a", "autoscaling": {"enabled": True, "maxReplicas": 3}}
            }
        },
        "modelGroups.a.cache.accessModes: a ReadWriteOnce claim cannot be shared by 3 pods",
    ),
    "gatewayapi-parent": (
        {"gateway": {"kind": "gatewayAPI"}, "modelGroups": {"a": {"model": "hf://o/a"}}},
        "gateway.gatewayAPI.parentRefs: gateway.kind gatewayAPI needs the Gateway",
    ),
    "gpu-limit-in-resources": (
        group(resources={"limits": {"nvidia.com/gpu": 2, "cpu": 4}}),
        'modelGroups.a.resources.limits: "nvidia.com/gpu" is set by the chart from gpus.count',
    ),
    "mig-request-in-resources": (
        group(resources={"requests": {"nvidia.com/mig-3g.40gb": 1}}),
        'modelGroups.a.resources.requests: "nvidia.com/mig-3g.40gb" is set by the chart',
    ),
    "profile-resource-in-resources": (
        {
            "gpuProfiles": {
                "mi300x": {"product": "", "resourceName": "amd.com/gpu", "memoryMiB": 196608}
            },
            **group(gpus={"type": "mi300x"}, resources={"limits": {"amd.com/gpu": 1}}),
        },
        'modelGroups.a.resources.limits: "amd.com/gpu" is set by the chart',
    ),
    "gpu-profile-zero-gpus": (
        group(gpus={"count": 0, "type": "h100-80gb"}),
        'modelGroups.a.gpus.count: 0 GPUs with GPU profile "h100-80gb"; set gpus.count to 1',
    ),
    "mig-profile-zero-gpus": (
        group(gpus={"count": 0, "type": "h100-40gb-mig"}),
        'modelGroups.a.gpus.count: 0 GPUs with GPU profile "h100-40gb-mig"',
    ),
    "mig-slices-many": (
        group(gpus={"count": 2, "type": "h100-40gb-mig"}, parallelism={"tensor": 2}),
        'modelGroups.a.gpus.count: 2 slices of MIG profile "h100-40gb-mig"; a CUDA process',
    ),
    "env-credential-name": (
        group(env=[{"name": "X", "value": "1"}, {"name": "HF_TOKEN", "value": "abc"}]),
        "modelGroups.a.env[1].value: HF_TOKEN is a credential written literally; put it in a "
        "Secret and use valueFrom.secretKeyRef",
    ),
    "env-password-name": (
        group(env=[{"name": "db_password", "value": "pw"}]),
        "modelGroups.a.env[0].value: db_password is a credential written literally",
    ),
    "env-token-shape": (
        group(env=[{"name": "EXTRA", "value": HF}]),
        "modelGroups.a.env[0].value: looks like a Hugging Face token written literally",
    ),
    "env-aws-shape": (
        group(env=[{"name": "AWS_ACCESS_KEY_ID", "value": AKIA}]),
        "modelGroups.a.env[0].value: looks like an AWS access key id written literally",
    ),
    "arg-credential-flag": (
        group(extraArgs=["--api-key=letmein"]),
        "modelGroups.a.extraArgs[0]: --api-key takes a credential, written here literally; put "
        "it in a Secret, add it to env with valueFrom.secretKeyRef and pass $(NAME) here",
    ),
    "arg-credential-flag-word": (
        group(extraArgs=["--enforce-eager", "--hf-token", "letmein"]),
        "modelGroups.a.extraArgs[2]: --hf-token takes a credential, written here literally",
    ),
    "arg-openai-shape": (
        group(extraArgs=[f"--upstream-header=Authorization: Bearer {SK}"]),
        "modelGroups.a.extraArgs[0]: looks like an OpenAI-style API key written literally",
    ),
    "arg-github-shape": (
        group(extraArgs=["--hf-overrides", f'{{"token": "{GHP}"}}']),
        "modelGroups.a.extraArgs[1]: looks like a GitHub token written literally",
    ),
    "gateway-arg-credential": (
        {"gateway": {"extraArgs": ["--api-key", "letmein"]}},
        "gateway.extraArgs[1]: --api-key takes a credential, written here literally",
    ),
    "token-twice": (
        {"huggingface": {"token": {"existingSecret": "s", "value": "v"}}},
        "huggingface.token: both existingSecret and value are set; keep one",
    ),
    "adapter-name-taken": (
        {
            "modelGroups": {
                "a": {"model": "hf://o/a"},
                "b": {"model": "/m", "adapters": [{"name": "a", "source": "/l"}]},
            }
        },
        'modelGroups.b.adapters: "a" is already served by modelGroups.a; served names and aliases',
    ),
    "adapter-engine": (
        {"modelGroups": {"t": {"model": "/m", "engine": "tgi", "adapters": [LORA]}}},
        "modelGroups.t.adapters: engine tgi has no LoRA support in the chart",
    ),
    "adapter-unpinned": (
        {"modelGroups": {"a": {"model": "/m", "adapters": [{"name": "l", "source": "hf://o/l"}]}}},
        "modelGroups.a.adapters[0].revision: an hf:// adapter needs a pinned revision",
    ),
    "adapter-not-cached": (
        {
            "modelGroups": {
                "a": {
                    "model": "/m",
                    "cache": {"type": "none"},
                    "adapters": [{"name": "l", "source": "hf://o/l", "revision": "r"}],
                }
            }
        },
        "modelGroups.a.adapters[0].source: hf:// adapters are downloaded into the cache",
    ),
    "adapter-revision-not-hf": (
        {"modelGroups": {"a": {"model": "/m", "adapters": [{**LORA, "revision": "r"}]}}},
        "modelGroups.a.adapters[0].revision: only hf:// adapters have revisions; remove it",
    ),
    "adapter-base-model": (
        {"modelGroups": {"a": {"model": "/m", "adapters": [{**LORA, "baseModel": "hf://o/x"}]}}},
        "modelGroups.a.adapters[0].baseModel: the adapter was trained on hf://o/x but the group",
    ),
    "adapter-name-length": (
        {
            "modelGroups": {
                "g" * 40: {"model": "/m", "adapters": [{"name": "a" * 20, "source": "/l"}]}
            }
        },
        f"modelGroups.{'g' * 40}: object name",
    ),
}
SCHEMA: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (values, helm's path in its message, corral's key path)
    "typo": (
        {"modelGroups": {"a": {"model": "hf://o/a", "replicsa": 2}}},
        "'/modelGroups/a': additional properties 'replicsa'",
        "modelGroups.a.replicsa:",
    ),
    "nested-typo": (
        {"modelGroups": {"a": {"model": "hf://o/a", "gpus": {"cuont": 1}}}},
        "'/modelGroups/a/gpus': additional properties 'cuont'",
        "modelGroups.a.gpus.cuont:",
    ),
    "engine": (
        {"modelGroups": {"a": {"model": "hf://o/a", "engine": "llamacpp"}}},
        "'/modelGroups/a/engine'",
        "modelGroups.a.engine:",
    ),
    "model": (
        {"modelGroups": {"a": {"engine": "vllm"}}},
        "'/modelGroups/a': missing property 'model'",
        "modelGroups.a: 'model'",
    ),
    "bound": (
        {"modelGroups": {"a": {"model": "hf://o/a", "settings": {"gpuMemoryFraction": 2}}}},
        "'/modelGroups/a/settings/gpuMemoryFraction'",
        "modelGroups.a.settings.gpuMemoryFraction:",
    ),
    "standby-wait": (
        {"scaleFromZero": {"waitSeconds": 0}},
        "'/scaleFromZero/waitSeconds'",
        "scaleFromZero.waitSeconds:",
    ),
    "tenant-secret": (
        {"gateway": {"tenants": [{"name": "team-a"}]}},
        "'/gateway/tenants/0': missing property 'existingSecret'",
        "gateway.tenants.0: 'existingSecret'",
    ),
    "adapter-name": (
        {"modelGroups": {"a": {"model": "/m", "adapters": [{"name": "Sql_Lora", "source": "/l"}]}}},
        "'/modelGroups/a/adapters/0/name'",
        "modelGroups.a.adapters.0.name:",
    ),
    "admission-queue": (
        {"gateway": {"admission": {"queueSize": -1}}},
        "'/gateway/admission/queueSize'",
        "gateway.admission.queueSize:",
    ),
}


# Values near those rules that both accept: secret references, GPU-free resources, CPU groups,
# names that only end like a credential's and one MIG slice.
ACCEPTED: dict[str, dict[str, Any]] = {
    "references": group(
        env=[
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "API_KEY", "value": "$(HF_TOKEN)"},
            {"name": "CACHE_KEY", "value": ""},
        ],
        extraArgs=[
            "--api-key=$(API_KEY)",
            "--hf-token",
            "$(HF_TOKEN)",
            "--hf-token",
            "--enforce-eager",
        ],
    ),
    "look-alikes": group(
        env=[{"name": "TOKENIZERS_PARALLELISM", "value": "false"}],
        extraArgs=[
            "--max-num-batched-tokens=8192",
            "--tokenizer=/models/risk-assessment-tokenizer-v2",
        ],
    ),
    "cpu-resources": group(
        gpus={"count": 0, "type": "cpu"}, resources={"limits": {"cpu": 8, "memory": "32Gi"}}
    ),
    "none-profile": group(gpus={"type": "none"}),
    "one-mig-slice": group(gpus={"count": 1, "type": "h100-40gb-mig"}),
}


def helm_template(values: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return helm(HELMS["helm4"], "template", "llm", str(CHART), values=[path])


@pytest.mark.parametrize("case", sorted(RULES))
def test_rule_parity(case: str, tmp_path: Path) -> None:
    values, line = RULES[case]
    done = helm_template(values, tmp_path)
    assert done.returncode != 0
    helm_lines = [ln for ln in done.stderr.splitlines() if ln.startswith(line)]
    corral_lines = [ln for ln in check(values) if ln.startswith(line)]
    assert helm_lines, done.stderr
    assert corral_lines == helm_lines


@pytest.mark.parametrize("case", sorted(SCHEMA))
def test_schema_parity(case: str, tmp_path: Path) -> None:
    values, helm_says, corral_says = SCHEMA[case]
    done = helm_template(values, tmp_path)
    assert done.returncode != 0
    assert helm_says in done.stderr
    assert any(line.startswith(corral_says) for line in check(values)), check(values)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_pass_both(example: Path) -> None:
    assert render([example])
    assert check_files([example]) == []


@pytest.mark.parametrize("overlay", sorted((ROOT / "values").glob("*.yaml")), ids=lambda p: p.stem)
def test_overlays_pass_check(overlay: Path) -> None:
    assert check(merge(load(ROOT / "examples" / "multi-engine.yaml"), load(overlay))) == []


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_by_both(case: str, tmp_path: Path) -> None:
    done = helm_template(ACCEPTED[case], tmp_path)
    assert done.returncode == 0, done.stderr
    assert check(ACCEPTED[case]) == []
