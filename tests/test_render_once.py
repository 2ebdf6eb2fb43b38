"""Each model group is resolved once per render (the memo in corral.groups.all), not per template.

The test renders a copy of the chart whose resolver fails the render the second time it meets
the same group, with every template that reads the groups switched on; a copy without the memo
must fail that way, so the guard is known to fire.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import CHART, EXAMPLES, helm

LOOP = '{{- range $name := include "corral.groups.names" $ctx | splitList "\\n" | compact -}}\n'
GUARD = (
    '{{- $seen := printf "resolved %s" $name -}}'
    '{{- if hasKey $ctx $seen }}{{ fail (printf "group %s resolved twice" $name) }}{{ end -}}'
    "{{- $_ := set $ctx $seen true -}}\n"
)
MEMO = '{{- if not (hasKey . "corralGroups") -}}'
# Every template that reads the groups renders something: NetworkPolicies, monitoring, and
# (second render) the Gateway API objects instead of the SMG gateway.
EVERYTHING = [
    "networkPolicy.enabled=true",
    "monitoring.podMonitor.enabled=true",
    "monitoring.alerts.enabled=true",
    "monitoring.dashboard.enabled=true",
]
GATEWAY_API = ["gateway.kind=gatewayAPI", "gateway.gatewayAPI.parentRefs[0].name=inference"]


def guarded_chart(tmp_path: Path, *, memo: bool) -> Path:
    """A copy of the chart whose resolver refuses to resolve a group twice in one render."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    helpers = chart / "templates" / "_groups.tpl"
    text = helpers.read_text()
    assert text.count(LOOP) == 1
    assert text.count(MEMO) == 1
    text = text.replace(LOOP, LOOP + GUARD)
    if not memo:
        text = text.replace(MEMO, "{{- if true -}}")
    helpers.write_text(text)
    return chart


def template(binary: Path, chart: Path, example: Path, sets: list[str]) -> tuple[int, str]:
    done = helm(binary, "template", "llm", str(chart), values=[example], sets=sets)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("sets", [EVERYTHING, EVERYTHING + GATEWAY_API], ids=["smg", "gatewayAPI"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_each_group_is_resolved_once_per_render(
    tmp_path: Path, helm_binary: Path, example: Path, sets: list[str]
) -> None:
    code, out = template(helm_binary, guarded_chart(tmp_path, memo=True), example, sets)
    assert code == 0, out
    for group in yaml.safe_load(example.read_text())["modelGroups"]:
        assert f"name: llm-corral-{group}\n" in out


def test_the_guard_fires_without_the_memo(tmp_path: Path, helm_binary: Path) -> None:
    code, out = template(helm_binary, guarded_chart(tmp_path, memo=False), EXAMPLES[0], EVERYTHING)
    assert code != 0
    assert "resolved twice" in out
