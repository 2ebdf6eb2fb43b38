"""The corral CLI: one line per problem, exit 0 clean, 1 on problems, 2 on usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conftest import ROOT, corral


def test_check_passes_an_example() -> None:
    done = corral("check", "examples/multi-engine.yaml")
    assert (done.returncode, done.stdout) == (0, "ok: examples/multi-engine.yaml\n")


def test_check_names_each_bad_key_with_a_suggestion(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "modelGroups:\n  a:\n    model: hf://o/a\n    replicsa: 2\n    gpus: {tpye: l4-24gb}\n"
    )
    done = corral("check", str(bad))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        'modelGroups.a.gpus.tpye: unknown key; did you mean "type"?',
        'modelGroups.a.replicsa: unknown key; did you mean "replicas"?',
    ]


def test_check_merges_files_in_order_and_reports_rules(tmp_path: Path) -> None:
    extra = tmp_path / "more.yaml"
    extra.write_text("modelGroups:\n  extra: {model: hf://o/x, aliases: [llama]}\n")
    done = corral("check", "--output", "json", "examples/single-vllm.yaml", str(extra))
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "ok": False,
        "problems": [
            'modelGroups.llama-8b.aliases: "llama" is already served by modelGroups.extra; '
            "served names and aliases must be unique"
        ],
    }


def test_models_lists_served_names_and_aliases() -> None:
    done = corral("models", "-o", "json", "examples/single-vllm.yaml")
    assert json.loads(done.stdout) == [
        {
            "group": "llama-8b",
            "engine": "vllm",
            "served_name": "llama-8b",
            "aliases": ["llama", "meta-llama/Llama-3.1-8B-Instruct"],
            "adapters": [],
        }
    ]


def test_models_lists_lora_adapters(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        "modelGroups:\n  base:\n    model: hf://o/base\n    revision: r1\n"
        "    adapters: [{name: sql, source: hf://o/sql-lora, revision: r2}]\n"
    )
    done = corral("models", str(values))
    assert done.stdout == "base  group: base  engine: vllm  adapters: sql\n"


def test_user_mistakes_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = corral("check", "nope.yaml")
    notyaml = tmp_path / "x.yaml"
    notyaml.write_text("a: [1,\n")
    broken = corral("check", str(notyaml))
    listed = tmp_path / "l.yaml"
    listed.write_text("- a\n")
    wrong_shape = corral("check", str(listed))
    for done in (missing, broken, wrong_shape):
        assert done.returncode == 2
        assert done.stderr.startswith("corral: error: ")
        assert len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr


def test_new_creates_then_appends_and_refuses_clashes(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    first = corral(
        "new",
        "--engine",
        "sglang",
        "--model",
        "hf://Qwen/Qwen2.5-7B-Instruct",
        "--gpu",
        "l40s-48gb",
        "--gpus",
        "2",
        "--alias",
        "qwen",
        "-f",
        str(stack),
    )
    assert first.returncode == 0, first.stderr
    second = corral(
        "new",
        "--model",
        "hf://meta-llama/Llama-3.1-8B-Instruct",
        "--name",
        "llama",
        "--gpu",
        "h100-80gb",
        "-f",
        str(stack),
    )
    assert second.returncode == 0, second.stderr
    groups = yaml.safe_load(stack.read_text())["modelGroups"]
    assert groups == {
        "qwen2-5-7b-instruct": {
            "engine": "sglang",
            "model": "hf://Qwen/Qwen2.5-7B-Instruct",
            "aliases": ["qwen"],
            "gpus": {"count": 2, "type": "l40s-48gb"},
            "parallelism": {"tensor": 2},
        },
        "llama": {
            "engine": "vllm",
            "model": "hf://meta-llama/Llama-3.1-8B-Instruct",
            "gpus": {"type": "h100-80gb"},
        },
    }
    clash = corral("new", "--model", "hf://o/x", "--alias", "qwen", "-f", str(stack))
    assert clash.returncode == 1
    assert clash.stdout.startswith('modelGroups.x.aliases: "qwen" is already served by')
    again = corral("new", "--model", "hf://o/y", "--name", "llama", "-f", str(stack))
    assert (again.returncode, again.stderr) == (
        2,
        f"corral: error: modelGroups.llama: already in {stack}; pick another --name\n",
    )
    assert list(yaml.safe_load(stack.read_text())["modelGroups"]) == [
        "qwen2-5-7b-instruct",
        "llama",
    ]


def test_adapter_relays_and_the_gateway_mesh_validate(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "gateway": {"replicas": 2},
                "networkPolicy": {"enabled": True},
                "modelGroups": {
                    "llama": {
                        "model": "hf://o/llama",
                        "revision": "r1",
                        "adapters": [
                            {"name": "sql", "source": "hf://o/sql-lora", "revision": "a1"},
                            {"name": "chat", "source": "pvc://loras/chat"},
                        ],
                    }
                },
            }
        )
    )
    done = corral("render", str(values), "--validate", "--kube-version", "1.30")
    assert done.returncode == 0, done.stderr
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(done.stdout) if d}
    assert {"llm-corral-llama-sql", "llm-corral-llama-chat", "llm-corral-llama-relay"} <= names


def test_render_validates_for_a_kubernetes_version() -> None:
    done = corral(
        "render", "examples/single-tgi.yaml", "--validate", "--kube-version", "1.30", "-n", "ml"
    )
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    assert [d["kind"] for d in docs] == [
        "ServiceAccount",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "Service",
        "Service",
        "Deployment",
        "Deployment",
        # The `helm test` hook.
        "ConfigMap",
        "Pod",
    ]
    assert {d["metadata"]["namespace"] for d in docs} == {"ml"}


def test_render_refuses_bad_values_before_helm(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("modelGroups:\n  a: {model: hf://o/a, gpus: {type: h100}}\n")
    done = corral("render", str(bad))
    assert done.returncode == 1
    assert done.stdout.startswith('modelGroups.a.gpus.type: unknown GPU profile "h100"')


def test_diff_reports_restart_and_scale(tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    values = yaml.safe_load((ROOT / "examples" / "multi-engine.yaml").read_text())
    values["modelGroups"]["llama-8b"]["replicas"] = 4
    values["modelGroups"]["qwen-32b"]["settings"] = {"maxContextLength": 4096}
    new.write_text(yaml.safe_dump(values))
    done = corral("diff", "examples/multi-engine.yaml", str(new))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "llama-70b: unchanged",
        "llama-8b: scale (replicas 2 -> 4)",
        "mistral-7b: unchanged",
        "qwen-32b: restart (template.spec.containers[engine].args)",
        "qwen-tiny: unchanged",
    ]


def test_variants_writes_one_checked_file_each(tmp_path: Path) -> None:
    overrides = tmp_path / "gpus.yaml"
    overrides.write_text(
        "variant: on-h200\nmodelGroups:\n  llama-8b: {gpus: {type: h200-141gb}}\n---\n"
        "variant: on-l4-tp2\nmodelGroups:\n  llama-8b: {gpus: {count: 2, type: l4-24gb}, "
        "parallelism: {tensor: 2}}\n---\n"
        "variant: broken\nmodelGroups:\n  llama-8b: {parallelism: {tensor: 8}}\n"
    )
    done = corral(
        "variants", "examples/single-vllm.yaml", str(overrides), "--out-dir", str(tmp_path / "out")
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{tmp_path}/out/on-h200.yaml: ok",
        f"{tmp_path}/out/on-l4-tp2.yaml: ok",
        f"{tmp_path}/out/broken.yaml: modelGroups.llama-8b.gpus.count: 1 GPUs is fewer than "
        "parallelism.tensor * parallelism.pipeline = 8; raise gpus.count or lower the parallelism",
    ]
    tp2 = yaml.safe_load((tmp_path / "out" / "on-l4-tp2.yaml").read_text())
    assert tp2["modelGroups"]["llama-8b"]["gpus"] == {"count": 2, "type": "l4-24gb"}
    assert "variant" not in tp2


def test_test_runs_the_chart_suites() -> None:
    done = corral("test")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "Test Suites:" in done.stdout


def test_size_prints_the_table_and_json() -> None:
    text = corral(
        "size",
        "tests/fixtures/configs/deepseek-v3",
        "--gpu",
        "h200-141gb",
        "--gpu",
        "l4-24gb",
        "--max-context",
        "32768",
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[2] == "kv cache: 68.6 KiB per token (MLA)"
    assert lines[-2].split()[:2] == ["h200-141gb", "8"]
    assert lines[-1].split()[:4] == ["l4-24gb", "does", "not", "fit"]
    data = json.loads(corral("size", "tests/fixtures/configs/llama-3.1-8b", "-o", "json").stdout)
    assert (data["parameters"], data["kvBytesPerToken"]) == (8_030_261_248, 131072)
    bad = corral("size", "tests/fixtures/configs/llama-3.1-8b", "--gpu", "tpu")
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        2,
        "corral: error: --gpu: unknown profile tpu; use one of: a100-40gb, a100-40gb-mig, "
        "a100-80gb, a10g-24gb, b200-192gb, cpu, h100-10gb-mig, h100-20gb-mig, h100-40gb-mig, "
        "h100-80gb, h100-nvl-94gb, h200-141gb, l4-24gb, l40s-48gb, none, t4-16gb",
    )


def test_check_refuses_a_model_too_big_for_its_gpus(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "modelGroups:\n  big: {model: hf://meta-llama/Llama-3.1-70B, "
        "gpus: {count: 1, type: h100-80gb}}\n"
    )
    done = corral("check", str(stack), "--model-config", "big=tests/fixtures/configs/llama-3.1-70b")
    assert done.returncode == 1
    assert done.stdout.startswith("modelGroups.big.gpus: llama-3.1-70b: 131.4 GiB of weights")
    assert "tensor parallel 4 fits" in done.stdout
    malformed = corral("check", str(stack), "--model-config", "big")
    assert malformed.returncode == 2
    assert "'big' is not GROUP=PATH" in malformed.stderr
