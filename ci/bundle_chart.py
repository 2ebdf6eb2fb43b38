"""Hatchling build hook: the wheel carries chart/ as corral/chart, stamped with the package version.

chart/ stays the one source. The wheel gets the files `helm package` ships (chart/.helmignore
keeps the unit tests and the README template out), with Chart.yaml's version and appVersion,
0.0.0 in Git, stamped from VERSION as `make package` stamps the packaged chart. Editable installs
read chart/ in place.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pathspec
from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.builders.wheel import WheelBuilderConfig

STAMPED = re.compile(r'^(version|appVersion): "?0\.0\.0"?$', re.MULTILINE)


def stamp(chart_yaml: str, version: str) -> str:
    """Chart.yaml text with version and appVersion set to `version`."""
    stamped, count = STAMPED.subn(lambda m: f'{m[1]}: "{version}"', chart_yaml)
    if count != 2:
        raise ValueError("chart/Chart.yaml: expected version and appVersion 0.0.0 to stamp")
    return stamped


class BundleChart(BuildHookInterface[WheelBuilderConfig]):
    """Adds the chart's files to a standard wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Map each chart file Helm would package into corral/chart/."""
        if version != "standard":
            return
        chart = Path(self.root) / "chart"
        ignored = pathspec.GitIgnoreSpec.from_lines((chart / ".helmignore").read_text().split("\n"))
        for path in sorted(p for p in chart.rglob("*") if p.is_file()):
            relative = path.relative_to(chart).as_posix()
            if not ignored.match_file(relative) and relative != "Chart.yaml":
                build_data["force_include"][str(path)] = f"corral/chart/{relative}"
        self._scratch = Path(tempfile.mkdtemp(prefix="corral-chart-"))
        stamped = self._scratch / "Chart.yaml"
        stamped.write_text(stamp((chart / "Chart.yaml").read_text(), self.metadata.version))
        build_data["force_include"][str(stamped)] = "corral/chart/Chart.yaml"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the stamped Chart.yaml once the wheel is written."""
        if version == "standard":
            shutil.rmtree(self._scratch)
