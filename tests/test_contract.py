"""values.yaml, values.schema.json, the presets and the templates agree with each other."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import CHART

SCHEMA = __import__("json").loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
PRESETS = {
    p.stem: yaml.safe_load(p.read_text()) for p in (CHART / "presets" / "engines").glob("*.yaml")
}
TEMPLATES = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())
# Schema leaves read by the Python library rather than by a template.
READ_BY_LIBRARY = {"memoryMiB"}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref."""
    while "$ref" in node:
        target: dict[str, Any] = SCHEMA
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def leaves(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property path in the schema with its (resolved) node."""
    node = resolve(node)
    for name, child in node.get("properties", {}).items():
        if child is False:
            continue
        yield f"{path}.{name}".lstrip("."), child
        yield from leaves(child, f"{path}.{name}")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        yield from leaves(extra, f"{path}.*")


def test_values_yaml_is_valid_against_the_schema() -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(VALUES)


def test_schema_is_strict_and_described() -> None:
    for path, node in leaves(SCHEMA):
        node = resolve(node)
        assert node.get("description") or resolve(node).get("description"), path
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} is not strict"


def test_every_schema_leaf_is_read() -> None:
    unread = []
    for path, _ in leaves(SCHEMA):
        name = path.rsplit(".", 1)[-1]
        if name == "*" or name in READ_BY_LIBRARY:
            continue
        if not re.search(rf'[.$"]{re.escape(name)}\b', TEMPLATES):
            unread.append(path)
    assert unread == []


def keyed_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """(indent, key, preceding comment block) for each uncommented mapping key of values.yaml."""
    comments: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped)
            continue
        match = re.match(r"^(\s*)([A-Za-z][\w-]*):", line)
        if match:
            yield len(match.group(1)), match.group(2), "\n".join(comments)
        comments = []


def test_every_values_key_is_documented() -> None:
    """Each leaf key has a helm-docs `# -- ` comment, or sits inside a documented default object."""
    lines = list(keyed_lines((CHART / "values.yaml").read_text()))
    undocumented = []
    documented_at: list[int] = []  # indents of documented ancestors
    for i, (indent, key, comments) in enumerate(lines):
        documented_at = [d for d in documented_at if d < indent]
        is_parent = i + 1 < len(lines) and lines[i + 1][0] > indent
        if "# -- " in comments:
            documented_at.append(indent)
        elif not is_parent and not documented_at:
            undocumented.append(key)
    assert undocumented == []


def test_engine_enum_matches_presets() -> None:
    enum = SCHEMA["$defs"]["groupSettings"]["properties"]["engine"]["enum"]
    assert sorted(enum) == sorted(PRESETS)


@pytest.mark.parametrize("engine", sorted(PRESETS))
def test_presets_share_one_shape(engine: str) -> None:
    preset = PRESETS[engine]
    reference = PRESETS["vllm"]
    assert preset["engine"] == engine
    assert sorted(preset) == sorted(reference)
    assert sorted(preset["flags"]) == sorted(reference["flags"])
    assert preset["modelArg"]["style"] in {"positional", "flag", "none"}
    assert preset["servedNames"] in {"multiple", "single", "none"}
    if engine != "custom":
        assert preset["image"]["tag"] not in ("", "latest")
        assert preset["flags"]["host"], "engines must bind all interfaces"
        assert preset["flags"]["port"]
    assert preset["health"]["path"].startswith("/")
    assert preset["metrics"]["path"].startswith("/")


def test_sglang_probe_timeout_is_above_its_health_generation_timeout() -> None:
    assert PRESETS["sglang"]["health"]["timeoutSeconds"] > 20


def test_gpu_profiles_match_the_schema() -> None:
    profiles = yaml.safe_load((CHART / "presets" / "gpus.yaml").read_text())
    validator = jsonschema.Draft202012Validator({**SCHEMA, **SCHEMA["properties"]["gpuProfiles"]})
    validator.validate(profiles)
    assert {
        "h100-80gb",
        "h200-141gb",
        "a100-80gb",
        "a100-40gb",
        "l40s-48gb",
        "l4-24gb",
        "b200-192gb",
        "cpu",
    } <= set(profiles)
    assert profiles["h100-80gb"]["product"] == "NVIDIA-H100-80GB-HBM3"
