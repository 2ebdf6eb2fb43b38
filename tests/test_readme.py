"""README snippets are real: its YAML passes the contract and its Python runs."""

from __future__ import annotations

import contextlib
import io
import os
import re

import yaml

from conftest import ROOT
from corral.check import check

README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


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
