"""Builders for stacks in code. They only produce plain values dicts: the chart does the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from corral.values import merge


def group_name(model: str) -> str:
    """A DNS-label group name from a model reference: hf://Qwen/Qwen2.5-7B -> qwen2-5-7b."""
    tail = model.rstrip("/").rsplit("/", 1)[-1].lower()
    tail = re.sub(r"\.(gguf|safetensors)$", "", tail)
    name = re.sub(r"[^a-z0-9]+", "-", tail).strip("-")
    name = name if name[:1].isalpha() else f"m-{name}"
    return name[:40].rstrip("-") or "model"


@dataclass
class ModelGroup:
    """One served model. Unset fields are left to modelGroupDefaults and the engine preset.

    `autoscaling` takes the chart's autoscaling keys (e.g. `{"minReplicas": 0, "maxReplicas": 4}`)
    and turns autoscaling on; `nodes` of 2 or more makes a multi-node group.
    """

    model: str
    engine: str = "vllm"
    name: str = ""
    gpus: int | None = None
    gpu_type: str | None = None
    tensor: int | None = None
    pipeline: int | None = None
    replicas: int | None = None
    nodes: int | None = None
    autoscaling: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    revision: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The group's name under modelGroups."""
        return self.name or group_name(self.model)

    def to_values(self) -> dict[str, Any]:
        """The group as chart values (without its name)."""
        values: dict[str, Any] = {"engine": self.engine, "model": self.model}
        if self.revision:
            values["revision"] = self.revision
        if self.aliases:
            values["aliases"] = list(self.aliases)
        if self.replicas is not None:
            values["replicas"] = self.replicas
        if self.nodes is not None:
            values["nodes"] = self.nodes
        if self.autoscaling:
            values["autoscaling"] = {"enabled": True, **self.autoscaling}
        gpus = {k: v for k, v in (("count", self.gpus), ("type", self.gpu_type)) if v is not None}
        if gpus:
            values["gpus"] = gpus
        parallel = {k: v for k, v in (("tensor", self.tensor), ("pipeline", self.pipeline)) if v}
        if parallel:
            values["parallelism"] = parallel
        if self.settings:
            values["settings"] = dict(self.settings)
        return merge(values, self.extra)


@dataclass
class Stack:
    """A release's values: model groups plus any other chart values."""

    groups: list[ModelGroup] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, group: ModelGroup) -> Stack:
        """Add a group; returns the stack so calls chain."""
        self.groups.append(group)
        return self

    def to_values(self) -> dict[str, Any]:
        """The stack as one values dict, ready for check(), render() or a file."""
        values: dict[str, Any] = {"modelGroups": {g.key: g.to_values() for g in self.groups}}
        if self.defaults:
            values["modelGroupDefaults"] = dict(self.defaults)
        return merge(values, self.extra)
