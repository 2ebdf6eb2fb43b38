"""The corral CLI: one line per problem, exit 0 clean, 1 on problems, 2 on usage errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import ROOT

CORRAL = ROOT / ".venv" / "bin" / "corral"


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CORRAL), *args], capture_output=True, text=True, check=False)


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
        }
    ]


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
