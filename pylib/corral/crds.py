"""Validate custom resources offline against their CRDs' schemas, as strictly as built-ins.

The CRD files come from the projects' Go modules at pinned versions (ci/setup-crds.sh puts them
in .tools/crds/). Each served version's openAPIV3Schema becomes a JSON Schema: objects with
properties reject unknown fields unless the CRD preserves them, int-or-string and nullable are
spelled out.

A ScaledObject's trigger metadata is a free-form map in the CRD; KEDA declares each scaler's
parameters in struct tags (`keda:"name=query, order=triggerMetadata, optional"`). The sources of
the scalers the chart renders are copied from the same module (.tools/crds/keda-scalers/), and
their parameters check the metadata: unknown keys, missing required ones, enum and number values.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from corral import _yaml
from corral.chart import CHART_DIR

CRD_DIR = CHART_DIR.parent / ".tools" / "crds"
SCALER_SOURCES = {"prometheus": "prometheus_scaler.go", "metrics-api": "metrics_api_scaler.go"}
TAGGED_FIELD = re.compile(r'^\s*\w+\s+(\S+)\s+`keda:"([^"]*)"`', re.MULTILINE)


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
        for crd in _yaml.load_all(path.read_text()):
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
    import jsonschema  # here, not above: only `render --validate` checks custom resources

    validator = jsonschema.Draft7Validator(schema)
    found = sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(doc)
    )
    if doc["kind"] == "ScaledObject":
        found += trigger_problems(doc)
    return found


@dataclass(frozen=True)
class Param:
    """One trigger-metadata parameter a KEDA scaler declares."""

    go_type: str
    required: bool
    enum: tuple[str, ...]


@cache
def scaler_params(scaler_dir: Path = CRD_DIR / "keda-scalers") -> dict[str, dict[str, Param]]:
    """Trigger-metadata parameters by scaler type, read from KEDA's struct tags."""
    found: dict[str, dict[str, Param]] = {}
    for scaler, source in SCALER_SOURCES.items():
        params: dict[str, Param] = {}
        for go_type, tag in TAGGED_FIELD.findall((scaler_dir / source).read_text()):
            parts = dict(
                (k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in tag.split(","))
            )
            if "triggerMetadata" not in parts.get("order", "").split(";"):
                continue
            optional = "optional" in parts or "default" in parts
            only_here = parts["order"] == "triggerMetadata"
            enum = tuple(parts["enum"].split(";")) if "enum" in parts else ()
            params[parts["name"]] = Param(go_type, only_here and not optional, enum)
        found[scaler] = params
    return found


def trigger_problems(doc: dict[str, Any]) -> list[str]:
    """Problems of a ScaledObject's trigger metadata against its scalers' declared parameters."""
    found = []
    for i, trigger in enumerate(doc["spec"].get("triggers") or []):
        params = scaler_params().get(trigger.get("type", ""))
        if params is None:
            continue
        where, meta = f"spec.triggers.{i}.metadata", trigger.get("metadata") or {}
        scaler = f"KEDA's {trigger['type']} scaler"
        for key, value in meta.items():
            param = params.get(key)
            if param is None:
                found.append(f"{where}.{key}: not a parameter of {scaler}")
            elif param.enum and value not in param.enum:
                found.append(f"{where}.{key}: {value!r} is not one of {', '.join(param.enum)}")
            elif param.go_type == "float64" and not _is_number(value):
                found.append(f"{where}.{key}: {value!r} is not a number")
        found += [
            f"{where}.{name}: required by {scaler}"
            for name, param in params.items()
            if param.required and name not in meta
        ]
    return found


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
