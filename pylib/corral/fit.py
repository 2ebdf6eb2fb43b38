"""Refuse model groups whose model cannot fit their GPUs (when the model's config is at hand)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from corral import size
from corral.groups import Group


def hf_cache_dirs() -> list[Path]:
    """Where a local Hugging Face hub cache may be, in lookup order."""
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]) / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def local_config(group: Group, caches: Iterable[Path]) -> Path | None:
    """The group's config.json in one of the HF caches, at its revision when pinned."""
    model = str(group.values.get("model", ""))
    if not model.startswith("hf://"):
        return None
    repo = model.removeprefix("hf://").replace("/", "--")
    for cache in caches:
        entry = cache / f"models--{repo}"
        revision = group.values.get("revision")
        pinned = entry / "snapshots" / str(revision) / "config.json" if revision else None
        if pinned and pinned.exists():
            return pinned
        if not revision and entry.is_dir():
            return entry
    return None


def reason(model: size.Model, values: Mapping[str, Any], profile: Mapping[str, Any]) -> str | None:
    """Why a group's GPUs (values after defaults) of this profile cannot serve the model.

    None when they can, or when the profile or the group gives nothing to size against.
    """
    gpus = values["gpus"]
    if not profile.get("memoryMiB") or not gpus["count"]:
        return None
    settings = values["settings"]
    return size.needed_gpus(
        model,
        int(profile["memoryMiB"]),
        float(settings.get("gpuMemoryFraction") or size.DEFAULT_FRACTION),
        int(settings.get("maxContextLength") or model.max_context),
        settings.get("quantization"),
        int(gpus["count"]),
        size.max_devices(profile),
    )


def problems(groups: Iterable[Group], configs: Mapping[str, Path]) -> list[str]:
    """One line per group whose model (from `configs` or the local cache) cannot fit its GPUs."""
    found = []
    caches = [cache for cache in hf_cache_dirs() if cache.is_dir()]
    for group in groups:
        path = configs.get(group.name) or local_config(group, caches)
        profile = group.profiles.get(group.values["gpus"].get("type") or "")
        if path is None or not profile:
            continue
        model = size.load_model(path)
        why = reason(model, group.values, profile)
        if why:
            found.append(f"{group.path}.gpus: {model.name}: {why}")
    return found
