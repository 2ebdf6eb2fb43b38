"""README snippets are real: its YAML passes the contract, its Python and shell blocks run."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess

import yaml

from conftest import ROOT
from corral.check import check
from readme import after, blocks, shell


def test_yaml_snippets_pass_check() -> None:
    snippets = blocks("yaml")
    assert snippets
    for snippet in snippets:
        assert check(yaml.safe_load(snippet)) == []


def test_python_snippets_run() -> None:
    snippets = blocks("python")
    assert len(snippets) == 2
    for snippet in snippets:
        out = io.StringIO()
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(snippet, "README.md", "exec"), {})
        finally:
            os.chdir(cwd)
        assert out.getvalue() == ""  # each composed stack is valid, so nothing is printed


def test_ci_runs_the_setup_block() -> None:
    commands = shell("make setup").splitlines()
    assert (ROOT / ".ci" / "run").read_text().splitlines()[-1] == " && ".join(commands)


def test_the_sizing_example_prints_what_the_readme_shows() -> None:
    command = shell(
        "corral new --model hf://meta-llama/Llama-3.1-70B-Instruct --config tests/fixtures/configs/llama-3.1-70b --gpu h100-80gb"
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
    assert done.stdout == after(command, "yaml")


def test_every_shell_block_is_run_by_a_test() -> None:
    """Each block is named by its first line in a `shell(...)` call of some test file."""
    sources = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    named = set(re.findall(r'shell\(\s*"([^"]+)"', sources))
    assert {b.splitlines()[0] for b in blocks("sh")} == named
