"""Validate custom resources offline against their CRDs' schemas, as strictly as built-ins.

The CRD files come from the projects' Go modules at pinned versions (ci/setup-crds.sh puts them
in .tools/crds/). Each served version's openAPIV3Schema becomes a JSON Schema: objects with
properties reject unknown fields unless the CRD preserves them, int-or-string and nullable are
spelled out.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from corral.chart import CHART_DIR

CRD_DIR = CHART_DIR.parent / ".tools" / "crds"


def to_json_schema(node: Any) -> Any:
    """An openAPIV3Schema (sub)tree as strict JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@cache
def schemas(crd_dir: Path = CRD_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """JSON Schemas by (apiVersion, kind) for every served version of every CRD file."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    found[(f"{group}/{version['name']}", kind)] = to_json_schema(schema)
    return found


def known(doc: dict[str, Any]) -> bool:
    """True when the document is a custom resource whose CRD we have."""
    return (doc.get("apiVersion"), doc.get("kind")) in schemas()


def problems(doc: dict[str, Any]) -> list[str]:
    """Schema problems of one custom resource, each `<field.path>: <message>`."""
    schema = schemas()[(doc["apiVersion"], doc["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(doc)
    )
